// A job cut short as a crash would cut it (not cancelled: a cancel rolls
// back and leaves nothing): it dies at its first progress report, after its
// first checkpoint, and its journal is left for recover.
import { expect } from 'vitest';
import { runOperation, type OperationRequest } from '../../core/operations.js';

/** `progressEvery` 0: the first report comes with the first checkpoint (else it waits for the runner's interval). */
export async function interruptAtFirstReport(req: OperationRequest, progressEvery?: number): Promise<void> {
  await expect(
    runOperation(req, {
      progressEvery,
      onProgress: () => {
        throw new Error('interrupted');
      },
    }),
  ).rejects.toThrow('interrupted');
}

// A job cut short as a crash would cut it (not cancelled: a cancel rolls
// back and leaves nothing): it dies at its first progress report, after its
// first checkpoint, and its journal is left for recover.
import { expect } from 'vitest';
import { runOperation, type OperationRequest } from '../../core/operations.js';

export async function interruptAtFirstReport(req: OperationRequest): Promise<void> {
  await expect(
    runOperation(req, {
      onProgress: () => {
        throw new Error('interrupted');
      },
    }),
  ).rejects.toThrow('interrupted');
}

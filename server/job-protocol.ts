// Messages between the job manager and a job's worker thread.
import type { OperationOutcome, OperationRequest } from '../core/operations.js';
import type { Progress } from '../core/job.js';

/** Main → worker. The request itself travels as workerData. */
export type ToWorker = { type: 'cancel' };

/** Worker → main: any number of progress messages, then exactly one ending. */
export type FromWorker =
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; outcome: OperationOutcome }
  | { type: 'failed'; error: { code: string; message: string } }
  | { type: 'cancelled'; message: string };

export interface WorkerInput {
  req: OperationRequest;
}

// Messages between the job manager and a job's worker thread.
import type { OperationRequest } from '../core/operations.js';
import type { JobOutcome } from './api.js';
import type { Progress } from '../core/job.js';

/** Main → worker. The request itself travels as workerData. */
export type ToWorker = { type: 'cancel' };

/** Worker → main: any number of progress messages, then exactly one ending. */
export type FromWorker =
  | { type: 'progress'; progress: Progress }
  | { type: 'done'; outcome: JobOutcome }
  | { type: 'failed'; error: { code: string; message: string } }
  | { type: 'cancelled'; message: string };

/** A job: one operation, or resuming (or rolling back) the interrupted one a journal records. */
export type WorkerInput = { req: OperationRequest; childFolders?: string[] } | { resume: string } | { rollback: string };

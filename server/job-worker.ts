// A job's thread: runs one core operation off the main thread, posts its
// progress, honours a cancel message through an AbortSignal, then ends.
// Bundled to dist/electron/job-worker.cjs by scripts/build.mjs.
import { parentPort, workerData } from 'node:worker_threads';
import { CancelledError } from '../core/errors.js';
import { runOutcome } from '../core/operations.js';
import { resumeJob, rollbackJob } from '../core/ops/recover.js';
import { toApiError } from './errors.js';
import type { FromWorker, ToWorker, WorkerInput } from './job-protocol.js';

if (!parentPort) throw new Error('job-worker must run as a worker thread');
const port = parentPort;

const post = (m: FromWorker) => port.postMessage(m);
const abort = new AbortController();
port.on('message', (m: ToWorker) => {
  if (m && m.type === 'cancel') abort.abort();
});

const input = workerData as WorkerInput;

async function run(): Promise<void> {
  try {
    const outcome =
      'resume' in input
        ? { op: 'recover' as const, result: await resumeJob(input.resume) }
        : 'rollback' in input
          ? { op: 'recover' as const, result: await rollbackJob(input.rollback) }
          : await runOutcome(input.req, {
              signal: abort.signal,
              onProgress: (progress) => post({ type: 'progress', progress }),
              childFolders: input.childFolders,
            });
    // Results are plain JSON by contract; one that is not cannot be cloned, and fails below as a job failure.
    post({ type: 'done', outcome });
  } catch (err) {
    if (err instanceof CancelledError) post({ type: 'cancelled', message: err.message });
    else post({ type: 'failed', error: toApiError(err) });
  } finally {
    port.close(); // nothing else keeps the thread alive: it exits
  }
}

void run();

// Long operations as jobs: each runs in its own worker thread (so the main
// process and its window stay responsive), streams progress as JobEvents, can
// be cancelled, and holds the disks it touches: a second job on a busy disk is
// refused with BUSY. Used by Electron's main process and by `vhdsnap serve`.
import * as nodePath from 'node:path';
import { Worker } from 'node:worker_threads';
import { touchedPaths, type OperationRequest } from '../core/operations.js';
import type { JobEvent } from './api.js';
import { newId } from './grants.js';
import { ApiFailure } from './errors.js';
import type { FromWorker, WorkerInput } from './job-protocol.js';

export interface RunningJob {
  cancel(): void;
}

/** Starts a request somewhere and reports its messages; exactly one ending message must follow. */
export type JobRunner = (input: WorkerInput, onMessage: (m: FromWorker) => void) => RunningJob;

/** The real runner: one worker thread per job, from the bundled job-worker.cjs. */
export function workerRunner(workerPath: string): JobRunner {
  return (input, onMessage) => {
    let ended = false;
    const deliver = (m: FromWorker) => {
      if (ended) return;
      if (m.type !== 'progress') ended = true;
      onMessage(m);
    };
    const worker = new Worker(workerPath, { workerData: input });
    worker.on('message', (m: FromWorker) => deliver(m));
    worker.on('error', (err) => deliver({ type: 'failed', error: { code: 'WORKER_FAILED', message: err.message.split('\n')[0] } }));
    worker.on('exit', (code) =>
      deliver({ type: 'failed', error: { code: 'WORKER_FAILED', message: `the job's worker stopped (exit code ${code}) before finishing` } }),
    );
    return { cancel: () => worker.postMessage({ type: 'cancel' }) };
  };
}

/** Default location: next to the bundled main (dist/electron/), also reached from dist/cli/. */
export function defaultWorkerPath(bundleDir: string): string {
  const name = 'job-worker.cjs';
  const p = nodePath.basename(bundleDir) === 'electron' ? nodePath.join(bundleDir, name) : nodePath.join(bundleDir, '..', 'electron', name);
  // Packaged: the worker is unpacked beside the archive (build/electron-builder.yml asarUnpack).
  return p.replace(/app\.asar([\\/])/, 'app.asar.unpacked$1');
}

interface Job {
  id: string;
  op: string;
  paths: string[];
  running: RunningJob | null;
  cancelRequested: boolean;
}

/** Case-insensitive file systems: one disk, one key. */
const keyOf = (p: string) => (process.platform === 'win32' || process.platform === 'darwin' ? p.toLowerCase() : p);

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly busy = new Map<string, Job>();
  private readonly listeners = new Set<(e: JobEvent) => void>();

  constructor(private readonly runner: JobRunner) {}

  subscribe(listener: (e: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: JobEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a failing listener (closed window, dropped socket) must not stop the others
      }
    }
  }

  /** The running job holding any of these paths, if any. */
  holder(paths: string[]): { id: string; op: string; path: string } | null {
    for (const p of paths) {
      const j = this.busy.get(keyOf(p));
      if (j) return { id: j.id, op: j.op, path: p };
    }
    return null;
  }

  /**
   * Starts the job, or refuses with BUSY while another job holds one of its
   * disks: the ones it changes (core's touchedPaths) plus `alsoHold` (the
   * handlers pass the chains it reads through, which a merge below may rewrite);
   * `childFolders`: where else the job looks for children (core JobContext).
   */
  start(req: OperationRequest, alsoHold: string[] = [], childFolders: string[] = []): { jobId: string } {
    return this.launch(req.op, [...touchedPaths(req), ...alsoHold], { req, childFolders });
  }

  /** Resumes the interrupted job a journal records, holding every disk it names (BUSY as for start). */
  startResume(journal: string, disks: string[]): { jobId: string } {
    return this.launch('recover', disks, { resume: journal });
  }

  /** Rolls the interrupted job a journal records back, holding every disk it names (BUSY as for start). */
  startRollback(journal: string, disks: string[]): { jobId: string } {
    return this.launch('recover', disks, { rollback: journal });
  }

  private launch(op: string, hold: string[], input: WorkerInput): { jobId: string } {
    const paths = [...new Set(hold.map((p) => nodePath.resolve(p)))];
    const held = this.holder(paths);
    if (held) {
      throw new ApiFailure('BUSY', `${nodePath.basename(held.path)} is busy: a ${held.op} job is still running on it; wait for it to finish or cancel it`);
    }
    const job: Job = { id: newId(), op, paths, running: null, cancelRequested: false };
    this.jobs.set(job.id, job);
    for (const p of paths) this.busy.set(keyOf(p), job);
    try {
      job.running = this.runner(input, (m) => this.onMessage(job, m));
    } catch (err) {
      this.release(job);
      throw err;
    }
    return { jobId: job.id };
  }

  cancel(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new ApiFailure('NO_JOB', 'no such job is running (it may have just finished)');
    job.cancelRequested = true;
    job.running?.cancel();
  }

  /** Cancels every job and resolves when none is left (or after `timeoutMs`). */
  async cancelAll(timeoutMs = 10_000): Promise<void> {
    if (this.jobs.size === 0) return;
    const idle = new Promise<void>((resolve) => {
      const off = this.subscribe(() => {
        if (this.jobs.size === 0) {
          off();
          resolve();
        }
      });
    });
    for (const id of this.jobs.keys()) this.cancel(id);
    await Promise.race([idle, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  running(): { jobId: string; op: string; paths: string[] }[] {
    return [...this.jobs.values()].map((j) => ({ jobId: j.id, op: j.op, paths: j.paths }));
  }

  private release(job: Job): void {
    this.jobs.delete(job.id);
    for (const p of job.paths) if (this.busy.get(keyOf(p)) === job) this.busy.delete(keyOf(p));
  }

  private onMessage(job: Job, m: FromWorker): void {
    if (!this.jobs.has(job.id)) return;
    const jobId = job.id;
    switch (m.type) {
      case 'progress':
        this.emit({ jobId, kind: 'progress', progress: m.progress });
        return;
      case 'done':
        this.release(job);
        this.emit({ jobId, kind: 'done', outcome: m.outcome });
        return;
      case 'failed':
        this.release(job);
        this.emit({ jobId, kind: 'failed', error: m.error });
        return;
      case 'cancelled':
        this.release(job);
        this.emit({ jobId, kind: 'cancelled', message: m.message });
        return;
    }
  }
}

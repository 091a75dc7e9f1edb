// Running and finished jobs, fed by main's job events. One job per disk: a
// disk named by a running job's arguments is busy until that job ends.
import { defineStore } from 'pinia';
import type { DiskRef, JobEvent, JobOutcome, OperationArgs, Progress } from '../../../server/api';
import { api } from '../lib/api';
import { errorText } from '../lib/format';
import { argRefs, refKey } from '../lib/operations';
import { useLibraryStore } from './library';

export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface Job {
  jobId: string;
  /** Null only for events of a job this page did not start (or before start() answered). */
  args: OperationArgs | null;
  status: JobStatus;
  progress: Progress | null;
  /** What a finished job returned, typed by its operation (narrow on `outcome.op`). */
  outcome: JobOutcome | null;
  /** A job that is not an operation (resuming or rolling back an interrupted one): its words, and the folder it works in. */
  resumed?: { job: string; folder: string; rollback?: boolean };
  error: { code: string; message: string } | null;
  message: string | null;
  cancelling: boolean;
  /** The names of the disks in the job's folders when it started (path and file → name), so its words can name disks it removes or renames. */
  names?: Record<string, string>;
}

/** Every named disk of these folders, by path and by file name. */
function namesIn(folders: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { node, folder } of useLibraryStore().index.values()) {
    const name = node.name?.trim();
    if (!name || !folders.includes(folder)) continue;
    out[node.path] = name;
    out[node.ref.file] ??= name;
  }
  return out;
}

/** The live subscription, with the bridge and store it feeds (a new page or test gets its own). */
let subscription: { api: object; store: object; off: () => void } | null = null;

export const useJobsStore = defineStore('jobs', {
  state: () => ({
    jobs: {} as Record<string, Job>,
    /** Job ids in start order (newest last). */
    order: [] as string[],
  }),
  getters: {
    running(state): Job[] {
      return state.order.map((id) => state.jobs[id]).filter((j) => j.status === 'running');
    },
    /** The newest finished job, for the result panel. */
    lastFinished(state): Job | null {
      for (let i = state.order.length - 1; i >= 0; i--) {
        const j = state.jobs[state.order[i]];
        if (j.status !== 'running') return j;
      }
      return null;
    },
    busyKeys(): Set<string> {
      const keys = new Set<string>();
      for (const j of this.running) if (j.args) for (const r of argRefs(j.args)) keys.add(refKey(r));
      return keys;
    },
  },
  actions: {
    /** Subscribes to main's job events once per page. */
    listen() {
      const bridge = api();
      if (subscription?.api === bridge && subscription.store === this) return;
      subscription?.off();
      subscription = { api: bridge, store: this, off: bridge.onJobEvent((e) => this.onEvent(e)) };
    },
    stopListening() {
      subscription?.off();
      subscription = null;
    },
    entry(jobId: string): Job {
      if (!this.jobs[jobId]) {
        this.jobs[jobId] = { jobId, args: null, status: 'running', progress: null, outcome: null, error: null, message: null, cancelling: false };
        this.order.push(jobId);
      }
      return this.jobs[jobId];
    },
    /** Starts a job; rejects with the {code, message} main gave (e.g. BUSY). */
    /** Starts the job; `pins` from the plan the person confirmed keep the job to that plan (Plan.pins). */
    async start(args: OperationArgs, pins?: Record<string, string>): Promise<string> {
      const { jobId } = await (pins ? api().start(args, pins) : api().start(args));
      const job = this.entry(jobId);
      job.args = args;
      job.names = namesIn(argRefs(args).map((r) => r.folder));
      // Events may have finished the job before start() answered.
      if (job.status !== 'running') this.finished(job);
      return jobId;
    },
    /** Resumes an interrupted job of a folder (FolderView.pending) as a job of its own. */
    async resume(journal: DiskRef, job: string): Promise<string> {
      const { jobId } = await api().resume(journal);
      const entry = this.entry(jobId);
      entry.resumed = { job, folder: journal.folder };
      if (entry.status !== 'running') this.finished(entry);
      return jobId;
    },
    /** Rolls an interrupted job of a folder (FolderView.pending) back as a job of its own: every disk as before it. */
    async rollback(journal: DiskRef, job: string): Promise<string> {
      const { jobId } = await api().rollback(journal);
      const entry = this.entry(jobId);
      entry.resumed = { job, folder: journal.folder, rollback: true };
      if (entry.status !== 'running') this.finished(entry);
      return jobId;
    },
    async cancel(jobId: string) {
      const job = this.jobs[jobId];
      if (job) job.cancelling = true;
      try {
        await api().cancel(jobId);
      } catch (err) {
        if (job) {
          job.cancelling = false;
          job.message = errorText(err).message;
        }
      }
    },
    onEvent(e: JobEvent) {
      const job = this.entry(e.jobId);
      if (job.status !== 'running') return; // late progress after the end
      switch (e.kind) {
        case 'progress':
          job.progress = e.progress;
          return;
        case 'done':
          job.status = 'done';
          job.outcome = e.outcome;
          break;
        case 'failed':
          job.status = 'failed';
          job.error = errorText(e.error);
          break;
        case 'cancelled':
          job.status = 'cancelled';
          job.message = e.message;
          break;
      }
      if (job.args || job.resumed) this.finished(job);
    },
    /** After a job ends: record check results, and rescan what it may have changed. */
    finished(job: Job) {
      const library = useLibraryStore();
      if (job.resumed) {
        void library.rescan(job.resumed.folder);
        return;
      }
      const args = job.args!;
      if (args.op === 'check') {
        if (job.outcome?.op === 'check') library.recordChecks(job.outcome.result);
        return;
      }
      // Failed and cancelled jobs rescan too: a rollback may have moved files back.
      const folders = new Set(argRefs(args).map((r) => r.folder));
      // What a check said before may no longer hold; a repair says what it left (its own re-check of the file).
      library.forgetHealth(folders);
      if (job.outcome?.op === 'repair') {
        const r = job.outcome.result;
        library.recordChecks([{ path: r.path, ok: r.remaining.length === 0, type: null, errors: r.remaining, warnings: [] }]);
      }
      for (const f of folders) void library.rescan(f);
    },
    dismiss(jobId: string) {
      if (this.jobs[jobId]?.status === 'running') return;
      delete this.jobs[jobId];
      this.order = this.order.filter((id) => id !== jobId);
    },
  },
});

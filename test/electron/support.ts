// Shared by the electron tests: the job worker bundled from source (as
// scripts/build.mjs does), a fake ipcMain that structured-clones payloads both
// ways like Electron's IPC, and a handler context on real temp folders.
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import * as esbuild from 'esbuild';
import type { JobEvent } from '../../server/api';
import { Grants } from '../../server/grants';
import { createHandlers, type Dialogs, type HandlerContext } from '../../server/handlers';
import { registerIpc, type IpcMainLike } from '../../electron/register';
import { JobManager, workerRunner, type JobRunner } from '../../server/jobs';
import type { FromWorker } from '../../server/job-protocol';
import type { OperationRequest } from '../../core/operations';
import { RecentFolders } from '../../server/recent';

const root = path.resolve(import.meta.dirname, '..', '..');
let workerPath: Promise<string> | null = null;

/** dist/electron/job-worker.cjs as the build makes it, but into a temp dir (tests need not build first). */
export function bundledWorker(): Promise<string> {
  workerPath ??= (async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'vhdsnap-worker-')), 'job-worker.cjs');
    await esbuild.build({
      entryPoints: [path.join(root, 'server/job-worker.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: out,
      logLevel: 'error',
    });
    return out;
  })();
  return workerPath;
}

export interface FakeEvent {
  sender: { id: number };
}

/** ipcMain stand-in: invoke() clones the arguments in and the answer out, as Electron does. */
export class FakeIpcMain implements IpcMainLike<FakeEvent> {
  readonly listeners = new Map<string, (event: FakeEvent, ...args: unknown[]) => unknown>();
  handle(channel: string, listener: (event: FakeEvent, ...args: unknown[]) => unknown): void {
    if (this.listeners.has(channel)) throw new Error(`second handler for ${channel}`);
    this.listeners.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.listeners.delete(channel);
  }
  async invoke(sender: FakeEvent['sender'], channel: string, ...args: unknown[]): Promise<any> {
    const l = this.listeners.get(channel);
    if (!l) throw new Error(`No handler registered for '${channel}'`);
    const result = await l({ sender }, ...structuredClone(args));
    return structuredClone(result);
  }
}

export interface Harness {
  ipc: FakeIpcMain;
  ctx: HandlerContext;
  events: JobEvent[];
  trusted: { id: number };
  dialogs: { folder: string | null; output: string | null; input: string | null; calls: number };
  /** Calls as the app window would, unwrapping the envelope like the preload (rejects with {code, message}). */
  call<T = any>(channel: string, ...args: unknown[]): Promise<T>;
  /** Resolves with the job's final event. */
  finished(jobId: string, timeoutMs?: number): Promise<JobEvent>;
}

export async function makeHarness(opts: { recentFile?: string | null; runner?: JobRunner } = {}): Promise<Harness> {
  const ipc = new FakeIpcMain();
  const trusted = { id: 1 };
  const picks = { folder: null as string | null, output: null as string | null, input: null as string | null, calls: 0 };
  const dialogs: Dialogs = {
    pickFolder: async () => {
      picks.calls++;
      return picks.folder;
    },
    pickOutput: async () => {
      picks.calls++;
      return picks.output;
    },
    pickInput: async () => {
      picks.calls++;
      return picks.input;
    },
  };
  const jobs = new JobManager(opts.runner ?? workerRunner(await bundledWorker()));
  const events: JobEvent[] = [];
  const waiters: (() => void)[] = [];
  jobs.subscribe((e) => {
    events.push(structuredClone(e));
    waiters.splice(0).forEach((w) => w());
  });
  const ctx: HandlerContext = { version: '9.8.7', grants: new Grants(), recent: new RecentFolders(opts.recentFile ?? null), jobs, dialogs };
  registerIpc(ipc, createHandlers(ctx), (e) => e.sender === trusted);
  const call = async (channel: string, ...args: unknown[]) => {
    const r = await ipc.invoke(trusted, channel, ...args);
    if (r.ok) return r.value;
    throw r.error;
  };
  const finished = (jobId: string, timeoutMs = 30_000) =>
    new Promise<JobEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`job ${jobId} did not finish`)), timeoutMs);
      const look = () => {
        const e = events.find((x) => x.jobId === jobId && x.kind !== 'progress');
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else waiters.push(look);
      };
      look();
    });
  return { ipc, ctx, events, trusted, dialogs: picks, call, finished };
}

/** A runner whose jobs run until the test ends them: for timing-free BUSY tests. */
export function manualRunner(): { runner: JobRunner; started: { req: OperationRequest | null; end: (m: FromWorker) => void; cancelled: boolean }[] } {
  const started: { req: OperationRequest | null; end: (m: FromWorker) => void; cancelled: boolean }[] = [];
  const runner: JobRunner = (input, onMessage) => {
    const job = { req: 'req' in input ? input.req : null, end: onMessage, cancelled: false };
    started.push(job);
    return {
      cancel: () => {
        job.cancelled = true;
      },
    };
  };
  return { runner, started };
}

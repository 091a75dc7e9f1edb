// The shape every long operation shares (CLI, IPC, tests): progress events
// with rate and ETA, and cancellation through an AbortSignal that is checked
// only at safe points.
import { CancelledError, RefusedError } from './errors.js';
import type { Plan, Progress } from './shapes.js';

export type { Plan, Progress };

export interface JobContext {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Least milliseconds between two progress reports (default 100; tests use 0 to see every checkpoint). */
  progressEvery?: number;
  /**
   * Further folders to look for children in, besides each parent's own and
   * the children it has recorded (the app: every folder it has open), so a
   * child another program made there is found and protected too.
   */
  childFolders?: string[];
}

export function throwIfCancelled(ctx: JobContext | undefined): void {
  if (ctx?.signal?.aborted) throw new CancelledError();
}

/** Emits progress at most every `intervalMs`, plus the final 100%. */
export class ProgressReporter {
  private readonly started = Date.now();
  private last = 0;

  constructor(
    private readonly ctx: JobContext | undefined,
    private readonly phase: string,
    private readonly total: number,
    private readonly intervalMs = 100,
  ) {}

  update(done: number): void {
    if (!this.ctx?.onProgress) return;
    const now = Date.now();
    if (done < this.total && now - this.last < (this.ctx.progressEvery ?? this.intervalMs)) return;
    this.last = now;
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (this.total - done) / rate : null;
    this.ctx.onProgress({ phase: this.phase, done, total: this.total, rate, eta });
  }

  /** Says the job is past its point of no return (always sent: the app disables Cancel on it). */
  finishing(): void {
    this.ctx?.onProgress?.({ phase: this.phase, done: this.total, total: this.total, rate: 0, eta: 0, finishing: true });
  }
}

/** The message of a job cancelled and rolled back. */
export function cancelledMessage(op: string): string {
  return `${op} cancelled: what it changed was rolled back, every disk is as before`;
}

/** Throws the plan's refusals as one RefusedError (the first code; every reason in the message). */
export function assertNoRefusals(plan: Plan, path: string): void {
  if (plan.refusals.length > 0) throw new RefusedError(plan.refusals[0].code, plan.refusals.map((r) => r.message).join('; '), { path });
}

export async function freeSpaceAt(dir: string): Promise<number | null> {
  const { statfs } = await import('node:fs/promises');
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

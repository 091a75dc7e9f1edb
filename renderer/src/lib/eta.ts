// A time-left estimate that does not jump about: the rate is an exponentially
// weighted average over the last few seconds (so a slow start or a burst does
// not dominate), nothing is said until there is enough signal, and near the
// end the estimate is held to what the work so far makes plausible.

/** How quickly old rate samples fade (seconds): about the last 5 s count. */
const TAU = 5;
/** No estimate before this much time and this fraction of the work. */
const MIN_SECONDS = 2;
const MIN_FRACTION = 0.01;

export class EtaEstimator {
  private startAt: number | null = null;
  private lastAt = 0;
  private lastDone = 0;
  private firstDone = 0;
  private rate: number | null = null;
  private total = 0;
  private done = 0;

  /** Forgets everything (a new phase counts something else). */
  reset(): void {
    this.startAt = null;
    this.rate = null;
  }

  /** Feeds one progress report: `done` of `total` at time `atMs` (milliseconds, any clock that only moves forward). */
  sample(done: number, total: number, atMs: number): void {
    this.total = total;
    if (this.startAt === null || done < this.lastDone) {
      // The first report, or the work started over (a new phase): start afresh.
      this.startAt = atMs;
      this.lastAt = atMs;
      this.lastDone = done;
      this.firstDone = done;
      this.done = done;
      this.rate = null;
      return;
    }
    const dt = (atMs - this.lastAt) / 1000;
    this.done = done;
    if (dt <= 0) return;
    const instant = (done - this.lastDone) / dt;
    const alpha = 1 - Math.exp(-dt / TAU);
    this.rate = this.rate === null ? instant : this.rate + alpha * (instant - this.rate);
    this.lastAt = atMs;
    this.lastDone = done;
  }

  /** Bytes per second over the recent past, or null before the second report. */
  get smoothedRate(): number | null {
    return this.rate;
  }

  /** Seconds left, or null while there is not enough to go on. */
  eta(): number | null {
    if (this.startAt === null || this.rate === null || this.total <= 0) return null;
    const left = Math.max(0, this.total - this.done);
    if (left === 0) return 0;
    const elapsed = (this.lastAt - this.startAt) / 1000;
    const progressed = this.done - this.firstDone;
    if (elapsed < MIN_SECONDS || progressed <= 0 || progressed < this.total * MIN_FRACTION) return null;
    // What the average so far says; the recent rate may differ from it, but not by more than twice either way,
    // so a stall or a burst moves the estimate without making it absurd.
    const overall = left / (progressed / elapsed);
    const recent = this.rate > 0 ? left / this.rate : Infinity;
    return Math.min(Math.max(recent, overall / 2), overall * 2);
  }
}

/** Time left in words, rounded so it does not flicker: "a few seconds left", "about 40 s left", "about 3 min left". */
export function etaText(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'estimating time left…';
  if (seconds < 5) return 'a few seconds left';
  if (seconds < 60) return `about ${Math.ceil(seconds / 5) * 5} s left`;
  if (seconds < 3600) {
    const m = Math.round(seconds / 60);
    return `about ${m} min left`;
  }
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60 / 5) * 5;
  return m === 0 || m === 60 ? `about ${m === 60 ? h + 1 : h} h left` : `about ${h} h ${m} min left`;
}

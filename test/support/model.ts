// Reference model of a snapshot tree: one plain Buffer per layer holding the
// disk as seen *through* that layer. A new child starts as a copy of its
// parent's view; writes then overlay it. A layer that has children is frozen
// (writing it would change every child's view), so the model refuses that.

export class DiskModel {
  readonly views: Buffer[] = [];
  private readonly parents: (number | null)[] = [];
  private readonly hasChildren: boolean[] = [];

  constructor(readonly size: number) {}

  /** A base layer: all zeros. Returns its index. */
  addBase(): number {
    return this.push(Buffer.alloc(this.size), null);
  }

  /** A child of `parent` (default: the newest layer). Returns its index. */
  addChild(parent = this.views.length - 1): number {
    if (parent < 0 || parent >= this.views.length) throw new Error(`model: no layer ${parent}`);
    this.hasChildren[parent] = true;
    return this.push(Buffer.from(this.views[parent]), parent);
  }

  write(layer: number, offset: number, data: Uint8Array): void {
    if (this.hasChildren[layer]) throw new Error(`model: layer ${layer} has children and must not be written`);
    if (offset < 0 || offset + data.length > this.size) throw new Error(`model: write ${offset}+${data.length} outside ${this.size}`);
    this.views[layer].set(data, offset);
  }

  view(layer: number): Buffer {
    return this.views[layer];
  }

  read(layer: number, offset: number, length: number): Buffer {
    return this.views[layer].subarray(offset, offset + length);
  }

  parentOf(layer: number): number | null {
    return this.parents[layer];
  }

  private push(view: Buffer, parent: number | null): number {
    this.views.push(view);
    this.parents.push(parent);
    this.hasChildren.push(false);
    return this.views.length - 1;
  }
}

/** Seeded PRNG (mulberry32) for property tests: the same seed replays the same run. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  /** One of `xs`, each as likely as its weight (its first element) among them all. */
  weighted<T extends readonly [number, ...unknown[]]>(xs: readonly T[]): T {
    let r = this.int(xs.reduce((n, x) => n + x[0], 0));
    for (const x of xs) {
      if (r < x[0]) return x;
      r -= x[0];
    }
    return xs[0];
  }
  /** `n` random bytes; never all zero when n > 0 (so a write always changes something visible). */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    const words = n >>> 2;
    const w = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) w[i] = this.u32();
    for (let i = words * 4; i < n; i++) b[i] = this.u32() & 0xff;
    if (n > 0) b[this.int(n)] |= 1;
    return b;
  }
}

/** Property-test seeds: 1–3, plus any given as PROP_SEEDS=4,5,… */
export function propertySeeds(): number[] {
  const extra = (process.env.PROP_SEEDS ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map(Number);
  return [1, 2, 3, ...extra];
}

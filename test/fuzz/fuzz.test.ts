// Fuzzed files: every case of the seeded VHD corpus (generator.ts) and of the
// VHDX one (vhdx-generator.ts: VHDX and AVHDX files) is opened, read through
// its chain, checked, described and scanned in a worker process (worker.ts).
// Each step ends in success or a typed VhdError with a code; no case hangs
// (watchdog) or takes over 2 s; no Buffer allocation over 32 MiB (the seeds
// are a few MiB, so a bigger one was sized by a crafted field); the worker's
// RSS stays under 200 MB with a 192 MB V8 heap.
//
// Env: FUZZ_CASES (default 5000 per corpus), FUZZ_SEED (printed in the summary;
// the VHD corpus takes a new one each run, the VHDX corpus seed 1), FUZZ_ONLY (case indices).
import { existsSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeeds, fuzzCases, fuzzSeed, loadSeeds, makeCase, writeCase } from './generator.js';
import { buildVhdxSeeds, loadVhdxSeeds, makeVhdxCase, VHDX_MUTATIONS, VHDX_SEEDS } from './vhdx-generator.js';
import { SparseImage } from './image.js';
import { checkPaths } from '../../core/ops/check.js';
import { bundle, runCorpus, tally, type CaseResult } from './runner.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';

const MAX_CASE_MS = 2000;
const MAX_ALLOC = 32 * 1024 * 1024;
const MAX_RSS = 200 * 1024 * 1024;

let bundleDir: string;
let work: string;
const seeded = new Map<string, Promise<string>>();

/** The seeds of a corpus, built once per run (in its own folder). */
function seedsOf(corpus: 'vhd' | 'vhdx'): Promise<string> {
  let p = seeded.get(corpus);
  if (!p) {
    const dir = nodePath.join(work, `seeds-${corpus}`);
    mkdirSync(dir);
    p = (corpus === 'vhd' ? buildSeeds(dir) : buildVhdxSeeds(dir)).then(() => dir);
    seeded.set(corpus, p);
  }
  return p;
}

beforeAll(async () => {
  bundleDir = await bundle({ worker: 'test/fuzz/worker.ts' });
  // Cases are many small files: tmpfs when there is one.
  work = existsSync('/dev/shm') ? makeTmpDirIn('/dev/shm') : makeTmpDir('vhdsnap-fuzz-');
}, 60_000);

afterAll(() => {
  if (bundleDir) removeTmpDir(bundleDir);
  if (work) removeTmpDir(work);
});

function makeTmpDirIn(root: string): string {
  try {
    const d = nodePath.join(root, `vhdsnap-fuzz-${process.pid}-${Date.now()}`);
    mkdirSync(d);
    return d;
  } catch {
    return makeTmpDir('vhdsnap-fuzz-');
  }
}

function describeCase(r: CaseResult): string {
  return `case ${r.i} (${r.set}: ${r.mutations.join('; ')})`;
}

/** How deep a full-size corpus must reach: shares of cases that open and read, distinct outcome codes. */
interface Reach {
  open: [number, number];
  read: number;
  openCodes: number;
  readCodes: number;
}

const CORPORA: { corpus: 'vhd' | 'vhdx'; title: string; seed: () => number; reach: Reach }[] = [
  { corpus: 'vhd', title: 'fuzzed files', seed: () => fuzzSeed(), reach: { open: [0.2, 0.95], read: 0.15, openCodes: 12, readCodes: 12 } },
  { corpus: 'vhdx', title: 'fuzzed VHDX files', seed: () => fuzzSeed(1), reach: { open: [0.2, 0.95], read: 0.15, openCodes: 12, readCodes: 12 } },
];

for (const { corpus, title, seed: seedOf, reach } of CORPORA) {
  describe(title, () => {
    it('every case ends in success or a typed error, within time and memory bounds', { timeout: 900_000 }, async () => {
      const seedsDir = await seedsOf(corpus);
      const seed = seedOf();
      // FUZZ_ONLY=17,305 replays just those cases of the seed's corpus.
      const only = (process.env.FUZZ_ONLY ?? '').split(',').filter(Boolean).map(Number);
      const indices = only.length > 0 ? only : Array.from({ length: fuzzCases(5000) }, (_, i) => i);
      const count = indices.length;
      const t0 = Date.now();
      const worker = nodePath.join(bundleDir, 'worker.cjs');
      const run = await runCorpus(worker, seedsDir, nodePath.join(work, `cases-${corpus}`), seed, indices, {
        workers: Math.min(2, os.cpus().length),
        corpus,
      });
      // A slow case on a busy machine is re-run alone before it counts as a failure.
      const slow = [...run.results.values()].filter((r) => r.ms > MAX_CASE_MS).map((r) => r.i);
      let stillSlow: CaseResult[] = [];
      if (slow.length > 0 && slow.length <= 50) {
        const again = await runCorpus(worker, seedsDir, nodePath.join(work, `slow-${corpus}`), seed, slow, { workers: 1, corpus });
        stillSlow = slow.map((i) => again.results.get(i)!).filter((r) => !r || r.ms > MAX_CASE_MS);
        run.hangs.push(...again.hangs);
      } else if (slow.length > 50) stillSlow = slow.map((i) => run.results.get(i)!);

      const results = [...run.results.values()];
      const t = tally(results);
      const peakRss = Math.max(...results.map((r) => r.rss));
      const peakAlloc = Math.max(...results.map((r) => r.maxAlloc));
      const line = `fuzz ${corpus}: ${results.length} cases (seed ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; slowest ${Math.max(...results.map((r) => r.ms))} ms; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; largest allocation ${(peakAlloc / 2 ** 20).toFixed(1)} MiB; outcomes ${JSON.stringify(t)}`;
      console.log(line);
      process.stderr.write(`${line}\n`);

      expect(run.fatal, 'worker failures').toEqual([]);
      expect(run.hangs.map((i) => `case ${i} hung (seed ${seed})`)).toEqual([]);
      expect(results.length).toBe(count);
      const bad = results.filter((r) => r.bad.length > 0).map((r) => `${describeCase(r)}: ${r.bad.join(' | ')}`);
      expect(bad.slice(0, 5), `${bad.length} cases threw untyped errors (seed ${seed})`).toEqual([]);
      expect(stillSlow.map((r) => `${describeCase(r)} took ${r.ms} ms`)).toEqual([]);
      const big = results.filter((r) => r.maxAlloc > MAX_ALLOC).map((r) => `${describeCase(r)}: allocated ${r.maxAlloc} bytes at once`);
      expect(big.slice(0, 5), `${big.length} cases made oversized allocations (seed ${seed})`).toEqual([]);
      expect(peakRss).toBeLessThan(MAX_RSS);

      // The corpus must reach deep: plenty of cases open and read fine, plenty are refused, with many
      // distinct codes (judged on full-size runs only; a handful of cases proves nothing either way).
      if (count < 1000) return;
      const opened = t.open.ok ?? 0;
      expect(opened / count).toBeGreaterThan(reach.open[0]);
      expect(opened / count).toBeLessThan(reach.open[1]);
      expect((t.read.ok ?? 0) / count).toBeGreaterThan(reach.read);
      expect(Object.keys(t.open).length).toBeGreaterThan(reach.openCodes);
      expect(Object.keys(t.read).length).toBeGreaterThan(reach.readCodes);
      if (corpus === 'vhdx') expectVhdxCoverage(results);
    });
  });
}

/** Every VHDX mutator and seed kind is in a full-size corpus, each many times (one that silently stopped applying would show here). */
function expectVhdxCoverage(results: CaseResult[]): void {
  const uses = new Map<string, number>();
  for (const r of results) for (const m of r.mutations) for (const [, tag] of m.matchAll(/\[([a-z-]+)\]/g)) uses.set(tag, (uses.get(tag) ?? 0) + 1);
  const rare = VHDX_MUTATIONS.filter((n) => (uses.get(n) ?? 0) < 0.005 * results.length);
  expect(rare, `mutations used in fewer than 0.5% of cases: ${JSON.stringify(Object.fromEntries(uses))}`).toEqual([]);
  const sets = new Set(results.map((r) => r.set));
  expect(VHDX_SEEDS.filter((n) => !sets.has(n))).toEqual([]);
}

describe('VHDX fuzz corpus', () => {
  it('a case depends only on (seed, index): same files, byte for byte', async () => {
    const dir = await seedsOf('vhdx');
    const [a, b] = [await loadVhdxSeeds(dir), await loadVhdxSeeds(dir)];
    for (const i of [0, 1, 2, 77, 1234, 4999]) {
      const [x, y] = [makeVhdxCase(a, 1, i), makeVhdxCase(b, 1, i)];
      expect(y.mutations).toEqual(x.mutations);
      expect([...y.files.keys()]).toEqual([...x.files.keys()]);
      for (const [n, f] of x.files) {
        const g = y.files.get(n)!;
        if (f instanceof SparseImage && g instanceof SparseImage) expect(g.read(0, g.size).equals(f.read(0, f.size)), `case ${i}: ${n}`).toBe(true);
        else expect(g).toEqual(f);
      }
    }
    // And a different index is a different case.
    expect(makeVhdxCase(a, 1, 5).mutations).not.toEqual(makeVhdxCase(a, 1, 6).mutations);
  });
});

describe('fuzz corpus: damage only check reports', () => {
  // The first single-mutation case of each kind (seed 1's corpus): check must name it; opening still works.
  const kinds = [
    { what: 'reserved bit 0x2 cleared', code: 'FOOTER_FEATURES_RESERVED' },
    { what: 'fixed current size lowered', code: 'FIXED_SIZE_MISMATCH' },
    { what: 'between the fixed data and its footer', code: 'FIXED_SIZE_MISMATCH' },
  ];
  for (const k of kinds) {
    it(`"${k.what}" cases are reported as ${k.code}`, async () => {
      const sets = loadSeeds(await seedsOf('vhd'));
      let found = null;
      for (let i = 0; i < 20_000 && !found; i++) {
        const c = makeCase(sets, 1, i);
        if (c.mutations.length === 1 && c.mutations[0].includes(k.what) && c.target === c.leaf) found = c;
      }
      expect(found, `no case of "${k.what}" in the first 20,000`).not.toBeNull();
      const dir = nodePath.join(work, `kind-${kinds.indexOf(k)}`);
      mkdirSync(dir);
      await writeCase(found!, dir);
      const [r] = await checkPaths([nodePath.join(dir, found!.leaf)], { chain: false });
      expect(
        r.errors.map((e) => e.code),
        `case ${found!.index}: ${found!.mutations[0]}`,
      ).toContain(k.code);
    });
  }
});

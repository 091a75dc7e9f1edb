// Fuzzed files: every case of the seeded corpus (generator.ts) is opened,
// read through its chain, checked, described and scanned in a worker process
// (worker.ts). Each step ends in success or a typed VhdError with a code; no
// case hangs (watchdog) or takes over 2 s; no Buffer allocation over 32 MiB
// (the seeds are a few MiB, so a bigger one was sized by a crafted field);
// the worker's RSS stays under 200 MB with a 192 MB V8 heap.
//
// Env: FUZZ_CASES (default 5000), FUZZ_SEED (printed in the summary), FUZZ_ONLY (case indices).
import { existsSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeeds, fuzzCases, fuzzSeed, loadSeeds, makeCase, writeCase } from './generator.js';
import { checkPaths } from '../../core/ops/check.js';
import { bundle, runCorpus, tally, type CaseResult } from './runner.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';

const MAX_CASE_MS = 2000;
const MAX_ALLOC = 32 * 1024 * 1024;
const MAX_RSS = 200 * 1024 * 1024;

let bundleDir: string;
let work: string;
let seedsDir: string;

beforeAll(async () => {
  bundleDir = await bundle({ worker: 'test/fuzz/worker.ts' });
  // Cases are many small files: tmpfs when there is one.
  work = existsSync('/dev/shm') ? makeTmpDirIn('/dev/shm') : makeTmpDir('vhdsnap-fuzz-');
  seedsDir = nodePath.join(work, 'seeds');
  mkdirSync(seedsDir);
  await buildSeeds(seedsDir);
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

describe('fuzzed files', () => {
  it('every case ends in success or a typed error, within time and memory bounds', { timeout: 900_000 }, async () => {
    const seed = fuzzSeed();
    // FUZZ_ONLY=17,305 replays just those cases of the seed's corpus.
    const only = (process.env.FUZZ_ONLY ?? '').split(',').filter(Boolean).map(Number);
    const indices = only.length > 0 ? only : Array.from({ length: fuzzCases(5000) }, (_, i) => i);
    const count = indices.length;
    const t0 = Date.now();
    const run = await runCorpus(nodePath.join(bundleDir, 'worker.cjs'), seedsDir, nodePath.join(work, 'cases'), seed, indices, {
      workers: Math.min(2, os.cpus().length),
    });
    // A slow case on a busy machine is re-run alone before it counts as a failure.
    const slow = [...run.results.values()].filter((r) => r.ms > MAX_CASE_MS).map((r) => r.i);
    let stillSlow: CaseResult[] = [];
    if (slow.length > 0 && slow.length <= 50) {
      const again = await runCorpus(nodePath.join(bundleDir, 'worker.cjs'), seedsDir, nodePath.join(work, 'slow'), seed, slow, { workers: 1 });
      stillSlow = slow.map((i) => again.results.get(i)!).filter((r) => !r || r.ms > MAX_CASE_MS);
      run.hangs.push(...again.hangs);
    } else if (slow.length > 50) stillSlow = slow.map((i) => run.results.get(i)!);

    const results = [...run.results.values()];
    const t = tally(results);
    const peakRss = Math.max(...results.map((r) => r.rss));
    const peakAlloc = Math.max(...results.map((r) => r.maxAlloc));
    const line = `fuzz: ${results.length} cases (seed ${seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; slowest ${Math.max(...results.map((r) => r.ms))} ms; peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; largest allocation ${(peakAlloc / 2 ** 20).toFixed(1)} MiB; outcomes ${JSON.stringify(t)}`;
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
    expect(opened / count).toBeGreaterThan(0.2);
    expect(opened / count).toBeLessThan(0.95);
    expect((t.read.ok ?? 0) / count).toBeGreaterThan(0.15);
    expect(Object.keys(t.open).length).toBeGreaterThan(12);
    expect(Object.keys(t.read).length).toBeGreaterThan(12);
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
      const sets = loadSeeds(seedsDir);
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

// Merge: random chains compared with the reference model at every layer,
// partial child blocks over parent data with junk in clear-bit sectors,
// refusal when the parent has other children, cancel + recover.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { RefusedError } from '../../core/errors.js';
import { JOURNAL_PREFIX, journalPath } from '../../core/journal.js';
import { checkPaths } from '../../core/ops/check.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { merge, planMerge } from '../../core/ops/merge.js';
import { recover } from '../../core/ops/recover.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { junkClearSectors } from '../support/junk.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { sha } from '../support/compare.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** base → l1 → … → l{depth-1}; random unaligned writes in every layer, a fifth of them zeros. */
async function buildChain(dir: string, seed: number, opts: { base: 'dynamic' | 'fixed'; blockSize: number; size: number; depth: number }) {
  const rng = new Rng(seed);
  const model = new DiskModel(opts.size);
  const paths: string[] = [];
  for (let i = 0; i < opts.depth; i++) {
    const p = `${dir}/l${i}.vhd`;
    if (i === 0) {
      if (opts.base === 'fixed') await createFixed(p, opts.size);
      else await createDynamic(p, opts.size, { blockSize: opts.blockSize });
      model.addBase();
    } else {
      await createDifferencing(p, paths[i - 1]);
      model.addChild();
    }
    paths.push(p);
    const disk = await openDisk(p, { writable: true, sync: false });
    for (let w = 0; w < 14; w++) {
      const len = rng.chance(0.15) ? opts.blockSize + rng.int(opts.blockSize) : rng.range(1, 40000);
      const off = rng.int(opts.size - len);
      const data = rng.chance(0.2) ? Buffer.alloc(len) : rng.bytes(len);
      await disk.write(off, data);
      model.write(i, off, data);
    }
    await disk.close();
  }
  return { model, paths, rng };
}

describe('merge', () => {
  const tmp = useTmpDir();

  const cases = [
    { seed: 21, base: 'dynamic', blockSize: 512 * KiB, at: 1 },
    { seed: 22, base: 'dynamic', blockSize: 4 * KiB, at: 2 },
    { seed: 23, base: 'fixed', blockSize: 2 * MiB, at: 1 },
    { seed: 24, base: 'dynamic', blockSize: 2 * MiB, at: 3 },
  ] as const;
  for (const c of cases) {
    it(`merges layer ${c.at} of a depth-4 chain into its parent (${c.base} base, ${c.blockSize}-byte blocks, seed ${c.seed})`, async () => {
      const size = 6 * MiB + 5 * 512;
      const { model, paths, rng } = await buildChain(tmp.dir, c.seed, { base: c.base, blockSize: c.blockSize, size, depth: 4 });
      // Junk in the merged child's clear-bit sectors must not reach the parent (the bitmap-blind merge bug).
      expect(await junkClearSectors(paths[c.at], rng)).toBeGreaterThan(0);
      const plan = await planMerge(paths[c.at]);
      expect(plan.refusals).toEqual([]);
      expect(plan.bytesToCopy).toBeGreaterThan(0);
      const progress: { done: number; total: number }[] = [];
      const r = await merge(paths[c.at], { onProgress: (p) => progress.push(p) });
      expect(r.merged).toBe(paths[c.at - 1]);
      // Progress counts up to exactly what the plan quoted (the copy takes its total from the plan).
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.every((p, i) => p.total === plan.bytesToCopy && (i === 0 || p.done >= progress[i - 1].done))).toBe(true);
      expect(progress[progress.length - 1].done).toBe(plan.bytesToCopy);
      expect(existsSync(paths[c.at])).toBe(false);
      expect(existsSync(journalPath(paths[c.at - 1]))).toBe(false);
      // The parent now shows what the child showed; every descendant is unchanged; ancestors untouched.
      expect(Buffer.compare(await readThrough(paths[c.at - 1]), model.view(c.at))).toBe(0);
      for (let i = c.at + 1; i < paths.length; i++) expect(Buffer.compare(await readThrough(paths[i]), model.view(i)), `layer ${i}`).toBe(0);
      for (let i = 0; i < c.at - 1; i++) expect(Buffer.compare(await readThrough(paths[i]), model.view(i)), `layer ${i}`).toBe(0);
      const reports = await checkPaths([paths.filter((p) => existsSync(p)).pop()!], { deep: true });
      expect(reports.flatMap((x) => x.errors)).toEqual([]);
      if (c.at + 1 < paths.length) {
        const d = await openDisk(paths[c.at + 1]);
        expect(d.layers[1].path).toBe(paths[c.at - 1]);
        await d.close();
      }
    });
  }

  it('refuses, naming it, when the parent has another child, and changes nothing', async () => {
    const { paths } = await buildChain(tmp.dir, 31, { base: 'dynamic', blockSize: 512 * KiB, size: 4 * MiB, depth: 3 });
    const sibling = tmp.file('sibling.vhd');
    await createDifferencing(sibling, paths[1]);
    const before = [...paths, sibling].map(sha);
    const plan = await planMerge(paths[2]);
    expect(plan.refusals.map((r) => r.code)).toEqual(['PARENT_HAS_OTHER_CHILDREN']);
    expect(plan.refusals[0].message).toContain('sibling.vhd');
    await expect(merge(paths[2])).rejects.toBeInstanceOf(RefusedError);
    expect([...paths, sibling].map(sha)).toEqual(before);
  });

  it('cancelled before it starts: nothing is written, no journal, and the message says the disks are as before', async () => {
    const { model, paths } = await buildChain(tmp.dir, 41, { base: 'dynamic', blockSize: 4 * KiB, size: 4 * MiB, depth: 3 });
    const before = paths.map(sha);
    const ac = new AbortController();
    ac.abort();
    await expect(merge(paths[1], { signal: ac.signal })).rejects.toThrow(/merge cancelled.*as before/);
    expect(existsSync(journalPath(paths[0]))).toBe(false);
    expect(paths.map(sha)).toEqual(before);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(Buffer.compare(await readThrough(paths[2]), model.view(2))).toBe(0);
  });

  it('a later operation neither finishes nor undoes an interrupted merge: it refuses with PENDING_JOB until the person resumes it', async () => {
    const { model, paths } = await buildChain(tmp.dir, 42, { base: 'dynamic', blockSize: 4 * KiB, size: 4 * MiB, depth: 3 });
    // Cut short as a crash would (the job dies at its first progress report), leaving its journal.
    await expect(
      merge(paths[1], {
        onProgress: () => {
          throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    const files = () => readdirSync(tmp.dir).sort();
    const snapshotOfFolder = () => files().map((n) => [n, readFileSync(tmp.file(n)).toString('hex')]);
    const before = snapshotOfFolder();
    expect(files().some((n) => n.startsWith(JOURNAL_PREFIX))).toBe(true);
    // The plan (the dry run, the app's plan) says so before anything is written, naming the job and the way out…
    const plan = await planOperation({ op: 'merge', disk: paths[2] });
    expect(plan.refusals[0]).toMatchObject({ code: 'PENDING_JOB' });
    expect(plan.refusals[0].message).toMatch(/interrupted merge \(l1\.vhd, l0\.vhd.*vhdsnap recover/);
    // …and so does the run, for another disk of the folder too, leaving every byte as it was.
    for (const req of [{ op: 'merge', disk: paths[2] } as const, { op: 'snapshot', disk: paths[2] } as const]) {
      await expect(runOperation(req)).rejects.toMatchObject({ code: 'PENDING_JOB' });
      expect(snapshotOfFolder()).toEqual(before);
    }
    // The person resumes it; then the merge of l2 (now a child of l0) runs: l2 is the active disk, so it keeps its path and l0 goes.
    const rec = await recover(tmp.dir);
    expect(rec.map((x) => [x.op, x.action])).toContainEqual(['merge', 'completed']);
    const r = await runOperation({ op: 'merge', disk: paths[2] });
    expect(r.merged).toBe(paths[2]);
    expect([paths[0], paths[1]].map(existsSync)).toEqual([false, false]);
    expect(Buffer.compare(await readThrough(paths[2]), model.view(2))).toBe(0);
  });

  const qemu = (() => {
    try {
      execFileSync('qemu-img', ['--version']);
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!qemu)('qemu-img reads the merged dynamic base as the model', async () => {
    const { model, paths } = await buildChain(tmp.dir, 51, { base: 'dynamic', blockSize: 2 * MiB, size: 8 * MiB, depth: 2 });
    await merge(paths[1]);
    const out = tmp.file('q.raw');
    execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', paths[0], out]);
    expect(Buffer.compare(readFileSync(out), model.view(1))).toBe(0);
  });
});

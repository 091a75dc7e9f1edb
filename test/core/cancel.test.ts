// Cancel means before: a cancelled job (its signal aborted from onProgress
// after N checkpoints) leaves every disk reading as it did before, no
// journal or temp, files back within one block; `recover --rollback` of a
// journal left by an interrupted run does the same.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../core/errors.js';
import { setLinker } from '../../core/io/file.js';
import { journalPath } from '../../core/journal.js';
import { recordActive } from '../../core/library/active.js';
import type { Progress } from '../../core/job.js';
import { planDelete } from '../../core/ops/delete.js';
import { recoverFolder } from '../../core/ops/recover.js';
import { stampChildren } from '../../core/ops/relink.js';
import { runOperation, type OperationRequest } from '../../core/operations.js';
import { expectBefore, takeBefore } from '../support/before.js';
import { useTmpDir } from '../support/tmp.js';
import { buildTree } from '../support/tree.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Runs `req`, aborting its signal at the `n`th progress report; resolves to the reports seen. */
async function cancelAt(req: OperationRequest, n: number): Promise<{ err: unknown; reports: Progress[] }> {
  const ac = new AbortController();
  const reports: Progress[] = [];
  const err = await runOperation(req, {
    signal: ac.signal,
    progressEvery: 0,
    onProgress: (p) => {
      reports.push(p);
      if (reports.length === n) ac.abort();
    },
  }).then(
    () => null,
    (e: unknown) => e,
  );
  return { err, reports };
}

/** Runs `req` and kills it (an exception, as a crash would leave things) at the `n`th progress report. */
async function interruptAt(req: OperationRequest, n: number): Promise<void> {
  let seen = 0;
  await expect(
    runOperation(req, {
      progressEvery: 0,
      onProgress: () => {
        if (++seen === n) throw new Error('killed');
      },
    }),
  ).rejects.toThrow('killed');
}

/** base (dynamic) → parent (partially present) → child (multi-block, unaligned writes, most of the disk) → grandchild. */
async function mergeChain(dir: string, seed: number, base: 'dynamic' | 'fixed') {
  const t = await buildTree(dir, seed, { parents: [null, 0, 1, 2], size: 24 * MiB + 3 * 512, blockSize: 512 * KiB, base, writesPerLayer: 10 });
  // The child stores most of the disk: several 4 MiB batches, so several checkpoints.
  const { openDisk } = await import('../../core/disk/chain.js');
  const d = await openDisk(t.paths[2], { writable: true, sync: false });
  for (let off = 1000; off + 2 * MiB < d.virtualSize; off += 2 * MiB + 777) await d.write(off, t.rng.bytes(2 * MiB - 5));
  await d.close();
  return t;
}

describe('cancel means before', () => {
  const tmp = useTmpDir();
  const slack = 512 * KiB + 512;

  for (const base of ['dynamic', 'fixed'] as const)
    for (const n of [1, 2, 3]) {
      it(`merge (${base} base): cancelled at progress report ${n}, every disk reads as before`, async () => {
        const { paths } = await mergeChain(tmp.dir, 100 + n, base);
        const before = await takeBefore(tmp.dir);
        const { err, reports } = await cancelAt({ op: 'merge', disk: paths[2] }, n);
        expect(err).toBeInstanceOf(CancelledError);
        expect((err as Error).message).toMatch(/cancelled.*as before/);
        // Cut mid-copy, not at its end (which is the point of no return).
        expect(reports[n - 1].done).toBeLessThan(reports[n - 1].total);
        expect(reports.some((r) => r.finishing)).toBe(false);
        await expectBefore(tmp.dir, before, slack);
        expect(existsSync(journalPath(paths[1]))).toBe(false);
      });
      it(`merge (${base} base): interrupted at progress report ${n}, recover --rollback gives the before state`, async () => {
        const { paths } = await mergeChain(tmp.dir, 200 + n, base);
        const before = await takeBefore(tmp.dir);
        await interruptAt({ op: 'merge', disk: paths[2] }, n);
        expect(existsSync(journalPath(paths[1]))).toBe(true);
        const dry = await recoverFolder(tmp.dir, { dryRun: true, rollback: true });
        expect(dry.pending.map((p) => p.would)).toEqual(['would roll back merge of d2.vhd, d1.vhd']);
        const r = await recoverFolder(tmp.dir, { rollback: true });
        expect(r.recoveries.map((x) => [x.op, x.action])).toEqual([['merge', 'discarded']]);
        await expectBefore(tmp.dir, before, slack);
      });
    }

  it('merge: a cancel after the copy is done is ignored (finishing), and the merge completes', async () => {
    const { paths } = await mergeChain(tmp.dir, 300, 'dynamic');
    const ac = new AbortController();
    const reports: Progress[] = [];
    const r = await runOperation(
      { op: 'merge', disk: paths[2] },
      {
        signal: ac.signal,
        progressEvery: 0,
        onProgress: (p) => {
          reports.push(p);
          if (p.finishing) ac.abort();
        },
      },
    );
    expect(r.merged).toBe(paths[1]);
    expect(reports.filter((p) => p.finishing)).toHaveLength(1);
    expect(existsSync(paths[2])).toBe(false);
  });

  /** A signal that reads as aborted from its `k`th check on: a cancel at an exact cancel point of a job without progress reports. */
  const abortedFromCheck = (k: number): AbortSignal => {
    let checks = 0;
    return {
      get aborted() {
        return ++checks >= k;
      },
    } as AbortSignal;
  };

  /** base → snap (stores most of the disk) → two children (a little each): delete snap folds it into both. */
  async function foldTree(dir: string, seed: number) {
    const t = await buildTree(dir, seed, { parents: [null, 0, 1, 1], size: 16 * MiB + 512, blockSize: 512 * KiB, writesPerLayer: 8 });
    const { openDisk } = await import('../../core/disk/chain.js');
    const d = await openDisk(t.paths[1], { writable: true, sync: false });
    for (let off = 700; off + 2 * MiB < d.virtualSize; off += 2 * MiB + 300) await d.write(off, t.rng.bytes(2 * MiB - 11));
    await d.close();
    return t;
  }

  for (const n of [1, 3, 6])
    it(`delete (fold into two children): cancelled at progress report ${n}, every disk reads as before`, async () => {
      const { paths } = await foldTree(tmp.dir, 400 + n);
      const before = await takeBefore(tmp.dir);
      const { err, reports } = await cancelAt({ op: 'delete', disk: paths[1] }, n);
      expect(err).toBeInstanceOf(CancelledError);
      expect(reports.length).toBe(n);
      await expectBefore(tmp.dir, before, slack);
    });

  it('delete (fold): interrupted mid-fold of the second child, recover --rollback gives the before state', async () => {
    const { paths } = await foldTree(tmp.dir, 410);
    const before = await takeBefore(tmp.dir);
    await interruptAt({ op: 'delete', disk: paths[1] }, 6);
    expect((await recoverFolder(tmp.dir, { dryRun: true, rollback: true })).pending.map((p) => p.would)).toEqual([
      expect.stringMatching(/^would roll back delete of /),
    ]);
    const r = await recoverFolder(tmp.dir, { rollback: true });
    expect(r.recoveries.map((x) => [x.op, x.action])).toEqual([['delete', 'discarded']]);
    await expectBefore(tmp.dir, before, slack);
  });

  /** A base storing little with one child storing most of the disk: delete base merges the child into it. */
  async function mergeChildTree(dir: string, seed: number) {
    const t = await buildTree(dir, seed, { parents: [null, 0, 1], size: 32 * MiB, blockSize: 512 * KiB, writesPerLayer: 8 });
    const { openDisk } = await import('../../core/disk/chain.js');
    // A full base and a child with about 14 MiB over its first half: merging the child (14 MiB) copies
    // less than folding the base into it (the other half), so the delete merges, over several reports.
    const b = await openDisk(t.paths[0], { writable: true, sync: false });
    await b.write(0, t.rng.bytes(32 * MiB));
    await b.close();
    await stampChildren(t.paths[0]);
    const d = await openDisk(t.paths[1], { writable: true, sync: false });
    for (let off = 900; off + 2 * MiB < 16 * MiB; off += 2 * MiB + 300) await d.write(off, t.rng.bytes(2 * MiB - 13));
    await d.close();
    expect((await planDelete(t.paths[0])).strategy).toBe('merge-child');
    return t;
  }

  for (const n of [1, 2])
    it(`delete (merge-child): cancelled at progress report ${n}, every disk reads as before`, async () => {
      const { paths } = await mergeChildTree(tmp.dir, 500 + n);
      const before = await takeBefore(tmp.dir);
      const { err } = await cancelAt({ op: 'delete', disk: paths[0] }, n);
      expect(err).toBeInstanceOf(CancelledError);
      expect((err as Error).message).toMatch(/delete cancelled.*as before/);
      await expectBefore(tmp.dir, before, slack);
    });

  it('delete (merge-child): interrupted mid-merge, recover --rollback gives the before state', async () => {
    const { paths } = await mergeChildTree(tmp.dir, 510);
    const before = await takeBefore(tmp.dir);
    await interruptAt({ op: 'delete', disk: paths[0] }, 1);
    const r = await recoverFolder(tmp.dir, { rollback: true });
    expect(r.recoveries.map((x) => [x.op, x.action])).toContainEqual(['delete', 'discarded']);
    await expectBefore(tmp.dir, before, slack);
  });

  for (const n of [1, 5, 12])
    it(`compact: cancelled at progress report ${n}, the disk reads as before and the copy is gone`, async () => {
      const { paths } = await buildTree(tmp.dir, 600 + n, { parents: [null], size: 16 * MiB, blockSize: 512 * KiB, writesPerLayer: 30 });
      const before = await takeBefore(tmp.dir);
      const { err } = await cancelAt({ op: 'compact', disk: paths[0] }, n);
      expect(err).toBeInstanceOf(CancelledError);
      await expectBefore(tmp.dir, before, 0);
    });

  it('resize (sparse, a larger BAT): cancelled after its prepare, the disk is back to its size and reads as before', async () => {
    // 4 KiB blocks: growing 4 MiB to 64 MiB needs a BAT larger than the one reserved, written at the end of the file.
    const { paths } = await buildTree(tmp.dir, 700, { parents: [null], size: 4 * MiB, blockSize: 4 * KiB, writesPerLayer: 10 });
    const before = await takeBefore(tmp.dir);
    // Check 1 is at the start; check 2 comes after the prepare has written.
    const err = await runOperation({ op: 'resize', disk: paths[0], size: 64 * MiB }, { signal: abortedFromCheck(2) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, String(err)).toBeInstanceOf(CancelledError);
    await expectBefore(tmp.dir, before, 0);
  });

  it('revert: cancelled after its new child is made, before the swap: the disk is as before, the new child gone', async () => {
    const { paths } = await buildTree(tmp.dir, 800, { parents: [null, 0, 1], size: 4 * MiB, blockSize: 64 * KiB, writesPerLayer: 10 });
    const before = await takeBefore(tmp.dir);
    const err = await runOperation({ op: 'revert', disk: paths[2] }, { signal: abortedFromCheck(2) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CancelledError);
    await expectBefore(tmp.dir, before, 0);
  });
  // Its first report comes after its first batch of blocks, the second at the end.
  for (const n of [1])
    it(`flatten: cancelled at progress report ${n}, its output is gone and every disk reads as before`, async () => {
      const { paths } = await mergeChain(tmp.dir, 900 + n, 'dynamic');
      const before = await takeBefore(tmp.dir);
      const out = tmp.file('flat.vhd');
      const { err, reports } = await cancelAt({ op: 'flatten', disk: paths[3], out, format: 'dynamic' }, n);
      expect(reports.length).toBe(n);
      expect(err).toBeInstanceOf(CancelledError);
      expect(existsSync(out)).toBe(false);
      await expectBefore(tmp.dir, before, 0);
    });

  it('switch without hard links: cancelled mid-copy of the kept state, the active path and the saved state are as before, no copy left', async () => {
    const t = await buildTree(tmp.dir, 950, { parents: [null, 0, 1, 1], size: 24 * MiB, blockSize: 512 * KiB, writesPerLayer: 8 });
    // The active disk stores most of the disk: its copy takes several chunks.
    const { openDisk } = await import('../../core/disk/chain.js');
    const d = await openDisk(t.paths[2], { writable: true, sync: false });
    for (let off = 500; off + 2 * MiB < d.virtualSize; off += 2 * MiB + 100) await d.write(off, t.rng.bytes(2 * MiB - 7));
    await d.close();
    await recordActive(t.paths[2]);
    const before = await takeBefore(tmp.dir);
    const restore = setLinker(async (a, b) => {
      throw Object.assign(new Error(`EPERM: operation not permitted, link '${a}' -> '${b}'`), { code: 'EPERM', syscall: 'link' });
    });
    try {
      const { err, reports } = await cancelAt({ op: 'switch', disk: t.paths[3] }, 1);
      expect(reports.map((r) => r.phase)).toEqual(['copy']);
      expect(err).toBeInstanceOf(CancelledError);
      expect((err as Error).message).toMatch(/^switch cancelled/);
    } finally {
      restore();
    }
    await expectBefore(tmp.dir, before, 0);
    expect(
      readdirSync(tmp.dir)
        .filter((n) => n.endsWith('.vhd'))
        .sort(),
    ).toEqual(['d0.vhd', 'd1.vhd', 'd2.vhd', 'd3.vhd']);
  });
});

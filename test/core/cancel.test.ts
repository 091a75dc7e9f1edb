// Cancel means before: a cancelled job (its signal aborted from onProgress
// after N checkpoints) leaves every disk reading as it did before, no
// journal or temp, files back within one block; `recover --rollback` of a
// journal left by an interrupted run does the same.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../core/errors.js';
import { journalPath } from '../../core/journal.js';
import type { Progress } from '../../core/job.js';
import { recoverFolder } from '../../core/ops/recover.js';
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
});

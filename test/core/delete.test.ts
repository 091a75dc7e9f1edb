// Deleting snapshots: every remaining disk shows exactly what it showed
// before (compared with the reference model), every remaining file keeps its
// path, and the plan names the strategy. Refusals, cancel + recover, labels.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CancelledError, RefusedError } from '../../core/errors.js';
import { findJournals } from '../../core/journal.js';
import { recordActive } from '../../core/library/active.js';
import { getLabel, setLabel, readSidecar } from '../../core/library/sidecar.js';
import { deleteSnapshot, planDelete } from '../../core/ops/delete.js';
import { acquireLock, releaseLocks } from '../../core/lock.js';
import { runOperation } from '../../core/operations.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { junkClearSectors } from '../support/junk.js';
import { buildTree, parentOf, readThrough } from '../support/tree.js';
import { expectBefore, takeBefore } from '../support/before.js';
import { useTmpDir } from '../support/tmp.js';
import { expectCheckClean } from '../support/check.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 5 * MiB + 3 * 512;

describe('delete snapshot', () => {
  const tmp = useTmpDir();

  const foldCases = [
    { name: 'middle snapshot with one child', parents: [null, 0, 1], target: 1, blockSize: 512 * KiB, seed: 31 },
    { name: 'middle snapshot with two children', parents: [null, 0, 1, 1], target: 1, blockSize: 4 * KiB, seed: 32 },
    { name: 'snapshot whose child has children', parents: [null, 0, 1, 2, 2], target: 1, blockSize: 2 * MiB, seed: 33 },
    { name: 'deep snapshot in a fixed-base chain', parents: [null, 0, 1, 2, 3], target: 2, blockSize: 512 * KiB, seed: 34, base: 'fixed' as const },
  ];
  for (const c of foldCases) {
    it(`folds a ${c.name} into its children; every remaining disk reads as before (seed ${c.seed})`, async () => {
      const { model, paths, rng } = await buildTree(tmp.dir, c.seed, { parents: c.parents, size: SIZE, blockSize: c.blockSize, base: c.base });
      // Junk in the snapshot's clear-bit sectors must never reach a child.
      expect(await junkClearSectors(paths[c.target], rng)).toBeGreaterThan(0);
      const children = c.parents.flatMap((p, i) => (p === c.target ? [paths[i]] : []));
      const plan = await planDelete(paths[c.target]);
      expect(plan.strategy).toBe('fold');
      expect(plan.refusals).toEqual([]);
      expect(plan.children.sort()).toEqual(children.sort());
      expect(plan.bytesToCopy).toBeGreaterThan(0);

      const r = await deleteSnapshot(paths[c.target]);
      expect(r.strategy).toBe('fold');
      expect(existsSync(paths[c.target])).toBe(false);
      for (let i = 0; i < paths.length; i++) {
        if (i === c.target) continue;
        expect((await readThrough(paths[i])).equals(model.view(i)), `layer ${i}`).toBe(true);
      }
      for (const ch of children) expect(await parentOf(ch)).toBe(paths[c.parents[c.target]!]);
      expect(await findJournals(tmp.dir)).toEqual([]);
      await expectCheckClean(paths.filter((_, i) => i !== c.target));
    });
  }

  it('deletes a base with one child by merging the child into it; the child path keeps its content and its children follow', async () => {
    const { model, paths } = await buildTree(tmp.dir, 41, { parents: [null, 0, 1, 1], size: SIZE, blockSize: 512 * KiB });
    const baseUuid = (await VhdFile.open(paths[0]).then(async (f) => [f.uuid, await f.close()]))[0];
    const plan = await planDelete(paths[0]);
    expect(plan.strategy).toBe('merge-child');
    expect(plan.children).toEqual([paths[1]]);
    const r = await deleteSnapshot(paths[0]);
    expect(r).toEqual({ strategy: 'merge-child', removed: paths[0], changed: [paths[1]] });
    expect(existsSync(paths[0])).toBe(false);
    // d1 is now the base itself (the base's id, no parent), showing what d1 showed.
    const f = await VhdFile.open(paths[1]);
    expect(f.type).toBe('dynamic');
    expect(f.uuid).toBe(baseUuid);
    await f.close();
    for (const i of [1, 2, 3]) expect((await readThrough(paths[i])).equals(model.view(i)), `layer ${i}`).toBe(true);
    expect(await parentOf(paths[2])).toBe(paths[1]);
    expect(await parentOf(paths[3])).toBe(paths[1]);
    await expectCheckClean(paths.slice(1));
  });

  it('folds a base into its only child when the child stores nearly all it shows: the child stands alone, keeps its id, and reads as before', async () => {
    // d1 covers nearly the whole disk: merging it into d0 would copy all of it, folding d0 into it only the edges.
    const { model, paths, rng } = await buildTree(tmp.dir, 43, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, cover: [1] });
    // Junk in d1's clear-bit sectors: as a dynamic disk they must read as zeros even to readers that ignore bitmaps.
    expect(await junkClearSectors(paths[1], rng)).toBeGreaterThan(0);
    const childUuid = (await VhdFile.open(paths[1]).then(async (f) => [f.uuid, await f.close()]))[0];
    const merging = (await VhdFile.open(paths[1]).then(async (f) => [await f.setBytes(f.physicalOrder()), await f.close()]))[0] as number;
    const plan = await planDelete(paths[0]);
    expect(plan.strategy).toBe('fold');
    expect(plan.refusals).toEqual([]);
    expect(plan.bytesToCopy).toBeGreaterThan(0);
    expect(plan.bytesToCopy).toBeLessThan(merging / 4);
    expect(plan.summary).toContain('stands alone');
    const r = await deleteSnapshot(paths[0]);
    expect(r).toEqual({ strategy: 'fold', removed: paths[0], changed: [paths[1]] });
    expect(existsSync(paths[0])).toBe(false);
    const f = await VhdFile.open(paths[1]);
    expect(f.type).toBe('dynamic');
    expect(f.uuid).toBe(childUuid);
    // Every sector of every block it holds is its own now (bits set), so no reader can see junk.
    for await (const [b, bm] of f.bitmaps(f.physicalOrder())) {
      const n = f.sectorsInBlock(b);
      for (let i = 0; i < n; i++) expect((bm[i >> 3] >> (7 - (i & 7))) & 1, `block ${b} sector ${i}`).toBe(1);
    }
    await f.close();
    for (const i of [1, 2]) expect((await readThrough(paths[i])).equals(model.view(i)), `layer ${i}`).toBe(true);
    expect(await parentOf(paths[2])).toBe(paths[1]);
    expect(await findJournals(tmp.dir)).toEqual([]);
    await expectCheckClean(paths.slice(1));
  });

  it('keeps merging a sparse child into its base (folding the base would copy more)', async () => {
    const { paths } = await buildTree(tmp.dir, 44, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 40 });
    expect((await planDelete(paths[0])).strategy).toBe('merge-child');
  });

  it('a cancelled fold of a base rolls back: the child is still a differencing disk over the base, as before', async () => {
    const { model, paths } = await buildTree(tmp.dir, 46, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, cover: [1] });
    expect((await planDelete(paths[0])).strategy).toBe('fold');
    const before = await takeBefore(tmp.dir);
    const ac = new AbortController();
    let events = 0;
    const err = await deleteSnapshot(paths[0], {
      signal: ac.signal,
      onProgress: () => {
        if (++events === 1) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(await findJournals(tmp.dir)).toEqual([]);
    await expectBefore(tmp.dir, before, 64 * KiB + 512);
    expect(await parentOf(paths[1])).toBe(paths[0]);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
  });

  it('merge-child keeps the label of the child (the disk people knew), not the deleted base', async () => {
    const { paths } = await buildTree(tmp.dir, 42, { parents: [null, 0], size: SIZE, blockSize: 4 * KiB });
    const ids = await Promise.all(
      paths.map(async (p) => {
        const f = await VhdFile.open(p);
        await f.close();
        return f.uuid;
      }),
    );
    await setLabel(paths[0], ids[0], { name: 'golden image' });
    await setLabel(paths[1], ids[1], { name: 'work', description: 'current' });
    await deleteSnapshot(paths[0]);
    expect(await getLabel(paths[1], ids[0])).toMatchObject({ name: 'work', description: 'current' });
    expect((await readSidecar(tmp.dir)).disks[ids[1]]).toBeUndefined();
  });

  it('fold removes the deleted snapshot from the sidecar', async () => {
    const { paths } = await buildTree(tmp.dir, 43, { parents: [null, 0, 1], size: SIZE, blockSize: 4 * KiB });
    const f = await VhdFile.open(paths[1]);
    await f.close();
    await setLabel(paths[1], f.uuid, { name: 'before upgrade' });
    await deleteSnapshot(paths[1]);
    expect((await readSidecar(tmp.dir)).disks[f.uuid]).toBeUndefined();
  });

  it('removes a saved state (a leaf that is not the active disk): only its file and label go, every other disk reads as before', async () => {
    const { model, paths } = await buildTree(tmp.dir, 45, { parents: [null, 0, 0], size: SIZE, blockSize: 4 * KiB, writesPerLayer: 3 });
    await recordActive(paths[1]);
    const f = await VhdFile.open(paths[2]);
    await f.close();
    await setLabel(paths[2], f.uuid, { name: 'tried' });
    const plan = await planDelete(paths[2]);
    expect(plan).toMatchObject({ strategy: 'remove', refusals: [], bytesToCopy: 0, children: [] });
    expect(plan.keepLose).toMatch(/saved state ‘tried’ will no longer exist.*d1\.vhd/);
    expect(await deleteSnapshot(paths[2])).toEqual({ strategy: 'remove', removed: paths[2], changed: [] });
    expect(existsSync(paths[2])).toBe(false);
    for (const i of [0, 1]) expect((await readThrough(paths[i])).equals(model.view(i))).toBe(true);
    expect((await readSidecar(tmp.dir)).disks[f.uuid]).toBeUndefined();
    await expectCheckClean([paths[1]]);
  });

  it('refuses to delete the current state (a leaf) and a base with several branches, naming them', async () => {
    const { paths } = await buildTree(tmp.dir, 44, { parents: [null, 0, 0], size: SIZE, blockSize: 4 * KiB, writesPerLayer: 2 });
    await recordActive(paths[2]);
    const leafPlan = await planDelete(paths[2]);
    expect(leafPlan.refusals.map((r) => r.code)).toEqual(['NOT_A_SNAPSHOT']);
    await expect(deleteSnapshot(paths[2])).rejects.toMatchObject({ code: 'NOT_A_SNAPSHOT' });
    const basePlan = await planDelete(paths[0]);
    expect(basePlan.refusals[0].code).toBe('BASE_WITH_SEVERAL_CHILDREN');
    expect(basePlan.refusals[0].message).toContain('d1.vhd');
    expect(basePlan.refusals[0].message).toContain('d2.vhd');
    const err = await deleteSnapshot(paths[0]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    for (const p of paths) expect(existsSync(p)).toBe(true);
  });

  it('a cancelled fold rolls back at once: no journal, every disk as before (the snapshot kept)', async () => {
    const { model, paths } = await buildTree(tmp.dir, 45, { parents: [null, 0, 1, 1], size: SIZE, blockSize: 4 * KiB, writesPerLayer: 20 });
    const before = await takeBefore(tmp.dir);
    const ac = new AbortController();
    let events = 0;
    const err = await deleteSnapshot(paths[1], {
      signal: ac.signal,
      onProgress: () => {
        if (++events === 1) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(await findJournals(tmp.dir)).toEqual([]);
    expect(existsSync(paths[1])).toBe(true);
    for (const i of [0, 1, 2, 3]) expect((await readThrough(paths[i])).equals(model.view(i))).toBe(true);
    await expectBefore(tmp.dir, before, 4 * KiB + 512);
  });

  it('a merge-child delete cancelled before it starts changes nothing and leaves nothing', async () => {
    const { model, paths } = await buildTree(tmp.dir, 46, { parents: [null, 0, 1], size: SIZE, blockSize: 4 * KiB, writesPerLayer: 30 });
    const before = await takeBefore(tmp.dir);
    const ac = new AbortController();
    ac.abort();
    const err = await deleteSnapshot(paths[0], { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(await findJournals(tmp.dir)).toEqual([]);
    for (const i of [0, 1, 2]) expect((await readThrough(paths[i])).equals(model.view(i))).toBe(true);
    expect(await parentOf(paths[1])).toBe(paths[0]);
    await expectBefore(tmp.dir, before, 0);
  });

  it('locks the children it folds into: a child held by another operation makes the delete refuse, changing nothing', async () => {
    const { model, paths } = await buildTree(tmp.dir, 47, { parents: [null, 0, 1, 1], size: SIZE, blockSize: 4 * KiB, writesPerLayer: 6 });
    const held = await acquireLock(paths[3], 'write');
    try {
      await expect(runOperation({ op: 'delete', disk: paths[1] })).rejects.toMatchObject({ code: 'LOCKED' });
    } finally {
      await releaseLocks([held]);
    }
    expect(existsSync(paths[1])).toBe(true);
    for (const i of [0, 1, 2, 3]) expect((await readThrough(paths[i])).equals(model.view(i))).toBe(true);
    await runOperation({ op: 'delete', disk: paths[1] });
    expect(existsSync(paths[1])).toBe(false);
  });
});

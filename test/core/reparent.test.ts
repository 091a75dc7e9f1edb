// Reparent (reconnecting a moved chain): the plan's checks, the relinked
// child reading exactly as before, and the id/size/self refusals.
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { checkPaths } from '../../core/ops/check.js';
import { createDynamic } from '../../core/ops/create.js';
import type { ReparentResult } from '../../core/ops/reparent.js';
import { buildTree, parentOf, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const SIZE = 3 * 1024 * 1024 + 512;

describe('reparent', () => {
  const tmp = useTmpDir();

  it('reconnects a child whose parent was renamed: plan clean, content as before, check clean', async () => {
    const { model, paths } = await buildTree(tmp.dir, 61, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * 1024 });
    const moved = tmp.file('renamed-base.vhd');
    await fsp.rename(paths[0], moved);
    await expect(openDisk(paths[1])).rejects.toMatchObject({ code: 'PARENT_NOT_FOUND' });
    const plan = await planOperation({ op: 'reparent', disk: paths[1], parent: moved });
    expect(plan.refusals).toEqual([]);
    const r = (await runOperation({ op: 'reparent', disk: paths[1], parent: moved })) as ReparentResult;
    expect(r.warnings).toEqual([]);
    expect(await parentOf(paths[1])).toBe(moved);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    for (const rep of await checkPaths([paths[2]], { deep: true })) expect(rep.errors, rep.path).toEqual([]);
  });

  it('refuses a parent with another id unless overridden, and then warns loudly', async () => {
    const { paths } = await buildTree(tmp.dir, 62, { parents: [null, 0], size: SIZE, blockSize: 64 * 1024, writesPerLayer: 3 });
    const other = tmp.file('other.vhd');
    await createDynamic(other, SIZE, { blockSize: 64 * 1024 });
    const plan = await planOperation({ op: 'reparent', disk: paths[1], parent: other });
    expect(plan.refusals.map((x) => x.code)).toEqual(['PARENT_ID_MISMATCH']);
    await expect(runOperation({ op: 'reparent', disk: paths[1], parent: other })).rejects.toMatchObject({ code: 'PARENT_ID_MISMATCH' });
    expect(await parentOf(paths[1])).toBe(paths[0]);
    const forced = await planOperation({ op: 'reparent', disk: paths[1], parent: other, ignoreIdMismatch: true });
    expect(forced.refusals).toEqual([]);
    expect(forced.summary).toContain('WARNING');
    const r = (await runOperation({ op: 'reparent', disk: paths[1], parent: other, ignoreIdMismatch: true })) as ReparentResult;
    expect(r.warnings.join(' ')).toMatch(/id mismatch ignored/);
    expect(await parentOf(paths[1])).toBe(other);
  });

  it('refuses a parent of another size, itself, and a disk that has no parent', async () => {
    const { paths } = await buildTree(tmp.dir, 63, { parents: [null, 0], size: SIZE, blockSize: 64 * 1024, writesPerLayer: 2 });
    const bigger = tmp.file('bigger.vhd');
    await createDynamic(bigger, SIZE * 2);
    const codes = async (disk: string, parent: string) =>
      (await planOperation({ op: 'reparent', disk, parent, ignoreIdMismatch: true })).refusals.map((x) => x.code);
    expect(await codes(paths[1], bigger)).toEqual(['PARENT_SIZE_MISMATCH']);
    expect(await codes(paths[1], paths[1])).toEqual(['SELF_PARENT']);
    expect(await codes(paths[0], bigger)).toEqual(['NOT_DIFFERENCING']);
  });
});

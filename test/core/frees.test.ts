// Plan.frees is exact: for a merge, a fold delete, a merge-child delete and
// the merge of an active disk (run as its parent's delete), the folder's
// files shrink by exactly the figure the plan gave, whatever the block sizes
// and the shape of the tree (grandchildren relinked, a fixed base).
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planDelete } from '../../core/ops/delete.js';
import { planMerge } from '../../core/ops/merge.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { buildTree } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 6 * MiB;

/** Bytes of every file in the folder (journals and undo records are gone once a run ends). */
function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

describe('Plan.frees', () => {
  const tmp = useTmpDir();

  const cases = [
    { name: 'merge of a leaf into its parent', op: 'merge' as const, parents: [null, 0, 1], target: 2, blockSize: 512 * KiB, seed: 71 },
    { name: 'merge of a snapshot with two grandchildren', op: 'merge' as const, parents: [null, 0, 1, 1], target: 1, blockSize: 2 * MiB, seed: 72 },
    { name: 'merge into a fixed base', op: 'merge' as const, parents: [null, 0, 1], target: 1, blockSize: 512 * KiB, seed: 73, base: 'fixed' as const },
    { name: 'fold delete of a snapshot with two children', op: 'delete' as const, parents: [null, 0, 1, 1], target: 1, blockSize: 4 * KiB, seed: 74 },
    { name: 'fold delete, 2 MiB blocks', op: 'delete' as const, parents: [null, 0, 1, 2], target: 2, blockSize: 2 * MiB, seed: 75 },
    {
      name: 'merge-child delete of a base with a grandchild below',
      op: 'delete' as const,
      parents: [null, 0, 1, 1],
      target: 0,
      blockSize: 512 * KiB,
      seed: 76,
    },
    {
      name: 'merge-child delete of a fixed base',
      op: 'delete' as const,
      parents: [null, 0, 1],
      target: 0,
      blockSize: 512 * KiB,
      seed: 77,
      base: 'fixed' as const,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the folder shrinks by exactly the plan's figure (seed ${c.seed})`, async () => {
      const { paths } = await buildTree(tmp.dir, c.seed, { parents: c.parents, size: SIZE, blockSize: c.blockSize, base: c.base, writesPerLayer: 20 });
      // The routed plan, as the app and the CLI get it (a merge of the active disk runs as its parent's delete).
      const plan = await planOperation({ op: c.op, disk: paths[c.target] });
      expect(plan.refusals).toEqual([]);
      expect(typeof plan.frees).toBe('number');
      const before = folderBytes(tmp.dir);
      await runOperation({ op: c.op, disk: paths[c.target] });
      expect(before - folderBytes(tmp.dir)).toBe(plan.frees);
    });
  }

  it('a leaf that is not the active disk: a merge proper, the same figure routed or not', async () => {
    // d0 ← d1 ← d2 ← d3 and d0 ← d4: d4, the newest leaf, is the active disk, so d3 (a saved state) merges into d2 itself.
    const { paths } = await buildTree(tmp.dir, 80, { parents: [null, 0, 1, 2, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 20 });
    const plan = await planMerge(paths[3]);
    const routed = await planOperation({ op: 'merge', disk: paths[3] });
    expect(routed.viaDelete).toBeUndefined();
    expect(plan.refusals).toEqual([]);
    expect(routed.frees).toBe(plan.frees);
    const before = folderBytes(tmp.dir);
    await runOperation({ op: 'merge', disk: paths[3] });
    expect(before - folderBytes(tmp.dir)).toBe(plan.frees);
  });

  it('the active disk: its merge runs as the delete of its parent, with that delete’s figure', async () => {
    // d2 is the only leaf: the active disk of its tree.
    const { paths } = await buildTree(tmp.dir, 78, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 20 });
    const plan = await planOperation({ op: 'merge', disk: paths[2] });
    const del = await planDelete(paths[1]);
    expect(plan.refusals).toEqual([]);
    expect(plan.frees).toBe(del.frees);
    const before = folderBytes(tmp.dir);
    await runOperation({ op: 'merge', disk: paths[2] });
    expect(before - folderBytes(tmp.dir)).toBe(plan.frees);
  });

  it('merge --into gives no figure (each level depends on the ones below)', async () => {
    const { paths } = await buildTree(tmp.dir, 79, { parents: [null, 0, 1, 2, 2], size: SIZE, blockSize: 512 * KiB });
    const plan = await planOperation({ op: 'merge', disk: paths[3], into: paths[1] });
    expect(plan.segment).toHaveLength(3);
    expect(plan.frees).toBeUndefined();
  });
});

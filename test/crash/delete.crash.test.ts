// Delete killed at random I/O steps: every remaining disk reads exactly as
// before (delete never changes what a remaining disk shows) and keeps its path.
import { existsSync } from 'node:fs';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { recordActive } from '../../core/library/active.js';
import { getLabel, setLabel } from '../../core/library/sidecar.js';
import { Rng } from '../support/model.js';
import { makeVhdxTree } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

async function vhdxId(p: string): Promise<string> {
  const f = await VhdxFile.open(p);
  await f.close();
  return f.dataWriteGuid;
}

crashSuite('delete', [
  {
    name: 'delete (fold: middle snapshot, one child)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 201, blockSize: 64 * KiB, junk: [1] }),
    request: (dir) => ({ op: 'delete', disk: `${dir}/d1.vhd` }),
    after: { 'd1.vhd': null, 'd2.vhd': { parent: 'd0.vhd' } },
  },
  {
    name: 'delete (fold: middle snapshot, two children)',
    setup: treeSetup({ parents: [null, 0, 1, 1], seed: 202, blockSize: 4 * KiB, writesPerLayer: 8, junk: [1, 2] }),
    request: (dir) => ({ op: 'delete', disk: `${dir}/d1.vhd` }),
    after: { 'd1.vhd': null, 'd2.vhd': { parent: 'd0.vhd' }, 'd3.vhd': { parent: 'd0.vhd' } },
  },
  {
    name: 'delete (merge-child: base with one child that has a child)',
    // d0 <- d1 <- d2: d1 is merged into d0, which takes the name d1.vhd; d2 is relinked to it.
    setup: treeSetup({ parents: [null, 0, 1], seed: 203, blockSize: 512 * KiB, junk: [1] }),
    request: (dir) => ({ op: 'delete', disk: `${dir}/d0.vhd` }),
    after: { 'd0.vhd': null, 'd1.vhd': { parent: null }, 'd2.vhd': { parent: 'd1.vhd' } },
  },
  {
    name: 'delete (fold of a base into its nearly full child, which stands alone)',
    // d1 stores nearly all it shows: d0's edges are folded into it, it becomes a dynamic disk; d2 stays its child.
    setup: treeSetup({ parents: [null, 0, 1], seed: 204, blockSize: 64 * KiB, cover: [1], junk: [1] }),
    request: (dir) => ({ op: 'delete', disk: `${dir}/d0.vhd` }),
    after: { 'd0.vhd': null, 'd1.vhd': { parent: null }, 'd2.vhd': { parent: 'd1.vhd' } },
  },
  {
    name: 'delete (remove: a VHD saved state)',
    // d0 <- d1 (active), d0 <- d2 (saved state): only d2's file goes.
    setup: async (dir) => {
      await treeSetup({ parents: [null, 0, 0], seed: 204, blockSize: 64 * KiB })(dir);
      await recordActive(`${dir}/d1.vhd`);
    },
    request: (dir) => ({ op: 'delete', disk: `${dir}/d2.vhd` }),
    after: { 'd2.vhd': null },
    // Few steps (locks, one unlink): killed at every one.
    runs: 16,
  },
  {
    name: 'delete (remove: a VHDX saved state)',
    // base.vhdx <- now.avhdx (active), base.vhdx <- saved.avhdx: only saved.avhdx goes.
    // Labelled: the label goes only after the file, so a kill never leaves the file without it.
    setup: async (dir) => {
      const t = await makeVhdxTree(dir, new Rng(205));
      await setLabel(t.saved, await vhdxId(t.saved), { name: 'tried' });
    },
    request: (dir) => ({ op: 'delete', disk: `${dir}/saved.avhdx` }),
    after: { 'saved.avhdx': null },
    runs: 21,
    verify: async (dir) => {
      const saved = `${dir}/saved.avhdx`;
      if (existsSync(saved) && (await getLabel(saved, await vhdxId(saved)))?.name !== 'tried') throw new Error('saved.avhdx is left without its label');
    },
  },
]);

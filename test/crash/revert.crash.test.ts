// Revert killed at random I/O steps: the disk path always exists and shows
// either its old content or exactly its snapshot's; with --keep the old state
// survives under its second name, complete, or not at all. The same cases on
// a VHDX chain (the new child an AVHDX), with as many kill points.
import { crashSuite } from './harness.js';
import { KiB, treeSetup, vhdxTreeSetup } from './scenarios.js';

crashSuite('revert', [
  {
    name: 'revert (leaf to its parent)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 601, blockSize: 64 * KiB }),
    request: (dir) => ({ op: 'revert', disk: `${dir}/d2.vhd` }),
    after: { 'd2.vhd': { content: 'd1.vhd' } },
  },
  {
    name: 'revert --keep (leaf to its grandparent)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 602, blockSize: 4 * KiB, writesPerLayer: 6 }),
    request: (dir) => ({ op: 'revert', disk: `${dir}/d2.vhd`, to: `${dir}/d0.vhd`, keep: true }),
    after: { 'd2.vhd': { content: 'd0.vhd', parent: 'd0.vhd' }, 'd2-state-<time>.vhd': { content: 'd2.vhd', parent: 'd1.vhd' } },
  },
]);

crashSuite('revert (VHDX)', [
  {
    name: 'revert (VHDX leaf to its parent)',
    setup: vhdxTreeSetup({ parents: [null, 0, 1], seed: 611 }),
    request: (dir) => ({ op: 'revert', disk: `${dir}/d2.avhdx` }),
    after: { 'd2.avhdx': { content: 'd1.avhdx' } },
  },
  {
    name: 'revert --keep (VHDX leaf to its grandparent)',
    setup: vhdxTreeSetup({ parents: [null, 0, 1], seed: 612 }),
    request: (dir) => ({ op: 'revert', disk: `${dir}/d2.avhdx`, to: `${dir}/d0.vhdx`, keep: true }),
    after: { 'd2.avhdx': { content: 'd0.vhdx', parent: 'd0.vhdx' }, 'd2-state-<time>.avhdx': { content: 'd2.avhdx', parent: 'd1.avhdx' } },
  },
]);

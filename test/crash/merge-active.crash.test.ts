// Merge of the active disk killed at random I/O steps: it runs as the delete
// of its parent snapshot (core/ops/merge-active.ts), so the active path
// always exists and always reads the same; the parent is there or gone.
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

crashSuite('merge-active', [
  {
    name: 'merge of the active disk into an inner snapshot (fold)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 801, blockSize: 64 * KiB, writesPerLayer: 8 }),
    request: (dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` }),
    after: { 'd1.vhd': null, 'd2.vhd': { parent: 'd0.vhd' } },
  },
  {
    name: 'merge of the active disk into the base (merge-child)',
    setup: treeSetup({ parents: [null, 0], seed: 802, blockSize: 64 * KiB, writesPerLayer: 8 }),
    request: (dir) => ({ op: 'merge', disk: `${dir}/d1.vhd` }),
    after: { 'd0.vhd': null, 'd1.vhd': { parent: null } },
  },
]);

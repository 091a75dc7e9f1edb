// Flatten killed at random I/O steps: the inputs never change, and the output
// either does not exist or is complete and reads exactly as the source did.
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

crashSuite('flatten', [
  {
    name: 'flatten (4-disk chain to dynamic, 4 KiB blocks)',
    setup: treeSetup({ parents: [null, 0, 1, 2], seed: 301, blockSize: 4 * KiB, writesPerLayer: 6, junk: [2] }),
    request: (dir) => ({ op: 'flatten', disk: `${dir}/d3.vhd`, out: `${dir}/flat.vhd`, format: 'dynamic' }),
    after: { 'flat.vhd': { content: 'd3.vhd', parent: null } },
  },
  {
    name: 'flatten (3-disk chain to fixed)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 302, blockSize: 64 * KiB, junk: [1] }),
    request: (dir) => ({ op: 'flatten', disk: `${dir}/d2.vhd`, out: `${dir}/flat.vhd`, format: 'fixed' }),
    after: { 'flat.vhd': { content: 'd2.vhd', parent: null } },
  },
]);

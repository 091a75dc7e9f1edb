// Compact killed at random I/O steps: every disk reads exactly as before (its
// content never changes), the path always holds a whole file, and no
// temporary copy survives recovery.
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

crashSuite('compact', [
  {
    name: 'compact (differencing leaf with junk in clear bits)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 701, blockSize: 64 * KiB, junk: [2] }),
    request: (dir) => ({ op: 'compact', disk: `${dir}/d2.vhd` }),
    after: {},
  },
  {
    name: 'compact (dynamic base, 4 KiB blocks, junk under clear bits)',
    // Kept blocks are rewritten with zeros under their clear bits: the content never changes.
    setup: treeSetup({ parents: [null], seed: 702, blockSize: 4 * KiB, writesPerLayer: 12, junk: [0] }),
    request: (dir) => ({ op: 'compact', disk: `${dir}/d0.vhd` }),
    after: {},
  },
]);

// Reparent killed at random I/O steps: the child points either at its old
// parent or at the new one (a copy of the old, so the content never changes),
// never at a half-written header or locator.
import { chmod, copyFile } from 'node:fs/promises';
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

crashSuite('reparent', [
  {
    name: 'reparent (leaf to a copy of its parent)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 401, blockSize: 512 * KiB, then: (dir) => copyFile(`${dir}/d1.vhd`, `${dir}/moved.vhd`) }),
    request: (dir) => ({ op: 'reparent', disk: `${dir}/d2.vhd`, parent: `${dir}/moved.vhd` }),
    after: { 'd2.vhd': { parent: 'moved.vhd' } },
  },
  {
    name: 'reparent (read-only middle snapshot to a copy of its parent)',
    setup: treeSetup({
      parents: [null, 0, 1],
      seed: 402,
      blockSize: 4 * KiB,
      writesPerLayer: 6,
      then: async (dir) => {
        await copyFile(`${dir}/d0.vhd`, `${dir}/base-copy.vhd`);
        await chmod(`${dir}/d1.vhd`, 0o444);
      },
    }),
    request: (dir) => ({ op: 'reparent', disk: `${dir}/d1.vhd`, parent: `${dir}/base-copy.vhd` }),
    after: { 'd1.vhd': { parent: 'base-copy.vhd' } },
  },
  {
    name: 'reparent (child of a fixed base to a copy of the base)',
    setup: treeSetup({ parents: [null, 0], seed: 403, base: 'fixed', then: (dir) => copyFile(`${dir}/d0.vhd`, `${dir}/fixed-copy.vhd`) }),
    request: (dir) => ({ op: 'reparent', disk: `${dir}/d1.vhd`, parent: `${dir}/fixed-copy.vhd` }),
    after: { 'd1.vhd': { parent: 'fixed-copy.vhd' } },
  },
]);

// Reparent killed at random I/O steps: the child points either at its old
// parent or at the new one (a copy of the old, so the content never changes),
// never at a half-written header or locator. A VHDX child's locator goes
// through its log: the old one or the new one, with its own child still linked.
import { chmod, copyFile } from 'node:fs/promises';
import { Rng } from '../support/model.js';
import { linkTo, makeVhdx } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

const MiB = 1024 * KiB;

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
  {
    name: 'reparent (read-only AVHDX snapshot with a child, to a copy of its parent)',
    setup: async (dir) => {
      const rng = new Rng(404);
      const base = await makeVhdx(`${dir}/base.vhdx`, { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: 0, data: rng.bytes(2 * MiB) }] });
      const mid = await makeVhdx(`${dir}/mid.avhdx`, {
        kind: 'differencing',
        virtualSize: 4 * MiB,
        writes: [{ offset: MiB - 4096, data: rng.bytes(12288) }],
        locator: linkTo(base),
      });
      await makeVhdx(`${dir}/top.avhdx`, {
        kind: 'differencing',
        virtualSize: 4 * MiB,
        writes: [{ offset: 3 * MiB, data: rng.bytes(4096) }],
        locator: linkTo(mid, '.\\mid.avhdx'),
      });
      await copyFile(`${dir}/base.vhdx`, `${dir}/base-copy.vhdx`);
      await chmod(`${dir}/mid.avhdx`, 0o444);
    },
    request: (dir) => ({ op: 'reparent', disk: `${dir}/mid.avhdx`, parent: `${dir}/base-copy.vhdx` }),
    after: { 'mid.avhdx': { parent: 'base-copy.vhdx' } },
  },
]);

// Every I/O step of merge (VHD, and an AVHDX by rewrite), delete, flatten, snapshot and reparent (VHD and AVHDX; through
// runOperation) failed in turn: a typed IoError, a state `recover` resolves,
// and every disk as before or as after. See sweep.ts.
import { copyFile } from 'node:fs/promises';
import { describe, it } from 'vitest';
import { runOperation, type OperationRequest } from '../../core/operations.js';
import { treeSetup, KiB } from '../crash/scenarios.js';
import { Rng } from '../support/model.js';
import { linkTo, makeVhdx } from '../support/vhdx-build.js';
import { expectSweepClean, sweep, type FaultCase } from './sweep.js';

const MiB = 1024 * KiB;
const small = { size: 1 * MiB + 3 * 512, writesPerLayer: 5 };

function op(req: (dir: string) => OperationRequest): FaultCase['run'] {
  return (dir) => runOperation(req(dir));
}

const CASES: FaultCase[] = [
  {
    name: 'merge (child with a grandchild)',
    setup: treeSetup({ parents: [null, 0, 1, 2], seed: 11, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` })),
    after: { 'd2.vhd': null, 'd1.vhd': { content: 'd2.vhd' }, 'd3.vhd': { parent: 'd1.vhd' } },
  },
  {
    name: 'merge (AVHDX active disk into its AVHDX parent, by rewrite)',
    setup: async (dir) => {
      const rng = new Rng(19);
      const base = await makeVhdx(`${dir}/base.vhdx`, { kind: 'dynamic', virtualSize: 3 * MiB, writes: [{ offset: 512, data: rng.bytes(MiB) }] });
      const s1 = await makeVhdx(`${dir}/s1.avhdx`, {
        kind: 'differencing',
        virtualSize: 3 * MiB,
        writes: [{ offset: MiB - 1024, data: rng.bytes(8192) }],
        locator: linkTo(base),
      });
      await makeVhdx(`${dir}/s2.avhdx`, {
        kind: 'differencing',
        virtualSize: 3 * MiB,
        writes: [{ offset: 2 * MiB + 512, data: rng.bytes(4096) }],
        locator: linkTo(s1, '.\\s1.avhdx'),
      });
    },
    run: op((dir) => ({ op: 'merge', disk: `${dir}/s2.avhdx` })),
    after: { 's1.avhdx': null, 's2.avhdx': { parent: 'base.vhdx' } },
  },
  {
    name: 'delete (fold into two children)',
    setup: treeSetup({ parents: [null, 0, 1, 1], seed: 12, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'delete', disk: `${dir}/d1.vhd` })),
    after: { 'd1.vhd': null, 'd2.vhd': { parent: 'd0.vhd' }, 'd3.vhd': { parent: 'd0.vhd' } },
  },
  {
    name: 'delete (merge-child)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 13, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'delete', disk: `${dir}/d0.vhd` })),
    after: { 'd0.vhd': null, 'd1.vhd': { parent: null }, 'd2.vhd': { parent: 'd1.vhd' } },
  },
  {
    name: 'flatten (3-disk chain to dynamic)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 14, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'flatten', disk: `${dir}/d2.vhd`, out: `${dir}/flat.vhd`, format: 'dynamic' })),
    after: { 'flat.vhd': { content: 'd2.vhd', parent: null } },
  },
  {
    name: 'flatten (to fixed)',
    setup: treeSetup({ parents: [null, 0], seed: 15, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'flatten', disk: `${dir}/d1.vhd`, out: `${dir}/flat.vhd`, format: 'fixed' })),
    after: { 'flat.vhd': { content: 'd1.vhd', parent: null } },
  },
  {
    name: 'snapshot in place',
    setup: treeSetup({ parents: [null, 0], seed: 16, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, name: 'faulty' })),
    after: { 'd1-snap-<time>.vhd': { content: 'd1.vhd', parent: 'd0.vhd' }, 'd1.vhd': { parent: 'd1-snap-<time>.vhd' } },
  },
  {
    name: 'snapshot --out',
    setup: treeSetup({ parents: [null, 0], seed: 17, blockSize: 64 * KiB, ...small }),
    run: op((dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, out: `${dir}/branch.vhd` })),
    after: { 'branch.vhd': { content: 'd1.vhd', parent: 'd1.vhd' } },
  },
  {
    name: 'reparent (to a copy of the parent)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 18, blockSize: 64 * KiB, ...small, then: (dir) => copyFile(`${dir}/d1.vhd`, `${dir}/moved.vhd`) }),
    run: op((dir) => ({ op: 'reparent', disk: `${dir}/d2.vhd`, parent: `${dir}/moved.vhd` })),
    after: { 'd2.vhd': { parent: 'moved.vhd' } },
  },
  {
    name: 'reparent (AVHDX to a copy of its parent, through its log)',
    setup: async (dir) => {
      const rng = new Rng(20);
      const base = await makeVhdx(`${dir}/base.vhdx`, { kind: 'dynamic', virtualSize: 3 * MiB, writes: [{ offset: 4096, data: rng.bytes(MiB) }] });
      await makeVhdx(`${dir}/child.avhdx`, {
        kind: 'differencing',
        virtualSize: 3 * MiB,
        writes: [{ offset: 2 * MiB, data: rng.bytes(8192) }],
        locator: linkTo(base),
      });
      await copyFile(`${dir}/base.vhdx`, `${dir}/moved.vhdx`);
    },
    run: op((dir) => ({ op: 'reparent', disk: `${dir}/child.avhdx`, parent: `${dir}/moved.vhdx` })),
    after: { 'child.avhdx': { parent: 'moved.vhdx' } },
  },
];

describe('I/O failures during operations', () => {
  for (const c of CASES) {
    it(`${c.name}: every I/O step failed in turn`, { timeout: 300_000 }, async () => {
      expectSweepClean(c.name, await sweep(c), 10);
    });
  }
});

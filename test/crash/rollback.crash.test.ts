// Kill points during Cancel and during Roll back (issue 14): a merge or a
// delete cancelled mid-copy and killed while it rolls back, or interrupted and
// then killed while `recover --rollback` runs; `recover --rollback` afterwards
// must always give exactly the before state.
import { openDisk } from '../../core/disk/chain.js';
import { Rng } from '../support/model.js';
import { rollbackSuite } from './harness.js';
import { KiB, MiB, treeSetup } from './scenarios.js';

/** Several 4 MiB batches in the layer `layer` stores, so progress reports (checkpoints) come mid-copy. */
const bulk = (layer: number, seed: number) => async (dir: string) => {
  const rng = new Rng(seed);
  const d = await openDisk(`${dir}/d${layer}.vhd`, { writable: true, sync: false });
  try {
    for (let at = 777; at + 2 * MiB < d.virtualSize; at += 2 * MiB + 4097) await d.write(at, rng.bytes(2 * MiB - 1001));
  } finally {
    await d.close();
  }
};

const SIZE = 12 * MiB + 512;
const mergeTree = treeSetup({ parents: [null, 0, 1, 2], seed: 1101, size: SIZE, blockSize: 512 * KiB, writesPerLayer: 8, then: (dir) => bulk(2, 1102)(dir) });
const foldTree = treeSetup({ parents: [null, 0, 1, 1], seed: 1201, size: SIZE, blockSize: 64 * KiB, writesPerLayer: 8, then: (dir) => bulk(1, 1202)(dir) });

rollbackSuite('cancel and roll back', [
  {
    name: 'merge cancelled mid-copy (killed during its rollback)',
    mode: 'cancel',
    at: 2,
    setup: mergeTree,
    request: (dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` }),
  },
  {
    name: 'merge interrupted mid-copy, then recover --rollback killed',
    mode: 'rollback',
    at: 2,
    setup: mergeTree,
    request: (dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` }),
  },
  {
    name: 'delete (fold into two children) cancelled mid-fold',
    mode: 'cancel',
    at: 4,
    setup: foldTree,
    request: (dir) => ({ op: 'delete', disk: `${dir}/d1.vhd` }),
  },
  {
    name: 'delete (fold) interrupted, then recover --rollback killed',
    mode: 'rollback',
    at: 4,
    setup: foldTree,
    request: (dir) => ({ op: 'delete', disk: `${dir}/d1.vhd` }),
  },
]);

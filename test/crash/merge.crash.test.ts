// Merge killed at random I/O steps: after recover the merged disk shows what
// the child showed, the child is gone, its children are relinked and unchanged.
import { openDisk } from '../../core/disk/chain.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { DiskModel, Rng } from '../support/model.js';
import { readThrough } from '../support/tree.js';
import { recordActive } from '../../core/library/active.js';
import { crashSuite } from './harness.js';
import { KiB, MiB, treeSetup } from './scenarios.js';

const BIG = 80 * MiB;

/**
 * d0 <- d1 <- d2 with d1 storing about 70 MiB: more than one merge batch
 * (32 MiB), so kills land between staged batches not yet committed, whose
 * allocations the redo must leave harmless, and around the commit.
 */
async function bigSetup(dir: string): Promise<void> {
  const rng = new Rng(104);
  const model = new DiskModel(BIG);
  const layers: { writes: number; blockSized: boolean }[] = [
    { writes: 6, blockSized: true },
    { writes: 35, blockSized: true },
    { writes: 5, blockSized: false },
  ];
  for (const [i, l] of layers.entries()) {
    const p = `${dir}/d${i}.vhd`;
    if (i === 0) {
      await createDynamic(p, BIG, { blockSize: 2 * MiB });
      model.addBase();
    } else {
      await createDifferencing(p, `${dir}/d${i - 1}.vhd`);
      model.addChild(i - 1);
    }
    const d = await openDisk(p, { writable: true, sync: false });
    try {
      for (let w = 0; w < l.writes; w++) {
        // Whole blocks (fast to write and merge) or small unaligned pieces.
        const off = l.blockSized ? rng.int(BIG / (2 * MiB)) * 2 * MiB : rng.int(BIG - 40_000);
        const data = rng.bytes(l.blockSized ? 2 * MiB : rng.range(1, 40_000));
        await d.write(off, data);
        model.write(i, off, data);
      }
    } finally {
      await d.close();
    }
  }
  for (let i = 0; i < layers.length; i++) {
    if (!(await readThrough(`${dir}/d${i}.vhd`)).equals(model.view(i))) throw new Error(`setup: d${i} does not read as the reference model says`);
  }
}

crashSuite('merge', [
  {
    name: 'merge (child with two grandchildren)',
    // d0 <- d1 <- d2 <- {d3, d4}: merging d2 into d1 relinks d3 and d4.
    setup: treeSetup({ parents: [null, 0, 1, 2, 2], seed: 101, blockSize: 512 * KiB }),
    request: (dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` }),
    after: { 'd2.vhd': null, 'd1.vhd': { content: 'd2.vhd' }, 'd3.vhd': { parent: 'd1.vhd' }, 'd4.vhd': { parent: 'd1.vhd' } },
  },
  {
    name: 'merge (partial 4 KiB blocks over parent data, junk in clear bits)',
    // Unaligned writes leave partial blocks in d2 over data d1 stores; junk in
    // d2's clear-bit sectors must never reach d1.
    // d3, a branch of the base, is made the active disk: d2 is a saved state, so this is merge's own copy (the active disk's merge is merge-active.crash.test.ts).
    setup: treeSetup({ parents: [null, 0, 1, 0], seed: 102, blockSize: 4 * KiB, writesPerLayer: 8, junk: [2], then: (_dir, paths) => recordActive(paths[3]) }),
    request: (dir) => ({ op: 'merge', disk: `${dir}/d2.vhd` }),
    after: { 'd2.vhd': null, 'd1.vhd': { content: 'd2.vhd' } },
  },
  {
    name: 'merge into a dynamic base with junk under clear bits',
    // Data lands in d0's blocks in place before their bits are committed: until then it is
    // under clear bits, reads as zeros in d0 and is shadowed by d1; junk there must never show.
    setup: treeSetup({ parents: [null, 0, 1], seed: 105, blockSize: 64 * KiB, writesPerLayer: 8, junk: [0, 1] }),
    request: (dir) => ({ op: 'merge', disk: `${dir}/d1.vhd` }),
    after: { 'd1.vhd': null, 'd0.vhd': { content: 'd1.vhd' }, 'd2.vhd': { parent: 'd0.vhd' } },
    runs: process.env.CRASH_RUNS ? undefined : 20,
  },
  {
    name: 'merge (70 MiB child: several staged batches before one commit)',
    setup: bigSetup,
    request: (dir) => ({ op: 'merge', disk: `${dir}/d1.vhd` }),
    after: { 'd1.vhd': null, 'd0.vhd': { content: 'd1.vhd' }, 'd2.vhd': { parent: 'd0.vhd' } },
    // Large files: fewer kills by default (the two cases above give merge its 50+).
    runs: process.env.CRASH_RUNS ? undefined : 12,
  },
]);

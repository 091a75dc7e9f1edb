// Compact killed at random I/O steps: every disk reads exactly as before (its
// content never changes), the path always holds a whole file, and no
// temporary copy survives recovery. VHD and VHDX (a base with zero, unmapped
// and stored-zero blocks; an AVHDX leaf with a partial block of no set bit).

import { PayloadState } from '../../core/format/vhdx/bat.js';

import { Rng } from '../support/model.js';
import { makeVhdx, patchFile, linkTo } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

const MiB = 1024 * KiB;

/** base.vhdx (data, stored zeros, unmapped and zero states) and child.avhdx (partial blocks, zeros over the parent, block 3 with no set bit). */
async function vhdxChain(dir: string, withChild: boolean): Promise<void> {
  const rng = new Rng(703);
  const size = 8 * MiB;
  const base = await makeVhdx(`${dir}/base.vhdx`, {
    kind: 'dynamic',
    virtualSize: size,
    blockSize: MiB,
    writes: [
      { offset: 0, data: rng.bytes(MiB + 4096) },
      { offset: 2 * MiB, data: Buffer.alloc(MiB) },
      { offset: 4 * MiB, data: rng.bytes(8192) },
      { offset: 6 * MiB, data: rng.bytes(4096) },
    ],
    states: { 4: PayloadState.Unmapped, 5: PayloadState.Zero },
  });
  if (!withChild) return;
  const child = await makeVhdx(`${dir}/child.avhdx`, {
    kind: 'differencing',
    virtualSize: size,
    blockSize: MiB,
    writes: [
      { offset: 4096, data: rng.bytes(8192) },
      { offset: MiB, data: Buffer.alloc(MiB) },
      { offset: 3 * MiB, data: rng.bytes(4096) },
      { offset: 7 * MiB, data: rng.bytes(12288) },
    ],
    locator: linkTo(base),
  });
  await patchFile(`${dir}/child.avhdx`, child.bitmapOffsets.get(0)! + (3 * MiB) / 512 / 8, Buffer.alloc(MiB / 512 / 8));
}

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
  {
    name: 'compact (VHDX base: zero, unmapped and stored-zero blocks)',
    setup: (dir) => vhdxChain(dir, false),
    request: (dir) => ({ op: 'compact', disk: `${dir}/base.vhdx` }),
    after: {},
  },
  {
    name: 'compact (AVHDX leaf: a partial block with no set bit, zeros over its parent)',
    setup: (dir) => vhdxChain(dir, true),
    request: (dir) => ({ op: 'compact', disk: `${dir}/child.avhdx` }),
    after: {},
  },
]);

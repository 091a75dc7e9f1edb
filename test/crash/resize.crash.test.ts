// Resize (grow) killed at random I/O steps: the disk is exactly the old one
// or exactly the grown one (old content, zeros after), never in between.
// The grown state is a reference disk built in setup from the exported bytes.
import { promises as fsp } from 'node:fs';
import { exportRaw, importRaw } from '../../core/ops/transfer.js';
import { crashSuite } from './harness.js';
import { KiB, MiB, treeSetup } from './scenarios.js';

/** ref.vhd: what `disk` shows, zero-extended to `newSize` (made with import, not with resize). */
function grownReference(disk: string, newSize: number, blockSize?: number) {
  return async (dir: string) => {
    const raw = `${dir}/grown.raw`;
    await exportRaw(`${dir}/${disk}`, raw);
    await fsp.truncate(raw, newSize);
    await importRaw(raw, `${dir}/ref.vhd`, { type: blockSize ? 'dynamic' : 'fixed', blockSize });
    await fsp.unlink(raw);
  };
}

crashSuite('resize', [
  {
    name: 'resize (dynamic, 4 KiB blocks, BAT relocated)',
    setup: treeSetup({ parents: [null], seed: 801, blockSize: 4 * KiB, writesPerLayer: 12, then: grownReference('d0.vhd', 8 * MiB, 4 * KiB) }),
    request: (dir) => ({ op: 'resize', disk: `${dir}/d0.vhd`, size: 8 * MiB }),
    after: { 'd0.vhd': { content: 'ref.vhd' } },
  },
  {
    name: 'resize (dynamic, 512 KiB blocks, BAT in place)',
    setup: treeSetup({ parents: [null], seed: 803, writesPerLayer: 10, then: grownReference('d0.vhd', 7 * MiB, 512 * KiB) }),
    request: (dir) => ({ op: 'resize', disk: `${dir}/d0.vhd`, size: 7 * MiB }),
    after: { 'd0.vhd': { content: 'ref.vhd' } },
  },
  {
    name: 'resize (fixed)',
    setup: treeSetup({ parents: [null], seed: 802, base: 'fixed', writesPerLayer: 8, then: grownReference('d0.vhd', 5 * MiB) }),
    request: (dir) => ({ op: 'resize', disk: `${dir}/d0.vhd`, size: 5 * MiB }),
    after: { 'd0.vhd': { content: 'ref.vhd' } },
  },
]);

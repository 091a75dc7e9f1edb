// Snapshot killed at random I/O steps. In place: the disk path always exists
// and shows the same content; after recovery it is either the untouched disk
// or an empty child of a complete snapshot holding its old content (never a
// hard link to it). With --out: the new child is complete or absent. The same
// in a folder without hard links, killed at every step: the disk is renamed
// away for a moment, and recover always puts it back or finishes.
import { Rng } from '../support/model.js';
import { makeVhdx } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { KiB, treeSetup } from './scenarios.js';

crashSuite('snapshot', [
  {
    // VHDX: the disk becomes an empty AVHDX child linked by the snapshot's data write GUID.
    name: 'snapshot in place (dynamic VHDX)',
    setup: async (dir) => {
      await makeVhdx(`${dir}/vm.vhdx`, { kind: 'dynamic', virtualSize: 4 * 1024 * KiB, writes: [{ offset: 3 * 4096, data: new Rng(506).bytes(200 * KiB) }] });
    },
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/vm.vhdx`, name: 'vhdx' }),
    after: { 'vm-snap-<time>.vhdx': { content: 'vm.vhdx', parent: null }, 'vm.vhdx': { parent: 'vm-snap-<time>.vhdx' } },
    runs: 100_000,
  },
  {
    name: 'snapshot in place (leaf of a chain)',
    setup: treeSetup({ parents: [null, 0], seed: 501, blockSize: 512 * KiB }),
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, name: 'before upgrade' }),
    after: { 'd1-snap-<time>.vhd': { content: 'd1.vhd', parent: 'd0.vhd' }, 'd1.vhd': { parent: 'd1-snap-<time>.vhd' } },
  },
  {
    name: 'snapshot in place (standalone dynamic disk)',
    setup: treeSetup({ parents: [null], seed: 502, blockSize: 64 * KiB }),
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/d0.vhd` }),
    after: { 'd0-snap-<time>.vhd': { content: 'd0.vhd', parent: null }, 'd0.vhd': { parent: 'd0-snap-<time>.vhd' } },
  },
  {
    // FAT/SMB: the disk is renamed to the snapshot name, then the child to the path (journaled); every step killed.
    name: 'snapshot in place without hard links (rename sequence)',
    setup: treeSetup({ parents: [null, 0], seed: 504, blockSize: 64 * KiB }),
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, name: 'on FAT' }),
    after: { 'd1-snap-<time>.vhd': { content: 'd1.vhd', parent: 'd0.vhd' }, 'd1.vhd': { parent: 'd1-snap-<time>.vhd' } },
    noHardLinks: true,
    runs: 100_000,
  },
  {
    name: 'snapshot --out without hard links',
    setup: treeSetup({ parents: [null, 0], seed: 505, blockSize: 4 * KiB, writesPerLayer: 6 }),
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, out: `${dir}/branch.vhd` }),
    after: { 'branch.vhd': { content: 'd1.vhd', parent: 'd1.vhd' } },
    noHardLinks: true,
    runs: 100_000,
  },
  {
    name: 'snapshot to a new child (--out)',
    // d1 stays as the snapshot; branch.vhd appears as its empty child, complete or not at all.
    setup: treeSetup({ parents: [null, 0], seed: 503, blockSize: 4 * KiB, writesPerLayer: 6 }),
    request: (dir) => ({ op: 'snapshot', disk: `${dir}/d1.vhd`, out: `${dir}/branch.vhd`, name: 'branch point' }),
    after: { 'branch.vhd': { content: 'd1.vhd', parent: 'd1.vhd' } },
  },
]);

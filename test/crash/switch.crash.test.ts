// Switch killed at random I/O steps: the active path always exists and shows
// either its old content or exactly the saved state's; the old content
// survives under the kept name, complete, or not at all; the saved state's
// file is at its old name or at the active path, never lost. The same cases
// on a VHDX chain, with as many kill points.
import { recordActive } from '../../core/library/active.js';
import { crashSuite } from './harness.js';
import { KiB, treeSetup, vhdxTreeSetup } from './scenarios.js';

// d2 is made the active disk (recorded in the sidecar), d3 a saved state beside it.
const setup = (seed: number, blockSize: number) =>
  treeSetup({ parents: [null, 0, 1, 1], seed, blockSize, then: async (_dir, paths) => recordActive(paths[2]) });

const after = { 'd2.vhd': { content: 'd3.vhd' }, 'd3.vhd': null, 'd2-state-<time>.vhd': { content: 'd2.vhd', parent: 'd1.vhd' } };

crashSuite('switch', [
  {
    name: 'switch (to a sibling saved state)',
    setup: setup(701, 64 * KiB),
    request: (dir) => ({ op: 'switch', disk: `${dir}/d3.vhd` }),
    after,
  },
  {
    name: 'switch without hard links (the kept state is a copy)',
    setup: setup(702, 4 * KiB),
    request: (dir) => ({ op: 'switch', disk: `${dir}/d3.vhd` }),
    after,
    noHardLinks: true,
  },
]);

const vhdxSetup = (seed: number) => vhdxTreeSetup({ parents: [null, 0, 1, 1], seed, then: async (_dir, paths) => recordActive(paths[2]) });

const vhdxAfter = { 'd2.avhdx': { content: 'd3.avhdx' }, 'd3.avhdx': null, 'd2-state-<time>.avhdx': { content: 'd2.avhdx', parent: 'd1.avhdx' } };

crashSuite('switch (VHDX)', [
  {
    name: 'switch (VHDX, to a sibling saved state)',
    setup: vhdxSetup(711),
    request: (dir) => ({ op: 'switch', disk: `${dir}/d3.avhdx` }),
    after: vhdxAfter,
  },
  {
    name: 'switch (VHDX) without hard links (the kept state is a copy)',
    setup: vhdxSetup(712),
    request: (dir) => ({ op: 'switch', disk: `${dir}/d3.avhdx` }),
    after: vhdxAfter,
    noHardLinks: true,
  },
]);

// VHDX merge (core/ops/merge-vhdx.ts) killed at every I/O step: the parent is
// rewritten under a temporary name and swapped in, so after `recover` every
// disk reads exactly as before (the copy dropped) or as after (the merged
// disk in place, the other file gone), and no temporary copy survives.
// Cases: a saved-state leaf into its AVHDX parent (whose locator the rewrite
// keeps), the active disk into its AVHDX parent and into a dynamic base (the
// merged disk lands at the active path), a snapshot with a child into its base
// (the child relinked to the merged disk through its log before the snapshot
// goes), --into the base (every layer folded in one rewrite), the delete of a
// snapshot with two children (each rewritten over itself), and the delete of a snapshot with one child, which runs as that
// child's merge.
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { recordActive } from '../../core/library/active.js';
import { Rng } from '../support/model.js';
import { linkTo, makeVhdx, type BuiltVhdx } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { KiB } from './scenarios.js';

const MiB = 1024 * KiB;
const SIZE = 6 * MiB;

/** base.vhdx ← s1.avhdx ← s2.avhdx (unaligned writes, zeros over data, a zero-state block); with `branch`, base ← t1.avhdx too, the active disk. */
async function chain(dir: string, seed: number, branch: boolean): Promise<void> {
  const rng = new Rng(seed);
  const writes = () =>
    Array.from({ length: 6 }, (_, i) => {
      const len = (1 + rng.int(600)) * 512;
      return { offset: rng.int((SIZE - len) / 512) * 512, data: i === 5 ? Buffer.alloc(len) : rng.bytes(len) };
    });
  let below: { built: BuiltVhdx; name: string } | null = null;
  for (const [d, name] of ['base.vhdx', 's1.avhdx', 's2.avhdx'].entries()) {
    const built: BuiltVhdx = await makeVhdx(`${dir}/${name}`, {
      kind: d === 0 ? 'dynamic' : 'differencing',
      virtualSize: SIZE,
      blockSize: MiB,
      writes: writes(),
      ...(d === 2 ? { states: { 4: PayloadState.Zero } } : {}),
      locator: below ? linkTo(below.built, `.\\${below.name}`) : undefined,
    });
    below = { built, name };
    if (d === 0 && branch) {
      await makeVhdx(`${dir}/t1.avhdx`, { kind: 'differencing', virtualSize: SIZE, blockSize: MiB, writes: writes(), locator: linkTo(built, '.\\base.vhdx') });
      await recordActive(`${dir}/t1.avhdx`);
    }
  }
}

crashSuite('merge-vhdx', [
  {
    name: 'merge of a saved-state AVHDX leaf into its AVHDX parent (rewrite, rename over the parent)',
    setup: (dir) => chain(dir, 901, true),
    request: (dir) => ({ op: 'merge', disk: `${dir}/s2.avhdx` }),
    after: { 's2.avhdx': null, 's1.avhdx': { content: 's2.avhdx' } },
  },
  {
    name: 'merge of the active AVHDX into its AVHDX parent (the merged disk at the active path)',
    setup: (dir) => chain(dir, 902, false),
    request: (dir) => ({ op: 'merge', disk: `${dir}/s2.avhdx` }),
    after: { 's1.avhdx': null, 's2.avhdx': { parent: 'base.vhdx' } },
  },
  {
    name: 'merge of the active AVHDX into a dynamic base, through the CLI',
    setup: async (dir) => {
      await chain(dir, 903, false);
      const { rm } = await import('node:fs/promises');
      await rm(`${dir}/s2.avhdx`);
    },
    request: (dir) => ({ cli: ['merge', `${dir}/s1.avhdx`] }),
    after: { 'base.vhdx': null, 's1.avhdx': { parent: null } },
  },
  {
    name: 'merge of the snapshot s1.avhdx into the base: the base path holds the merged disk, s2.avhdx relinked to it',
    setup: (dir) => chain(dir, 905, false),
    request: (dir) => ({ op: 'merge', disk: `${dir}/s1.avhdx` }),
    after: { 's1.avhdx': null, 'base.vhdx': { content: 's1.avhdx' }, 's2.avhdx': { parent: 'base.vhdx' } },
  },
  {
    name: 'merge --into the base of the active AVHDX: the merged disk at the active path, both layers under it gone',
    setup: (dir) => chain(dir, 906, false),
    request: (dir) => ({ op: 'merge', disk: `${dir}/s2.avhdx`, into: `${dir}/base.vhdx` }),
    after: { 's1.avhdx': null, 'base.vhdx': null, 's2.avhdx': { parent: null } },
  },
  {
    name: 'delete of the snapshot s1.avhdx with two children: folded into each (rewritten over itself), then removed',
    setup: async (dir) => {
      await chain(dir, 907, false);
      // A second child of s1 beside s2, with data and a block size of its own; it is the active disk.
      const s1 = await VhdxFile.open(`${dir}/s1.avhdx`);
      await s1.close();
      await makeVhdx(`${dir}/t2.avhdx`, {
        kind: 'differencing',
        virtualSize: SIZE,
        blockSize: 2 * MiB,
        writes: [{ offset: 3 * MiB + 512, data: new Rng(908).bytes(136 * 512) }],
        locator: linkTo({ header: s1.header } as BuiltVhdx, '.\\s1.avhdx'),
      });
      await recordActive(`${dir}/t2.avhdx`);
    },
    request: (dir) => ({ op: 'delete', disk: `${dir}/s1.avhdx` }),
    after: { 's1.avhdx': null, 's2.avhdx': { parent: 'base.vhdx' }, 't2.avhdx': { parent: 'base.vhdx' } },
  },
  {
    name: 'delete of the snapshot s1.avhdx: its only child (the active disk) is merged into it, the result at the child path',
    setup: (dir) => chain(dir, 904, false),
    request: (dir) => ({ op: 'delete', disk: `${dir}/s1.avhdx` }),
    after: { 's1.avhdx': null, 's2.avhdx': { parent: 'base.vhdx' } },
  },
]);

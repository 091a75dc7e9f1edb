// Dynamic disks and their sector bitmaps: a clear bit marks a sector never
// modified, which reads as zeros whatever the data area holds (the spec and
// libvhdi; QEMU and vhd-lib show the data area). Random chains whose dynamic
// base holds junk under clear bits go through read, export, flatten, writes,
// resize, compact, delete (fold and merge-child) and merge, each compared with
// the reference model of the writes.
// Seeds: 1–3 (propertySeeds), plus any in PROP_SEEDS (comma separated).
import { copyFileSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { checkPaths } from '../../core/ops/check.js';
import { compact } from '../../core/ops/compact.js';
import { deleteSnapshot } from '../../core/ops/delete.js';
import { flatten } from '../../core/ops/flatten.js';
import { merge } from '../../core/ops/merge.js';
import { resize } from '../../core/ops/resize.js';
import { exportRaw } from '../../core/ops/transfer.js';
import { expectCheckClean } from '../support/check.js';
import { assertSame } from '../support/compare.js';
import { junkClearSectors } from '../support/junk.js';
import { propertySeeds, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { buildTree, readThrough } from '../support/tree.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 5 * MiB + 3 * 512; // ends inside the last block
const SEEDS = propertySeeds();

const warningCodes = async (p: string) => (await checkPaths([p], { deep: true, chain: false }))[0].warnings.map((w) => w.code);

/** Unaligned writes landing inside allocated blocks of a dynamic file (where the clear bits are), mirrored into `view`. */
async function writeIntoAllocated(p: string, view: Buffer, rng: Rng, writes: number): Promise<void> {
  const f = await VhdFile.open(p);
  const blocks = f.physicalOrder();
  const blockSize = f.blockSize;
  await f.close();
  const d = await openDisk(p, { writable: true, sync: false });
  try {
    for (let i = 0; i < writes; i++) {
      const b = rng.pick(blocks);
      const start = b * blockSize + rng.int(Math.min(blockSize, SIZE - b * blockSize));
      const len = Math.min(SIZE - start, rng.chance(0.3) ? rng.range(1, 20) : rng.range(1, 3 * 512 + 77));
      const data = rng.chance(0.15) ? Buffer.alloc(len) : rng.bytes(len);
      await d.write(start, data);
      view.set(data, start);
    }
  } finally {
    await d.close();
  }
}

describe('dynamic base with junk under clear bits', () => {
  const tmp = useTmpDir('vhdsnap-dynbits-');

  for (const blockSize of [4 * KiB, 512 * KiB, 2 * MiB]) {
    for (const seed of SEEDS) {
      it(`${blockSize / KiB} KiB blocks, seed ${seed}: read, export, flatten, write, resize, compact, delete, merge match the model`, async () => {
        const where = `${blockSize / KiB} KiB seed=${seed}`;
        try {
          // base → d1 → d2 → d3
          const { model, paths, rng } = await buildTree(tmp.dir, 9000 + seed, { parents: [null, 0, 1, 2], size: SIZE, blockSize, writesPerLayer: 14 });
          expect(await junkClearSectors(paths[0], rng), 'junk under clear bits of the base').toBeGreaterThan(0);
          expect(await junkClearSectors(paths[2], rng)).toBeGreaterThan(0);
          expect(await warningCodes(paths[0])).toEqual(['DATA_UNDER_CLEAR_BITS']);
          for (const [k, p] of paths.entries()) assertSame(await readThrough(p), model.view(k), `${where}: read layer ${k}`);

          // Export and flatten read through the chain.
          await exportRaw(paths[3], tmp.file('e.raw'));
          assertSame(readFileSync(tmp.file('e.raw')), model.view(3), `${where}: export`);
          await exportRaw(paths[0], tmp.file('b.raw'));
          assertSame(readFileSync(tmp.file('b.raw')), model.view(0), `${where}: export of the base`);
          for (const format of ['dynamic', 'fixed', 'raw'] as const) {
            const out = tmp.file(`f-${format}.${format === 'raw' ? 'raw' : 'vhd'}`);
            await flatten(paths[3], out, { format });
            assertSame(format === 'raw' ? readFileSync(out) : await readThrough(out), model.view(3), `${where}: flatten to ${format}`);
          }
          await expectCheckClean([tmp.file('f-dynamic.vhd')]);
          expect(await warningCodes(tmp.file('f-dynamic.vhd'))).toEqual([]);

          // A standalone copy of the base: writes into blocks with clear bits, then grow, then compact.
          const solo = tmp.file('solo.vhd');
          copyFileSync(paths[0], solo);
          const soloView = Buffer.from(model.view(0));
          await writeIntoAllocated(solo, soloView, rng, 40);
          assertSame(await readThrough(solo), soloView, `${where}: after writes into blocks with clear bits`);
          await expectCheckClean([solo]);
          const grown = SIZE + blockSize + 3 * 512;
          await resize(solo, grown);
          const grownView = Buffer.concat([soloView, Buffer.alloc(grown - SIZE)]);
          assertSame(await readThrough(solo), grownView, `${where}: after resize`);
          await compact(solo);
          assertSame(await readThrough(solo), grownView, `${where}: after compact`);
          expect(await warningCodes(solo), 'compact stores zeros under clear bits').toEqual([]);
          await expectCheckClean([solo]);

          // delete d2 (a fold into d3, over the junked base), then merge d1 into the base, then delete the base (merge-child).
          await deleteSnapshot(paths[2]);
          assertSame(await readThrough(paths[3]), model.view(3), `${where}: d3 after deleting d2`);
          assertSame(await readThrough(paths[0]), model.view(0), `${where}: base after deleting d2`);
          await merge(paths[1]);
          assertSame(await readThrough(paths[0]), model.view(1), `${where}: base after merging d1 into it`);
          assertSame(await readThrough(paths[3]), model.view(3), `${where}: d3 after merging d1`);
          await expectCheckClean([paths[3]]);
          await deleteSnapshot(paths[0]);
          assertSame(await readThrough(paths[3]), model.view(3), `${where}: d3 after deleting the base (merge-child)`);
          await expectCheckClean([paths[3]]);
        } catch (err) {
          console.error(`dynamic-bitmap property failed: ${where} (replay with PROP_SEEDS=${seed})`);
          throw err;
        }
      }, 60_000);
    }
  }
});

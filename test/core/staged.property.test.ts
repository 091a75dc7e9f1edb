// Property test for staged writes (VhdFile.stageRuns / commit), the path merge
// and delete copy through: random runs of whole sectors in random stages with
// random commits, on dynamic and differencing files of several block sizes
// and a virtual size that ends inside a block. After every commit a separate
// reader must see exactly the committed writes; between commits, every sector
// it reads is either its committed or its staged content, never anything
// else (staged data only shows where it overwrote sectors the file already
// mapped). At the end the file reads as the model and passes a deep check.
// Seeds: DEFAULT_SEEDS, plus any in PROP_SEEDS (comma separated).
import { describe, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { expectCheckClean } from '../support/check.js';
import { assertSame } from '../support/compare.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const SECTOR = 512;
const DEFAULT_SEEDS = [21, 22, 23];
const SEEDS = [
  ...DEFAULT_SEEDS,
  ...(process.env.PROP_SEEDS ?? '')
    .split(',')
    .filter((s) => s.trim())
    .map(Number),
];

/** Every sector of `got` equals that sector of `a` or of `b`. */
function eachSectorOneOf(got: Buffer, a: Buffer, b: Buffer, where: string): void {
  for (let at = 0; at < got.length; at += SECTOR) {
    const s = got.subarray(at, at + SECTOR);
    if (s.equals(a.subarray(at, at + SECTOR)) || s.equals(b.subarray(at, at + SECTOR))) continue;
    throw new Error(`${where}: sector ${at / SECTOR} is neither its committed nor its staged content`);
  }
}

async function view(path: string, size: number): Promise<Buffer> {
  const d = await openDisk(path);
  try {
    return Buffer.from(await d.read(0, size));
  } finally {
    await d.close();
  }
}

describe('staged writes against a plain model', () => {
  const tmp = useTmpDir();
  for (const seed of SEEDS) {
    for (const kind of ['dynamic', 'differencing'] as const) {
      it(`${kind}: random stages and commits read back exactly (seed ${seed})`, async () => {
        const rng = new Rng(seed * 10 + (kind === 'dynamic' ? 1 : 2));
        const blockSize = rng.pick([4 * KiB, 64 * KiB, 512 * KiB, 2048 * KiB]);
        // A few blocks and then some sectors: the last block is cut short by the virtual size.
        const size = rng.range(3, 6) * blockSize + rng.range(1, blockSize / SECTOR - 1) * SECTOR;
        const sectors = size / SECTOR;
        const model = new DiskModel(size);
        const base = tmp.file(`base-${seed}.vhd`);
        await createDynamic(base, size, { blockSize });
        model.addBase();
        // Some data below: in place for a dynamic target, shadowed by a differencing one.
        const w = await openDisk(base, { writable: true, sync: false });
        for (let k = 0; k < 4; k++) {
          const at = rng.int(sectors) * SECTOR;
          const data = rng.bytes(Math.min(size - at, rng.range(1, (3 * blockSize) / SECTOR) * SECTOR));
          await w.write(at, data);
          model.write(0, at, data);
        }
        await w.close();
        let target = base;
        let layer = 0;
        if (kind === 'differencing') {
          target = tmp.file(`child-${seed}.vhd`);
          await createDifferencing(target, base);
          layer = model.addChild(0);
        }
        let committed = Buffer.from(model.view(layer));
        const f = await VhdFile.open(target, { writable: true });
        try {
          for (let stage = 0; stage < 14; stage++) {
            // Runs of one stage never overlap (stageRuns' contract); some are all zeros, which must still shadow.
            const runs: { sector: number; data: Uint8Array }[] = [];
            for (let k = rng.range(1, 6); k > 0; k--) {
              const sector = rng.int(sectors);
              const count = Math.min(sectors - sector, rng.chance(0.3) ? blockSize / SECTOR : rng.range(1, (2 * blockSize) / SECTOR));
              if (runs.some((r) => sector < r.sector + r.data.length / SECTOR && r.sector < sector + count)) continue;
              runs.push({ sector, data: rng.chance(0.2) ? Buffer.alloc(count * SECTOR) : rng.bytes(count * SECTOR) });
            }
            await f.stageRuns(runs);
            for (const r of runs) model.write(layer, r.sector * SECTOR, r.data);
            if (rng.chance(0.25)) eachSectorOneOf(await view(target, size), committed, model.view(layer), `stage ${stage}: another reader before the commit`);
            if (rng.chance(0.4)) {
              await f.commit();
              committed = Buffer.from(model.view(layer));
              assertSame(await view(target, size), committed, `stage ${stage}: another reader after the commit`);
            }
          }
          await f.commit();
        } finally {
          await f.close();
        }
        assertSame(await view(target, size), model.view(layer), 'the whole disk at the end');
        if (kind === 'differencing') assertSame(await view(base, size), model.view(0), 'the parent, untouched');
        await expectCheckClean([target]);
      });
    }
  }
});

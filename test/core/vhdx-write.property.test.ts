// Property: random VHDX chains built the way people do — create, write,
// snapshot in place, write again — read as the raw model at every layer after
// every step. Random block sizes (1 MiB to 256 MiB) and logical sectors (512,
// 4096), unaligned writes, writes across blocks, zero writes shadowing the
// parent. Seeds: propertySeeds() (PROP_SEEDS adds more).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openReadableDisk, openWritableVhdxDisk } from '../../core/disk/chain.js';
import { runOperation } from '../../core/operations.js';
import { createVhdx } from '../../core/ops/create.js';
import { checkPaths } from '../../core/ops/check.js';
import { DiskModel, propertySeeds, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('VHDX write and snapshot: random chains against the model', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-prop-');

  for (const seed of propertySeeds()) {
    it(`seed ${seed}: depth ≥ 4, every layer reads as the model after every step`, async () => {
      const rng = new Rng(18_000 + seed);
      const blockSize = rng.pick([MiB, 2 * MiB, 32 * MiB, 256 * MiB]);
      const lss = rng.pick([512, 4096]);
      const size = 6 * MiB + rng.int(4) * lss * 37;
      const disk = tmp.file('d.vhdx');
      await createVhdx(disk, { size, type: rng.int(4) === 0 ? 'fixed' : 'dynamic', blockSize, logicalSectorSize: lss });
      const model = new DiskModel(size);
      let top = model.addBase();
      const files: string[] = [disk];
      const layerOf = new Map<string, number>([[disk, top]]);
      const label = `seed ${seed}, ${blockSize / MiB} MiB blocks, ${lss}-byte sectors`;
      const verifyAll = async (step: string) => {
        for (const f of files) expect(sha(await readThrough(f)), `${label}: ${f} after ${step}`).toBe(sha(model.view(layerOf.get(f)!)));
      };
      for (let depth = 0; depth < 4; depth++) {
        const d = await openWritableVhdxDisk(disk);
        try {
          for (let i = 0; i < 5; i++) {
            const len = 1 + rng.int(rng.int(3) === 0 ? 2 * MiB : 20000);
            const off = rng.int(size - len);
            const data = rng.int(4) === 0 ? new Uint8Array(len) : rng.bytes(len);
            await d.write(off, data);
            model.write(top, off, data);
          }
        } finally {
          await d.close();
        }
        await verifyAll(`writes at depth ${depth}`);
        const r = (await runOperation({ op: 'snapshot', disk })) as { snapshot: string };
        // The snapshot file holds the old layer; the disk's path is a new empty child.
        layerOf.set(r.snapshot, top);
        files.push(r.snapshot);
        top = model.addChild(top);
        layerOf.set(disk, top);
        await verifyAll(`snapshot at depth ${depth}`);
      }
      const d = await openReadableDisk(disk);
      expect(d.layers.length).toBe(5);
      await d.close();
      const reports = await checkPaths([disk], { deep: true });
      expect(reports.flatMap((x) => x.errors)).toEqual([]);
      for (const f of files) await fsp.chmod(f, 0o644).catch(() => undefined);
    }, 120_000);
  }
});

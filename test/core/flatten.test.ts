// Flatten: a random chain folded into one standalone file, compared with the
// reference model; inputs untouched; plan, refusal and cancellation.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { CancelledError, RefusedError } from '../../core/errors.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { flatten, planFlatten } from '../../core/ops/flatten.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';

const MiB = 1024 * 1024;

async function randomChain(dir: string, seed: number, blockSize: number, size: number) {
  const rng = new Rng(seed);
  const model = new DiskModel(size);
  const paths: string[] = [];
  for (let layer = 0; layer < 4; layer++) {
    const p = `${dir}/l${layer}.vhd`;
    if (layer === 0) {
      await createDynamic(p, size, { blockSize });
      model.addBase();
    } else {
      await createDifferencing(p, paths[layer - 1]);
      model.addChild();
    }
    paths.push(p);
    const disk = await openDisk(p, { writable: true, sync: false });
    for (let w = 0; w < 12; w++) {
      const len = rng.chance(0.2) ? blockSize + rng.int(blockSize) : rng.range(1, 70000);
      const off = rng.int(size - len);
      // A fifth of the writes are zeros, which must shadow the parent in the result.
      const data = rng.chance(0.2) ? Buffer.alloc(len) : rng.bytes(len);
      await disk.write(off, data);
      model.write(layer, off, data);
    }
    await disk.close();
  }
  return { model, top: paths[paths.length - 1], paths };
}

const hashes = (paths: string[]) => paths.map((p) => createHash('sha256').update(readFileSync(p)).digest('hex'));

describe('flatten', () => {
  const tmp = useTmpDir();

  for (const [seed, blockSize] of [
    [11, 512 * 1024],
    [12, 4096],
    [13, 2 * MiB],
  ] as const) {
    it(`folds a depth-4 chain (seed ${seed}, ${blockSize}-byte blocks) into dynamic, fixed and raw output equal to the model`, async () => {
      const size = 8 * MiB + 3 * 512;
      const { model, top, paths } = await randomChain(tmp.dir, seed, blockSize, size);
      const before = hashes(paths);
      for (const format of ['dynamic', 'fixed', 'raw'] as const) {
        const out = tmp.file(`flat-${format}.${format === 'raw' ? 'raw' : 'vhd'}`);
        const r = await flatten(top, out, { format });
        const content =
          format === 'raw'
            ? readFileSync(out)
            : await openDisk(out).then(async (d) => {
                expect(d.layers.length).toBe(1);
                const b = await d.read(0, size);
                await d.close();
                return b;
              });
        expect(Buffer.compare(content, model.view(3)), format).toBe(0);
        if (format === 'dynamic') {
          // Blocks whose flattened content is zero are left unallocated.
          let nonZero = 0;
          for (let at = 0; at < size; at += blockSize)
            if (
              model
                .view(3)
                .subarray(at, at + blockSize)
                .some((x) => x !== 0)
            )
              nonZero++;
          expect(r.allocatedBlocks).toBe(nonZero);
        }
      }
      expect(hashes(paths)).toEqual(before);
    });
  }

  it('plans without writing, and refuses an existing output', async () => {
    const { top } = await randomChain(tmp.dir, 5, 512 * 1024, 4 * MiB);
    const out = tmp.file('flat.vhd');
    const plan = await planFlatten(top, out);
    expect(plan.operation).toBe('flatten');
    expect(plan.refusals).toEqual([]);
    expect(plan.bytesToCopy).toBeGreaterThan(0);
    expect(plan.bytesToCopy).toBeLessThanOrEqual(4 * MiB);
    expect(plan.changes).toEqual([expect.objectContaining({ action: 'create' })]);
    expect(readdirSync(tmp.dir)).not.toContain('flat.vhd');
    await flatten(top, out);
    const again = await planFlatten(top, out);
    expect(again.refusals.map((r) => r.code)).toEqual(['EXISTS']);
    await expect(flatten(top, out)).rejects.toBeInstanceOf(RefusedError);
  });

  it('cancels at a safe point and leaves neither the output nor a temporary file', async () => {
    const { top } = await randomChain(tmp.dir, 6, 4096, 8 * MiB);
    const ac = new AbortController();
    const phases: number[] = [];
    const run = flatten(top, tmp.file('flat.vhd'), {
      signal: ac.signal,
      onProgress: (p) => {
        phases.push(p.done);
        if (p.done > 0) ac.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(phases.length).toBeGreaterThan(0);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('flat') || n.endsWith('.tmp'))).toEqual([]);
  });
});

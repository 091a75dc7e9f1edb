// Random snapshot trees on disk, mirrored in the reference model: layer i is
// created (as a child of parents[i]) and written before any later layer, so
// every layer is written before it gets children.
import { openDisk, openReadableDisk } from '../../core/disk/chain.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { DiskModel, Rng } from './model.js';

export interface TreeSpec {
  /** parents[i] is the layer index of i's parent; null only for layer 0 (the base). */
  parents: (number | null)[];
  size: number;
  blockSize: number;
  base?: 'dynamic' | 'fixed';
  writesPerLayer?: number;
  /** Make every write start and end on this boundary (libvhdi needs 4 KiB; see test/interop). */
  align?: number;
  /** Layers that then get one write over nearly the whole disk (all but an unaligned head and tail, part of it zeros): a child that stores nearly all it shows. */
  cover?: number[];
}

export interface BuiltTree {
  model: DiskModel;
  paths: string[];
  rng: Rng;
}

/** Unaligned random writes, some spanning blocks, a fifth of them all-zero (they must shadow the parent). */
export async function buildTree(dir: string, seed: number, spec: TreeSpec): Promise<BuiltTree> {
  const rng = new Rng(seed);
  const model = new DiskModel(spec.size);
  const paths: string[] = [];
  for (let i = 0; i < spec.parents.length; i++) {
    const p = `${dir}/d${i}.vhd`;
    const parent = spec.parents[i];
    if (parent === null) {
      if (spec.base === 'fixed') await createFixed(p, spec.size);
      else await createDynamic(p, spec.size, { blockSize: spec.blockSize });
      model.addBase();
    } else {
      await createDifferencing(p, paths[parent]);
      model.addChild(parent);
    }
    paths.push(p);
    const disk = await openDisk(p, { writable: true, sync: false });
    try {
      for (let w = 0; w < (spec.writesPerLayer ?? 12); w++) {
        const a = spec.align ?? 1;
        const len = Math.max(a, Math.floor((rng.chance(0.15) ? spec.blockSize + rng.int(spec.blockSize) : rng.range(1, 30000)) / a) * a);
        const off = Math.floor(rng.int(spec.size - len) / a) * a;
        const data = rng.chance(0.2) ? Buffer.alloc(len) : rng.bytes(len);
        await disk.write(off, data);
        model.write(i, off, data);
      }
      if (spec.cover?.includes(i)) {
        const off = 700 + rng.int(9000);
        const data = rng.bytes(spec.size - off - (300 + rng.int(9000)));
        const z = rng.int(data.length - 5000);
        data.fill(0, z, z + 1 + rng.int(4000));
        await disk.write(off, data);
        model.write(i, off, data);
      }
    } finally {
      await disk.close();
    }
  }
  return { model, paths, rng };
}

/** `writes` random writes of 1..maxLength random bytes at random offsets (no model: for inputs whose content is not checked). */
export async function randomWrites(path: string, rng: Rng, writes: number, maxLength: number): Promise<void> {
  const d = await openDisk(path, { writable: true, sync: false });
  try {
    for (let i = 0; i < writes; i++) {
      const len = rng.range(1, maxLength);
      await d.write(rng.int(d.virtualSize - len), rng.bytes(len));
    }
  } finally {
    await d.close();
  }
}

/** The whole virtual disk as seen through `path`'s chain. */
export async function readThrough(path: string): Promise<Buffer> {
  const d = await openReadableDisk(path);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}

/** The path of the disk `path`'s chain resolves as its parent (null for a base). */
export async function parentOf(path: string): Promise<string | null> {
  const d = await openDisk(path);
  try {
    return d.layers[1]?.path ?? null;
  } finally {
    await d.close();
  }
}

// Junk in clear-bit sectors: legal in differencing and (as the spec reads) dynamic files, and exactly what a
// bitmap-blind reader or merge would wrongly pick up.
import { promises as fsp } from 'node:fs';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { testBit } from '../../core/format/bitmap.js';
import type { Rng } from './model.js';

/**
 * Writes non-zero junk into every clear-bit sector of every allocated block of
 * a differencing file; a dynamic file gets junkDynamicClearSectors. Returns how many.
 */
export async function junkClearSectors(p: string, rng: Rng): Promise<number> {
  const f = await VhdFile.open(p);
  if (f.type === 'dynamic') {
    await f.close();
    return junkDynamicClearSectors(p, rng);
  }
  const spots: number[] = [];
  try {
    if (f.type !== 'differencing') throw new Error(`${p} is not differencing`);
    for (let b = 0; b < f.blockCount; b++) {
      const at = f.blockOffset(b);
      if (at === null) continue;
      const bm = await f.readBitmap(b);
      for (let s = 0; s < f.sectorsPerBlock; s++) if (!testBit(bm, s)) spots.push(at + f.bitmapSize + s * 512);
    }
  } finally {
    await f.close();
  }
  const fh = await fsp.open(p, 'r+');
  try {
    for (const at of spots) await fh.write(rng.bytes(512), 0, 512, at);
  } finally {
    await fh.close();
  }
  return spots.length;
}

/**
 * The dynamic counterpart: in every allocated block of a dynamic file, clears
 * the bits of a random half of the sector groups (`align` sectors each, 1 by
 * default; 8 keeps whole bitmap bytes, for libvhdi) whose stored bytes are all
 * zero, and fills them with junk. What the disk shows is unchanged (a clear bit
 * reads as zeros, like the zeros it replaced); QEMU and vhd-lib would show the
 * junk. Returns the number of sectors changed.
 */
export async function junkDynamicClearSectors(p: string, rng: Rng, opts: { align?: number } = {}): Promise<number> {
  const align = opts.align ?? 1;
  const f = await VhdFile.open(p);
  const bitmaps: { at: number; bm: Uint8Array }[] = [];
  const spots: number[] = [];
  try {
    if (f.type !== 'dynamic') throw new Error(`${p} is not dynamic`);
    for (const b of f.physicalOrder()) {
      const at = f.blockOffset(b)!;
      const sectors = f.sectorsInBlock(b);
      const bm = new Uint8Array(await f.readBitmap(b));
      const data = Buffer.alloc(sectors * 512);
      await f.readOwn(b, 0, sectors, data, 0);
      let changed = false;
      for (let s = 0; s + align <= sectors; s += align) {
        const group = data.subarray(s * 512, (s + align) * 512);
        if (!rng.chance(0.5) || group.some((x) => x !== 0)) continue;
        for (let i = s; i < s + align; i++) {
          if (!testBit(bm, i)) continue;
          bm[i >>> 3] &= ~(0x80 >>> (i & 7));
          spots.push(at + f.bitmapSize + i * 512);
          changed = true;
        }
      }
      if (changed) bitmaps.push({ at, bm });
    }
  } finally {
    await f.close();
  }
  const fh = await fsp.open(p, 'r+');
  try {
    for (const at of spots) await fh.write(rng.bytes(512), 0, 512, at);
    for (const { at, bm } of bitmaps) await fh.write(bm, 0, bm.length, at);
  } finally {
    await fh.close();
  }
  return spots.length;
}

// Junk in clear-bit sectors: legal in a differencing file, and exactly what a
// bitmap-blind reader or merge would wrongly pick up.
import { promises as fsp } from 'node:fs';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { testBit } from '../../core/format/bitmap.js';
import type { Rng } from './model.js';

/** Writes non-zero junk into every clear-bit sector of every allocated block of a differencing file; returns how many. */
export async function junkClearSectors(p: string, rng: Rng): Promise<number> {
  const f = await VhdFile.open(p);
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

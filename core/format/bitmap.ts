// Per-block sector bitmaps: one bit per sector, MSB first (sector i is bit
// 7 - i%8 of byte i/8), stored rounded up to whole sectors before the block data.
import { alignUp, SECTOR } from './bytes.js';

export function bitmapBytes(blockSize: number): number {
  return alignUp(Math.ceil(blockSize / SECTOR / 8), SECTOR);
}

export function testBit(bm: Uint8Array, i: number): boolean {
  return (bm[i >>> 3] & (0x80 >>> (i & 7))) !== 0;
}

export function setBits(bm: Uint8Array, start: number, count: number): void {
  let i = start;
  const end = start + count;
  while (i < end && (i & 7) !== 0) bm[i >>> 3] |= 0x80 >>> (i++ & 7);
  while (i + 8 <= end) {
    bm[i >>> 3] = 0xff;
    i += 8;
  }
  while (i < end) bm[i >>> 3] |= 0x80 >>> (i++ & 7);
}

export function clearBits(bm: Uint8Array, start: number, count: number): void {
  for (let i = start; i < start + count; i++) bm[i >>> 3] &= ~(0x80 >>> (i & 7));
}

/** True when all of the first `sectors` bits are set. */
export function isFull(bm: Uint8Array, sectors: number): boolean {
  const whole = sectors >>> 3;
  for (let i = 0; i < whole; i++) if (bm[i] !== 0xff) return false;
  for (let i = whole * 8; i < sectors; i++) if (!testBit(bm, i)) return false;
  return true;
}

export function isEmpty(bm: Uint8Array, sectors: number): boolean {
  const whole = sectors >>> 3;
  for (let i = 0; i < whole; i++) if (bm[i] !== 0) return false;
  for (let i = whole * 8; i < sectors; i++) if (testBit(bm, i)) return false;
  return true;
}

export function countSet(bm: Uint8Array, sectors: number): number {
  let n = 0;
  for (let i = 0; i < sectors; i++) if (testBit(bm, i)) n++;
  return n;
}

export interface BitRun {
  start: number;
  length: number;
  set: boolean;
}

/**
 * Maximal runs of equal bits within [from, to). Whole 0x00/0xFF bytes are
 * skipped eight bits at a time so full or empty bitmaps cost one pass.
 */
export function bitRuns(bm: Uint8Array, from: number, to: number): BitRun[] {
  const runs: BitRun[] = [];
  let i = from;
  while (i < to) {
    const set = testBit(bm, i);
    let j = i + 1;
    const fullByte = set ? 0xff : 0x00;
    while (j < to) {
      if ((j & 7) === 0 && j + 8 <= to && bm[j >>> 3] === fullByte) {
        j += 8;
        continue;
      }
      if (testBit(bm, j) !== set) break;
      j++;
    }
    runs.push({ start: i, length: j - i, set });
    i = j;
  }
  return runs;
}

export function newBitmap(blockSize: number, full: boolean): Uint8Array {
  const bm = new Uint8Array(bitmapBytes(blockSize));
  if (full) setBits(bm, 0, blockSize / SECTOR);
  return bm;
}

// Block allocation table: maxTableEntries big-endian u32 sector numbers of each
// block's bitmap; 0xFFFFFFFF = unallocated. Padded with 0xFF to a sector.
import { alignUp, SECTOR } from './bytes.js';

export const BAT_UNUSED = 0xffffffff;

export function batBytes(entries: number): number {
  return alignUp(entries * 4, SECTOR);
}

export function decodeBat(b: Uint8Array, entries: number): Uint32Array {
  const out = new Uint32Array(entries);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < entries; i++) out[i] = dv.getUint32(i * 4, false);
  return out;
}

/** Encodes the table padded to a whole sector with 0xFF. */
export function encodeBat(bat: Uint32Array): Uint8Array {
  const out = new Uint8Array(batBytes(bat.length)).fill(0xff);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < bat.length; i++) dv.setUint32(i * 4, bat[i], false);
  return out;
}

/** Encodes entries [from, to) only: for batched in-place BAT updates. */
export function encodeBatRange(bat: Uint32Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array((to - from) * 4);
  const dv = new DataView(out.buffer);
  for (let i = from; i < to; i++) dv.setUint32((i - from) * 4, bat[i], false);
  return out;
}

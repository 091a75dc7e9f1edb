// blktap batmap (only in files whose creator is "tap\0", version >= 1.2), a
// header sector right after the padded BAT:
//   0 cookie "tdbatmap" (8) · 8 batmap offset (u64, bytes) · 16 batmap size (u32, sectors)
//  20 version (u32, 0x00010002) · 24 checksum (u32, one's complement of the map's byte sum)
// The map has one bit per BAT entry, MSB first: set = that block's bitmap is full.
import { type Finding } from '../errors.js';
import { ascii, byteSumComplement, putAscii, putU32, putU64, u32, u64 } from './bytes.js';

export const BATMAP_COOKIE = 'tdbatmap';
export const BATMAP_HEADER_SIZE = 512;
export const BATMAP_VERSION = 0x00010002;
/** Where the batmap header keeps the map's checksum (the header itself has none). */
export const BATMAP_CHECKSUM_OFFSET = 24;

export interface BatmapHeader {
  cookie: string;
  offset: bigint;
  sizeSectors: number;
  version: number;
  checksum: number;
}

export function decodeBatmapHeader(b: Uint8Array): BatmapHeader {
  return { cookie: ascii(b, 0, 8), offset: u64(b, 8), sizeSectors: u32(b, 16), version: u32(b, 20), checksum: u32(b, BATMAP_CHECKSUM_OFFSET) };
}

export function encodeBatmapHeader(h: BatmapHeader): Uint8Array {
  const b = new Uint8Array(BATMAP_HEADER_SIZE);
  putAscii(b, 0, 8, h.cookie);
  putU64(b, 8, h.offset);
  putU32(b, 16, h.sizeSectors);
  putU32(b, 20, h.version);
  putU32(b, BATMAP_CHECKSUM_OFFSET, h.checksum);
  return b;
}

export function batmapChecksum(map: Uint8Array): number {
  return byteSumComplement(map);
}

/** The creator/version pair for which blktap writes (and we must honour) a batmap. */
export function creatorHasBatmap(creatorApp: string, creatorVersion: number): boolean {
  return creatorApp === 'tap\0' && creatorVersion >= 0x00010002;
}

export function validateBatmapHeader(h: BatmapHeader, ctx: { entries: number; fileSize: number }): Finding[] {
  const out: Finding[] = [];
  const needBytes = Math.ceil(ctx.entries / 8);
  if (h.offset % 512n !== 0n || h.offset + BigInt(h.sizeSectors) * 512n > BigInt(ctx.fileSize)) {
    out.push({ code: 'BATMAP_OUT_OF_FILE', field: 'batmap.offset', message: `batmap at ${h.offset} (${h.sizeSectors} sectors) is not inside the file` });
  }
  if (h.sizeSectors * 512 < needBytes) {
    out.push({ code: 'BATMAP_SIZE', field: 'batmap.size', message: `batmap of ${h.sizeSectors} sectors cannot hold ${ctx.entries} bits` });
  }
  return out;
}

// BAT entries (8 bytes, little-endian u64 each):
//   bits 0–2 state · bits 3–19 reserved · bits 20–63 file offset in MiB
// The table interleaves: after every `chunkRatio` payload-block entries comes
// the entry of the sector-bitmap block that covers them (one 1 MiB bitmap
// block holds 2^23 sector bits, one chunk of the disk).
import { type Finding } from '../../errors.js';
import { MiB, putU32le, u32le } from './le.js';

export const BAT_ENTRY_SIZE = 8;
/** Sector bitmap blocks are always 1 MiB. */
export const SECTOR_BITMAP_BLOCK_SIZE = MiB;
/** Sectors one sector-bitmap block describes. */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;

export const PayloadState = {
  NotPresent: 0,
  Undefined: 1,
  Zero: 2,
  Unmapped: 3,
  FullyPresent: 6,
  PartiallyPresent: 7,
} as const;

export const BitmapState = {
  NotPresent: 0,
  Present: 6,
} as const;

export const PAYLOAD_STATE_NAMES: Record<number, string> = {
  0: 'not present',
  1: 'undefined',
  2: 'zero',
  3: 'unmapped',
  6: 'fully present',
  7: 'partially present',
};

export interface BatEntry {
  state: number;
  /** Bits 3–19, zero in every valid entry. */
  reserved: number;
  /** File offset in MiB (44 bits: exact as a number). */
  offsetMB: number;
}

export function decodeBatEntry(b: Uint8Array, off: number): BatEntry {
  const lo = u32le(b, off);
  const hi = u32le(b, off + 4);
  return { state: lo & 7, reserved: (lo >>> 3) & 0x1ffff, offsetMB: (lo >>> 20) + hi * 4096 };
}

export function encodeBatEntry(e: BatEntry, b: Uint8Array, off: number): void {
  const lowBits = e.offsetMB % 4096;
  putU32le(b, off, ((lowBits << 20) | ((e.reserved & 0x1ffff) << 3) | (e.state & 7)) >>> 0);
  putU32le(b, off + 4, Math.floor(e.offsetMB / 4096) >>> 0);
}

/** Payload blocks per sector-bitmap block: 2^23 × logical sector size / block size (both validated powers of two). */
export function chunkRatio(logicalSectorSize: number, blockSize: number): number {
  return (SECTORS_PER_BITMAP_BLOCK * logicalSectorSize) / blockSize;
}

export interface BatGeometry {
  chunkRatio: number;
  /** Payload blocks the virtual size needs. */
  payloadBlocks: number;
  /** Sector-bitmap blocks (chunks) those blocks span. */
  bitmapBlocks: number;
  /** Entries the table holds: a differencing file has a bitmap entry for every chunk, the others stop after the last payload entry. */
  totalEntries: number;
}

export function batGeometry(p: { virtualSize: number; blockSize: number; logicalSectorSize: number; hasParent: boolean }): BatGeometry {
  const ratio = chunkRatio(p.logicalSectorSize, p.blockSize);
  const payloadBlocks = Math.ceil(p.virtualSize / p.blockSize);
  const bitmapBlocks = Math.ceil(payloadBlocks / ratio);
  const totalEntries = p.hasParent ? bitmapBlocks * (ratio + 1) : payloadBlocks + Math.floor(Math.max(payloadBlocks - 1, 0) / ratio);
  return { chunkRatio: ratio, payloadBlocks, bitmapBlocks, totalEntries };
}

/** Index in the table of payload block `block`'s entry. */
export function payloadEntryIndex(block: number, ratio: number): number {
  return block + Math.floor(block / ratio);
}

/** Index in the table of the sector-bitmap entry of chunk `chunk`. */
export function bitmapEntryIndex(chunk: number, ratio: number): number {
  return chunk * (ratio + 1) + ratio;
}

/** Is `index` a sector-bitmap entry? */
export function isBitmapEntryIndex(index: number, ratio: number): boolean {
  return index % (ratio + 1) === ratio;
}

/** A state check for one decoded entry of a file of the given kind; null when valid. */
export function badEntryState(e: BatEntry, index: number, ctx: { ratio: number; differencing: boolean }): Finding | null {
  const field = `bat[${index}]`;
  if (isBitmapEntryIndex(index, ctx.ratio)) {
    if (e.state === BitmapState.NotPresent) return null;
    if (e.state === BitmapState.Present && ctx.differencing) return null;
    const why = e.state === BitmapState.Present ? 'only a differencing file has sector bitmaps' : 'states 1–5 and 7 are reserved';
    return { code: 'VHDX_BAT_STATE', field, message: `sector bitmap entry ${index} has state ${e.state}: ${why}` };
  }
  if (e.state === 4 || e.state === 5) return { code: 'VHDX_BAT_STATE', field, message: `payload entry ${index} has the reserved state ${e.state}` };
  if (e.state === PayloadState.PartiallyPresent && !ctx.differencing) {
    return { code: 'VHDX_BAT_STATE', field, message: `payload entry ${index} is partially present, which only a differencing file may be` };
  }
  return null;
}

/** True for the states whose file offset locates data in the file. */
export function isAllocatedPayload(state: number): boolean {
  return state === PayloadState.FullyPresent || state === PayloadState.PartiallyPresent;
}

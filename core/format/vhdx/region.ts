// Region table (64 KiB, two copies: at 192 KiB and at 256 KiB). Layout:
//   0 signature "regi" · 4 checksum (CRC-32C of the 64 KiB, this field as zero) · 8 entry count (≤ 2047) · 12 reserved
//  16 entries, 32 bytes each:
//      0 region GUID (16) · 16 file offset (u64) · 24 length (u32) · 28 flags (bit 0: required)
import { type Finding } from '../../errors.js';
import { shownTag } from '../../printable.js';
import { ascii, copyBytes, putAscii } from '../bytes.js';
import { crc32cWithZeroField } from './crc32c.js';
import { GUID_SIZE, guidEqual, guidFromString, guidToString } from './guid.js';
import { hex32, MiB, needBytes, putU32le, putU64le, u32le, u64le } from './le.js';

export const REGION_TABLE_SIZE = 64 * 1024;
export const REGION_TABLE_OFFSETS = [192 * 1024, 256 * 1024] as const;
export const REGION_SIGNATURE = 'regi';
export const MAX_REGION_ENTRIES = 2047;
const CHECKSUM_OFFSET = 4;
const ENTRIES_OFFSET = 16;
const ENTRY_SIZE = 32;
const REQUIRED = 1;

export const BAT_REGION_GUID = guidFromString('2dc27766-f623-4200-9d64-115e9bfd4a08');
export const METADATA_REGION_GUID = guidFromString('8b7ca206-4790-4b9a-b8fe-575f050f886e');

export interface RegionEntry {
  guid: Uint8Array;
  fileOffset: bigint;
  length: number;
  /** The whole flags word; bit 0 is "required", the rest are reserved. */
  flags: number;
}

export interface RegionTable {
  signature: string;
  checksum: number;
  /** As stored (may be crafted beyond what fits: entries holds at most MAX_REGION_ENTRIES). */
  entryCount: number;
  reserved: number;
  entries: RegionEntry[];
  /** Bytes after the last entry the table holds, kept so that encode(decode(x)) === x. */
  tail: Uint8Array;
}

export function isRequired(e: RegionEntry): boolean {
  return (e.flags & REQUIRED) !== 0;
}

export function decodeRegionTable(b: Uint8Array): RegionTable {
  needBytes(b, REGION_TABLE_SIZE, 'regionTable');
  const entryCount = u32le(b, 8);
  const n = Math.min(entryCount, MAX_REGION_ENTRIES);
  const entries: RegionEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = ENTRIES_OFFSET + i * ENTRY_SIZE;
    entries.push({ guid: copyBytes(b, at, at + GUID_SIZE), fileOffset: u64le(b, at + 16), length: u32le(b, at + 24), flags: u32le(b, at + 28) });
  }
  return {
    signature: ascii(b, 0, 4),
    checksum: u32le(b, CHECKSUM_OFFSET),
    entryCount,
    reserved: u32le(b, 12),
    entries,
    tail: copyBytes(b, ENTRIES_OFFSET + n * ENTRY_SIZE, REGION_TABLE_SIZE),
  };
}

/** Encodes the table (entryCount as given, so crafted counts survive); the checksum is recomputed unless `keepChecksum`. */
export function encodeRegionTable(t: RegionTable, keepChecksum = false): Uint8Array {
  const b = new Uint8Array(REGION_TABLE_SIZE);
  putAscii(b, 0, 4, t.signature);
  putU32le(b, 8, t.entryCount);
  putU32le(b, 12, t.reserved);
  const n = Math.min(t.entries.length, MAX_REGION_ENTRIES);
  for (let i = 0; i < n; i++) {
    const e = t.entries[i];
    const at = ENTRIES_OFFSET + i * ENTRY_SIZE;
    b.set(e.guid.subarray(0, GUID_SIZE), at);
    putU64le(b, at + 16, e.fileOffset);
    putU32le(b, at + 24, e.length);
    putU32le(b, at + 28, e.flags);
  }
  const tailAt = ENTRIES_OFFSET + n * ENTRY_SIZE;
  b.set(t.tail.subarray(0, REGION_TABLE_SIZE - tailAt), tailAt);
  putU32le(b, CHECKSUM_OFFSET, keepChecksum ? t.checksum : regionTableChecksum(b));
  return b;
}

/** A table holding `entries`, zero elsewhere, checksum to be computed by encode. */
export function newRegionTable(entries: RegionEntry[]): RegionTable {
  return { signature: REGION_SIGNATURE, checksum: 0, entryCount: entries.length, reserved: 0, entries, tail: new Uint8Array(0) };
}

export function regionTableChecksum(raw: Uint8Array): number {
  return crc32cWithZeroField(raw.subarray(0, REGION_TABLE_SIZE), CHECKSUM_OFFSET);
}

/** The two regions every VHDX needs, found in a table that validated. */
export interface KnownRegions {
  bat: RegionEntry;
  metadata: RegionEntry;
}

/**
 * Validates a table read as `field` ("regionTable1"): signature, checksum,
 * count, each entry's alignment and extent inside the file, duplicates,
 * overlaps between regions, unknown required regions (MS-VHDX: refuse to
 * load), and the BAT and metadata regions being there. `regions` is set
 * only when nothing is wrong enough to stop reading.
 */
export function validateRegionTable(
  t: RegionTable,
  raw: Uint8Array,
  field: string,
  ctx: { fileSize: number },
): { errors: Finding[]; warnings: Finding[]; regions: KnownRegions | null } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const e = (code: string, f: string, message: string) => errors.push({ code, field: `${field}.${f}`, message });
  if (t.signature !== REGION_SIGNATURE) {
    e('VHDX_REGION_SIGNATURE', 'signature', `${field} signature is ${shownTag(t.signature)}, expected "regi"`);
    return { errors, warnings, regions: null };
  }
  const sum = regionTableChecksum(raw);
  if (sum !== t.checksum) {
    e('VHDX_REGION_CHECKSUM', 'checksum', `${field} checksum ${hex32(t.checksum)} does not match computed ${hex32(sum)}`);
    return { errors, warnings, regions: null };
  }
  if (t.entryCount > MAX_REGION_ENTRIES) {
    e('VHDX_REGION_COUNT', 'entryCount', `${field} has ${t.entryCount} entries, more than ${MAX_REGION_ENTRIES}`);
    return { errors, warnings, regions: null };
  }
  if (t.reserved !== 0) warnings.push({ code: 'VHDX_REGION_RESERVED', field: `${field}.reserved`, message: `${field} reserved field is ${t.reserved}, not 0` });
  let bat: RegionEntry | null = null;
  let metadata: RegionEntry | null = null;
  const placed: { e: RegionEntry; i: number }[] = [];
  for (const [i, r] of t.entries.entries()) {
    const f = `entries[${i}]`;
    const name = regionName(r.guid);
    if (t.entries.findIndex((o) => guidEqual(o.guid, r.guid)) !== i) {
      e('VHDX_REGION_DUPLICATE', `${f}.guid`, `${field} lists region ${name} twice`);
      continue;
    }
    const known = guidEqual(r.guid, BAT_REGION_GUID) || guidEqual(r.guid, METADATA_REGION_GUID);
    if (!known) {
      if (isRequired(r)) e('VHDX_REGION_UNKNOWN_REQUIRED', `${f}.guid`, `${field} has an unknown region ${name} marked required: it cannot be loaded safely`);
      else warnings.push({ code: 'VHDX_REGION_UNKNOWN', field: `${field}.${f}.guid`, message: `${field} has an unknown optional region ${name} (ignored)` });
    }
    if ((r.flags & ~REQUIRED) !== 0)
      warnings.push({ code: 'VHDX_REGION_FLAGS', field: `${field}.${f}.flags`, message: `region ${name} has reserved flag bits ${hex32(r.flags)}` });
    const start = r.fileOffset;
    if (start % BigInt(MiB) !== 0n || start < BigInt(MiB)) {
      e('VHDX_REGION_OFFSET', `${f}.fileOffset`, `region ${name} offset ${start} is not a multiple of 1 MiB at or past 1 MiB`);
      continue;
    }
    if (r.length % MiB !== 0 || (known && r.length === 0)) {
      e('VHDX_REGION_LENGTH', `${f}.length`, `region ${name} length ${r.length} is not a ${known ? 'non-zero ' : ''}multiple of 1 MiB`);
      continue;
    }
    if (start + BigInt(r.length) > BigInt(ctx.fileSize)) {
      e('VHDX_REGION_OUT_OF_FILE', `${f}.fileOffset`, `region ${name} at ${start} (+${r.length}) runs past the end of the file (${ctx.fileSize} bytes)`);
      continue;
    }
    placed.push({ e: r, i });
    if (guidEqual(r.guid, BAT_REGION_GUID)) bat = r;
    else if (guidEqual(r.guid, METADATA_REGION_GUID)) metadata = r;
  }
  placed.sort((a, b) => (a.e.fileOffset < b.e.fileOffset ? -1 : a.e.fileOffset > b.e.fileOffset ? 1 : 0));
  for (let k = 1; k < placed.length; k++) {
    const prev = placed[k - 1].e;
    const cur = placed[k];
    if (cur.e.fileOffset < prev.fileOffset + BigInt(prev.length)) {
      e(
        'VHDX_REGION_OVERLAP',
        `entries[${cur.i}].fileOffset`,
        `region ${regionName(cur.e.guid)} at ${cur.e.fileOffset} overlaps region ${regionName(prev.guid)}`,
      );
    }
  }
  if (!bat) e('VHDX_REGION_MISSING', 'bat', `${field} has no BAT region`);
  if (!metadata) e('VHDX_REGION_MISSING', 'metadata', `${field} has no metadata region`);
  return { errors, warnings, regions: errors.length === 0 && bat && metadata ? { bat, metadata } : null };
}

export function regionName(g: Uint8Array): string {
  if (guidEqual(g, BAT_REGION_GUID)) return 'BAT';
  if (guidEqual(g, METADATA_REGION_GUID)) return 'metadata';
  return `{${guidToString(g)}}`;
}

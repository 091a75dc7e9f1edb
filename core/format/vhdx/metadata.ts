// Metadata table (64 KiB at the start of the metadata region). Layout:
//   0 signature "metadata" (8) · 8 reserved (u16) · 10 entry count (u16, ≤ 2047) · 12 reserved (20)
//  32 entries, 32 bytes each:
//      0 item GUID (16) · 16 offset in the region (u32) · 20 length (u32)
//     24 flags (bit 0 isUser, bit 1 isVirtualDisk, bit 2 isRequired) · 28 reserved (u32)
import { type Finding } from '../../errors.js';
import { shownTag } from '../../printable.js';
import { ascii, copyBytes, putAscii } from '../bytes.js';
import { GUID_SIZE, guidEqual, guidToString } from './guid.js';
import { KiB, MiB, needBytes, putU16le, putU32le, u16le, u32le } from './le.js';
import { KNOWN_ITEMS } from './items.js';

export const METADATA_TABLE_SIZE = 64 * KiB;
export const METADATA_SIGNATURE = 'metadata';
export const MAX_METADATA_ENTRIES = 2047;
export const MAX_USER_ENTRIES = 1024;
/** Items start past the table and are at most 1 MiB each. */
export const MIN_ITEM_OFFSET = 64 * KiB;
export const MAX_ITEM_LENGTH = MiB;
const ENTRIES_OFFSET = 32;
const ENTRY_SIZE = 32;

export const IS_USER = 1;
export const IS_VIRTUAL_DISK = 2;
export const IS_REQUIRED = 4;

export interface MetadataEntry {
  itemId: Uint8Array;
  offset: number;
  length: number;
  /** The whole flags word (IS_USER, IS_VIRTUAL_DISK, IS_REQUIRED; the rest reserved). */
  flags: number;
  reserved: number;
}

export interface MetadataTable {
  signature: string;
  reserved: number;
  /** As stored; entries holds at most MAX_METADATA_ENTRIES. */
  entryCount: number;
  reserved2: Uint8Array;
  entries: MetadataEntry[];
  /** Bytes after the last entry, kept so that encode(decode(x)) === x. */
  tail: Uint8Array;
}

export function decodeMetadataTable(b: Uint8Array): MetadataTable {
  needBytes(b, METADATA_TABLE_SIZE, 'metadata');
  const entryCount = u16le(b, 10);
  const n = Math.min(entryCount, MAX_METADATA_ENTRIES);
  const entries: MetadataEntry[] = [];
  for (let i = 0; i < n; i++) {
    const at = ENTRIES_OFFSET + i * ENTRY_SIZE;
    entries.push({
      itemId: copyBytes(b, at, at + GUID_SIZE),
      offset: u32le(b, at + 16),
      length: u32le(b, at + 20),
      flags: u32le(b, at + 24),
      reserved: u32le(b, at + 28),
    });
  }
  return {
    signature: ascii(b, 0, 8),
    reserved: u16le(b, 8),
    entryCount,
    reserved2: copyBytes(b, 12, 32),
    entries,
    tail: copyBytes(b, ENTRIES_OFFSET + n * ENTRY_SIZE, METADATA_TABLE_SIZE),
  };
}

export function encodeMetadataTable(t: MetadataTable): Uint8Array {
  const b = new Uint8Array(METADATA_TABLE_SIZE);
  putAscii(b, 0, 8, t.signature);
  putU16le(b, 8, t.reserved);
  putU16le(b, 10, t.entryCount);
  b.set(t.reserved2.subarray(0, 20), 12);
  const n = Math.min(t.entries.length, MAX_METADATA_ENTRIES);
  for (let i = 0; i < n; i++) {
    const e = t.entries[i];
    const at = ENTRIES_OFFSET + i * ENTRY_SIZE;
    b.set(e.itemId.subarray(0, GUID_SIZE), at);
    putU32le(b, at + 16, e.offset);
    putU32le(b, at + 20, e.length);
    putU32le(b, at + 24, e.flags);
    putU32le(b, at + 28, e.reserved);
  }
  const tailAt = ENTRIES_OFFSET + n * ENTRY_SIZE;
  b.set(t.tail.subarray(0, METADATA_TABLE_SIZE - tailAt), tailAt);
  return b;
}

export function newMetadataTable(entries: MetadataEntry[]): MetadataTable {
  return { signature: METADATA_SIGNATURE, reserved: 0, entryCount: entries.length, reserved2: new Uint8Array(20), entries, tail: new Uint8Array(0) };
}

/** The entry for a system (not user) item, or undefined. */
export function findSystemItem(t: MetadataTable, id: Uint8Array): MetadataEntry | undefined {
  return t.entries.find((e) => (e.flags & IS_USER) === 0 && guidEqual(e.itemId, id));
}

/**
 * Validates the table of a metadata region `regionLength` bytes long:
 * signature, count, each item inside the region and not overlapping another,
 * unique (item, isUser) pairs, and no unknown item marked required (MS-VHDX:
 * refuse to load). Which known items must be there is the reader's check.
 */
export function validateMetadataTable(t: MetadataTable, ctx: { regionLength: number }): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const e = (code: string, field: string, message: string) => errors.push({ code, field: `metadata.${field}`, message });
  if (t.signature !== METADATA_SIGNATURE) {
    e('VHDX_METADATA_SIGNATURE', 'signature', `metadata table signature is ${shownTag(t.signature)}, expected "metadata"`);
    return { errors, warnings };
  }
  if (t.entryCount > MAX_METADATA_ENTRIES) {
    e('VHDX_METADATA_COUNT', 'entryCount', `metadata table has ${t.entryCount} entries, more than ${MAX_METADATA_ENTRIES}`);
    return { errors, warnings };
  }
  const users = t.entries.filter((x) => (x.flags & IS_USER) !== 0).length;
  if (users > MAX_USER_ENTRIES) e('VHDX_METADATA_COUNT', 'entryCount', `metadata table has ${users} user items, more than ${MAX_USER_ENTRIES}`);
  const extents: { start: number; end: number; i: number }[] = [];
  for (const [i, m] of t.entries.entries()) {
    const f = `entries[${i}]`;
    const name = itemName(m.itemId);
    const user = (m.flags & IS_USER) !== 0;
    if (t.entries.findIndex((o) => guidEqual(o.itemId, m.itemId) && (o.flags & IS_USER) === (m.flags & IS_USER)) !== i) {
      e('VHDX_METADATA_DUPLICATE', `${f}.itemId`, `metadata item ${name} is listed twice`);
      continue;
    }
    const known = !user && KNOWN_ITEMS.some((k) => guidEqual(k.id, m.itemId));
    if (!known && (m.flags & IS_REQUIRED) !== 0) {
      e('VHDX_METADATA_UNKNOWN_REQUIRED', `${f}.itemId`, `metadata item ${name} is marked required but is unknown: the file cannot be loaded safely`);
    }
    if ((m.flags & ~(IS_USER | IS_VIRTUAL_DISK | IS_REQUIRED)) !== 0 || m.reserved !== 0) {
      warnings.push({ code: 'VHDX_METADATA_FLAGS', field: `metadata.${f}.flags`, message: `metadata item ${name} has reserved bits set` });
    }
    if (m.length > MAX_ITEM_LENGTH) {
      e('VHDX_METADATA_ITEM_LENGTH', `${f}.length`, `metadata item ${name} is ${m.length} bytes, more than 1 MiB`);
      continue;
    }
    if (m.length === 0) {
      if (m.offset !== 0) e('VHDX_METADATA_ITEM_OFFSET', `${f}.offset`, `empty metadata item ${name} has offset ${m.offset}, not 0`);
      continue;
    }
    if (m.offset < MIN_ITEM_OFFSET || m.offset + m.length > ctx.regionLength) {
      e(
        'VHDX_METADATA_ITEM_OFFSET',
        `${f}.offset`,
        `metadata item ${name} at ${m.offset} (+${m.length}) is not inside the region past its table (64 KiB..${ctx.regionLength})`,
      );
      continue;
    }
    extents.push({ start: m.offset, end: m.offset + m.length, i });
  }
  extents.sort((a, b) => a.start - b.start);
  for (let k = 1; k < extents.length; k++) {
    if (extents[k].start < extents[k - 1].end) {
      const [a, b] = [t.entries[extents[k - 1].i], t.entries[extents[k].i]];
      e('VHDX_METADATA_OVERLAP', `entries[${extents[k].i}].offset`, `metadata item ${itemName(b.itemId)} overlaps item ${itemName(a.itemId)}`);
    }
  }
  return { errors, warnings };
}

export function itemName(id: Uint8Array): string {
  return KNOWN_ITEMS.find((k) => guidEqual(k.id, id))?.name ?? `{${guidToString(id)}}`;
}

/**
 * `region` (a whole metadata region) with system item `id` holding `data`:
 * in its own place when the new bytes fit there (the rest of the old bytes
 * zeroed), else after the last item. Every other byte stays as it is, so a
 * writer changes only the pages the item and the table live on. Null when the
 * item is not there or the bytes fit nowhere in the region.
 */
export function replaceSystemItem(region: Uint8Array, id: Uint8Array, data: Uint8Array): Uint8Array | null {
  if (data.length === 0 || data.length > MAX_ITEM_LENGTH || region.length < METADATA_TABLE_SIZE) return null;
  const t = decodeMetadataTable(region);
  const i = t.entries.findIndex((e) => (e.flags & IS_USER) === 0 && guidEqual(e.itemId, id));
  if (i < 0) return null;
  const old = t.entries[i];
  // Room in place: up to the next item's start (or the region's end).
  const next = Math.min(region.length, ...t.entries.filter((e) => e.length > 0 && e.offset > old.offset).map((e) => e.offset));
  const end = Math.max(MIN_ITEM_OFFSET, ...t.entries.map((e) => (e.length > 0 ? e.offset + e.length : 0)));
  const at = old.length > 0 && old.offset >= MIN_ITEM_OFFSET && old.offset + data.length <= next ? old.offset : end;
  if (at + data.length > region.length) return null;
  const out = Uint8Array.from(region);
  if (old.length > 0 && old.offset + old.length <= region.length) out.fill(0, old.offset, old.offset + old.length);
  out.set(data, at);
  t.entries[i] = { ...old, offset: at, length: data.length };
  out.set(encodeMetadataTable(t), 0);
  return out;
}

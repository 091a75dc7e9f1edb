// Dynamic disk header (1024 bytes). Layout:
//    0 cookie "cxsparse" (8) · 8 data offset (u64, all ones) · 16 table offset (u64)
//   24 header version · 28 max table entries · 32 block size · 36 checksum
//   40 parent unique id (16) · 56 parent timestamp · 60 reserved
//   64 parent unicode name (512, UTF-16BE) · 576 parent locators (8 × 24) · 768 reserved (256)
import { shownTag } from '../printable.js';
import { type Finding } from '../errors.js';
import { ascii, checksum, copyBytes, isZeroUuid, putAscii, putU32, putU64, u32, u64, U64_MAX } from './bytes.js';
import { decodeLocator, encodeLocator, type LocatorEntry, LOCATOR_COUNT, LOCATOR_ENTRY_SIZE } from './locator.js';

export const HEADER_SIZE = 1024;
export const HEADER_COOKIE = 'cxsparse';
export const HEADER_VERSION = 0x00010000;
export const DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024;
export const MIN_BLOCK_SIZE = 512;
/** Largest block size accepted; beyond it a single block read would be a giant allocation. */
export const MAX_BLOCK_SIZE = 256 * 1024 * 1024;
/** Where the dynamic header keeps its checksum (read as zero when summing). */
export const HEADER_CHECKSUM_OFFSET = 36;
const PARENT_NAME_OFFSET = 64;
const PARENT_NAME_BYTES = 512;
const LOCATORS_OFFSET = 576;

export interface DynamicHeader {
  cookie: string;
  dataOffset: bigint;
  tableOffset: bigint;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksum: number;
  parentUniqueId: Uint8Array;
  parentTimestamp: number;
  reserved1: number;
  /** Decoded up to the first NUL code unit. */
  parentName: string;
  locators: LocatorEntry[];
  reserved2: Uint8Array;
}

export function decodeHeader(buf: Uint8Array): DynamicHeader {
  const b = buf;
  const locators: LocatorEntry[] = [];
  for (let i = 0; i < LOCATOR_COUNT; i++) locators.push(decodeLocator(b, LOCATORS_OFFSET + i * LOCATOR_ENTRY_SIZE));
  return {
    cookie: ascii(b, 0, 8),
    dataOffset: u64(b, 8),
    tableOffset: u64(b, 16),
    headerVersion: u32(b, 24),
    maxTableEntries: u32(b, 28),
    blockSize: u32(b, 32),
    checksum: u32(b, HEADER_CHECKSUM_OFFSET),
    parentUniqueId: copyBytes(b, 40, 56),
    parentTimestamp: u32(b, 56),
    reserved1: u32(b, 60),
    parentName: decodeUtf16BE(b.subarray(PARENT_NAME_OFFSET, PARENT_NAME_OFFSET + PARENT_NAME_BYTES)),
    locators,
    reserved2: copyBytes(b, 768, 1024),
  };
}

export function encodeHeader(h: DynamicHeader, keepChecksum = false): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  putAscii(b, 0, 8, h.cookie);
  putU64(b, 8, h.dataOffset);
  putU64(b, 16, h.tableOffset);
  putU32(b, 24, h.headerVersion);
  putU32(b, 28, h.maxTableEntries);
  putU32(b, 32, h.blockSize);
  b.set(h.parentUniqueId.subarray(0, 16), 40);
  putU32(b, 56, h.parentTimestamp);
  putU32(b, 60, h.reserved1);
  b.set(encodeUtf16BE(h.parentName, PARENT_NAME_BYTES), PARENT_NAME_OFFSET);
  h.locators.forEach((l, i) => encodeLocator(l, b, LOCATORS_OFFSET + i * LOCATOR_ENTRY_SIZE));
  b.set(h.reserved2.subarray(0, 256), 768);
  putU32(b, HEADER_CHECKSUM_OFFSET, keepChecksum ? h.checksum : headerChecksum(b));
  return b;
}

/** The checksum of 1024 raw header bytes (their stored checksum field skipped). */
export function headerChecksum(raw: Uint8Array): number {
  return checksum(raw.subarray(0, HEADER_SIZE), HEADER_CHECKSUM_OFFSET);
}

/** True when raw header bytes carry the checksum they should. */
export function headerChecksumMatches(raw: Uint8Array): boolean {
  return headerChecksum(raw) === u32(raw, HEADER_CHECKSUM_OFFSET);
}

/** A copy of 1024 raw header bytes with the checksum field recomputed; no other byte changes. */
export function withHeaderChecksum(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.subarray(0, HEADER_SIZE));
  putU32(out, HEADER_CHECKSUM_OFFSET, headerChecksum(out));
  return out;
}

export function decodeUtf16BE(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = (b[i] << 8) | b[i + 1];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** UTF-16BE, zero padded to `size`; names longer than the field are cut at a code-unit boundary. */
export function encodeUtf16BE(s: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const n = Math.min(s.length, size / 2);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >>> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/**
 * Validates the header against the footer's size and the file size. Errors
 * make the BAT or blocks unreachable; warnings do not.
 */
export function validateHeader(
  h: DynamicHeader,
  computedChecksum: number,
  ctx: { currentSize: number; fileSize: number; differencing: boolean },
): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const e = (code: string, field: string, message: string) => errors.push({ code, field, message });
  const w = (code: string, field: string, message: string) => warnings.push({ code, field, message });
  if (h.cookie !== HEADER_COOKIE) e('HEADER_COOKIE', 'cookie', `dynamic header cookie is ${shownTag(h.cookie)}, expected "cxsparse"`);
  if (h.checksum !== computedChecksum) {
    e('HEADER_CHECKSUM', 'checksum', `dynamic header checksum 0x${h.checksum.toString(16)} does not match computed 0x${computedChecksum.toString(16)}`);
  }
  if (h.headerVersion !== HEADER_VERSION) e('HEADER_VERSION', 'headerVersion', `dynamic header version 0x${h.headerVersion.toString(16)} is not 0x00010000`);
  if (h.dataOffset !== U64_MAX) e('HEADER_DATA_OFFSET', 'dataOffset', `dynamic header data offset 0x${h.dataOffset.toString(16)} must be all ones`);
  if (!isPowerOfTwo(h.blockSize) || h.blockSize < MIN_BLOCK_SIZE || h.blockSize > MAX_BLOCK_SIZE) {
    e('HEADER_BLOCK_SIZE', 'blockSize', `block size ${h.blockSize} is not a power of two between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  } else {
    const needed = Math.ceil(ctx.currentSize / h.blockSize);
    if (h.maxTableEntries < needed) {
      e(
        'HEADER_MAX_TABLE_ENTRIES',
        'maxTableEntries',
        `max table entries ${h.maxTableEntries} cannot cover the virtual size (${needed} blocks of ${h.blockSize} needed)`,
      );
    } else if (h.maxTableEntries > needed) {
      w(
        'HEADER_MAX_TABLE_ENTRIES',
        'maxTableEntries',
        `max table entries ${h.maxTableEntries} exceeds the ${needed} blocks the virtual size needs (Azure rejects this)`,
      );
    }
  }
  if (h.tableOffset % 512n !== 0n) e('HEADER_TABLE_OFFSET', 'tableOffset', `BAT offset ${h.tableOffset} is not sector aligned`);
  else if (h.tableOffset < 512n || h.tableOffset + BigInt(h.maxTableEntries) * 4n > BigInt(ctx.fileSize)) {
    e('HEADER_TABLE_OFFSET', 'tableOffset', `BAT at ${h.tableOffset} with ${h.maxTableEntries} entries does not fit in the file (${ctx.fileSize} bytes)`);
  }
  if (!ctx.differencing) {
    const parentFieldsSet = !isZeroUuid(h.parentUniqueId) || h.parentName !== '' || h.locators.some((l) => l.code !== '\0\0\0\0');
    if (parentFieldsSet) w('HEADER_PARENT_FIELDS', 'parentUniqueId', 'a dynamic (not differencing) disk has parent fields set; they are ignored');
  } else if (isZeroUuid(h.parentUniqueId)) {
    e('HEADER_PARENT_ID', 'parentUniqueId', 'differencing disk has an all-zero parent id');
  }
  return { errors, warnings };
}

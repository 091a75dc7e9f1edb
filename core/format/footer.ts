// Hard disk footer (512 bytes; old writers left 511). Layout:
//   0 cookie "conectix" (8) · 8 features · 12 format version · 16 data offset (u64)
//  24 timestamp · 28 creator app (4) · 32 creator version · 36 creator host OS (4)
//  40 original size (u64) · 48 current size (u64) · 56 geometry C(u16) H(u8) S(u8)
//  60 disk type · 64 checksum · 68 unique id (16) · 84 saved state · 85 reserved (427)
import { shownTag } from '../printable.js';
import { FormatError, type Finding } from '../errors.js';
import { ascii, checksum, copyBytes, putAscii, putU16, putU32, putU64, u16, u32, u64, U64_MAX } from './bytes.js';
import { type Geometry } from './geometry.js';

export const FOOTER_SIZE = 512;
export const FOOTER_COOKIE = 'conectix';
export const FEATURE_TEMPORARY = 0x1;
export const FEATURE_RESERVED = 0x2;
export const FORMAT_VERSION = 0x00010000;
export const FIXED_DATA_OFFSET = U64_MAX;
/** Where the footer keeps its checksum (read as zero when summing). */
export const FOOTER_CHECKSUM_OFFSET = 64;

export enum DiskType {
  Fixed = 2,
  Dynamic = 3,
  Differencing = 4,
}

export interface Footer {
  cookie: string;
  features: number;
  formatVersion: number;
  /** u64: all ones for fixed disks, the header offset otherwise. */
  dataOffset: bigint;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: string;
  /** u64 kept as bigint: a crafted value may exceed 2^53; see `footerSizes`. */
  originalSize: bigint;
  currentSize: bigint;
  geometry: Geometry;
  diskType: number;
  checksum: number;
  uniqueId: Uint8Array;
  savedState: number;
  /** Bytes 85..511, kept so that encode(decode(x)) === x (blktap stores a flag here). */
  reserved: Uint8Array;
}

export function decodeFooter(buf: Uint8Array): Footer {
  if (buf.length < 511) {
    throw new FormatError('FOOTER_TRUNCATED', `footer needs 512 bytes, got ${buf.length}`, { field: 'footer' });
  }
  const b = buf.length >= 512 ? buf.subarray(0, 512) : padTo512(buf);
  return {
    cookie: ascii(b, 0, 8),
    features: u32(b, 8),
    formatVersion: u32(b, 12),
    dataOffset: u64(b, 16),
    timestamp: u32(b, 24),
    creatorApp: ascii(b, 28, 4),
    creatorVersion: u32(b, 32),
    creatorHostOs: ascii(b, 36, 4),
    originalSize: u64(b, 40),
    currentSize: u64(b, 48),
    geometry: { cylinders: u16(b, 56), heads: b[58], sectorsPerTrack: b[59] },
    diskType: u32(b, 60),
    checksum: u32(b, FOOTER_CHECKSUM_OFFSET),
    uniqueId: copyBytes(b, 68, 84),
    savedState: b[84],
    reserved: copyBytes(b, 85, 512),
  };
}

function padTo512(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(512);
  out.set(b.subarray(0, 511));
  return out;
}

/** Encodes the footer; the checksum is recomputed unless `keepChecksum` (tests, repair probes). */
export function encodeFooter(f: Footer, keepChecksum = false): Uint8Array {
  const b = new Uint8Array(FOOTER_SIZE);
  putAscii(b, 0, 8, f.cookie);
  putU32(b, 8, f.features);
  putU32(b, 12, f.formatVersion);
  putU64(b, 16, f.dataOffset);
  putU32(b, 24, f.timestamp);
  putAscii(b, 28, 4, f.creatorApp);
  putU32(b, 32, f.creatorVersion);
  putAscii(b, 36, 4, f.creatorHostOs);
  putU64(b, 40, f.originalSize);
  putU64(b, 48, f.currentSize);
  putU16(b, 56, f.geometry.cylinders);
  b[58] = f.geometry.heads;
  b[59] = f.geometry.sectorsPerTrack;
  putU32(b, 60, f.diskType);
  b.set(f.uniqueId.subarray(0, 16), 68);
  b[84] = f.savedState;
  b.set(f.reserved.subarray(0, 427), 85);
  putU32(b, FOOTER_CHECKSUM_OFFSET, keepChecksum ? f.checksum : rawFooterChecksum(b));
  return b;
}

/** The checksum a decoded footer should carry. */
export function footerChecksum(f: Footer): number {
  return rawFooterChecksum(encodeFooter(f, true));
}

/** The checksum of 512 raw footer bytes (their stored checksum field skipped). */
export function rawFooterChecksum(raw: Uint8Array): number {
  return checksum(raw.subarray(0, FOOTER_SIZE), FOOTER_CHECKSUM_OFFSET);
}

/** A copy of 512 raw footer bytes with the checksum field recomputed; no other byte changes. */
export function withFooterChecksum(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.subarray(0, FOOTER_SIZE));
  putU32(out, FOOTER_CHECKSUM_OFFSET, rawFooterChecksum(out));
  return out;
}

/** True when two raw 512-byte footers differ at most in their checksum fields. */
export function sameFooterExceptChecksum(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < FOOTER_SIZE; i++) {
    if (i >= FOOTER_CHECKSUM_OFFSET && i < FOOTER_CHECKSUM_OFFSET + 4) continue;
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** Largest virtual size accepted: dynamic disks are capped by the u32 BAT at 2040 GiB; fixed at 64 TiB to keep numbers exact. */
export const MAX_DYNAMIC_SIZE = 2040 * 1024 ** 3;
export const MAX_FIXED_SIZE = 64 * 1024 ** 4;

/**
 * Structural validation. Errors make the footer unusable; warnings are
 * reported by `check` but do not stop reading.
 */
export function validateFooter(f: Footer, computedChecksum: number): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const e = (code: string, field: string, message: string) => errors.push({ code, field, message });
  const w = (code: string, field: string, message: string) => warnings.push({ code, field, message });
  if (f.cookie !== FOOTER_COOKIE) e('FOOTER_COOKIE', 'cookie', `footer cookie is ${shownTag(f.cookie)}, expected "conectix" (not a VHD file?)`);
  if (f.checksum !== computedChecksum) {
    e('FOOTER_CHECKSUM', 'checksum', `footer checksum 0x${hex(f.checksum)} does not match computed 0x${hex(computedChecksum)}`);
  }
  if (f.formatVersion !== FORMAT_VERSION) e('FOOTER_VERSION', 'formatVersion', `footer format version 0x${hex(f.formatVersion)} is not 0x00010000`);
  // Not fatal (every reader ignores the bit), but no writer clears it: check reports it as damage (see check.ts).
  if ((f.features & FEATURE_RESERVED) === 0)
    w(
      'FOOTER_FEATURES_RESERVED',
      'features',
      `footer features 0x${hex(f.features)}: the reserved bit 0x2, which every writer sets, is clear (reading still works; something other than a VHD writer changed this footer)`,
    );
  if ((f.features & ~(FEATURE_RESERVED | FEATURE_TEMPORARY)) !== 0) {
    w('FOOTER_FEATURES', 'features', `footer has unknown feature bits 0x${hex(f.features)}`);
  }
  const type = f.diskType;
  if (type !== DiskType.Fixed && type !== DiskType.Dynamic && type !== DiskType.Differencing) {
    e('FOOTER_DISK_TYPE', 'diskType', `disk type ${type} is not fixed (2), dynamic (3) or differencing (4)`);
  } else if (type === DiskType.Fixed) {
    if (f.dataOffset !== FIXED_DATA_OFFSET)
      e('FOOTER_DATA_OFFSET', 'dataOffset', `fixed disk data offset is 0x${f.dataOffset.toString(16)}, expected all ones`);
  } else if (f.dataOffset === FIXED_DATA_OFFSET || f.dataOffset % 512n !== 0n || f.dataOffset < 512n) {
    e('FOOTER_DATA_OFFSET', 'dataOffset', `dynamic header offset 0x${f.dataOffset.toString(16)} is not a sector-aligned offset past the footer copy`);
  }
  const max = BigInt(type === DiskType.Fixed ? MAX_FIXED_SIZE : MAX_DYNAMIC_SIZE);
  if (f.currentSize === 0n) e('FOOTER_CURRENT_SIZE', 'currentSize', 'current size is 0');
  else if (f.currentSize > max) e('FOOTER_CURRENT_SIZE', 'currentSize', `current size ${f.currentSize} exceeds the maximum ${max}`);
  else if (f.currentSize % 512n !== 0n) e('FOOTER_CURRENT_SIZE', 'currentSize', `current size ${f.currentSize} is not a multiple of 512`);
  if (f.savedState > 1) w('FOOTER_SAVED_STATE', 'savedState', `saved state byte is ${f.savedState}, expected 0 or 1`);
  else if (f.savedState === 1) w('FOOTER_SAVED_STATE', 'savedState', 'disk is in a saved state: compaction and resizing are not allowed');
  return { errors, warnings };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function diskTypeName(t: number): 'fixed' | 'dynamic' | 'differencing' {
  return t === DiskType.Fixed ? 'fixed' : t === DiskType.Dynamic ? 'dynamic' : 'differencing';
}

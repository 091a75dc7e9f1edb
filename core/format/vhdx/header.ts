// Header (4 KiB, two copies: at 64 KiB and at 128 KiB). Layout:
//   0 signature "head" · 4 checksum (CRC-32C of the 4 KiB, this field as zero) · 8 sequence number (u64)
//  16 file write GUID · 32 data write GUID · 48 log GUID · 64 log version (u16) · 66 version (u16)
//  68 log length (u32) · 72 log offset (u64) · 80 reserved (4016)
// The current header is the intact one (signature and checksum right) with
// the higher sequence number; writers update the other copy, so one torn
// write never loses both.
import { type Finding } from '../../errors.js';
import { shownTag } from '../../printable.js';
import { ascii, copyBytes, isAllZero, putAscii } from '../bytes.js';
import { crc32cWithZeroField } from './crc32c.js';
import { GUID_SIZE, isZeroGuid } from './guid.js';
import { hex32, MiB, needBytes, putU16le, putU32le, putU64le, u16le, u32le, u64le } from './le.js';

export const HEADER_SIZE = 4096;
export const HEADER_OFFSETS = [64 * 1024, 128 * 1024] as const;
export const HEADER_SIGNATURE = 'head';
export const HEADER_VERSION = 1;
export const LOG_VERSION = 0;
const CHECKSUM_OFFSET = 4;

export interface VhdxHeader {
  signature: string;
  checksum: number;
  sequenceNumber: bigint;
  /** Changes each time the file is opened for writing. */
  fileWriteGuid: Uint8Array;
  /** Changes whenever the virtual disk's content may change: what a child's parent_linkage names. */
  dataWriteGuid: Uint8Array;
  /** All zero: the log is empty; otherwise it must be replayed before the metadata can be trusted. */
  logGuid: Uint8Array;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: bigint;
  /** Bytes 80..4095, kept so that encode(decode(x)) === x. */
  reserved: Uint8Array;
}

export function decodeHeader(b: Uint8Array): VhdxHeader {
  needBytes(b, HEADER_SIZE, 'header');
  return {
    signature: ascii(b, 0, 4),
    checksum: u32le(b, CHECKSUM_OFFSET),
    sequenceNumber: u64le(b, 8),
    fileWriteGuid: copyBytes(b, 16, 32),
    dataWriteGuid: copyBytes(b, 32, 48),
    logGuid: copyBytes(b, 48, 64),
    logVersion: u16le(b, 64),
    version: u16le(b, 66),
    logLength: u32le(b, 68),
    logOffset: u64le(b, 72),
    reserved: copyBytes(b, 80, HEADER_SIZE),
  };
}

/** Encodes the header; the checksum is recomputed unless `keepChecksum` (tests, damage probes). */
export function encodeHeader(h: VhdxHeader, keepChecksum = false): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  putAscii(b, 0, 4, h.signature);
  putU64le(b, 8, h.sequenceNumber);
  b.set(h.fileWriteGuid.subarray(0, GUID_SIZE), 16);
  b.set(h.dataWriteGuid.subarray(0, GUID_SIZE), 32);
  b.set(h.logGuid.subarray(0, GUID_SIZE), 48);
  putU16le(b, 64, h.logVersion);
  putU16le(b, 66, h.version);
  putU32le(b, 68, h.logLength);
  putU64le(b, 72, h.logOffset);
  b.set(h.reserved.subarray(0, HEADER_SIZE - 80), 80);
  putU32le(b, CHECKSUM_OFFSET, keepChecksum ? h.checksum : headerChecksum(b));
  return b;
}

/** The checksum 4 KiB of raw header bytes should carry. */
export function headerChecksum(raw: Uint8Array): number {
  return crc32cWithZeroField(raw.subarray(0, HEADER_SIZE), CHECKSUM_OFFSET);
}

/** One header copy as read: intact when its signature and checksum are right. */
export interface HeaderCopy {
  /** 1: the copy at 64 KiB; 2: at 128 KiB. */
  index: 1 | 2;
  header: VhdxHeader;
  raw: Uint8Array;
  intact: boolean;
  /** Why it is not intact (empty when it is). */
  problems: Finding[];
}

export function readHeaderCopy(raw: Uint8Array, index: 1 | 2): HeaderCopy {
  const header = decodeHeader(raw);
  const problems: Finding[] = [];
  const where = `header${index}`;
  if (header.signature !== HEADER_SIGNATURE) {
    problems.push({
      code: 'VHDX_HEADER_SIGNATURE',
      field: `${where}.signature`,
      message: `${where} signature is ${shownTag(header.signature)}, expected "head"`,
    });
  } else {
    const sum = headerChecksum(raw);
    if (sum !== header.checksum)
      problems.push({
        code: 'VHDX_HEADER_CHECKSUM',
        field: `${where}.checksum`,
        message: `${where} checksum ${hex32(header.checksum)} does not match computed ${hex32(sum)}`,
      });
  }
  return { index, header, raw: raw.subarray(0, HEADER_SIZE), intact: problems.length === 0, problems };
}

/**
 * The current header of the two copies. Both damaged is fatal; one damaged is
 * a warning (writers rewrite it on the next open for writing). Equal sequence
 * numbers are ambiguous unless the copies are identical (Disk2vhd writes two
 * identical ones).
 */
export function pickCurrentHeader(h1: HeaderCopy, h2: HeaderCopy): { current: HeaderCopy | null; errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  if (!h1.intact && !h2.intact) {
    errors.push(...h1.problems, ...h2.problems);
    return { current: null, errors, warnings };
  }
  if (!h1.intact || !h2.intact) {
    const [bad, good] = h1.intact ? [h2, h1] : [h1, h2];
    for (const p of bad.problems) warnings.push({ ...p, message: `${p.message}; header${good.index} is intact and used` });
    return { current: good, errors, warnings };
  }
  const s1 = h1.header.sequenceNumber;
  const s2 = h2.header.sequenceNumber;
  if (s1 !== s2) return { current: s1 > s2 ? h1 : h2, errors, warnings };
  if (sameBytes(h1.raw, h2.raw)) return { current: h1, errors, warnings };
  errors.push({
    code: 'VHDX_HEADER_SEQUENCE',
    field: 'header.sequenceNumber',
    message: `both headers carry sequence number ${s1} but differ: which one is current is undefined`,
  });
  return { current: null, errors, warnings };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The current header's fields against the spec and the file size. Errors
 * make the file unreadable (an unknown version, a log outside the file).
 */
export function validateHeader(h: VhdxHeader, ctx: { fileSize: number }): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const e = (code: string, field: string, message: string) => errors.push({ code, field, message });
  if (h.version !== HEADER_VERSION) e('VHDX_HEADER_VERSION', 'header.version', `header version ${h.version} is not 1`);
  if (h.logVersion !== LOG_VERSION) e('VHDX_LOG_VERSION', 'header.logVersion', `log version ${h.logVersion} is not 0`);
  if (h.logLength % MiB !== 0) e('VHDX_LOG_LENGTH', 'header.logLength', `log length ${h.logLength} is not a multiple of 1 MiB`);
  if (h.logOffset % BigInt(MiB) !== 0n || h.logOffset < BigInt(MiB)) {
    e('VHDX_LOG_OFFSET', 'header.logOffset', `log offset ${h.logOffset} is not a multiple of 1 MiB at or past 1 MiB`);
  } else if (h.logOffset + BigInt(h.logLength) > BigInt(ctx.fileSize)) {
    e('VHDX_LOG_OFFSET', 'header.logOffset', `log at ${h.logOffset} (+${h.logLength}) runs past the end of the file (${ctx.fileSize} bytes)`);
  }
  if (!isZeroGuid(h.logGuid) && h.logLength === 0) e('VHDX_LOG_LENGTH', 'header.logLength', 'the log GUID is set but the log has no space');
  if (!isAllZero(h.reserved)) warnings.push({ code: 'VHDX_HEADER_RESERVED', field: 'header.reserved', message: 'header reserved bytes are not zero' });
  return { errors, warnings };
}

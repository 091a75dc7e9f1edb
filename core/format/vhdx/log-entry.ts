// VHDX log entry codecs (MS-VHDX 2.3.1). The log is a circular run of 4 KiB
// sectors; an entry is its descriptor sectors (the first opens with the
// header) followed by one data sector per data descriptor. Little-endian.
//
// Entry header (64):      0 "loge" · 4 checksum (CRC-32C of the whole entry) · 8 entry length
//                        12 tail · 16 sequence number (u64) · 24 descriptor count · 28 reserved
//                        32 log GUID (16) · 48 flushed file offset (u64) · 56 last file offset (u64)
// Zero descriptor (32):   0 "zero" · 4 reserved · 8 zero length (u64) · 16 file offset (u64) · 24 sequence number (u64)
// Data descriptor (32):   0 "desc" · 4 trailing bytes (4) · 8 leading bytes (8) · 16 file offset (u64) · 24 sequence number (u64)
// Data sector (4096):     0 "data" · 4 sequence high · 8 data (4084) · 4092 sequence low
import { FormatError } from '../../errors.js';

export const LOG_SECTOR = 4096;
export const LOG_ENTRY_HEADER_SIZE = 64;
export const LOG_DESCRIPTOR_SIZE = 32;
export const LOG_DATA_BYTES = 4084;
/** Where the entry header keeps its checksum (read as zero when summing). */
export const LOG_CHECKSUM_OFFSET = 4;
export const LOG_ENTRY_SIGNATURE = 'loge';
export const ZERO_SIGNATURE = 'zero';
export const DESC_SIGNATURE = 'desc';
export const DATA_SIGNATURE = 'data';
/** Descriptors per 4 KiB sector; the first sector gives two slots to the header. */
const DESCRIPTORS_PER_SECTOR = LOG_SECTOR / LOG_DESCRIPTOR_SIZE;
const HEADER_SLOTS = LOG_ENTRY_HEADER_SIZE / LOG_DESCRIPTOR_SIZE;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export interface LogEntryHeader {
  signature: string;
  checksum: number;
  entryLength: number;
  /** Byte offset, in the log, of the oldest entry still to replay. */
  tail: number;
  sequenceNumber: bigint;
  descriptorCount: number;
  reserved: number;
  /** 16 bytes as on disk. */
  logGuid: Uint8Array;
  flushedFileOffset: bigint;
  lastFileOffset: bigint;
}

export interface ZeroDescriptor {
  kind: 'zero';
  reserved: number;
  zeroLength: bigint;
  fileOffset: bigint;
  sequenceNumber: bigint;
}

export interface DataDescriptor {
  kind: 'data';
  /** The update's last 4 bytes (the data sector keeps its sequence low there). */
  trailingBytes: Uint8Array;
  /** The update's first 8 bytes (the data sector keeps its signature and sequence high there). */
  leadingBytes: Uint8Array;
  fileOffset: bigint;
  sequenceNumber: bigint;
}

export type LogDescriptor = ZeroDescriptor | DataDescriptor;

export interface LogDataSector {
  signature: string;
  sequenceHigh: number;
  data: Uint8Array;
  sequenceLow: number;
}

/** A plain copy: on a Buffer `slice` is a view, so decoded fields would alias the read buffer. */
function copy(b: Uint8Array, start: number, end?: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function tag(b: Uint8Array, off: number): string {
  return String.fromCharCode(b[off], b[off + 1], b[off + 2], b[off + 3]);
}

function putTag(b: Uint8Array, off: number, s: string): void {
  for (let i = 0; i < 4; i++) b[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

function need(b: Uint8Array, off: number, size: number, field: string): void {
  if (off < 0 || off + size > b.length) {
    throw new FormatError('VHDX_LOG_TRUNCATED', `log ${field} needs ${size} bytes at ${off}, only ${Math.max(0, b.length - off)} there`, { field });
  }
}

/** True when the 4 bytes at `off` are `signature` (a cheap probe before decoding). */
export function hasSignature(b: Uint8Array, off: number, signature: string): boolean {
  if (off < 0 || off + 4 > b.length) return false;
  for (let i = 0; i < 4; i++) if (b[off + i] !== signature.charCodeAt(i)) return false;
  return true;
}

export function decodeLogEntryHeader(b: Uint8Array, off = 0): LogEntryHeader {
  need(b, off, LOG_ENTRY_HEADER_SIZE, 'entry header');
  const v = view(b);
  return {
    signature: tag(b, off),
    checksum: v.getUint32(off + 4, true),
    entryLength: v.getUint32(off + 8, true),
    tail: v.getUint32(off + 12, true),
    sequenceNumber: v.getBigUint64(off + 16, true),
    descriptorCount: v.getUint32(off + 24, true),
    reserved: v.getUint32(off + 28, true),
    logGuid: copy(b, off + 32, off + 48),
    flushedFileOffset: v.getBigUint64(off + 48, true),
    lastFileOffset: v.getBigUint64(off + 56, true),
  };
}

/** The 64 header bytes; the checksum is written as given (it covers the whole entry: see log-writer.ts). */
export function encodeLogEntryHeader(h: LogEntryHeader, out = new Uint8Array(LOG_ENTRY_HEADER_SIZE), off = 0): Uint8Array {
  need(out, off, LOG_ENTRY_HEADER_SIZE, 'entry header');
  const v = view(out);
  putTag(out, off, h.signature);
  v.setUint32(off + 4, h.checksum >>> 0, true);
  v.setUint32(off + 8, h.entryLength >>> 0, true);
  v.setUint32(off + 12, h.tail >>> 0, true);
  v.setBigUint64(off + 16, BigInt.asUintN(64, h.sequenceNumber), true);
  v.setUint32(off + 24, h.descriptorCount >>> 0, true);
  v.setUint32(off + 28, h.reserved >>> 0, true);
  out.set(h.logGuid.subarray(0, 16), off + 32);
  v.setBigUint64(off + 48, BigInt.asUintN(64, h.flushedFileOffset), true);
  v.setBigUint64(off + 56, BigInt.asUintN(64, h.lastFileOffset), true);
  return out;
}

/** A zero or data descriptor, told apart by its signature; any other signature is a FormatError. */
export function decodeLogDescriptor(b: Uint8Array, off = 0): LogDescriptor {
  need(b, off, LOG_DESCRIPTOR_SIZE, 'descriptor');
  const v = view(b);
  const signature = tag(b, off);
  const fileOffset = v.getBigUint64(off + 16, true);
  const sequenceNumber = v.getBigUint64(off + 24, true);
  if (signature === ZERO_SIGNATURE) {
    return { kind: 'zero', reserved: v.getUint32(off + 4, true), zeroLength: v.getBigUint64(off + 8, true), fileOffset, sequenceNumber };
  }
  if (signature === DESC_SIGNATURE) {
    return { kind: 'data', trailingBytes: copy(b, off + 4, off + 8), leadingBytes: copy(b, off + 8, off + 16), fileOffset, sequenceNumber };
  }
  throw new FormatError('VHDX_LOG_DESCRIPTOR_SIGNATURE', `log descriptor signature is ${JSON.stringify(signature)}, expected "zero" or "desc"`, {
    field: 'signature',
  });
}

export function encodeLogDescriptor(d: LogDescriptor, out = new Uint8Array(LOG_DESCRIPTOR_SIZE), off = 0): Uint8Array {
  need(out, off, LOG_DESCRIPTOR_SIZE, 'descriptor');
  const v = view(out);
  if (d.kind === 'zero') {
    putTag(out, off, ZERO_SIGNATURE);
    v.setUint32(off + 4, d.reserved >>> 0, true);
    v.setBigUint64(off + 8, BigInt.asUintN(64, d.zeroLength), true);
  } else {
    putTag(out, off, DESC_SIGNATURE);
    out.set(d.trailingBytes.subarray(0, 4), off + 4);
    out.set(d.leadingBytes.subarray(0, 8), off + 8);
  }
  v.setBigUint64(off + 16, BigInt.asUintN(64, d.fileOffset), true);
  v.setBigUint64(off + 24, BigInt.asUintN(64, d.sequenceNumber), true);
  return out;
}

export function decodeLogDataSector(b: Uint8Array, off = 0): LogDataSector {
  need(b, off, LOG_SECTOR, 'data sector');
  const v = view(b);
  return {
    signature: tag(b, off),
    sequenceHigh: v.getUint32(off + 4, true),
    data: copy(b, off + 8, off + 8 + LOG_DATA_BYTES),
    sequenceLow: v.getUint32(off + 4092, true),
  };
}

export function encodeLogDataSector(s: LogDataSector, out = new Uint8Array(LOG_SECTOR), off = 0): Uint8Array {
  need(out, off, LOG_SECTOR, 'data sector');
  const v = view(out);
  putTag(out, off, s.signature);
  v.setUint32(off + 4, s.sequenceHigh >>> 0, true);
  out.set(s.data.subarray(0, LOG_DATA_BYTES), off + 8);
  v.setUint32(off + 4092, s.sequenceLow >>> 0, true);
  return out;
}

/** Sectors holding the header and `count` descriptors (never 0). */
export function descriptorSectors(count: number): number {
  return Math.ceil((count + HEADER_SLOTS) / DESCRIPTORS_PER_SECTOR);
}

/** Where descriptor `i` of an entry sits, in bytes from the entry's start. */
export function descriptorOffset(i: number): number {
  return LOG_ENTRY_HEADER_SIZE + i * LOG_DESCRIPTOR_SIZE;
}

/** The 4 KiB the data descriptor and its sector stand for: leading 8 + data 4084 + trailing 4. */
export function joinUpdate(d: DataDescriptor, s: LogDataSector | Uint8Array, sectorOffset = 0): Uint8Array {
  const out = new Uint8Array(LOG_SECTOR);
  out.set(d.leadingBytes.subarray(0, 8), 0);
  const data = s instanceof Uint8Array ? s.subarray(sectorOffset + 8, sectorOffset + 8 + LOG_DATA_BYTES) : s.data;
  out.set(data, 8);
  out.set(d.trailingBytes.subarray(0, 4), 8 + LOG_DATA_BYTES);
  return out;
}

/** A 4 KiB update split into its descriptor and data sector for entry `sequence`. */
export function splitUpdate(update: Uint8Array, fileOffset: bigint, sequence: bigint): { descriptor: DataDescriptor; sector: LogDataSector } {
  if (update.length !== LOG_SECTOR) {
    throw new FormatError('VHDX_LOG_UPDATE_SIZE', `a logged update is ${LOG_SECTOR} bytes, not ${update.length}`, { field: 'data' });
  }
  return {
    descriptor: { kind: 'data', leadingBytes: copy(update, 0, 8), trailingBytes: copy(update, 8 + LOG_DATA_BYTES), fileOffset, sequenceNumber: sequence },
    sector: {
      signature: DATA_SIGNATURE,
      sequenceHigh: Number((sequence >> 32n) & 0xffffffffn),
      data: copy(update, 8, 8 + LOG_DATA_BYTES),
      sequenceLow: Number(sequence & 0xffffffffn),
    },
  };
}

function bad(code: string, field: string, message: string): never {
  throw new FormatError(code, message, { field });
}

/**
 * Bounds of an entry header in a log of `logLength` bytes: signature, entry
 * length (4 KiB multiple, at most the log), tail (4 KiB aligned, inside the
 * log), a non-zero sequence number, descriptors that fit, and — given — the
 * header's log GUID. Throws a FormatError naming the field.
 */
export function checkLogEntryHeader(h: LogEntryHeader, logLength: number, guid?: Uint8Array): void {
  if (h.signature !== LOG_ENTRY_SIGNATURE) bad('VHDX_LOG_SIGNATURE', 'signature', `log entry signature is ${JSON.stringify(h.signature)}, expected "loge"`);
  if (h.entryLength === 0 || h.entryLength % LOG_SECTOR !== 0) {
    bad('VHDX_LOG_ENTRY_LENGTH', 'entryLength', `log entry length ${h.entryLength} is not a non-zero multiple of 4096`);
  }
  if (h.entryLength > logLength) bad('VHDX_LOG_ENTRY_LENGTH', 'entryLength', `log entry length ${h.entryLength} exceeds the log length ${logLength}`);
  if (h.tail % LOG_SECTOR !== 0 || h.tail >= logLength) {
    bad('VHDX_LOG_TAIL', 'tail', `log entry tail ${h.tail} is not a 4 KiB-aligned offset inside the ${logLength}-byte log`);
  }
  if (h.sequenceNumber === 0n) bad('VHDX_LOG_SEQUENCE', 'sequenceNumber', 'log entry sequence number is 0');
  if (descriptorSectors(h.descriptorCount) > h.entryLength / LOG_SECTOR) {
    bad('VHDX_LOG_DESCRIPTOR_COUNT', 'descriptorCount', `${h.descriptorCount} descriptors do not fit in a ${h.entryLength}-byte log entry`);
  }
  if (guid && !sameBytes(h.logGuid, guid)) bad('VHDX_LOG_GUID', 'logGuid', "log entry GUID differs from the header's log GUID");
}

/**
 * A descriptor of the entry with sequence number `sequence`: its sequence
 * number, a 4 KiB-aligned file offset and zero length, and a range that a
 * JavaScript number holds exactly. Returns the range.
 */
export function checkLogDescriptor(d: LogDescriptor, sequence: bigint): { offset: number; length: number } {
  if (d.sequenceNumber !== sequence) {
    bad('VHDX_LOG_DESCRIPTOR_SEQUENCE', 'sequenceNumber', `log descriptor sequence number ${d.sequenceNumber} differs from its entry's ${sequence}`);
  }
  if (d.fileOffset % BigInt(LOG_SECTOR) !== 0n) bad('VHDX_LOG_FILE_OFFSET', 'fileOffset', `log descriptor file offset ${d.fileOffset} is not 4 KiB-aligned`);
  const length = d.kind === 'zero' ? d.zeroLength : BigInt(LOG_SECTOR);
  if (length % BigInt(LOG_SECTOR) !== 0n) bad('VHDX_LOG_ZERO_LENGTH', 'zeroLength', `log zero descriptor length ${length} is not a multiple of 4096`);
  if (d.fileOffset + length > MAX_SAFE) bad('VHDX_LOG_FILE_OFFSET', 'fileOffset', `log descriptor range ${d.fileOffset}+${length} is beyond 2^53`);
  return { offset: Number(d.fileOffset), length: Number(length) };
}

/** A data sector of the entry with sequence number `sequence`: its signature and both sequence halves. */
export function checkLogDataSector(s: LogDataSector, sequence: bigint): void {
  if (s.signature !== DATA_SIGNATURE)
    bad('VHDX_LOG_DATA_SIGNATURE', 'signature', `log data sector signature is ${JSON.stringify(s.signature)}, expected "data"`);
  const seq = (BigInt(s.sequenceHigh) << 32n) | BigInt(s.sequenceLow);
  if (seq !== sequence) {
    bad(
      'VHDX_LOG_DATA_SEQUENCE',
      s.sequenceHigh !== Number(sequence >> 32n) ? 'sequenceHigh' : 'sequenceLow',
      `log data sector sequence ${seq} differs from its entry's ${sequence}`,
    );
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

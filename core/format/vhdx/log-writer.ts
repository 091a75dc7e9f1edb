// Log write side: the entries this project's metadata updates (BAT, sector
// bitmaps, metadata) go through, where they go in the circular log, and
// applying replayed writes. Pure: the caller does the I/O and the flushes the
// spec orders (data stable before the entry, entry stable before the updates
// are applied in place, updates stable before the log GUID is cleared).
import { UsageError } from '../../errors.js';
import { crc32cWithZeroField } from './crc32c.js';
import {
  descriptorOffset,
  descriptorSectors,
  encodeLogDataSector,
  encodeLogDescriptor,
  encodeLogEntryHeader,
  LOG_CHECKSUM_OFFSET,
  LOG_ENTRY_SIGNATURE,
  LOG_SECTOR,
  splitUpdate,
  type LogDescriptor,
} from './log-entry.js';
import type { LogWrite } from './log-replay.js';

export interface LogEntrySpec {
  sequence: bigint;
  /** Log offset of the oldest entry still needed (this entry's own offset when it is the only one). */
  tail: number;
  guid: Uint8Array;
  flushedFileOffset: number;
  lastFileOffset: number;
  /** 4 KiB-aligned updates: data (a multiple of 4 KiB, logged one sector per descriptor) or zeros (data null). */
  writes: LogWrite[];
}

function usage(code: string, field: string, message: string): never {
  throw new UsageError(code, message, { field });
}

/** One log entry's bytes: header, descriptors, data sectors, checksum over all of it. */
export function encodeLogEntry(spec: LogEntrySpec): Uint8Array {
  if (spec.sequence <= 0n || spec.sequence >= 1n << 64n) usage('LOG_SEQUENCE', 'sequence', `log sequence number ${spec.sequence} is not in 1..2^64-1`);
  if (spec.guid.length !== 16 || spec.guid.every((b) => b === 0)) usage('LOG_GUID', 'guid', 'a log entry needs a non-zero 16-byte log GUID');
  if (!Number.isSafeInteger(spec.tail) || spec.tail < 0 || spec.tail % LOG_SECTOR !== 0)
    usage('LOG_TAIL', 'tail', `log tail ${spec.tail} is not 4 KiB-aligned`);
  for (const field of ['flushedFileOffset', 'lastFileOffset'] as const) {
    const v = spec[field];
    if (!Number.isSafeInteger(v) || v < 0) usage('LOG_FILE_OFFSET', field, `log ${field} ${v} is not a file size`);
  }
  const descriptors: LogDescriptor[] = [];
  const sectors: Uint8Array[] = [];
  for (const w of spec.writes) {
    if (!Number.isSafeInteger(w.offset) || w.offset < 0 || w.offset % LOG_SECTOR !== 0)
      usage('LOG_WRITE_OFFSET', 'offset', `logged write offset ${w.offset} is not 4 KiB-aligned`);
    if (!Number.isSafeInteger(w.length) || w.length <= 0 || w.length % LOG_SECTOR !== 0) {
      usage('LOG_WRITE_LENGTH', 'length', `logged write length ${w.length} is not a positive multiple of 4096`);
    }
    if (w.data === null) {
      descriptors.push({ kind: 'zero', reserved: 0, zeroLength: BigInt(w.length), fileOffset: BigInt(w.offset), sequenceNumber: spec.sequence });
      continue;
    }
    if (w.data.length !== w.length) usage('LOG_WRITE_LENGTH', 'data', `logged write has ${w.data.length} bytes of data for length ${w.length}`);
    for (let p = 0; p < w.length; p += LOG_SECTOR) {
      const { descriptor, sector } = splitUpdate(w.data.subarray(p, p + LOG_SECTOR), BigInt(w.offset + p), spec.sequence);
      descriptors.push(descriptor);
      sectors.push(encodeLogDataSector(sector));
    }
  }
  const descSectors = descriptorSectors(descriptors.length);
  const length = (descSectors + sectors.length) * LOG_SECTOR;
  if (length > 0xffffffff) usage('LOG_ENTRY_TOO_LARGE', 'writes', `a ${length}-byte log entry does not fit its 32-bit length`);
  const out = new Uint8Array(length);
  encodeLogEntryHeader(
    {
      signature: LOG_ENTRY_SIGNATURE,
      checksum: 0,
      entryLength: length,
      tail: spec.tail,
      sequenceNumber: spec.sequence,
      descriptorCount: descriptors.length,
      reserved: 0,
      logGuid: spec.guid,
      flushedFileOffset: BigInt(spec.flushedFileOffset),
      lastFileOffset: BigInt(spec.lastFileOffset),
    },
    out,
  );
  descriptors.forEach((d, i) => encodeLogDescriptor(d, out, descriptorOffset(i)));
  sectors.forEach((s, j) => out.set(s, (descSectors + j) * LOG_SECTOR));
  new DataView(out.buffer).setUint32(LOG_CHECKSUM_OFFSET, crc32cWithZeroField(out, LOG_CHECKSUM_OFFSET), true);
  return out;
}

/** Where an entry lands: byte writes relative to the log region's start, and the head after it. */
export interface LogPlacement {
  /** Log offset of the entry (its header): the `tail` to give it when no older entry is still needed. */
  at: number;
  writes: { offset: number; data: Uint8Array }[];
  head: number;
}

/**
 * Places an entry of `entry.length` bytes at `head` in a log of `logLength`
 * bytes, wrapping past the end. `tail` is the offset of the oldest entry still
 * needed (equal to `head` when none is): the entry must not reach it, and one
 * sector always stays free so a full log never looks empty.
 */
export function placeLogEntry(logLength: number, head: number, tail: number, entry: Uint8Array): LogPlacement {
  if (!Number.isSafeInteger(logLength) || logLength <= 0 || logLength % LOG_SECTOR !== 0)
    usage('LOG_LENGTH', 'logLength', `log length ${logLength} is not a positive multiple of 4096`);
  for (const [name, v] of [
    ['head', head],
    ['tail', tail],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v >= logLength || v % LOG_SECTOR !== 0)
      usage('LOG_POSITION', name, `log ${name} ${v} is not a 4 KiB-aligned offset inside the log`);
  }
  if (entry.length === 0 || entry.length % LOG_SECTOR !== 0) usage('LOG_ENTRY_LENGTH', 'entry', `a log entry of ${entry.length} bytes is not whole sectors`);
  const free = (tail - head + logLength) % logLength || logLength;
  if (entry.length > free - LOG_SECTOR)
    usage('LOG_FULL', 'entry', `a ${entry.length}-byte log entry does not fit the ${free - LOG_SECTOR} bytes free in the log`);
  const first = Math.min(entry.length, logLength - head);
  const writes = [{ offset: head, data: entry.subarray(0, first) }];
  if (first < entry.length) writes.push({ offset: 0, data: entry.subarray(first) });
  return { at: head, writes, head: (head + entry.length) % logLength };
}

/** Somewhere writes go: a buffer (writes must fit in it) or a writer. */
export type WriteTarget = Uint8Array | { write(offset: number, data: Uint8Array): void | Promise<void> };

const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** Applies replayed (or planned) writes in order; zero ranges cost no allocation. */
export async function applyWrites(target: WriteTarget, writes: readonly LogWrite[]): Promise<void> {
  for (const w of writes) {
    if (target instanceof Uint8Array) {
      if (w.offset < 0 || w.offset + w.length > target.length)
        usage('WRITE_OUTSIDE', 'offset', `write ${w.offset}+${w.length} is outside the ${target.length}-byte buffer`);
      if (w.data) target.set(w.data.subarray(0, w.length), w.offset);
      else target.fill(0, w.offset, w.offset + w.length);
      continue;
    }
    if (w.data) {
      await target.write(w.offset, w.data.subarray(0, w.length));
      continue;
    }
    for (let p = 0; p < w.length; p += ZERO_CHUNK.length) await target.write(w.offset + p, ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, w.length - p)));
  }
}

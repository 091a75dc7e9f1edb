import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../core/errors.js';
import { crc32c, crc32cWithZeroField } from '../../../core/format/vhdx/crc32c.js';
import { combineCrc, LogChecksums } from '../../../core/format/vhdx/log-checksum.js';
import {
  checkLogDataSector,
  checkLogDescriptor,
  checkLogEntryHeader,
  decodeLogDataSector,
  decodeLogDescriptor,
  decodeLogEntryHeader,
  descriptorSectors,
  encodeLogDataSector,
  encodeLogDescriptor,
  encodeLogEntryHeader,
  joinUpdate,
  splitUpdate,
  type DataDescriptor,
  type LogEntryHeader,
} from '../../../core/format/vhdx/log-entry.js';
import { encodeLogEntry } from '../../../core/format/vhdx/log-writer.js';
import { Rng } from '../../support/model.js';

const GUID = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);

/** An entry header assembled byte by byte with Buffer's little-endian writers. */
function rawHeader(): Buffer {
  const b = Buffer.alloc(64);
  b.write('loge', 0, 'latin1');
  b.writeUInt32LE(0xdeadbeef, 4);
  b.writeUInt32LE(0x3000, 8);
  b.writeUInt32LE(0x2000, 12);
  b.writeBigUInt64LE(0x0102030405060708n, 16);
  b.writeUInt32LE(2, 24);
  b.writeUInt32LE(0, 28);
  Buffer.from(GUID).copy(b, 32);
  b.writeBigUInt64LE(5n * 1024n * 1024n, 48);
  b.writeBigUInt64LE(6n * 1024n * 1024n, 56);
  return b;
}

function codeOf(f: () => unknown): { code: string; field?: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return { code: (e as FormatError).code, field: (e as FormatError).field };
  }
  throw new Error('expected a FormatError');
}

describe('log entry header codec', () => {
  it('decodes every field of a hand-assembled header and encodes it back byte-exactly', () => {
    const raw = rawHeader();
    const h = decodeLogEntryHeader(raw);
    expect(h).toEqual({
      signature: 'loge',
      checksum: 0xdeadbeef,
      entryLength: 0x3000,
      tail: 0x2000,
      sequenceNumber: 0x0102030405060708n,
      descriptorCount: 2,
      reserved: 0,
      logGuid: GUID,
      flushedFileOffset: 5n * 1024n * 1024n,
      lastFileOffset: 6n * 1024n * 1024n,
    });
    expect(Buffer.from(encodeLogEntryHeader(h))).toEqual(raw);
  });

  it('decodes at an offset and keeps no alias to the source buffer', () => {
    const big = Buffer.concat([Buffer.alloc(100, 7), rawHeader()]);
    const h = decodeLogEntryHeader(big, 100);
    big.fill(0);
    expect(h.logGuid).toEqual(GUID);
  });

  it('refuses a short buffer with a typed error', () => {
    expect(codeOf(() => decodeLogEntryHeader(new Uint8Array(63)))).toEqual({ code: 'VHDX_LOG_TRUNCATED', field: 'entry header' });
  });

  it('checks the bounds of every field, naming it', () => {
    const ok = decodeLogEntryHeader(rawHeader());
    const L = 64 * 1024;
    expect(() => checkLogEntryHeader(ok, L, GUID)).not.toThrow();
    const bad = (over: Partial<LogEntryHeader>, guid: Uint8Array = GUID) => codeOf(() => checkLogEntryHeader({ ...ok, ...over }, L, guid));
    expect(bad({ signature: 'logf' })).toEqual({ code: 'VHDX_LOG_SIGNATURE', field: 'signature' });
    expect(bad({ entryLength: 0 })).toEqual({ code: 'VHDX_LOG_ENTRY_LENGTH', field: 'entryLength' });
    expect(bad({ entryLength: 4097 })).toEqual({ code: 'VHDX_LOG_ENTRY_LENGTH', field: 'entryLength' });
    expect(bad({ entryLength: L + 4096 })).toEqual({ code: 'VHDX_LOG_ENTRY_LENGTH', field: 'entryLength' });
    expect(bad({ tail: 100 })).toEqual({ code: 'VHDX_LOG_TAIL', field: 'tail' });
    expect(bad({ tail: L })).toEqual({ code: 'VHDX_LOG_TAIL', field: 'tail' });
    expect(bad({ sequenceNumber: 0n })).toEqual({ code: 'VHDX_LOG_SEQUENCE', field: 'sequenceNumber' });
    // 3 sectors hold 2 + 3·128 − 2 = 382 descriptors at most; 383 need a fourth.
    expect(() => checkLogEntryHeader({ ...ok, descriptorCount: 382 }, L, GUID)).not.toThrow();
    expect(bad({ descriptorCount: 383 })).toEqual({ code: 'VHDX_LOG_DESCRIPTOR_COUNT', field: 'descriptorCount' });
    expect(bad({}, new Uint8Array(16))).toEqual({ code: 'VHDX_LOG_GUID', field: 'logGuid' });
  });

  it('counts descriptor sectors: 126 descriptors share the header sector, then 128 a sector', () => {
    expect(descriptorSectors(0)).toBe(1);
    expect(descriptorSectors(126)).toBe(1);
    expect(descriptorSectors(127)).toBe(2);
    expect(descriptorSectors(254)).toBe(2);
    expect(descriptorSectors(255)).toBe(3);
  });
});

describe('log descriptor codecs', () => {
  it('round-trips a zero descriptor laid out as the spec says', () => {
    const raw = Buffer.alloc(32);
    raw.write('zero', 0, 'latin1');
    raw.writeBigUInt64LE(0x20000n, 8);
    raw.writeBigUInt64LE(0x300000n, 16);
    raw.writeBigUInt64LE(9n, 24);
    const d = decodeLogDescriptor(raw);
    expect(d).toEqual({ kind: 'zero', reserved: 0, zeroLength: 0x20000n, fileOffset: 0x300000n, sequenceNumber: 9n });
    expect(Buffer.from(encodeLogDescriptor(d))).toEqual(raw);
    expect(checkLogDescriptor(d, 9n)).toEqual({ offset: 0x300000, length: 0x20000 });
  });

  it('round-trips a data descriptor with its leading and trailing bytes', () => {
    const raw = Buffer.alloc(32);
    raw.write('desc', 0, 'latin1');
    Buffer.from([1, 2, 3, 4]).copy(raw, 4);
    Buffer.from([5, 6, 7, 8, 9, 10, 11, 12]).copy(raw, 8);
    raw.writeBigUInt64LE(0x201000n, 16);
    raw.writeBigUInt64LE(0x1_0000_0002n, 24);
    const d = decodeLogDescriptor(raw) as DataDescriptor;
    expect(d.kind).toBe('data');
    expect([...d.trailingBytes]).toEqual([1, 2, 3, 4]);
    expect([...d.leadingBytes]).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(d.fileOffset).toBe(0x201000n);
    expect(Buffer.from(encodeLogDescriptor(d))).toEqual(raw);
    expect(checkLogDescriptor(d, 0x1_0000_0002n)).toEqual({ offset: 0x201000, length: 4096 });
  });

  it('refuses an unknown signature, a foreign sequence, unaligned offsets and lengths, naming the field', () => {
    const raw = Buffer.alloc(32);
    raw.write('what', 0, 'latin1');
    expect(codeOf(() => decodeLogDescriptor(raw))).toEqual({ code: 'VHDX_LOG_DESCRIPTOR_SIGNATURE', field: 'signature' });
    const z = { kind: 'zero' as const, reserved: 0, zeroLength: 4096n, fileOffset: 8192n, sequenceNumber: 3n };
    expect(codeOf(() => checkLogDescriptor(z, 4n))).toEqual({ code: 'VHDX_LOG_DESCRIPTOR_SEQUENCE', field: 'sequenceNumber' });
    expect(codeOf(() => checkLogDescriptor({ ...z, fileOffset: 8193n }, 3n))).toEqual({ code: 'VHDX_LOG_FILE_OFFSET', field: 'fileOffset' });
    expect(codeOf(() => checkLogDescriptor({ ...z, zeroLength: 100n }, 3n))).toEqual({ code: 'VHDX_LOG_ZERO_LENGTH', field: 'zeroLength' });
    expect(codeOf(() => checkLogDescriptor({ ...z, fileOffset: 1n << 60n }, 3n))).toEqual({ code: 'VHDX_LOG_FILE_OFFSET', field: 'fileOffset' });
    expect(codeOf(() => decodeLogDescriptor(new Uint8Array(40), 10))).toEqual({ code: 'VHDX_LOG_TRUNCATED', field: 'descriptor' });
  });
});

describe('log data sector codec', () => {
  it('round-trips, splits the sequence number into high and low halves, and rejoins the update', () => {
    const rng = new Rng(3);
    const update = rng.bytes(4096);
    const seq = 0x0000_0007_8000_0001n;
    const { descriptor, sector } = splitUpdate(update, 0x400000n, seq);
    const raw = encodeLogDataSector(sector);
    expect(Buffer.from(raw.subarray(0, 4)).toString('latin1')).toBe('data');
    expect(Buffer.from(raw).readUInt32LE(4)).toBe(7);
    expect(Buffer.from(raw).readUInt32LE(4092)).toBe(0x8000_0001);
    const back = decodeLogDataSector(raw);
    expect(back).toEqual(sector);
    expect(Buffer.from(encodeLogDataSector(back))).toEqual(Buffer.from(raw));
    expect(() => checkLogDataSector(back, seq)).not.toThrow();
    expect(Buffer.from(joinUpdate(descriptor, back))).toEqual(update);
    expect(Buffer.from(joinUpdate(descriptor, raw, 0))).toEqual(update);
  });

  it('names the half that disagrees, and a wrong signature', () => {
    const { sector } = splitUpdate(new Uint8Array(4096), 0n, 0x2_0000_0003n);
    expect(codeOf(() => checkLogDataSector({ ...sector, sequenceHigh: 3 }, 0x2_0000_0003n))).toEqual({ code: 'VHDX_LOG_DATA_SEQUENCE', field: 'sequenceHigh' });
    expect(codeOf(() => checkLogDataSector({ ...sector, sequenceLow: 4 }, 0x2_0000_0003n))).toEqual({ code: 'VHDX_LOG_DATA_SEQUENCE', field: 'sequenceLow' });
    expect(codeOf(() => checkLogDataSector({ ...sector, signature: 'dat\0' }, 0x2_0000_0003n))).toEqual({
      code: 'VHDX_LOG_DATA_SIGNATURE',
      field: 'signature',
    });
    expect(codeOf(() => decodeLogDataSector(new Uint8Array(4095)))).toEqual({ code: 'VHDX_LOG_TRUNCATED', field: 'data sector' });
  });
});

describe('log checksums from prefix CRCs', () => {
  it('combineCrc agrees with summing the concatenation', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 50; i++) {
      const a = rng.bytes(rng.int(300));
      const b = rng.bytes(rng.int(5000));
      expect(combineCrc(crc32c(a), crc32c(b), b.length)).toBe(crc32c(Buffer.concat([a, b])));
    }
  });

  it('gives every entry the checksum crc32cWithZeroField computes, wrapped or not', () => {
    const rng = new Rng(12);
    const L = 16 * 4096;
    const log = rng.bytes(L);
    const sums = new LogChecksums(log);
    for (let i = 0; i < 60; i++) {
      const start = rng.int(16) * 4096;
      const length = rng.range(1, 16) * 4096;
      const bytes = new Uint8Array(length);
      for (let p = 0; p < length; p++) bytes[p] = log[(start + p) % L];
      expect(sums.entry(start, length)).toBe(crc32cWithZeroField(bytes, 4));
    }
  });

  it('checks an entry the writer encoded', () => {
    const entry = encodeLogEntry({
      sequence: 5n,
      tail: 0,
      guid: GUID,
      flushedFileOffset: 4 << 20,
      lastFileOffset: 4 << 20,
      writes: [{ offset: 2 << 20, length: 8192, data: new Rng(1).bytes(8192) }],
    });
    const h = decodeLogEntryHeader(entry);
    expect(h.checksum).toBe(crc32cWithZeroField(entry, 4));
    expect(new LogChecksums(entry).entry(0, entry.length)).toBe(h.checksum);
  });
});

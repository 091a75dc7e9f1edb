import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../core/format/vhdx/crc32c.js';
import { guidEqual, guidFromString, guidToBraced, guidToString, isZeroGuid, newGuid, parseGuid } from '../../../core/format/vhdx/guid.js';
import {
  decodeHeader,
  encodeHeader,
  HEADER_SIZE,
  headerChecksum,
  pickCurrentHeader,
  readHeaderCopy,
  validateHeader,
  type VhdxHeader,
} from '../../../core/format/vhdx/header.js';
import { decodeIdentifier, encodeIdentifier, hasVhdxSignature, validateIdentifier } from '../../../core/format/vhdx/identifier.js';

const MiB = 1024 * 1024;

/** A header assembled with Buffer writers, independent of the codec. */
function rawHeader(seq: bigint, opts: { logGuid?: Buffer; version?: number } = {}): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write('head', 0, 'latin1');
  b.writeBigUInt64LE(seq, 8);
  for (let i = 0; i < 16; i++) b[16 + i] = 0xa0 + i;
  for (let i = 0; i < 16; i++) b[32 + i] = 0xb0 + i;
  opts.logGuid?.copy(b, 48);
  b.writeUInt16LE(0, 64);
  b.writeUInt16LE(opts.version ?? 1, 66);
  b.writeUInt32LE(MiB, 68);
  b.writeBigUInt64LE(BigInt(MiB), 72);
  // The spec's checksum: CRC-32C over the 4 KiB with the field zero.
  b.writeUInt32LE(crc32c(b), 4);
  return b;
}

describe('VHDX GUID', () => {
  it('stores the first three groups little-endian (the region GUID QEMU writes)', () => {
    // Bytes of the BAT region GUID in a qemu-img created file's region table.
    const stored = Buffer.from('6677c22d23f600429d64115e9bfd4a08', 'hex');
    expect(guidToString(stored)).toBe('2dc27766-f623-4200-9d64-115e9bfd4a08');
    expect(Buffer.from(guidFromString('2DC27766-F623-4200-9D64-115E9BFD4A08')).equals(stored)).toBe(true);
    expect(guidToBraced(stored)).toBe('{2dc27766-f623-4200-9d64-115e9bfd4a08}');
  });
  it('parses braced and bare forms, refuses malformed ones', () => {
    const g = newGuid();
    expect(guidEqual(parseGuid(guidToBraced(g))!, g)).toBe(true);
    expect(guidEqual(parseGuid(guidToString(g).toUpperCase())!, g)).toBe(true);
    expect(guidToString(g)[14]).toBe('4'); // version 4 in the text form
    for (const bad of ['', '{2dc27766-f623-4200-9d64-115e9bfd4a08', '2dc27766f62342009d64115e9bfd4a08', '2dc27766-f623-4200-9d64-115e9bfd4a0g'])
      expect(parseGuid(bad)).toBeNull();
    expect(isZeroGuid(new Uint8Array(16))).toBe(true);
    expect(isZeroGuid(g)).toBe(false);
  });
});

describe('VHDX file type identifier', () => {
  it('round-trips signature and UTF-16LE creator', () => {
    const raw = Buffer.alloc(520);
    raw.write('vhdxfile', 0, 'latin1');
    raw.write('QEMU v7.2.22 ✓', 8, 'utf16le');
    const id = decodeIdentifier(raw);
    expect(id).toEqual({ signature: 'vhdxfile', creator: 'QEMU v7.2.22 ✓' });
    expect(Buffer.from(encodeIdentifier(id)).equals(raw)).toBe(true);
    expect(validateIdentifier(id)).toEqual([]);
    expect(hasVhdxSignature(raw)).toBe(true);
  });
  it('names the signature of a non-VHDX file, and refuses short input with a typed error', () => {
    const raw = Buffer.alloc(520);
    raw.write('conectix', 0, 'latin1');
    expect(validateIdentifier(decodeIdentifier(raw))).toMatchObject([{ code: 'VHDX_SIGNATURE', field: 'identifier.signature' }]);
    expect(() => decodeIdentifier(new Uint8Array(100))).toThrow(expect.objectContaining({ code: 'VHDX_TRUNCATED', field: 'identifier' }));
  });
});

describe('VHDX header', () => {
  it('decodes every field at its offset and re-encodes byte for byte', () => {
    const log = Buffer.from(guidFromString('11112222-3333-4444-5555-666677778888'));
    const raw = rawHeader(0x1_0000_0002n, { logGuid: log });
    const h = decodeHeader(raw);
    expect(h.signature).toBe('head');
    expect(h.sequenceNumber).toBe(0x1_0000_0002n);
    expect(guidToString(h.logGuid)).toBe('11112222-3333-4444-5555-666677778888');
    expect(h.fileWriteGuid[0]).toBe(0xa0);
    expect(h.dataWriteGuid[15]).toBe(0xbf);
    expect([h.logVersion, h.version, h.logLength, h.logOffset]).toEqual([0, 1, MiB, BigInt(MiB)]);
    expect(h.checksum).toBe(raw.readUInt32LE(4));
    expect(headerChecksum(raw)).toBe(h.checksum);
    expect(Buffer.from(encodeHeader(h)).equals(raw)).toBe(true);
    expect(validateHeader(h, { fileSize: 4 * MiB })).toEqual({ errors: [], warnings: [] });
  });

  it('keeps a wrong checksum only when asked, and readHeaderCopy calls the copy damaged', () => {
    const h = decodeHeader(rawHeader(5n));
    const bad: VhdxHeader = { ...h, checksum: h.checksum ^ 1 };
    expect(decodeHeader(encodeHeader(bad)).checksum).toBe(h.checksum);
    const kept = encodeHeader(bad, true);
    const copy = readHeaderCopy(kept, 2);
    expect(copy.intact).toBe(false);
    expect(copy.problems).toMatchObject([{ code: 'VHDX_HEADER_CHECKSUM', field: 'header2.checksum' }]);
    const sig = Buffer.from(rawHeader(5n));
    sig.write('HEAD', 0, 'latin1');
    expect(readHeaderCopy(sig, 1).problems).toMatchObject([{ code: 'VHDX_HEADER_SIGNATURE', field: 'header1.signature' }]);
  });

  it('picks the intact copy with the higher sequence number', () => {
    const a = readHeaderCopy(rawHeader(7n), 1);
    const b = readHeaderCopy(rawHeader(8n), 2);
    expect(pickCurrentHeader(a, b).current?.index).toBe(2);
    expect(pickCurrentHeader(readHeaderCopy(rawHeader(9n), 1), b).current?.index).toBe(1);
    // The newer copy torn: the older one is used, with a warning naming the torn copy.
    const torn = Buffer.from(rawHeader(10n));
    torn[100] ^= 0xff;
    const r = pickCurrentHeader(a, readHeaderCopy(torn, 2));
    expect(r.current?.index).toBe(1);
    expect(r.warnings).toMatchObject([{ code: 'VHDX_HEADER_CHECKSUM', field: 'header2.checksum' }]);
    // Both damaged: no current header, both reasons reported.
    const both = pickCurrentHeader(readHeaderCopy(torn, 1), readHeaderCopy(torn, 2));
    expect(both.current).toBeNull();
    expect(both.errors.map((e) => e.field)).toEqual(['header1.checksum', 'header2.checksum']);
  });

  it('equal sequence numbers: identical copies are fine, different ones are an error', () => {
    expect(pickCurrentHeader(readHeaderCopy(rawHeader(3n), 1), readHeaderCopy(rawHeader(3n), 2)).current?.index).toBe(1);
    const other = decodeHeader(rawHeader(3n));
    other.dataWriteGuid = newGuid();
    const r = pickCurrentHeader(readHeaderCopy(rawHeader(3n), 1), readHeaderCopy(encodeHeader(other), 2));
    expect(r.current).toBeNull();
    expect(r.errors).toMatchObject([{ code: 'VHDX_HEADER_SEQUENCE', field: 'header.sequenceNumber' }]);
  });

  it('validates version, log version and the log extent against the file', () => {
    const h = decodeHeader(rawHeader(1n, { version: 2 }));
    const codes = (x: VhdxHeader, fileSize = 4 * MiB) => validateHeader(x, { fileSize }).errors.map((e) => `${e.code}@${e.field}`);
    expect(codes(h)).toEqual(['VHDX_HEADER_VERSION@header.version']);
    const ok = decodeHeader(rawHeader(1n));
    expect(codes({ ...ok, logVersion: 1 })).toEqual(['VHDX_LOG_VERSION@header.logVersion']);
    expect(codes({ ...ok, logOffset: 4096n })).toEqual(['VHDX_LOG_OFFSET@header.logOffset']);
    expect(codes({ ...ok, logLength: 1000 })).toEqual(['VHDX_LOG_LENGTH@header.logLength']);
    expect(codes(ok, MiB + 512)).toEqual(['VHDX_LOG_OFFSET@header.logOffset']);
    expect(codes({ ...ok, logOffset: 2n ** 64n - BigInt(MiB) })).toEqual(['VHDX_LOG_OFFSET@header.logOffset']);
    expect(codes({ ...ok, logLength: 0, logGuid: newGuid() })).toEqual(['VHDX_LOG_LENGTH@header.logLength']);
    const reserved = { ...ok, reserved: new Uint8Array(HEADER_SIZE - 80).fill(1) };
    expect(validateHeader(reserved, { fileSize: 4 * MiB }).warnings).toMatchObject([{ code: 'VHDX_HEADER_RESERVED' }]);
  });

  it('refuses a short buffer with a typed error', () => {
    expect(() => decodeHeader(new Uint8Array(4095))).toThrow(expect.objectContaining({ code: 'VHDX_TRUNCATED', field: 'header' }));
  });
});

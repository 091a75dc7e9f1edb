import { describe, expect, it } from 'vitest';
import { checksum } from '../../../core/format/bytes.js';
import { decodeHeader, decodeUtf16BE, encodeHeader, encodeUtf16BE, isPowerOfTwo, validateHeader, type DynamicHeader } from '../../../core/format/header.js';

// Dynamic header of `qemu-img create -f vpc x.vhd 64M` (QEMU 7.2); bytes 40..1023 are zero.
const QEMU_HEADER_HEAD = '6378737061727365ffffffffffffffff0000000000000600000100000000002100200000fffff456';

function qemuHeader(): Buffer {
  const b = Buffer.alloc(1024);
  Buffer.from(QEMU_HEADER_HEAD, 'hex').copy(b);
  return b;
}

function specChecksum(b: Uint8Array, at: number): number {
  const c = Buffer.from(b);
  c.fill(0, at, at + 4);
  let sum = 0;
  for (const x of c) sum += x;
  return ~sum >>> 0;
}

/** A differencing header assembled with Buffer writers, independent of the codec. */
function rawDiffHeader(): Buffer {
  const b = Buffer.alloc(1024);
  b.write('cxsparse', 0, 'latin1');
  b.writeBigUInt64BE(0xffffffffffffffffn, 8);
  b.writeBigUInt64BE(1536n, 16);
  b.writeUInt32BE(0x00010000, 24);
  b.writeUInt32BE(5, 28);
  b.writeUInt32BE(2 * 1024 * 1024, 32);
  for (let i = 0; i < 16; i++) b[40 + i] = 0x10 + i;
  b.writeUInt32BE(0x1a2b3c4d, 56);
  b.write('bäse 🙂.vhd', 64, 'utf16le');
  b.subarray(64, 576).swap16(); // UTF-16LE → UTF-16BE
  // locator 0: W2ru, locator 1: W2ku, locator 7: MacX
  const loc = (i: number, code: string, space: number, len: number, off: bigint) => {
    const at = 576 + 24 * i;
    b.write(code, at, 'latin1');
    b.writeUInt32BE(space, at + 4);
    b.writeUInt32BE(len, at + 8);
    b.writeBigUInt64BE(off, at + 16);
  };
  loc(0, 'W2ru', 512, 20, 2048n);
  loc(1, 'W2ku', 1024, 600, 2560n);
  loc(7, 'MacX', 1, 30, 3584n);
  for (let i = 768; i < 1024; i += 13) b[i] = i & 0xff; // reserved junk must survive a round trip
  b.writeUInt32BE(specChecksum(b, 36), 36);
  return b;
}

function check(h: DynamicHeader, ctx = { currentSize: 10 * 1024 * 1024, fileSize: 64 * 1024 * 1024, differencing: true }) {
  const sealed = { ...h, checksum: 0 };
  sealed.checksum = checksum(encodeHeader(sealed, true), 36);
  return validateHeader(sealed, checksum(encodeHeader(sealed, true), 36), ctx);
}

const codes = (r: { errors: { code: string }[] }) => r.errors.map((e) => e.code);

describe('dynamic header codec', () => {
  it('decodes a real QEMU header and its checksum', () => {
    const raw = qemuHeader();
    const h = decodeHeader(raw);
    expect(h.cookie).toBe('cxsparse');
    expect(h.dataOffset).toBe(0xffffffffffffffffn);
    expect(h.tableOffset).toBe(1536n);
    expect(h.headerVersion).toBe(0x00010000);
    expect(h.maxTableEntries).toBe(33);
    expect(h.blockSize).toBe(0x200000);
    expect(h.checksum).toBe(0xfffff456);
    expect(checksum(raw, 36)).toBe(0xfffff456);
    expect(h.parentName).toBe('');
    expect(h.locators.every((l) => l.code === '\0\0\0\0')).toBe(true);
    expect(Buffer.from(encodeHeader(h))).toEqual(raw);
    const r = validateHeader(h, checksum(raw, 36), { currentSize: 67125248, fileSize: 2048 + 512 * 2, differencing: false });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('decodes a differencing header: UTF-16BE name and locators at 576 + 24·i', () => {
    const raw = rawDiffHeader();
    expect(raw.subarray(64, 68)).toEqual(Buffer.from([0x00, 0x62, 0x00, 0xe4])); // "bä" big-endian
    const h = decodeHeader(raw);
    expect(h.parentName).toBe('bäse 🙂.vhd');
    expect(Buffer.from(h.parentUniqueId).toString('hex')).toBe('101112131415161718191a1b1c1d1e1f');
    expect(h.parentTimestamp).toBe(0x1a2b3c4d);
    expect(h.locators).toHaveLength(8);
    expect(h.locators[0]).toEqual({ code: 'W2ru', dataSpace: 512, dataLength: 20, reserved: 0, dataOffset: 2048n });
    expect(h.locators[1]).toEqual({ code: 'W2ku', dataSpace: 1024, dataLength: 600, reserved: 0, dataOffset: 2560n });
    expect(h.locators[7]).toEqual({ code: 'MacX', dataSpace: 1, dataLength: 30, reserved: 0, dataOffset: 3584n });
    for (const i of [2, 3, 4, 5, 6]) expect(h.locators[i].code).toBe('\0\0\0\0');
  });

  it('round-trips byte-exactly, reserved bytes included', () => {
    const raw = rawDiffHeader();
    const h = decodeHeader(raw);
    expect(Buffer.from(encodeHeader(h, true))).toEqual(raw);
    expect(Buffer.from(encodeHeader(h))).toEqual(raw);
  });

  it('encodes locators at 576 + 24·i and the name at 64', () => {
    const h = decodeHeader(qemuHeader());
    h.parentName = 'A';
    h.locators[5] = { code: 'W2ku', dataSpace: 0x400, dataLength: 0x22, reserved: 0, dataOffset: 0x1234_5678_9an };
    const b = Buffer.from(encodeHeader(h));
    expect(b.subarray(64, 68)).toEqual(Buffer.from([0, 0x41, 0, 0]));
    const at = 576 + 24 * 5;
    expect(b.toString('latin1', at, at + 4)).toBe('W2ku');
    expect(b.readUInt32BE(at + 4)).toBe(0x400);
    expect(b.readUInt32BE(at + 8)).toBe(0x22);
    expect(b.readBigUInt64BE(at + 16)).toBe(0x1234_5678_9an);
    expect(b.subarray(576, at).every((x) => x === 0)).toBe(true);
    expect(b.subarray(at + 24, 768).every((x) => x === 0)).toBe(true);
    expect(b.readUInt32BE(36)).toBe(specChecksum(b, 36));
  });

  it('UTF-16BE name helpers: stop at NUL, pad, cut at the field size', () => {
    expect(decodeUtf16BE(Uint8Array.from([0, 0x61, 0, 0x62, 0, 0, 0, 0x63]))).toBe('ab');
    const enc = encodeUtf16BE('é€', 8);
    expect(Array.from(enc)).toEqual([0x00, 0xe9, 0x20, 0xac, 0, 0, 0, 0]);
    const long = 'x'.repeat(300);
    const cut = encodeUtf16BE(long, 512);
    expect(cut.length).toBe(512);
    expect(decodeUtf16BE(cut)).toBe('x'.repeat(256));
  });

  it('isPowerOfTwo', () => {
    expect([1, 2, 512, 4096, 2 ** 21, 2 ** 30].every(isPowerOfTwo)).toBe(true);
    expect([0, 3, 511, 513, 3 * 2 ** 20, -2].some(isPowerOfTwo)).toBe(false);
  });
});

describe('validateHeader', () => {
  const diff = () => decodeHeader(rawDiffHeader()); // 5 entries × 2 MiB, BAT at 1536
  const ctx = { currentSize: 10 * 1024 * 1024, fileSize: 64 * 1024 * 1024, differencing: true };

  it('accepts the valid header', () => {
    const r = check(diff());
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('HEADER_COOKIE', () => {
    const r = check({ ...diff(), cookie: 'cxsparsf' });
    expect(codes(r)).toEqual(['HEADER_COOKIE']);
    expect(r.errors[0].field).toBe('cookie');
  });

  it('HEADER_CHECKSUM against the spec sum', () => {
    const raw = rawDiffHeader();
    const h = decodeHeader(raw);
    expect(validateHeader(h, specChecksum(raw, 36), ctx).errors).toEqual([]);
    raw[800] ^= 0xff; // reserved bytes are covered too
    const r = validateHeader(decodeHeader(raw), specChecksum(raw, 36), ctx);
    expect(codes(r)).toEqual(['HEADER_CHECKSUM']);
    expect(r.errors[0].field).toBe('checksum');
  });

  it('HEADER_VERSION and HEADER_DATA_OFFSET', () => {
    expect(codes(check({ ...diff(), headerVersion: 0x00010001 }))).toEqual(['HEADER_VERSION']);
    // the spec text says 0, but tools require all ones
    expect(codes(check({ ...diff(), dataOffset: 0n }))).toEqual(['HEADER_DATA_OFFSET']);
    expect(codes(check({ ...diff(), dataOffset: 0xffffffffn }))).toEqual(['HEADER_DATA_OFFSET']);
  });

  it('HEADER_BLOCK_SIZE', () => {
    const big = { currentSize: 512 * 1024 * 1024, fileSize: 2 ** 40, differencing: true };
    for (const bs of [0, 256, 511, 3 * 1024 * 1024, 2 ** 21 + 512, 512 * 1024 * 1024]) {
      const r = check({ ...diff(), blockSize: bs, maxTableEntries: 1024 }, big);
      expect(codes(r), `block size ${bs}`).toEqual(['HEADER_BLOCK_SIZE']);
      expect(r.errors[0].field).toBe('blockSize');
    }
    expect(codes(check({ ...diff(), blockSize: 512, maxTableEntries: 20480 }, ctx))).toEqual([]);
    expect(codes(check({ ...diff(), blockSize: 256 * 1024 * 1024, maxTableEntries: 1 }, ctx))).toEqual([]);
  });

  it('HEADER_MAX_TABLE_ENTRIES: error when too few, warning when too many', () => {
    const few = check({ ...diff(), maxTableEntries: 4 });
    expect(codes(few)).toEqual(['HEADER_MAX_TABLE_ENTRIES']);
    const many = check({ ...diff(), maxTableEntries: 6 });
    expect(codes(many)).toEqual([]);
    expect(many.warnings.map((w) => w.code)).toEqual(['HEADER_MAX_TABLE_ENTRIES']);
    // a size ending inside the last block still needs that block
    expect(codes(check(diff(), { ...ctx, currentSize: 10 * 1024 * 1024 + 512 }))).toEqual(['HEADER_MAX_TABLE_ENTRIES']);
  });

  it('HEADER_TABLE_OFFSET', () => {
    expect(codes(check({ ...diff(), tableOffset: 1537n }))).toEqual(['HEADER_TABLE_OFFSET']);
    expect(codes(check({ ...diff(), tableOffset: 0n }))).toEqual(['HEADER_TABLE_OFFSET']);
    // BAT must fit in the file
    expect(codes(check(diff(), { ...ctx, fileSize: 1536 + 19 }))).toEqual(['HEADER_TABLE_OFFSET']);
    expect(codes(check(diff(), { ...ctx, fileSize: 1536 + 20 }))).toEqual([]);
  });

  it('HEADER_PARENT_ID for a differencing disk; HEADER_PARENT_FIELDS warning for a dynamic one', () => {
    const noId = check({ ...diff(), parentUniqueId: new Uint8Array(16) });
    expect(codes(noId)).toEqual(['HEADER_PARENT_ID']);
    const dyn = check(diff(), { ...ctx, differencing: false });
    expect(codes(dyn)).toEqual([]);
    expect(dyn.warnings.map((w) => w.code)).toEqual(['HEADER_PARENT_FIELDS']);
    const q = decodeHeader(qemuHeader());
    expect(check(q, { currentSize: 67125248, fileSize: 4096, differencing: false }).warnings).toEqual([]);
  });
});

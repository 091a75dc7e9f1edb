import { describe, expect, it } from 'vitest';
import { checksum } from '../../../core/format/bytes.js';
import {
  decodeFooter,
  DiskType,
  encodeFooter,
  FIXED_DATA_OFFSET,
  footerChecksum,
  MAX_DYNAMIC_SIZE,
  validateFooter,
  type Footer,
} from '../../../core/format/footer.js';
import { FormatError } from '../../../core/errors.js';

// The trailing footer of `qemu-img create -f vpc x.vhd 64M` (QEMU 7.2): creator
// "qemu", size rounded up to CHS 964/8/17 = 67,125,248 bytes. Bytes 96..511 are zero.
const QEMU_FOOTER_HEAD =
  '636f6e6563746978000000020001000000000000000002003298' +
  '70ef71656d7500050003576932' +
  '6b00000000040040000000000004004000' +
  '03c4081100000003fffff0a078bf0c8315c34843ad0c20a45b1e0429';

function qemuFooter(): Buffer {
  const b = Buffer.alloc(512);
  Buffer.from(QEMU_FOOTER_HEAD, 'hex').copy(b);
  return b;
}

/** Spec checksum, written independently of the codec: byte sum with the field as zero, one's complement. */
function specChecksum(b: Uint8Array, at: number): number {
  const c = Buffer.from(b);
  c.fill(0, at, at + 4);
  let sum = 0;
  for (const x of c) sum += x;
  return ~sum >>> 0;
}

/** A footer assembled byte by byte with Buffer's own big-endian writers. */
function rawFooter(over: { type?: number; dataOffset?: bigint; size?: bigint; reserved?: (b: Buffer) => void } = {}): Buffer {
  const b = Buffer.alloc(512);
  b.write('conectix', 0, 'latin1');
  b.writeUInt32BE(2, 8);
  b.writeUInt32BE(0x00010000, 12);
  b.writeBigUInt64BE(over.dataOffset ?? 512n, 16);
  b.writeUInt32BE(0x2c3d4e5f, 24);
  b.write('win ', 28, 'latin1');
  b.writeUInt32BE(0x000a0000, 32);
  b.write('Wi2k', 36, 'latin1');
  b.writeBigUInt64BE(over.size ?? 8n * 1024n * 1024n, 40);
  b.writeBigUInt64BE(over.size ?? 8n * 1024n * 1024n, 48);
  b.writeUInt16BE(241, 56);
  b.writeUInt8(4, 58);
  b.writeUInt8(17, 59);
  b.writeUInt32BE(over.type ?? 3, 60);
  for (let i = 0; i < 16; i++) b[68 + i] = 0xa0 + i;
  b[84] = 0;
  over.reserved?.(b);
  b.writeUInt32BE(specChecksum(b, 64), 64);
  return b;
}

/** Validates as if the footer were stored with a correct checksum for its (modified) fields. */
function errorCodes(f: Footer): string[] {
  return check(f).errors.map((e) => e.code);
}

function check(f: Footer): ReturnType<typeof validateFooter> {
  const sealed = { ...f, checksum: footerChecksum(f) };
  return validateFooter(sealed, footerChecksum(sealed));
}

describe('footer codec', () => {
  it('decodes every field of a hand-assembled footer', () => {
    const f = decodeFooter(rawFooter());
    expect(f.cookie).toBe('conectix');
    expect(f.features).toBe(2);
    expect(f.formatVersion).toBe(0x00010000);
    expect(f.dataOffset).toBe(512n);
    expect(f.timestamp).toBe(0x2c3d4e5f);
    expect(f.creatorApp).toBe('win ');
    expect(f.creatorVersion).toBe(0x000a0000);
    expect(f.creatorHostOs).toBe('Wi2k');
    expect(f.originalSize).toBe(8388608n);
    expect(f.currentSize).toBe(8388608n);
    expect(f.geometry).toEqual({ cylinders: 241, heads: 4, sectorsPerTrack: 17 });
    expect(f.diskType).toBe(DiskType.Dynamic);
    expect(Buffer.from(f.uniqueId).toString('hex')).toBe('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
    expect(f.savedState).toBe(0);
    expect(f.reserved.length).toBe(427);
  });

  it('decodes a real QEMU footer and accepts its checksum', () => {
    const raw = qemuFooter();
    const f = decodeFooter(raw);
    expect(f.creatorApp).toBe('qemu');
    expect(f.creatorHostOs).toBe('Wi2k');
    expect(f.currentSize).toBe(67125248n);
    expect(f.geometry).toEqual({ cylinders: 964, heads: 8, sectorsPerTrack: 17 });
    expect(f.diskType).toBe(3);
    expect(f.checksum).toBe(0xfffff0a0);
    expect(checksum(raw, 64)).toBe(0xfffff0a0);
    expect(footerChecksum(f)).toBe(0xfffff0a0);
    expect(validateFooter(f, footerChecksum(f)).errors).toEqual([]);
    expect(Buffer.from(encodeFooter(f))).toEqual(raw);
  });

  it('round-trips byte-exactly, reserved bytes included', () => {
    const raw = rawFooter({
      reserved: (b) => {
        b[85] = 1; // blktap's hidden flag
        for (let i = 86; i < 512; i += 7) b[i] = (i * 31) & 0xff;
        b[511] = 0x5a;
      },
    });
    const f = decodeFooter(raw);
    expect(f.reserved[0]).toBe(1);
    expect(f.reserved[426]).toBe(0x5a);
    expect(Buffer.from(encodeFooter(f, true))).toEqual(raw);
    expect(Buffer.from(encodeFooter(f))).toEqual(raw); // recomputed checksum is the stored one
    expect(validateFooter(f, footerChecksum(f)).errors).toEqual([]);
  });

  it('encode keeps a wrong checksum only when asked', () => {
    const f = decodeFooter(rawFooter());
    f.checksum = 0x12345678;
    expect(Buffer.from(encodeFooter(f, true)).readUInt32BE(64)).toBe(0x12345678);
    const fixed = Buffer.from(encodeFooter(f));
    expect(fixed.readUInt32BE(64)).toBe(specChecksum(fixed, 64));
  });

  it('does not alias the input buffer', () => {
    const raw = rawFooter();
    const f = decodeFooter(raw);
    raw.fill(0xee, 68, 512);
    expect(f.uniqueId[0]).toBe(0xa0);
    expect(f.reserved.every((x) => x === 0)).toBe(true);
  });

  it('decodes the legacy 511-byte footer', () => {
    const raw = rawFooter({ reserved: (b) => (b[100] = 9) });
    const f = decodeFooter(raw.subarray(0, 511));
    expect(f.cookie).toBe('conectix');
    expect(f.currentSize).toBe(8388608n);
    expect(f.reserved[100 - 85]).toBe(9);
    expect(f.reserved[426]).toBe(0);
    expect(validateFooter(f, footerChecksum(f)).errors).toEqual([]);
  });

  it('rejects fewer than 511 bytes', () => {
    let err: unknown;
    try {
      decodeFooter(rawFooter().subarray(0, 510));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('FOOTER_TRUNCATED');
  });
});

describe('footer checksum', () => {
  it('is (~sum)>>>0 over all 512 bytes with the field read as zero', () => {
    const raw = rawFooter();
    let sum = 0;
    for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += raw[i];
    expect(raw.readUInt32BE(64)).toBe(~sum >>> 0);
    expect(checksum(raw, 64)).toBe(~sum >>> 0);
    // the stored checksum bytes themselves do not influence it
    const other = Buffer.from(raw);
    other.writeUInt32BE(0xdeadbeef, 64);
    expect(checksum(other, 64)).toBe(~sum >>> 0);
  });

  it('covers the reserved area', () => {
    const raw = rawFooter();
    const before = checksum(raw, 64);
    raw[400] = 1;
    expect(checksum(raw, 64)).toBe((before - 1) >>> 0);
    const f = decodeFooter(raw);
    expect(footerChecksum(f)).toBe(checksum(raw, 64));
    expect(validateFooter(f, footerChecksum(f)).errors.map((e) => e.code)).toEqual(['FOOTER_CHECKSUM']);
  });
});

describe('validateFooter', () => {
  const valid = () => decodeFooter(rawFooter());

  it('accepts a valid dynamic, differencing and fixed footer', () => {
    expect(errorCodes(valid())).toEqual([]);
    expect(errorCodes({ ...valid(), diskType: 4 })).toEqual([]);
    expect(errorCodes({ ...valid(), diskType: 2, dataOffset: FIXED_DATA_OFFSET })).toEqual([]);
    expect(check(valid()).warnings).toEqual([]);
  });

  it('FOOTER_COOKIE', () => {
    const f = { ...valid(), cookie: 'conectiy' };
    expect(errorCodes(f)).toEqual(['FOOTER_COOKIE']);
    expect(check(f).errors[0].field).toBe('cookie');
  });

  it('FOOTER_CHECKSUM', () => {
    const f = valid();
    const r = validateFooter(f, (f.checksum + 1) >>> 0);
    expect(r.errors.map((e) => e.code)).toEqual(['FOOTER_CHECKSUM']);
    expect(r.errors[0].field).toBe('checksum');
    // a field changed after sealing: the stored checksum no longer matches
    const g = { ...f, timestamp: f.timestamp + 1 };
    expect(validateFooter(g, footerChecksum(g)).errors.map((e) => e.code)).toEqual(['FOOTER_CHECKSUM']);
  });

  it('FOOTER_VERSION', () => {
    expect(errorCodes({ ...valid(), formatVersion: 0x00020000 })).toEqual(['FOOTER_VERSION']);
    expect(errorCodes({ ...valid(), formatVersion: 0 })).toEqual(['FOOTER_VERSION']);
  });

  it('FOOTER_DISK_TYPE', () => {
    for (const t of [0, 1, 5, 6, 0xffffffff]) {
      const f = { ...valid(), diskType: t };
      expect(errorCodes(f), `type ${t}`).toEqual(['FOOTER_DISK_TYPE']);
      expect(check(f).errors[0].field).toBe('diskType');
    }
  });

  it('FOOTER_DATA_OFFSET', () => {
    const fixed = { ...valid(), diskType: 2 };
    expect(errorCodes({ ...fixed, dataOffset: 512n })).toEqual(['FOOTER_DATA_OFFSET']);
    expect(errorCodes({ ...fixed, dataOffset: 0xffffffffn })).toEqual(['FOOTER_DATA_OFFSET']);
    for (const off of [FIXED_DATA_OFFSET, 0n, 511n, 513n, 1000n]) {
      expect(errorCodes({ ...valid(), dataOffset: off }), `dynamic ${off}`).toEqual(['FOOTER_DATA_OFFSET']);
      expect(errorCodes({ ...valid(), diskType: 4, dataOffset: off }), `differencing ${off}`).toEqual(['FOOTER_DATA_OFFSET']);
    }
    expect(errorCodes({ ...valid(), dataOffset: 1024n })).toEqual([]);
  });

  it('FOOTER_CURRENT_SIZE', () => {
    expect(errorCodes({ ...valid(), currentSize: 0n })).toEqual(['FOOTER_CURRENT_SIZE']);
    expect(errorCodes({ ...valid(), currentSize: 8388608n + 1n })).toEqual(['FOOTER_CURRENT_SIZE']);
    expect(errorCodes({ ...valid(), currentSize: 1000n })).toEqual(['FOOTER_CURRENT_SIZE']);
    expect(errorCodes({ ...valid(), currentSize: BigInt(MAX_DYNAMIC_SIZE) })).toEqual([]);
    expect(errorCodes({ ...valid(), currentSize: BigInt(MAX_DYNAMIC_SIZE) + 512n })).toEqual(['FOOTER_CURRENT_SIZE']);
    expect(errorCodes({ ...valid(), currentSize: 0xffffffffffffffffn })).toEqual(['FOOTER_CURRENT_SIZE']);
    // a fixed disk may be larger than the dynamic limit
    expect(errorCodes({ ...valid(), diskType: 2, dataOffset: FIXED_DATA_OFFSET, currentSize: BigInt(MAX_DYNAMIC_SIZE) + 512n })).toEqual([]);
    const f = { ...valid(), currentSize: 0n };
    expect(check(f).errors[0].field).toBe('currentSize');
  });

  it('warns (without erroring) on features and saved state', () => {
    const w = check;
    expect(w({ ...valid(), features: 0 }).warnings.map((x) => x.code)).toEqual(['FOOTER_FEATURES_RESERVED']);
    expect(w({ ...valid(), features: 0 }).warnings[0].field).toBe('features');
    expect(w({ ...valid(), features: 0 }).errors).toEqual([]);
    expect(w({ ...valid(), features: 0x3 }).warnings).toEqual([]); // temporary bit is legal
    expect(w({ ...valid(), features: 0x6 }).warnings.map((x) => x.code)).toEqual(['FOOTER_FEATURES']);
    expect(w({ ...valid(), savedState: 1 }).warnings.map((x) => x.code)).toEqual(['FOOTER_SAVED_STATE']);
    expect(w({ ...valid(), savedState: 7 }).warnings.map((x) => x.code)).toEqual(['FOOTER_SAVED_STATE']);
  });

  it('reports several problems at once', () => {
    const f = { ...valid(), cookie: 'xxxxxxxx', formatVersion: 1, currentSize: 0n };
    expect(errorCodes(f).sort()).toEqual(['FOOTER_COOKIE', 'FOOTER_CURRENT_SIZE', 'FOOTER_VERSION']);
  });
});

import { describe, expect, it } from 'vitest';
import {
  alignUp,
  ascii,
  byteSumComplement,
  checksum,
  dateToVhdTime,
  isAllZero,
  isZeroUuid,
  newUuid,
  putAscii,
  putU16,
  putU32,
  putU64,
  u16,
  u32,
  u64,
  uuidEqual,
  uuidFromString,
  uuidToString,
  VHD_EPOCH_OFFSET,
  vhdTimeToDate,
} from '../../../core/format/bytes.js';

describe('integers are big-endian', () => {
  it('u16/u32 read and write', () => {
    const b = new Uint8Array(8);
    putU32(b, 1, 0xdeadbeef);
    expect(Array.from(b.subarray(0, 6))).toEqual([0, 0xde, 0xad, 0xbe, 0xef, 0]);
    expect(u32(b, 1)).toBe(0xdeadbeef); // unsigned, not negative
    putU32(b, 4, 0xffffffff);
    expect(u32(b, 4)).toBe(4294967295);
    putU32(b, 0, 0x80000000);
    expect(u32(b, 0)).toBe(2147483648);
    expect(u32(Uint8Array.from([0, 0, 0x01, 0x02]), 0)).toBe(258);
    putU16(b, 6, 0xabcd);
    expect(u16(b, 6)).toBe(0xabcd);
    expect(Array.from(b.subarray(6))).toEqual([0xab, 0xcd]);
    expect(Buffer.from(b).readUInt16BE(6)).toBe(0xabcd);
  });

  it('u64 as bigint, beyond 2^53, from number or bigint', () => {
    const b = Buffer.alloc(16);
    putU64(b, 3, 0xfedcba9876543210n);
    expect(b.readBigUInt64BE(3)).toBe(0xfedcba9876543210n);
    expect(u64(b, 3)).toBe(0xfedcba9876543210n);
    putU64(b, 8, 2 ** 40 + 7);
    expect(u64(b, 8)).toBe(2n ** 40n + 7n);
    putU64(b, 0, 0xffffffffffffffffn);
    expect(u64(b, 0)).toBe(0xffffffffffffffffn);
  });
});

describe('checksums', () => {
  it('checksum skips the 4-byte field and returns (~sum)>>>0', () => {
    const b = Uint8Array.from([1, 2, 3, 0xff, 0xff, 0xff, 0xff, 4]);
    expect(checksum(b, 3)).toBe(~(1 + 2 + 3 + 4) >>> 0);
    expect(checksum(b, 3)).toBe(0xfffffff5);
    expect(checksum(new Uint8Array(512), 64)).toBe(0xffffffff);
    expect(byteSumComplement(Uint8Array.from([1, 2, 3]))).toBe(0xfffffff9);
  });
});

describe('UUIDs', () => {
  it('print in stored byte order', () => {
    const id = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(uuidToString(id)).toBe('00010203-0405-0607-0809-0a0b0c0d0e0f');
    expect(Array.from(uuidFromString('00010203-0405-0607-0809-0a0b0c0d0e0f'))).toEqual(Array.from(id));
    expect(uuidToString(uuidFromString('AABBCCDD-EEFF-0011-2233-445566778899'))).toBe('aabbccdd-eeff-0011-2233-445566778899');
    expect(() => uuidFromString('not-a-uuid')).toThrow();
    expect(() => uuidFromString('00010203-0405-0607-0809-0a0b0c0d0e0')).toThrow();
  });

  it('newUuid is a random v4 UUID', () => {
    const a = newUuid();
    const b = newUuid();
    expect(a.length).toBe(16);
    expect(uuidEqual(a, b)).toBe(false);
    expect(a[6] >> 4).toBe(4);
    expect(a[8] & 0xc0).toBe(0x80);
    expect(isZeroUuid(a)).toBe(false);
    expect(isZeroUuid(new Uint8Array(16))).toBe(true);
    expect(uuidEqual(a, Uint8Array.from(a))).toBe(true);
    expect(uuidEqual(a, a.subarray(0, 15))).toBe(false);
  });
});

describe('timestamps count seconds since 2000-01-01T00:00:00Z', () => {
  it('converts both ways', () => {
    expect(VHD_EPOCH_OFFSET).toBe(Date.UTC(2000, 0, 1) / 1000);
    expect(vhdTimeToDate(0).toISOString()).toBe('2000-01-01T00:00:00.000Z');
    expect(vhdTimeToDate(86400 + 1).toISOString()).toBe('2000-01-02T00:00:01.000Z');
    expect(dateToVhdTime(new Date('2000-01-01T00:00:01.999Z'))).toBe(1);
    expect(dateToVhdTime(Date.UTC(2024, 1, 29, 12))).toBe(Date.UTC(2024, 1, 29, 12) / 1000 - 946684800);
    expect(dateToVhdTime(new Date('1999-12-31T23:59:59Z'))).toBe(0);
    expect(dateToVhdTime(new Date('2200-01-01T00:00:00Z'))).toBe(0xffffffff);
    const t = dateToVhdTime(new Date('2031-05-06T07:08:09Z'));
    expect(vhdTimeToDate(t).toISOString()).toBe('2031-05-06T07:08:09.000Z');
  });
});

describe('ascii', () => {
  it('pads with NUL and keeps NULs on read', () => {
    const b = new Uint8Array(6).fill(0x55);
    putAscii(b, 1, 4, 'ab');
    expect(Array.from(b)).toEqual([0x55, 0x61, 0x62, 0, 0, 0x55]);
    expect(ascii(b, 1, 4)).toBe('ab\0\0');
    putAscii(b, 0, 2, 'xyz');
    expect(ascii(b, 0, 3)).toBe('xyb');
  });
});

describe('isAllZero', () => {
  it('finds a non-zero byte at any position of aligned and unaligned views', () => {
    const backing = new ArrayBuffer(96);
    const all = new Uint8Array(backing);
    for (let off = 0; off < 8; off++) {
      for (const len of [0, 1, 3, 4, 5, 8, 15, 16, 17, 31, 33, 64 + 7]) {
        if (off + len > all.length) continue;
        all.fill(0);
        const view = new Uint8Array(backing, off, len);
        expect(isAllZero(view), `off ${off} len ${len}`).toBe(true);
        for (let i = 0; i < len; i++) {
          view[i] = 1;
          if (isAllZero(view)) throw new Error(`missed byte ${i} of view off ${off} len ${len}`);
          view[i] = 0;
        }
        // bytes just outside the view do not count
        if (off > 0) all[off - 1] = 0xff;
        if (off + len < all.length) all[off + len] = 0xff;
        expect(isAllZero(view), `outside off ${off} len ${len}`).toBe(true);
      }
    }
  });

  it('works on Buffers (pooled, odd byteOffset) and large blocks', () => {
    const b = Buffer.from('hello');
    const z = Buffer.alloc(2 * 1024 * 1024);
    expect(isAllZero(b)).toBe(false);
    expect(isAllZero(z)).toBe(true);
    z[z.length - 1] = 0x80;
    expect(isAllZero(z)).toBe(false);
    expect(isAllZero(z.subarray(1, z.length - 1))).toBe(true);
  });
});

describe('alignUp', () => {
  it('rounds up to a multiple', () => {
    expect(alignUp(0, 512)).toBe(0);
    expect(alignUp(1, 512)).toBe(512);
    expect(alignUp(512, 512)).toBe(512);
    expect(alignUp(513, 512)).toBe(1024);
  });
});

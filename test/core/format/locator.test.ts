import { describe, expect, it } from 'vitest';
import {
  decodeLocator,
  decodeLocatorPayload,
  emptyLocator,
  encodeLocator,
  encodeLocatorPayload,
  isEmptyLocator,
  locatorSpaceBytes,
  validateLocator,
  type LocatorEntry,
} from '../../../core/format/locator.js';

const entry = (over: Partial<LocatorEntry> = {}): LocatorEntry => ({ code: 'W2ru', dataSpace: 512, dataLength: 40, reserved: 0, dataOffset: 2048n, ...over });

describe('locator entry codec', () => {
  it('decodes the 24-byte layout at any offset', () => {
    const b = Buffer.alloc(100);
    b.write('W2ku', 30, 'latin1');
    b.writeUInt32BE(1024, 34);
    b.writeUInt32BE(70, 38);
    b.writeUInt32BE(7, 42);
    b.writeBigUInt64BE(0x1_0000_0200n, 46);
    expect(decodeLocator(b, 30)).toEqual({ code: 'W2ku', dataSpace: 1024, dataLength: 70, reserved: 7, dataOffset: 0x1_0000_0200n });
    const out = Buffer.alloc(100);
    encodeLocator(decodeLocator(b, 30), out, 30);
    expect(out).toEqual(b);
  });

  it('empty slots', () => {
    const e = emptyLocator();
    expect(isEmptyLocator(e)).toBe(true);
    expect(isEmptyLocator(decodeLocator(new Uint8Array(24), 0))).toBe(true);
    expect(isEmptyLocator(entry())).toBe(false);
    const b = new Uint8Array(24).fill(0xcc);
    encodeLocator(e, b, 0);
    expect(b.every((x) => x === 0)).toBe(true);
  });
});

describe('locatorSpaceBytes: <512 sectors, multiple of 512 bytes, else invalid', () => {
  it.each([
    [0, 0],
    [1, 512],
    [2, 1024],
    [511, 511 * 512],
    [512, 512],
    [1024, 1024],
    [4096, 4096],
    [513, null],
    [1000, null],
    [1536 + 1, null],
  ])('data space %i → %s', (space, bytes) => {
    expect(locatorSpaceBytes(entry({ dataSpace: space }))).toBe(bytes);
  });
});

describe('locator payloads', () => {
  it('W2ru/W2ku are UTF-16LE without BOM or NUL', () => {
    const p = '.\\dir\\bäse €.vhd';
    for (const code of ['W2ru', 'W2ku'] as const) {
      const enc = encodeLocatorPayload(code, p);
      expect(Buffer.from(enc)).toEqual(Buffer.from(p, 'utf16le'));
      expect(enc.length).toBe(p.length * 2);
      expect(decodeLocatorPayload(code, enc)).toBe(p);
    }
    expect(Array.from(encodeLocatorPayload('W2ku', 'C:'))).toEqual([0x43, 0, 0x3a, 0]);
  });

  it('W2ku keeps surrogate pairs and tolerates a trailing NUL', () => {
    const p = 'C:\\vms\\🙂.vhd';
    const enc = encodeLocatorPayload('W2ku', p);
    expect(decodeLocatorPayload('W2ku', enc)).toBe(p);
    const withNul = Buffer.concat([Buffer.from(enc), Buffer.alloc(2)]);
    expect(decodeLocatorPayload('W2ku', withNul)).toBe(p);
  });

  it('invalid UTF-16 decodes to null', () => {
    expect(decodeLocatorPayload('W2ru', Uint8Array.from([0x2e, 0x00, 0x00, 0xd8]))).toBeNull(); // lone high surrogate at the end
    expect(decodeLocatorPayload('W2ru', Uint8Array.from([0x00, 0xd8, 0x41, 0x00]))).toBeNull(); // high surrogate then 'A'
    expect(decodeLocatorPayload('W2ku', Uint8Array.from([0x00, 0xdc, 0x41, 0x00]))).toBeNull(); // lone low surrogate
    expect(decodeLocatorPayload('W2ku', Uint8Array.from([0x41, 0x00, 0x42]))).toBeNull(); // odd length
    expect(decodeLocatorPayload('W2ku', Uint8Array.from([0x3d, 0xd8, 0x42, 0xde]))).toBe('🙂');
  });

  it('MacX is UTF-8; invalid UTF-8 is null', () => {
    const url = 'file:///srv/vms/b%C3%A4se.vhd';
    expect(Buffer.from(encodeLocatorPayload('MacX', url)).toString('latin1')).toBe(url);
    const raw = 'file:///srv/bäse.vhd';
    const enc = encodeLocatorPayload('MacX', raw);
    expect(Buffer.from(enc)).toEqual(Buffer.from(raw, 'utf8'));
    expect(decodeLocatorPayload('MacX', enc)).toBe(raw);
    expect(decodeLocatorPayload('MacX', Buffer.concat([Buffer.from(enc), Buffer.alloc(5)]))).toBe(raw);
    expect(decodeLocatorPayload('MacX', Uint8Array.from([0x66, 0xc3, 0x28]))).toBeNull();
    expect(decodeLocatorPayload('MacX', Uint8Array.from([0xff]))).toBeNull();
  });

  it('Wi2r/Wi2k are ASCII; Mac and unknown codes are opaque', () => {
    expect(decodeLocatorPayload('Wi2r', Buffer.from('..\\base.vhd\0junk', 'latin1'))).toBe('..\\base.vhd');
    expect(decodeLocatorPayload('Wi2k', Uint8Array.from([0x41, 0x80]))).toBeNull();
    expect(decodeLocatorPayload('Mac ', Buffer.from('alias'))).toBeNull();
    expect(decodeLocatorPayload('XXXX', Buffer.from('abc'))).toBeNull();
  });
});

describe('validateLocator', () => {
  const v = (l: LocatorEntry, fileSize = 1 << 20) => validateLocator(l, 3, fileSize).map((f) => f.code);

  it('accepts valid and empty entries', () => {
    expect(v(entry())).toEqual([]);
    expect(v(entry({ dataSpace: 1, dataLength: 512 }))).toEqual([]); // sectors
    expect(v(emptyLocator())).toEqual([]);
  });

  it('reports each problem with its code and field', () => {
    expect(v(entry({ code: 'W2rx' }))).toEqual(['LOCATOR_CODE']);
    expect(v(entry({ dataSpace: 513 }))).toEqual(['LOCATOR_DATA_SPACE']);
    expect(validateLocator(entry({ dataSpace: 513 }), 3, 1 << 20)[0].field).toBe('locators[3].dataSpace');
    expect(v(entry({ dataSpace: 512, dataLength: 513 }))).toEqual(['LOCATOR_DATA_LENGTH']);
    expect(v(entry({ dataSpace: 1, dataLength: 513 }))).toEqual(['LOCATOR_DATA_LENGTH']);
    expect(v(entry({ dataOffset: 2049n }))).toEqual(['LOCATOR_DATA_OFFSET']);
    expect(v(entry({ dataOffset: 0n }))).toEqual(['LOCATOR_OUT_OF_FILE']);
    expect(v(entry({ dataOffset: 4096n, dataLength: 40 }), 4096 + 39)).toEqual(['LOCATOR_OUT_OF_FILE']);
    expect(v(entry({ dataOffset: 4096n, dataLength: 40 }), 4096 + 40)).toEqual([]);
  });
});

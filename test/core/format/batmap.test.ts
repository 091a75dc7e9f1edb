import { describe, expect, it } from 'vitest';
import { BATMAP_VERSION, batmapChecksum, creatorHasBatmap, decodeBatmapHeader, encodeBatmapHeader, validateBatmapHeader } from '../../../core/format/batmap.js';

describe('blktap batmap header', () => {
  it('encodes the documented layout and round-trips', () => {
    const h = { cookie: 'tdbatmap', offset: 0x1_0000_0600n, sizeSectors: 3, version: BATMAP_VERSION, checksum: 0xfffffe01 };
    const b = Buffer.from(encodeBatmapHeader(h));
    expect(b.length).toBe(512);
    expect(b.toString('latin1', 0, 8)).toBe('tdbatmap');
    expect(b.readBigUInt64BE(8)).toBe(0x1_0000_0600n);
    expect(b.readUInt32BE(16)).toBe(3);
    expect(b.readUInt32BE(20)).toBe(0x00010002);
    expect(b.readUInt32BE(24)).toBe(0xfffffe01);
    expect(b.subarray(28).every((x) => x === 0)).toBe(true);
    expect(decodeBatmapHeader(b)).toEqual(h);
  });

  it("checksum is the one's complement of the map's byte sum", () => {
    expect(batmapChecksum(new Uint8Array(512))).toBe(0xffffffff);
    const map = new Uint8Array(1024);
    map[0] = 0xff;
    map[1000] = 0x80;
    expect(batmapChecksum(map)).toBe(~(0xff + 0x80) >>> 0);
    expect(batmapChecksum(new Uint8Array(4096).fill(0xff))).toBe(~(4096 * 255) >>> 0);
  });

  it('only tap\\0 version >= 1.2 has a batmap', () => {
    expect(creatorHasBatmap('tap\0', 0x00010002)).toBe(true);
    expect(creatorHasBatmap('tap\0', 0x00010003)).toBe(true);
    expect(creatorHasBatmap('tap\0', 0x00010001)).toBe(false);
    expect(creatorHasBatmap('tap ', 0x00010002)).toBe(false);
    expect(creatorHasBatmap('win ', 0x000a0000)).toBe(false);
  });

  it('validateBatmapHeader', () => {
    const h = { cookie: 'tdbatmap', offset: 4096n, sizeSectors: 1, version: BATMAP_VERSION, checksum: 0 };
    const v = (over: object, ctx = { entries: 4096, fileSize: 8192 }) => validateBatmapHeader({ ...h, ...over }, ctx).map((f) => f.code);
    expect(v({})).toEqual([]);
    expect(v({ offset: 4097n })).toEqual(['BATMAP_OUT_OF_FILE']);
    expect(v({ offset: 8192n - 511n })).toEqual(['BATMAP_OUT_OF_FILE']);
    expect(v({ offset: 7680n })).toEqual([]);
    expect(v({}, { entries: 4097, fileSize: 8192 })).toEqual(['BATMAP_SIZE']);
  });
});

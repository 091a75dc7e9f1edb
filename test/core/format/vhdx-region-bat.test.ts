import { describe, expect, it } from 'vitest';
import {
  badEntryState,
  batGeometry,
  bitmapEntryIndex,
  chunkRatio,
  decodeBatEntry,
  encodeBatEntry,
  isBitmapEntryIndex,
  payloadEntryIndex,
  PayloadState,
} from '../../../core/format/vhdx/bat.js';
import { crc32c } from '../../../core/format/vhdx/crc32c.js';
import { guidFromString, newGuid } from '../../../core/format/vhdx/guid.js';
import {
  BAT_REGION_GUID,
  decodeRegionTable,
  encodeRegionTable,
  METADATA_REGION_GUID,
  newRegionTable,
  REGION_TABLE_SIZE,
  validateRegionTable,
  type RegionEntry,
} from '../../../core/format/vhdx/region.js';

const MiB = 1024 * 1024;

/** The region table qemu-img writes (BAT at 2 MiB, metadata at 3 MiB), built with Buffer writers. */
function rawTable(entries: [string, bigint, number, number][]): Buffer {
  const b = Buffer.alloc(REGION_TABLE_SIZE);
  b.write('regi', 0, 'latin1');
  b.writeUInt32LE(entries.length, 8);
  entries.forEach(([hexGuid, off, len, flags], i) => {
    Buffer.from(hexGuid, 'hex').copy(b, 16 + 32 * i);
    b.writeBigUInt64LE(off, 16 + 32 * i + 16);
    b.writeUInt32LE(len, 16 + 32 * i + 24);
    b.writeUInt32LE(flags, 16 + 32 * i + 28);
  });
  b.writeUInt32LE(crc32c(b), 4);
  return b;
}

const QEMU_BAT = '6677c22d23f600429d64115e9bfd4a08';
const QEMU_META = '06a27c8b90479a4bb8fe575f050f886e';

function check(t = decodeRegionTable(rawTable([[QEMU_BAT, 2n * BigInt(MiB), MiB, 1]])), fileSize = 8 * MiB) {
  const raw = encodeRegionTable(t);
  return validateRegionTable(decodeRegionTable(raw), raw, 'regionTable1', { fileSize });
}
const found = (r: { errors: { code: string; field?: string }[] }) => r.errors.map((e) => `${e.code}@${e.field}`);
const entry = (guid: Uint8Array, mb: number, lenMb: number, flags = 1): RegionEntry => ({ guid, fileOffset: BigInt(mb * MiB), length: lenMb * MiB, flags });

describe('VHDX region table', () => {
  it('decodes the table qemu-img writes and re-encodes it byte for byte', () => {
    const raw = rawTable([
      [QEMU_BAT, 2n * BigInt(MiB), MiB, 0],
      [QEMU_META, 3n * BigInt(MiB), MiB, 0],
    ]);
    const t = decodeRegionTable(raw);
    expect(t.entryCount).toBe(2);
    expect(t.entries[0]).toMatchObject({ fileOffset: 2n * BigInt(MiB), length: MiB, flags: 0 });
    expect(Buffer.from(t.entries[0].guid).equals(Buffer.from(BAT_REGION_GUID))).toBe(true);
    expect(Buffer.from(t.entries[1].guid).equals(Buffer.from(METADATA_REGION_GUID))).toBe(true);
    expect(Buffer.from(encodeRegionTable(t)).equals(raw)).toBe(true);
    const r = validateRegionTable(t, raw, 'regionTable1', { fileSize: 9 * MiB });
    expect(r.errors).toEqual([]);
    expect(r.regions?.bat.fileOffset).toBe(2n * BigInt(MiB));
    expect(r.regions?.metadata.fileOffset).toBe(3n * BigInt(MiB));
  });

  it('reports a wrong checksum and signature with the copy named', () => {
    const raw = rawTable([[QEMU_BAT, 2n * BigInt(MiB), MiB, 0]]);
    raw[1000] ^= 1;
    expect(found(validateRegionTable(decodeRegionTable(raw), raw, 'regionTable2', { fileSize: 8 * MiB }))).toEqual([
      'VHDX_REGION_CHECKSUM@regionTable2.checksum',
    ]);
    raw.write('rege', 0, 'latin1');
    expect(found(validateRegionTable(decodeRegionTable(raw), raw, 'regionTable2', { fileSize: 8 * MiB }))).toEqual([
      'VHDX_REGION_SIGNATURE@regionTable2.signature',
    ]);
  });

  it('finds misaligned, out-of-file, overlapping, duplicate, missing and unknown required regions', () => {
    const meta = entry(METADATA_REGION_GUID, 3, 1);
    expect(found(check(newRegionTable([entry(BAT_REGION_GUID, 2, 1), meta])))).toEqual([]);
    const odd = { ...entry(BAT_REGION_GUID, 2, 1), fileOffset: 2n * BigInt(MiB) + 512n };
    expect(found(check(newRegionTable([odd, meta])))).toEqual([
      'VHDX_REGION_OFFSET@regionTable1.entries[0].fileOffset',
      'VHDX_REGION_MISSING@regionTable1.bat',
    ]);
    expect(found(check(newRegionTable([entry(BAT_REGION_GUID, 0, 1), meta])))[0]).toBe('VHDX_REGION_OFFSET@regionTable1.entries[0].fileOffset');
    expect(found(check(newRegionTable([{ ...entry(BAT_REGION_GUID, 2, 1), length: 4096 }, meta])))[0]).toBe(
      'VHDX_REGION_LENGTH@regionTable1.entries[0].length',
    );
    expect(found(check(newRegionTable([entry(BAT_REGION_GUID, 2, 1), entry(METADATA_REGION_GUID, 7, 2)])))).toEqual([
      'VHDX_REGION_OUT_OF_FILE@regionTable1.entries[1].fileOffset',
      'VHDX_REGION_MISSING@regionTable1.metadata',
    ]);
    // A crafted u64 offset far past 2^53 is just out of the file.
    expect(found(check(newRegionTable([{ ...entry(BAT_REGION_GUID, 2, 1), fileOffset: 0xfff0_0000_0000_0000n }, meta])))[0]).toBe(
      'VHDX_REGION_OUT_OF_FILE@regionTable1.entries[0].fileOffset',
    );
    expect(found(check(newRegionTable([entry(BAT_REGION_GUID, 2, 2), meta])))).toEqual(['VHDX_REGION_OVERLAP@regionTable1.entries[1].fileOffset']);
    expect(found(check(newRegionTable([entry(BAT_REGION_GUID, 2, 1), meta, entry(BAT_REGION_GUID, 4, 1)])))).toEqual([
      'VHDX_REGION_DUPLICATE@regionTable1.entries[2].guid',
    ]);
    const stranger = guidFromString('00112233-4455-6677-8899-aabbccddeeff');
    const req = check(newRegionTable([entry(BAT_REGION_GUID, 2, 1), meta, entry(stranger, 4, 1, 1)]));
    expect(found(req)).toEqual(['VHDX_REGION_UNKNOWN_REQUIRED@regionTable1.entries[2].guid']);
    expect(req.regions).toBeNull();
    const opt = check(newRegionTable([entry(BAT_REGION_GUID, 2, 1), meta, entry(stranger, 4, 1, 0)]));
    expect(opt.errors).toEqual([]);
    expect(opt.warnings).toMatchObject([{ code: 'VHDX_REGION_UNKNOWN' }]);
    expect(opt.regions).not.toBeNull();
  });

  it('a crafted entry count: bounded decode, an error, no huge allocation', () => {
    const raw = rawTable([[QEMU_BAT, 2n * BigInt(MiB), MiB, 0]]);
    raw.writeUInt32LE(0xffffffff, 8);
    raw.writeUInt32LE(crc32c(Buffer.concat([raw.subarray(0, 4), Buffer.alloc(4), raw.subarray(8)])), 4);
    const t = decodeRegionTable(raw);
    expect(t.entries.length).toBe(2047);
    expect(found(validateRegionTable(t, raw, 'regionTable1', { fileSize: 8 * MiB }))).toEqual(['VHDX_REGION_COUNT@regionTable1.entryCount']);
    expect(Buffer.from(encodeRegionTable(t, true)).equals(raw)).toBe(true);
  });
});

describe('VHDX BAT entries', () => {
  it('state in bits 0–2, offset in MiB in bits 20–63', () => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE((0x123456789abn << 20n) | (0x5n << 3n) | 6n);
    const e = decodeBatEntry(b, 0);
    expect(e).toEqual({ state: 6, reserved: 5, offsetMB: 0x123456789ab });
    const out = new Uint8Array(8);
    encodeBatEntry(e, out, 0);
    expect(Buffer.from(out).equals(b)).toBe(true);
    for (const offsetMB of [0, 1, 4095, 4096, 2 ** 32, 2 ** 44 - 1]) {
      encodeBatEntry({ state: 7, reserved: 0, offsetMB }, out, 0);
      expect(Buffer.from(out).readBigUInt64LE()).toBe((BigInt(offsetMB) << 20n) | 7n);
      expect(decodeBatEntry(out, 0).offsetMB).toBe(offsetMB);
    }
  });

  it('chunk ratio and the interleaving of sector-bitmap entries', () => {
    expect(chunkRatio(512, MiB)).toBe(4096);
    expect(chunkRatio(512, 32 * MiB)).toBe(128);
    expect(chunkRatio(4096, 256 * MiB)).toBe(128);
    expect(chunkRatio(512, 256 * MiB)).toBe(16);
    const r = 4;
    // payload 0..3, bitmap 0, payload 4..7, bitmap 1, ...
    expect([0, 1, 2, 3, 4, 7, 8].map((b) => payloadEntryIndex(b, r))).toEqual([0, 1, 2, 3, 5, 8, 10]);
    expect([0, 1, 2].map((c) => bitmapEntryIndex(c, r))).toEqual([4, 9, 14]);
    expect([3, 4, 5, 9].map((i) => isBitmapEntryIndex(i, r))).toEqual([false, true, false, true]);
  });

  it('total entry counts: fixed/dynamic stop after the last payload entry, differencing covers whole chunks', () => {
    const g = (virtualSize: number, blockSize: number, lss: number, hasParent: boolean) =>
      batGeometry({ virtualSize, blockSize, logicalSectorSize: lss, hasParent });
    // 10 MiB, 1 MiB blocks, 512 sectors: ratio 4096, 10 blocks, one chunk.
    expect(g(10 * MiB, MiB, 512, false)).toEqual({ chunkRatio: 4096, payloadBlocks: 10, bitmapBlocks: 1, totalEntries: 10 });
    expect(g(10 * MiB, MiB, 512, true).totalEntries).toBe(4097);
    // 128 blocks of 32 MiB fill one chunk exactly: no bitmap entry for dynamic; 129 need one between.
    expect(g(128 * 32 * MiB, 32 * MiB, 512, false).totalEntries).toBe(128);
    expect(g(129 * 32 * MiB, 32 * MiB, 512, false).totalEntries).toBe(130);
    expect(g(129 * 32 * MiB, 32 * MiB, 512, true).totalEntries).toBe(2 * 129);
    // Partial last block counts.
    expect(g(5 * MiB + 512, MiB, 512, false).payloadBlocks).toBe(6);
  });

  it('state validity per file kind', () => {
    const st = (state: number, index: number, differencing: boolean) =>
      badEntryState({ state, reserved: 0, offsetMB: 1 }, index, { ratio: 4, differencing })?.code ?? null;
    for (const s of [0, 1, 2, 3, 6]) expect(st(s, 0, false)).toBeNull();
    expect(st(PayloadState.PartiallyPresent, 0, false)).toBe('VHDX_BAT_STATE');
    expect(st(PayloadState.PartiallyPresent, 0, true)).toBeNull();
    expect(st(4, 1, true)).toBe('VHDX_BAT_STATE');
    expect(st(5, 1, true)).toBe('VHDX_BAT_STATE');
    expect(st(6, 4, false)).toBe('VHDX_BAT_STATE'); // a sector bitmap in a dynamic file
    expect(st(6, 4, true)).toBeNull();
    expect(st(2, 4, true)).toBe('VHDX_BAT_STATE');
    expect(badEntryState({ state: 4, reserved: 0, offsetMB: 0 }, 9, { ratio: 4, differencing: true })).toMatchObject({ field: 'bat[9]' });
  });
});

describe('VHDX region table with random GUIDs', () => {
  it('round-trips', () => {
    const t = newRegionTable([entry(BAT_REGION_GUID, 2, 1), entry(METADATA_REGION_GUID, 3, 1), entry(newGuid(), 5, 3, 0)]);
    const raw = encodeRegionTable(t);
    const back = decodeRegionTable(raw);
    expect(back.entries).toEqual(t.entries);
    expect(Buffer.from(encodeRegionTable(back)).equals(Buffer.from(raw))).toBe(true);
  });
});

// The planner of new VHDX files (core/format/vhdx/new-file.ts): every piece
// decodes back through the read-side codecs, regions and blocks are 1 MiB
// aligned, the BAT has the geometry's entries with sector-bitmap entries not
// present, and impossible specs are typed usage errors naming the option.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../core/errors.js';
import { BAT_ENTRY_SIZE, bitmapEntryIndex, decodeBatEntry, payloadEntryIndex, PayloadState } from '../../../core/format/vhdx/bat.js';
import { guidEqual, isZeroGuid } from '../../../core/format/vhdx/guid.js';
import { decodeHeader, HEADER_OFFSETS, headerChecksum } from '../../../core/format/vhdx/header.js';
import { decodeIdentifier } from '../../../core/format/vhdx/identifier.js';
import {
  decodeFileParameters,
  decodeVirtualDiskSize,
  FILE_PARAMETERS_ITEM,
  LOGICAL_SECTOR_SIZE_ITEM,
  PAGE83_ITEM,
  PHYSICAL_SECTOR_SIZE_ITEM,
  VIRTUAL_DISK_SIZE_ITEM,
} from '../../../core/format/vhdx/items.js';
import { decodeMetadataTable, findSystemItem, validateMetadataTable } from '../../../core/format/vhdx/metadata.js';
import { encodeNewBat, planNewVhdx, validateNewVhdx, type VhdxPlan } from '../../../core/format/vhdx/new-file.js';
import { BAT_REGION_GUID, decodeRegionTable, METADATA_REGION_GUID, REGION_TABLE_OFFSETS } from '../../../core/format/vhdx/region.js';

const MiB = 1024 * 1024;

/** The file image of the plan's pieces (without payload). */
function image(plan: VhdxPlan, bat: Uint8Array): Buffer {
  const out = Buffer.alloc(plan.dataStart);
  for (const p of plan.pieces) out.set(p.data, p.at);
  out.set(bat, plan.batOffset);
  return out;
}

describe('planNewVhdx', () => {
  for (const [lss, blockSize, virtualSize] of [
    [512, MiB, 5 * MiB + 512],
    [512, 32 * MiB, 100 * MiB],
    [4096, 256 * MiB, 300 * MiB + 4096],
    [512, 2 * MiB, 9 * 1024 * MiB], // more than one chunk (chunk ratio 2048)
  ] as const) {
    it(`${lss}-byte sectors, ${blockSize / MiB} MiB blocks, ${virtualSize} bytes: pieces decode to the spec`, () => {
      const plan = planNewVhdx({ virtualSize, blockSize, logicalSectorSize: lss, fixed: false });
      const img = image(plan, encodeNewBat(plan, new Array<number>(plan.geometry.payloadBlocks).fill(0)));
      expect(decodeIdentifier(img.subarray(0, 520))).toEqual({ signature: 'vhdxfile', creator: 'vhdsnap' });

      const [h1, h2] = HEADER_OFFSETS.map((at) => decodeHeader(img.subarray(at, at + 4096)));
      expect([h1.sequenceNumber, h2.sequenceNumber]).toEqual([0n, 1n]);
      for (const [i, h] of [h1, h2].entries()) {
        expect(headerChecksum(img.subarray(HEADER_OFFSETS[i], HEADER_OFFSETS[i] + 4096))).toBe(h.checksum);
        expect(isZeroGuid(h.logGuid)).toBe(true);
        expect(isZeroGuid(h.dataWriteGuid)).toBe(false);
        expect({ logOffset: h.logOffset, logLength: h.logLength }).toEqual({ logOffset: BigInt(MiB), logLength: MiB });
      }

      const [r1, r2] = REGION_TABLE_OFFSETS.map((at) => decodeRegionTable(img.subarray(at, at + 64 * 1024)));
      expect(r2).toEqual(r1);
      const bat = r1.entries.find((e) => guidEqual(e.guid, BAT_REGION_GUID))!;
      const meta = r1.entries.find((e) => guidEqual(e.guid, METADATA_REGION_GUID))!;
      expect(Number(bat.fileOffset)).toBe(plan.batOffset);
      expect(Number(meta.fileOffset)).toBe(plan.metadataOffset);
      for (const n of [plan.batOffset, bat.length, plan.metadataOffset, meta.length, plan.dataStart]) expect(n % MiB).toBe(0);
      expect(bat.length).toBeGreaterThanOrEqual(plan.geometry.totalEntries * BAT_ENTRY_SIZE);
      expect(plan.batOffset).toBeGreaterThanOrEqual(2 * MiB); // after the header section and the log
      expect(plan.metadataOffset).toBeGreaterThanOrEqual(plan.batOffset + bat.length);

      const table = decodeMetadataTable(img.subarray(plan.metadataOffset, plan.metadataOffset + 64 * 1024));
      expect(validateMetadataTable(table, { regionLength: meta.length }).errors).toEqual([]);
      const item = (id: Uint8Array) => {
        const e = findSystemItem(table, id)!;
        return img.subarray(plan.metadataOffset + e.offset, plan.metadataOffset + e.offset + e.length);
      };
      expect(decodeFileParameters(item(FILE_PARAMETERS_ITEM))).toEqual({ blockSize, flags: 0 });
      expect(decodeVirtualDiskSize(item(VIRTUAL_DISK_SIZE_ITEM))).toBe(BigInt(virtualSize));
      expect(item(LOGICAL_SECTOR_SIZE_ITEM).readUInt32LE(0)).toBe(lss);
      expect(item(PHYSICAL_SECTOR_SIZE_ITEM).readUInt32LE(0)).toBe(4096);
      expect(item(PAGE83_ITEM).every((x) => x === 0)).toBe(false);

      expect(plan.geometry.payloadBlocks).toBe(Math.ceil(virtualSize / blockSize));
    });
  }

  it('a fixed plan sets leave-blocks-allocated; every block of its BAT is fully present at its offset, bitmap entries not present', () => {
    const blockSize = 2 * MiB;
    const plan = planNewVhdx({ virtualSize: 5000 * blockSize + 512, blockSize, logicalSectorSize: 512, fixed: true });
    const g = plan.geometry;
    expect(g.chunkRatio).toBe(2048);
    expect(g.totalEntries).toBe(g.payloadBlocks + 2); // two chunks end before the last block
    const offsets = Array.from({ length: g.payloadBlocks }, (_, b) => plan.dataStart + b * blockSize);
    const bat = encodeNewBat(plan, offsets);
    expect(bat.length).toBe(g.totalEntries * BAT_ENTRY_SIZE);
    for (let b = 0; b < g.payloadBlocks; b++) {
      const e = decodeBatEntry(bat, payloadEntryIndex(b, g.chunkRatio) * 8);
      expect(e.state).toBe(PayloadState.FullyPresent);
      expect(e.offsetMB * MiB).toBe(offsets[b]);
    }
    for (let c = 0; c < 2; c++) expect(decodeBatEntry(bat, bitmapEntryIndex(c, g.chunkRatio) * 8)).toMatchObject({ state: 0, offsetMB: 0 });
    const img = image(plan, bat);
    const table = decodeMetadataTable(img.subarray(plan.metadataOffset, plan.metadataOffset + 64 * 1024));
    const fp = findSystemItem(table, FILE_PARAMETERS_ITEM)!;
    expect(decodeFileParameters(img.subarray(plan.metadataOffset + fp.offset)).flags).toBe(1);
  });

  it('a dynamic BAT marks only the given blocks present; the others are all-zero (NOT_PRESENT)', () => {
    const plan = planNewVhdx({ virtualSize: 10 * MiB, blockSize: MiB, logicalSectorSize: 512, fixed: false });
    const offsets = new Array<number>(10).fill(0);
    offsets[3] = plan.dataStart;
    offsets[7] = plan.dataStart + MiB;
    const bat = encodeNewBat(plan, offsets);
    const states = Array.from({ length: 10 }, (_, b) => decodeBatEntry(bat, b * 8).state);
    expect(states).toEqual([0, 0, 0, 6, 0, 0, 0, 6, 0, 0]);
    expect(decodeBatEntry(bat, 7 * 8).offsetMB).toBe(plan.dataStart / MiB + 1);
  });

  it('encodeNewBat refuses offsets that are unaligned, inside the metadata, or the wrong count', () => {
    const plan = planNewVhdx({ virtualSize: 4 * MiB, blockSize: MiB, logicalSectorSize: 512, fixed: false });
    expect(() => encodeNewBat(plan, [plan.dataStart + 4096, 0, 0, 0])).toThrow(RangeError);
    expect(() => encodeNewBat(plan, [MiB, 0, 0, 0])).toThrow(RangeError);
    expect(() => encodeNewBat(plan, [0, 0, 0])).toThrow(RangeError);
  });

  it('each plan has fresh write GUIDs and disk id', () => {
    const spec = { virtualSize: MiB, blockSize: MiB, logicalSectorSize: 512, fixed: false };
    const [a, b] = [planNewVhdx(spec), planNewVhdx(spec)].map((p) => decodeHeader(p.pieces.find((x) => x.at === HEADER_OFFSETS[0])!.data));
    expect(guidEqual(a.dataWriteGuid, b.dataWriteGuid)).toBe(false);
    expect(guidEqual(a.fileWriteGuid, b.fileWriteGuid)).toBe(false);
  });
});

describe('validateNewVhdx', () => {
  const good = { virtualSize: 64 * MiB, blockSize: 32 * MiB, logicalSectorSize: 512, fixed: false };
  const cases: [string, Partial<typeof good>, string, string][] = [
    ['block size below 1 MiB', { blockSize: 512 * 1024 }, 'BAD_BLOCK_SIZE', '--block-size'],
    ['block size above 256 MiB', { blockSize: 512 * MiB }, 'BAD_BLOCK_SIZE', '--block-size'],
    ['block size not a power of two', { blockSize: 3 * MiB }, 'BAD_BLOCK_SIZE', '--block-size'],
    ['sector size 1024', { logicalSectorSize: 1024 }, 'BAD_SECTOR_SIZE', '--sector-size'],
    ['size zero', { virtualSize: 0 }, 'BAD_SIZE', '--size'],
    ['size not a 4096 multiple with 4096-byte sectors', { virtualSize: MiB + 512, logicalSectorSize: 4096 }, 'BAD_SIZE', '--size'],
    ['size past 64 TiB', { virtualSize: 64 * 1024 ** 4 + 4096 }, 'BAD_SIZE', '--size'],
    ['size not an integer', { virtualSize: 1.5 * MiB + 0.5 }, 'BAD_SIZE', '--size'],
  ];
  for (const [what, change, code, option] of cases)
    it(`${what}: ${code} naming ${option}`, () => {
      let err: unknown;
      try {
        validateNewVhdx({ ...good, ...change });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe(code);
      expect((err as UsageError).message).toContain(option);
    });

  it('accepts the edges: 1 MiB and 256 MiB blocks, exactly 64 TiB, 512-byte multiples with 512-byte sectors', () => {
    for (const change of [{ blockSize: MiB }, { blockSize: 256 * MiB }, { virtualSize: 64 * 1024 ** 4 }, { virtualSize: MiB + 512 }])
      expect(() => validateNewVhdx({ ...good, ...change })).not.toThrow();
  });
});

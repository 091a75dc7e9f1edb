// Hostile and damaged VHDX files: the right typed error naming the field,
// the copies standing in for damaged structures, the log overlay.
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Findings } from '../../core/disk/layout.js';
import { readVhdxLayout } from '../../core/disk/vhdx-layout.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { VhdError } from '../../core/errors.js';
import { encodeBatEntry, PayloadState } from '../../core/format/vhdx/bat.js';
import { newGuid } from '../../core/format/vhdx/guid.js';
import { encodeLogEntry } from '../../core/format/vhdx/log-writer.js';
import { decodeHeader, encodeHeader, HEADER_OFFSETS, HEADER_SIZE } from '../../core/format/vhdx/header.js';
import { encodeFileParameters, encodeSectorSize, encodeVirtualDiskSize } from '../../core/format/vhdx/items.js';
import { decodeRegionTable, encodeRegionTable, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE } from '../../core/format/vhdx/region.js';
import { openFile } from '../../core/io/file.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx, patchFile, readSlice, type BuiltVhdx } from '../support/vhdx-build.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Where the builder puts the metadata items (after the 64 KiB table): file parameters, size, page 83, logical, physical. */
const ITEM = { fileParameters: 64 * KiB, virtualDiskSize: 64 * KiB + 8, logicalSectorSize: 64 * KiB + 32 };

async function openError(path: string, opts = {}): Promise<{ code: string; field?: string }> {
  try {
    const f = await VhdxFile.open(path, opts);
    await f.close();
  } catch (err) {
    expect(err).toBeInstanceOf(VhdError);
    const e = err as VhdError;
    return { code: e.code, field: e.field };
  }
  throw new Error('opened');
}

async function fullLayout(path: string) {
  const f = await openFile(path, 'r');
  try {
    return await readVhdxLayout(f, { full: true, findings: new Findings() });
  } finally {
    await f.close();
  }
}

describe('VHDX layout: damage and hostile fields', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-layout-');
  const rng = new Rng(77);
  let built: BuiltVhdx;
  const file = () => tmp.file('x.vhdx');
  const make = async (o: Partial<Parameters<typeof makeVhdx>[1]> = {}) => {
    built = await makeVhdx(file(), { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: MiB, data: rng.bytes(MiB) }], ...o });
    return built;
  };
  const bat = (entry: number, state: number, offsetMB: number) => {
    const b = new Uint8Array(8);
    encodeBatEntry({ state, reserved: 0, offsetMB }, b, 0);
    return patchFile(file(), built.batOffset + entry * 8, b);
  };

  it('not a VHDX, or too small for the header section', async () => {
    await make();
    await patchFile(file(), 0, Buffer.from('conectix'));
    expect(await openError(file())).toEqual({ code: 'VHDX_SIGNATURE', field: 'identifier.signature' });
    await fsp.writeFile(file(), Buffer.alloc(300 * KiB));
    expect(await openError(file())).toEqual({ code: 'VHDX_FILE_TOO_SMALL', field: 'identifier' });
  });

  it('a torn current header: the other copy is used, with a warning; both torn is fatal', async () => {
    await make();
    await patchFile(file(), HEADER_OFFSETS[1] + 200, Buffer.from([0xee]));
    const f = await VhdxFile.open(file());
    expect(f.headerIndex).toBe(1);
    expect(f.notes).toMatchObject([{ code: 'VHDX_HEADER_CHECKSUM', field: 'header2.checksum' }]);
    expect((await f.read(MiB, 16)).equals(built.expected(MiB, 16).data)).toBe(true);
    await f.close();
    await patchFile(file(), HEADER_OFFSETS[0], Buffer.from('HEAD'));
    expect(await openError(file())).toEqual({ code: 'VHDX_HEADER_SIGNATURE', field: 'header1.signature' });
  });

  it('a damaged first region table: the second copy is used, with a warning; both damaged is fatal', async () => {
    await make();
    await patchFile(file(), REGION_TABLE_OFFSETS[0] + 40, Buffer.from([0x55]));
    const f = await VhdxFile.open(file());
    expect(f.regionTableIndex).toBe(2);
    expect(f.notes.map((n) => n.code)).toContain('VHDX_REGION_TABLE_FROM_COPY');
    expect((await f.read(MiB, 4096)).equals(built.expected(MiB, 4096).data)).toBe(true);
    await f.close();
    await patchFile(file(), REGION_TABLE_OFFSETS[1] + 40, Buffer.from([0x55]));
    expect(await openError(file())).toEqual({ code: 'VHDX_REGION_CHECKSUM', field: 'regionTable1.checksum' });
  });

  it('a region table whose BAT region is too short for the virtual size', async () => {
    await make();
    await patchFile(file(), built.metadataOffset + ITEM.virtualDiskSize, encodeVirtualDiskSize(64 * 1024 ** 4));
    // 64 TiB of 1 MiB blocks needs a 512 MiB table; the region holds 1 MiB.
    expect(await openError(file())).toEqual({ code: 'VHDX_BAT_REGION_LENGTH', field: 'regionTable1.bat.length' });
  });

  it('a BAT larger than the supported table size is refused before it is read', async () => {
    await make();
    // A sparse 1.1 GiB file whose BAT region is 1 GiB: 64 TiB of 1 MiB blocks needs 512 MiB of it.
    const t = decodeRegionTable(await readSlice(file(), REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE));
    t.entries[0] = { ...t.entries[0], fileOffset: BigInt(8 * MiB), length: 1024 * MiB };
    for (const at of REGION_TABLE_OFFSETS) await patchFile(file(), at, encodeRegionTable(t));
    await patchFile(file(), built.metadataOffset + ITEM.virtualDiskSize, encodeVirtualDiskSize(64 * 1024 ** 4));
    await fsp.truncate(file(), 1100 * MiB);
    const before = process.memoryUsage().rss;
    expect(await openError(file())).toEqual({ code: 'VHDX_BAT_TOO_LARGE', field: 'regionTable1.bat.length' });
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * MiB);
  });

  it('a region moved past the end of the file (both copies, checksums right)', async () => {
    await make();
    const t = decodeRegionTable(await readSlice(file(), REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE));
    t.entries[1].fileOffset = 1n << 40n;
    for (const at of REGION_TABLE_OFFSETS) await patchFile(file(), at, encodeRegionTable(t));
    expect(await openError(file())).toEqual({ code: 'VHDX_REGION_OUT_OF_FILE', field: 'regionTable1.entries[1].fileOffset' });
  });

  it('metadata items out of range: block size, virtual size, logical sector size', async () => {
    await make();
    await patchFile(file(), built.metadataOffset + ITEM.fileParameters, encodeFileParameters({ blockSize: 3 * MiB, flags: 0 }));
    expect(await openError(file())).toEqual({ code: 'VHDX_BLOCK_SIZE', field: 'metadata.fileParameters.blockSize' });
    await make();
    await patchFile(file(), built.metadataOffset + ITEM.virtualDiskSize, encodeVirtualDiskSize(4 * MiB + 100));
    expect(await openError(file())).toEqual({ code: 'VHDX_VIRTUAL_SIZE', field: 'metadata.virtualDiskSize' });
    await patchFile(file(), built.metadataOffset + ITEM.virtualDiskSize, encodeVirtualDiskSize(2n ** 63n));
    expect(await openError(file())).toEqual({ code: 'VHDX_VIRTUAL_SIZE', field: 'metadata.virtualDiskSize' });
    await make();
    await patchFile(file(), built.metadataOffset + ITEM.logicalSectorSize, encodeSectorSize(1024));
    expect(await openError(file())).toEqual({ code: 'VHDX_LOGICAL_SECTOR_SIZE', field: 'metadata.logicalSectorSize' });
  });

  it('an unknown required metadata item refuses the file; a missing known one is named', async () => {
    await make();
    // The table's first entry (file parameters) gets a GUID nobody knows.
    await patchFile(file(), built.metadataOffset + 32, newGuid());
    expect(await openError(file())).toEqual({ code: 'VHDX_METADATA_UNKNOWN_REQUIRED', field: 'metadata.entries[0].itemId' });
    await make();
    await patchFile(file(), built.metadataOffset + 32 + 24, Buffer.from([0, 0, 0, 0])); // flags: no longer required
    await patchFile(file(), built.metadataOffset + 32, newGuid());
    expect(await openError(file())).toEqual({ code: 'VHDX_METADATA_MISSING', field: 'metadata.fileParameters' });
  });

  it('a metadata item length the item cannot have', async () => {
    await make();
    await patchFile(file(), built.metadataOffset + 32 + 20, Buffer.from([4, 0, 0, 0]));
    expect(await openError(file())).toEqual({ code: 'VHDX_METADATA_ITEM_LENGTH', field: 'metadata.fileParameters' });
  });

  it('BAT entries: past the end of the file, a reserved state, partially present in a dynamic file', async () => {
    await make();
    await bat(2, PayloadState.FullyPresent, 2 ** 40);
    const f = await VhdxFile.open(file());
    await expect(f.read(2 * MiB, 512)).rejects.toMatchObject({ code: 'VHDX_BAT_ENTRY_PAST_EOF', field: 'bat[2]' });
    await f.close();
    await bat(2, 5, 0);
    const g = await VhdxFile.open(file());
    await expect(g.read(2 * MiB, 512)).rejects.toMatchObject({ code: 'VHDX_BAT_STATE', field: 'bat[2]' });
    await bat(2, PayloadState.PartiallyPresent, 0);
    expect(() => g.blockState(2)).toThrow(expect.objectContaining({ code: 'VHDX_BAT_STATE', field: 'bat[2]' }));
    await g.close();
    const L = await fullLayout(file());
    expect(L.fatal).toBeNull();
    expect(L.findings.errors).toMatchObject([{ code: 'VHDX_BAT_STATE', field: 'bat[2]' }]);
  });

  it('the full sweep finds overlapping blocks, blocks inside metadata and missing sector bitmaps', async () => {
    await make({ writes: [0, 1].map((b) => ({ offset: b * MiB, data: rng.bytes(4096) })) });
    const at0 = built.blockOffsets.get(0)! / MiB;
    await bat(1, PayloadState.FullyPresent, at0);
    await bat(2, PayloadState.FullyPresent, built.metadataOffset / MiB);
    await bat(3, PayloadState.FullyPresent, 0);
    const L = await fullLayout(file());
    const codes = L.findings.errors.map((e) => `${e.code}@${e.field}`);
    expect(codes).toEqual(expect.arrayContaining(['VHDX_BLOCKS_OVERLAP@bat[1]', 'VHDX_BLOCK_IN_METADATA@bat[2]', 'VHDX_BAT_ENTRY_PAST_EOF@bat[3]']));
    await makeVhdx(file(), { kind: 'differencing', virtualSize: 2 * MiB, writes: [{ offset: 0, data: rng.bytes(512) }] }).then((b) => (built = b));
    await bat(4096, 0, 0); // chunk 0's sector bitmap entry cleared
    const D = await fullLayout(file());
    expect(D.findings.errors.map((e) => `${e.code}@${e.field}`)).toEqual(['VHDX_BITMAP_MISSING@bat[4096]']);
    const f = await VhdxFile.open(file());
    await expect(f.readOwn(0, 512)).rejects.toMatchObject({ code: 'VHDX_BITMAP_MISSING', field: 'bat[4096]' });
    await f.close();
  });
});

describe('VHDX log: not replayed, and replayed through an overlay', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-log-');

  it('a header naming a log refuses to open without an overlay when replay is turned off', async () => {
    await makeVhdx(tmp.file('l.vhdx'), { kind: 'dynamic', virtualSize: 2 * MiB, logGuid: newGuid() });
    expect(await openError(tmp.file('l.vhdx'), { replayLog: false })).toEqual({ code: 'VHDX_LOG_NOT_REPLAYED', field: 'header.logGuid' });
    const f = await VhdxFile.open(tmp.file('l.vhdx'), { overlay: [] });
    expect(f.blockState(0)).toBe(PayloadState.NotPresent);
    await f.close();
  });

  it('the overlay is applied to the BAT, the metadata and the data, and writes nothing', async () => {
    const data = new Rng(5).bytes(MiB);
    const built = await makeVhdx(tmp.file('l.vhdx'), { kind: 'dynamic', virtualSize: 3 * MiB, logGuid: newGuid(), writes: [{ offset: 0, data }] });
    const before = await fsp.readFile(tmp.file('l.vhdx'));
    // What a replay would write: block 1 made fully present at block 0's data, the virtual size grown to 4 MiB,
    // and the first 4 KiB of block 0 zeroed (a zero descriptor).
    const entry = new Uint8Array(8);
    encodeBatEntry({ state: PayloadState.FullyPresent, reserved: 0, offsetMB: built.blockOffsets.get(0)! / MiB }, entry, 0);
    const overlay = [
      { offset: built.batOffset + 8, data: entry, length: 8 },
      { offset: built.metadataOffset + ITEM.virtualDiskSize, data: encodeVirtualDiskSize(4 * MiB), length: 8 },
      { offset: built.blockOffsets.get(0)!, data: null, length: 4096 },
    ];
    const f = await VhdxFile.open(tmp.file('l.vhdx'), { overlay });
    expect(f.virtualSize).toBe(4 * MiB);
    expect(f.blockState(1)).toBe(PayloadState.FullyPresent);
    const all = await f.read(0, 4 * MiB);
    const want = Buffer.from(data);
    want.fill(0, 0, 4096);
    expect(all.subarray(0, MiB).equals(want)).toBe(true);
    expect(all.subarray(MiB, 2 * MiB).equals(want)).toBe(true);
    expect(all.subarray(2 * MiB).every((x) => x === 0)).toBe(true);
    await f.close();
    expect((await fsp.readFile(tmp.file('l.vhdx'))).equals(before)).toBe(true);
  });

  it('opening replays the log in memory: its entries are read, the file is unchanged, a note says so', async () => {
    const guid = newGuid();
    const data = new Rng(11).bytes(MiB);
    const built = await makeVhdx(tmp.file('l.vhdx'), { kind: 'dynamic', virtualSize: 3 * MiB, logGuid: guid, writes: [{ offset: 0, data }] });
    // Two entries, as a writer that crashed after logging them would leave: block 2 mapped to block 0's
    // data (a BAT sector update), then the first 4 KiB of block 0 zeroed.
    const batSector = Buffer.alloc(4096);
    const fh = await fsp.open(tmp.file('l.vhdx'), 'r+');
    await fh.read(batSector, 0, 4096, built.batOffset);
    encodeBatEntry({ state: PayloadState.FullyPresent, reserved: 0, offsetMB: built.blockOffsets.get(0)! / MiB }, batSector, 16);
    const e1 = encodeLogEntry({
      sequence: 7n,
      tail: 0,
      guid,
      flushedFileOffset: built.fileSize,
      lastFileOffset: built.fileSize,
      writes: [{ offset: built.batOffset, length: 4096, data: batSector }],
    });
    const e2 = encodeLogEntry({
      sequence: 8n,
      tail: 0,
      guid,
      flushedFileOffset: built.fileSize,
      lastFileOffset: built.fileSize,
      writes: [{ offset: built.blockOffsets.get(0)!, length: 4096, data: null }],
    });
    await fh.write(e1, 0, e1.length, built.logOffset);
    await fh.write(e2, 0, e2.length, built.logOffset + e1.length);
    await fh.close();
    const before = await fsp.readFile(tmp.file('l.vhdx'));
    const f = await VhdxFile.open(tmp.file('l.vhdx'));
    expect(f.blockState(2)).toBe(PayloadState.FullyPresent);
    const want = Buffer.from(data);
    want.fill(0, 0, 4096);
    const all = await f.read(0, 3 * MiB);
    expect(all.subarray(0, MiB).equals(want)).toBe(true);
    expect(all.subarray(2 * MiB).equals(want)).toBe(true);
    expect(f.notes.map((n) => n.code)).toContain('VHDX_LOG_REPLAYED');
    await f.close();
    expect((await fsp.readFile(tmp.file('l.vhdx'))).equals(before)).toBe(true);
  });

  it('an overlay write past the end of the file extends what can be read', async () => {
    const built = await makeVhdx(tmp.file('l.vhdx'), { kind: 'dynamic', virtualSize: 2 * MiB, logGuid: newGuid() });
    const payload = new Rng(9).bytes(MiB);
    const entry = new Uint8Array(8);
    encodeBatEntry({ state: PayloadState.FullyPresent, reserved: 0, offsetMB: built.fileSize / MiB }, entry, 0);
    const overlay = [
      { offset: built.batOffset, data: entry, length: 8 },
      { offset: built.fileSize, data: payload, length: MiB },
    ];
    const f = await VhdxFile.open(tmp.file('l.vhdx'), { overlay });
    expect((await f.read(0, MiB)).equals(Buffer.from(payload))).toBe(true);
    await f.close();
  });
});

describe('VHDX fuzz: random damage to the metadata of a valid file', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-fuzz-');

  it('opening and reading give typed errors or data, never a crash', async () => {
    const rng = new Rng(2026);
    const base = await makeVhdx(tmp.file('base.vhdx'), {
      kind: 'differencing',
      virtualSize: 3 * MiB,
      writes: [
        { offset: 0, data: rng.bytes(3000 - (3000 % 512)) },
        { offset: MiB, data: rng.bytes(MiB) },
      ],
    });
    const pristine = await fsp.readFile(tmp.file('base.vhdx'));
    // Where the fields are (offset, span): headers, region tables, BAT entries in use and the bitmap entry, metadata table and items.
    const targets: [number, number][] = [
      [HEADER_OFFSETS[0], 96],
      [REGION_TABLE_OFFSETS[0], 112],
      [base.batOffset, 32],
      [base.batOffset + 4096 * 8, 8],
      [base.metadataOffset, 256],
      [base.metadataOffset + 64 * KiB, 120],
    ];
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 120; round++) {
      const b = Buffer.from(pristine);
      const [start, span] = targets[rng.int(targets.length)];
      const mirrored = start === HEADER_OFFSETS[0] || start === REGION_TABLE_OFFSETS[0];
      for (let k = 0; k < 1 + rng.int(3); k++) {
        const at = start + rng.int(span);
        const v = rng.int(256);
        b[at] = v;
        // Both copies damaged alike, or only the first.
        if (mirrored && round % 2 === 0)
          b[at + (start === HEADER_OFFSETS[0] ? HEADER_OFFSETS[1] - HEADER_OFFSETS[0] : REGION_TABLE_OFFSETS[1] - REGION_TABLE_OFFSETS[0])] = v;
      }
      if (round % 3 === 0) {
        // Checksums made right again, so the damage reaches the fields behind them.
        for (const h of HEADER_OFFSETS) b.set(encodeHeader(decodeHeader(b.subarray(h, h + HEADER_SIZE))), h);
        for (const r of REGION_TABLE_OFFSETS) b.set(encodeRegionTable(decodeRegionTable(b.subarray(r, r + REGION_TABLE_SIZE))), r);
      }
      await fsp.writeFile(tmp.file('x.vhdx'), b);
      let outcome = 'read';
      try {
        const f = await VhdxFile.open(tmp.file('x.vhdx'), { overlay: [] });
        try {
          await f.readOwn(0, Math.min(f.virtualSize, 8 * MiB));
        } finally {
          await f.close();
        }
      } catch (err) {
        if (!(err instanceof VhdError)) throw err;
        outcome = err.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The damage was noticed in many ways, and some files still read.
    expect(outcomes.size).toBeGreaterThan(6);
    expect(outcomes.get('read')).toBeGreaterThan(0);
  });
});

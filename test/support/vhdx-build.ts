// Assembles small VHDX files for tests from the codecs: fixed, dynamic and
// differencing (partially present blocks with sector bitmaps), 512 or 4096
// logical sectors. Layout: header section · log · BAT region · metadata
// region · payload and sector-bitmap blocks in the order first written.
// The pieces are written at their offsets, so unwritten space stays sparse.
import { promises as fsp } from 'node:fs';
import { DiskModel, type Rng } from './model.js';
import { recordActive } from '../../core/library/active.js';
import {
  BAT_ENTRY_SIZE,
  batGeometry,
  bitmapEntryIndex,
  encodeBatEntry,
  payloadEntryIndex,
  PayloadState,
  SECTOR_BITMAP_BLOCK_SIZE,
  BitmapState,
} from '../../core/format/vhdx/bat.js';
import { guidToBraced, newGuid, ZERO_GUID } from '../../core/format/vhdx/guid.js';
import { encodeHeader, HEADER_OFFSETS, HEADER_SIZE, type VhdxHeader } from '../../core/format/vhdx/header.js';
import { encodeIdentifier } from '../../core/format/vhdx/identifier.js';
import {
  encodeFileParameters,
  encodePage83,
  encodeSectorSize,
  encodeVirtualDiskSize,
  FILE_PARAMETERS_ITEM,
  HAS_PARENT,
  LEAVE_BLOCKS_ALLOCATED,
  LOGICAL_SECTOR_SIZE_ITEM,
  PAGE83_ITEM,
  PARENT_LOCATOR_ITEM,
  PHYSICAL_SECTOR_SIZE_ITEM,
  VIRTUAL_DISK_SIZE_ITEM,
} from '../../core/format/vhdx/items.js';
import { encodeMetadataTable, IS_REQUIRED, IS_VIRTUAL_DISK, newMetadataTable, type MetadataEntry } from '../../core/format/vhdx/metadata.js';
import { encodeParentLocator, vhdxLocator, type ParentLocator } from '../../core/format/vhdx/parent-locator.js';
import { BAT_REGION_GUID, encodeRegionTable, METADATA_REGION_GUID, newRegionTable, REGION_TABLE_OFFSETS } from '../../core/format/vhdx/region.js';

const MiB = 1024 * 1024;

export interface VhdxBuildOptions {
  kind: 'fixed' | 'dynamic' | 'differencing';
  virtualSize: number;
  blockSize?: number;
  logicalSectorSize?: 512 | 4096;
  physicalSectorSize?: number;
  /** Data written; in a differencing file whole logical sectors only (they become present). */
  writes?: { offset: number; data: Uint8Array }[];
  /** Block states set after the writes (a block set to Zero etc. loses its data). */
  states?: Record<number, number>;
  /** A differencing file's locator (default: a linkage to a random GUID and relative_path "parent.vhdx"). */
  locator?: ParentLocator;
  logGuid?: Uint8Array;
  logLength?: number;
  dataWriteGuid?: Uint8Array;
  /** The virtual disk id (page 83 data; default a new GUID): checkpoints of one disk may share it. */
  page83?: Uint8Array;
  /** Sequence numbers of header 1 and header 2 (default 1 and 2: header 2 is current). */
  sequence?: [bigint, bigint];
  creator?: string;
}

export interface BuiltVhdx {
  pieces: { offset: number; data: Uint8Array }[];
  fileSize: number;
  logOffset: number;
  batOffset: number;
  metadataOffset: number;
  /** File offset of each allocated payload block. */
  blockOffsets: Map<number, number>;
  /** File offset of each allocated sector-bitmap block, by chunk. */
  bitmapOffsets: Map<number, number>;
  header: VhdxHeader;
  /** The payload state of each block given one (the rest are not present). */
  states: Map<number, number>;
  /** What the file defines of a range (offset and length whole sectors for `present` to be exact): bytes, and per logical sector 1 when defined. */
  expected(offset: number, length: number): { data: Buffer; present: Uint8Array };
}

export function buildVhdx(o: VhdxBuildOptions): BuiltVhdx {
  const blockSize = o.blockSize ?? MiB;
  const lss = o.logicalSectorSize ?? 512;
  const differencing = o.kind === 'differencing';
  const geometry = batGeometry({ virtualSize: o.virtualSize, blockSize, logicalSectorSize: lss, hasParent: differencing });
  const logOffset = MiB;
  const logLength = o.logLength ?? MiB;
  const batOffset = logOffset + logLength;
  const batLength = Math.max(MiB, Math.ceil((geometry.totalEntries * BAT_ENTRY_SIZE) / MiB) * MiB);
  const metadataOffset = batOffset + batLength;
  let next = metadataOffset + MiB;
  const pieces: { offset: number; data: Uint8Array }[] = [];
  const sectors = o.virtualSize / lss;
  const spb = blockSize / lss;
  const blockOffsets = new Map<number, number>();
  const bitmapOffsets = new Map<number, number>();
  /** Per touched block of a differencing file: which of its sectors were written. */
  const written = new Map<number, Uint8Array>();
  const sectorsIn = (b: number) => Math.min(spb, sectors - b * spb);

  const allocate = (b: number) => {
    if (!blockOffsets.has(b)) {
      blockOffsets.set(b, next);
      next += blockSize;
    }
    return blockOffsets.get(b)!;
  };
  if (o.kind === 'fixed') for (let b = 0; b < geometry.payloadBlocks; b++) allocate(b);
  const writes = o.writes ?? [];
  for (const w of writes) {
    if (differencing && (w.offset % lss !== 0 || w.data.length % lss !== 0)) throw new Error('buildVhdx: differencing writes must be whole sectors');
    for (let pos = w.offset; pos < w.offset + w.data.length;) {
      const b = Math.floor(pos / blockSize);
      const n = Math.min((b + 1) * blockSize, w.offset + w.data.length) - pos;
      pieces.push({ offset: allocate(b) + (pos - b * blockSize), data: w.data.subarray(pos - w.offset, pos - w.offset + n) });
      if (differencing) {
        const bits = written.get(b) ?? new Uint8Array(spb);
        bits.fill(1, (pos - b * blockSize) / lss, (pos - b * blockSize + n) / lss);
        written.set(b, bits);
      }
      pos += n;
    }
  }
  const states = new Map<number, number>();
  for (const b of blockOffsets.keys()) {
    const bits = written.get(b);
    const full = !differencing || (bits !== undefined && bits.subarray(0, sectorsIn(b)).every((x) => x === 1));
    states.set(b, full ? PayloadState.FullyPresent : PayloadState.PartiallyPresent);
  }
  for (const [k, s] of Object.entries(o.states ?? {})) states.set(Number(k), s);
  const hasData = (b: number) => states.get(b) === PayloadState.FullyPresent || states.get(b) === PayloadState.PartiallyPresent;
  // Data of blocks whose state was overridden to one without data is not the file's.
  for (let i = pieces.length - 1; i >= 0; i--) {
    const b = [...blockOffsets].find(([, at]) => pieces[i].offset >= at && pieces[i].offset < at + blockSize)?.[0];
    if (b !== undefined && !hasData(b)) pieces.splice(i, 1);
  }

  // Sector bitmaps of the chunks with partially present blocks.
  const bitmaps = new Map<number, Uint8Array>();
  for (const [b, s] of states) {
    if (s !== PayloadState.PartiallyPresent) continue;
    const chunk = Math.floor(b / geometry.chunkRatio);
    if (!bitmaps.has(chunk)) {
      bitmaps.set(chunk, new Uint8Array(SECTOR_BITMAP_BLOCK_SIZE));
      bitmapOffsets.set(chunk, next);
      next += SECTOR_BITMAP_BLOCK_SIZE;
    }
    const bm = bitmaps.get(chunk)!;
    const base = (b % geometry.chunkRatio) * spb;
    const bits = written.get(b) ?? new Uint8Array(spb);
    for (let i = 0; i < sectorsIn(b); i++) if (bits[i]) bm[(base + i) >>> 3] |= 1 << ((base + i) & 7);
  }
  for (const [chunk, bm] of bitmaps) pieces.push({ offset: bitmapOffsets.get(chunk)!, data: bm });

  /** What the file defines of [offset, offset + length): bytes, and per sector whether it defines it. */
  const expected = (offset: number, length: number) => {
    const data = Buffer.alloc(length);
    for (const w of writes) {
      const from = Math.max(offset, w.offset);
      const to = Math.min(offset + length, w.offset + w.data.length);
      if (from < to) data.set(w.data.subarray(from - w.offset, to - w.offset), from - offset);
    }
    const present = new Uint8Array(Math.ceil(length / lss));
    for (let i = 0; i < present.length; i++) {
      const sector = Math.floor(offset / lss) + i;
      const b = Math.floor(sector / spb);
      const s = states.get(b) ?? PayloadState.NotPresent;
      const own = s === PayloadState.PartiallyPresent ? (written.get(b)?.[sector - b * spb] ?? 0) : s === PayloadState.NotPresent ? (differencing ? 0 : 1) : 1;
      present[i] = own;
      if (!own || !hasData(b)) data.fill(0, Math.max(0, sector * lss - offset), Math.min(length, (sector + 1) * lss - offset));
    }
    return { data, present };
  };

  // BAT.
  const bat = new Uint8Array(geometry.totalEntries * BAT_ENTRY_SIZE);
  for (let b = 0; b < geometry.payloadBlocks; b++) {
    const s = states.get(b) ?? PayloadState.NotPresent;
    const at = blockOffsets.get(b) ?? 0;
    encodeBatEntry(
      { state: s, reserved: 0, offsetMB: s === PayloadState.FullyPresent || s === PayloadState.PartiallyPresent ? at / MiB : 0 },
      bat,
      payloadEntryIndex(b, geometry.chunkRatio) * 8,
    );
  }
  for (const [chunk, at] of bitmapOffsets)
    encodeBatEntry({ state: BitmapState.Present, reserved: 0, offsetMB: at / MiB }, bat, bitmapEntryIndex(chunk, geometry.chunkRatio) * 8);
  pieces.push({ offset: batOffset, data: bat });

  // Metadata: the table, then the items from 64 KiB.
  const items: { id: Uint8Array; data: Uint8Array; flags: number }[] = [
    {
      id: FILE_PARAMETERS_ITEM,
      data: encodeFileParameters({ blockSize, flags: (o.kind === 'fixed' ? LEAVE_BLOCKS_ALLOCATED : 0) | (differencing ? HAS_PARENT : 0) }),
      flags: IS_REQUIRED,
    },
    { id: VIRTUAL_DISK_SIZE_ITEM, data: encodeVirtualDiskSize(o.virtualSize), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: PAGE83_ITEM, data: encodePage83(o.page83 ?? newGuid()), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: LOGICAL_SECTOR_SIZE_ITEM, data: encodeSectorSize(lss), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: PHYSICAL_SECTOR_SIZE_ITEM, data: encodeSectorSize(o.physicalSectorSize ?? 4096), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
  ];
  if (differencing) {
    const locator = o.locator ?? vhdxLocator({ parent_linkage: guidToBraced(newGuid()), relative_path: 'parent.vhdx' });
    items.push({ id: PARENT_LOCATOR_ITEM, data: encodeParentLocator(locator), flags: IS_REQUIRED });
  }
  const entries: MetadataEntry[] = [];
  let itemAt = 64 * 1024;
  for (const it of items) {
    entries.push({ itemId: it.id, offset: itemAt, length: it.data.length, flags: it.flags, reserved: 0 });
    pieces.push({ offset: metadataOffset + itemAt, data: it.data });
    itemAt += it.data.length;
  }
  pieces.push({ offset: metadataOffset, data: encodeMetadataTable(newMetadataTable(entries)) });

  // Region tables (both copies), headers (both copies), identifier.
  const regions = encodeRegionTable(
    newRegionTable([
      { guid: BAT_REGION_GUID, fileOffset: BigInt(batOffset), length: batLength, flags: 1 },
      { guid: METADATA_REGION_GUID, fileOffset: BigInt(metadataOffset), length: MiB, flags: 1 },
    ]),
  );
  for (const at of REGION_TABLE_OFFSETS) pieces.push({ offset: at, data: regions });
  const header: VhdxHeader = {
    signature: 'head',
    checksum: 0,
    sequenceNumber: 0n,
    fileWriteGuid: newGuid(),
    dataWriteGuid: o.dataWriteGuid ?? newGuid(),
    logGuid: o.logGuid ?? ZERO_GUID,
    logVersion: 0,
    version: 1,
    logLength,
    logOffset: BigInt(logOffset),
    reserved: new Uint8Array(HEADER_SIZE - 80),
  };
  const seq = o.sequence ?? [1n, 2n];
  HEADER_OFFSETS.forEach((at, i) => pieces.push({ offset: at, data: encodeHeader({ ...header, sequenceNumber: seq[i] }) }));
  pieces.push({ offset: 0, data: encodeIdentifier({ signature: 'vhdxfile', creator: o.creator ?? 'vhdsnap test builder' }) });
  return { pieces, fileSize: next, logOffset, batOffset, metadataOffset, blockOffsets, bitmapOffsets, header, states, expected };
}

/** The locator of a child of `parent` (its data write GUID as parent_linkage) found at `relativePath`. */
export function linkTo(parent: BuiltVhdx, relativePath = '.\\base.vhdx'): ParentLocator {
  return vhdxLocator({ parent_linkage: guidToBraced(parent.header.dataWriteGuid), relative_path: relativePath });
}

/**
 * `base.vhdx` (dynamic, 8 MiB, its first 6 MiB written) and `child.avhdx` over it holding 4 KiB at
 * 3 MiB: a write into the child meets a partially present block and blocks the child lacks.
 */
export async function makeAvhdxOverBase(dir: string, rng: Rng): Promise<void> {
  const base = await makeVhdx(`${dir}/base.vhdx`, { kind: 'dynamic', virtualSize: 8 * MiB, writes: [{ offset: 0, data: rng.bytes(6 * MiB) }] });
  await makeVhdx(`${dir}/child.avhdx`, {
    kind: 'differencing',
    virtualSize: 8 * MiB,
    writes: [{ offset: 3 * MiB, data: rng.bytes(4096) }],
    locator: linkTo(base),
  });
}

/**
 * A VHDX tree beside a raw model of what each disk shows: `base.vhdx` (dynamic,
 * 8 MiB) with two AVHDX children, `now.avhdx` (recorded as the tree's active
 * disk) and `saved.avhdx` (a saved state). Model layers: 0 base, 1 now, 2 saved.
 */
export async function makeVhdxTree(dir: string, rng: Rng): Promise<{ model: DiskModel; base: string; now: string; saved: string }> {
  const size = 8 * MiB;
  const model = new DiskModel(size);
  const writes = (layer: number, n: number) =>
    Array.from({ length: n }, () => {
      const w = { offset: rng.int(size / 512 - 256) * 512, data: rng.bytes((1 + rng.int(255)) * 512) };
      model.write(layer, w.offset, w.data);
      return w;
    });
  model.addBase();
  const base = await makeVhdx(`${dir}/base.vhdx`, { kind: 'dynamic', virtualSize: size, writes: writes(0, 6) });
  for (const name of ['now', 'saved']) {
    const layer = model.addChild(0);
    await makeVhdx(`${dir}/${name}.avhdx`, { kind: 'differencing', virtualSize: size, writes: writes(layer, 4), locator: linkTo(base) });
  }
  await recordActive(`${dir}/now.avhdx`);
  return { model, base: `${dir}/base.vhdx`, now: `${dir}/now.avhdx`, saved: `${dir}/saved.avhdx` };
}

/** Writes a built file (sparse where nothing was written). */
export async function writeVhdx(path: string, built: BuiltVhdx): Promise<void> {
  const fh = await fsp.open(path, 'w');
  try {
    await fh.truncate(built.fileSize);
    for (const p of built.pieces) await fh.write(p.data, 0, p.data.length, p.offset);
  } finally {
    await fh.close();
  }
}

/** Builds and writes in one step. */
export async function makeVhdx(path: string, o: VhdxBuildOptions): Promise<BuiltVhdx> {
  const built = buildVhdx(o);
  await writeVhdx(path, built);
  return built;
}

/** Overwrites bytes of a file in place (damage for hostile tests). */
/** `length` bytes of a file at `offset` (zeros past its end). */
export async function readSlice(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}

export async function patchFile(path: string, offset: number, data: Uint8Array): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

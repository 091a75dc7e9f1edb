// Layout of a new VHDX file, as vhdsnap writes it (a differencing one, with
// a parent locator, starts with every block not present and no bitmaps):
//   0       header section: identifier, header 1 (64 KiB), header 2 (128 KiB),
//           region table 1 (192 KiB), region table 2 (256 KiB)
//   1 MiB   log region (1 MiB, or a copied file's log length; empty: the log GUID is zero)
//   then    BAT region (its size rounded up to whole MiB)
//   then    metadata region (1 MiB: the table, items from 64 KiB; or a copied file's region verbatim)
//   then    payload (and, with a parent, sector-bitmap) blocks in the order they are written.
// Everything is 1 MiB aligned (MS-VHDX requires it of regions and blocks).
// Pure: it returns bytes and offsets; core/ops/transfer.ts does the I/O.
import { UsageError } from '../../errors.js';
import {
  BAT_ENTRY_SIZE,
  batGeometry,
  bitmapEntryIndex,
  BitmapState,
  encodeBatEntry,
  isAllocatedPayload,
  payloadEntryIndex,
  PayloadState,
  type BatGeometry,
} from './bat.js';
import { newGuid, ZERO_GUID } from './guid.js';
import { encodeHeader, HEADER_OFFSETS, HEADER_SIZE, HEADER_VERSION, LOG_VERSION } from './header.js';
import { encodeIdentifier } from './identifier.js';
import {
  encodeFileParameters,
  encodePage83,
  encodeSectorSize,
  encodeVirtualDiskSize,
  FILE_PARAMETERS_ITEM,
  LEAVE_BLOCKS_ALLOCATED,
  LOGICAL_SECTOR_SIZE_ITEM,
  MAX_BLOCK_SIZE,
  MAX_VIRTUAL_SIZE,
  MIN_BLOCK_SIZE,
  HAS_PARENT,
  PAGE83_ITEM,
  PARENT_LOCATOR_ITEM,
  PHYSICAL_SECTOR_SIZE_ITEM,
  VIRTUAL_DISK_SIZE_ITEM,
} from './items.js';
import { MiB } from './le.js';
import { encodeMetadataTable, IS_REQUIRED, IS_VIRTUAL_DISK, MIN_ITEM_OFFSET, newMetadataTable, type MetadataEntry } from './metadata.js';
import { encodeParentLocator, type ParentLocator } from './parent-locator.js';
import { BAT_REGION_GUID, encodeRegionTable, METADATA_REGION_GUID, newRegionTable, REGION_TABLE_OFFSETS } from './region.js';

/** Hyper-V's defaults for a new VHDX: 32 MiB blocks, 512-byte logical and 4 KiB physical sectors. */
export const DEFAULT_VHDX_BLOCK_SIZE = 32 * MiB;
export const DEFAULT_LOGICAL_SECTOR_SIZE = 512;
export const PHYSICAL_SECTOR_SIZE = 4096;
export const VHDX_SECTOR_SIZES = [512, 4096] as const;
export const NEW_VHDX_CREATOR = 'vhdsnap';
const LOG_OFFSET = MiB;
const LOG_LENGTH = MiB;
const METADATA_LENGTH = MiB;

export interface NewVhdxSpec {
  virtualSize: number;
  blockSize: number;
  logicalSectorSize: number;
  /** Fixed: every block fully present with its space in the file (leave-blocks-allocated). */
  fixed: boolean;
  /** A differencing file: its parent locator (has-parent is set). */
  locator?: ParentLocator;
  /** Default PHYSICAL_SECTOR_SIZE; a child takes its parent's. */
  physicalSectorSize?: number;
  /** A copied differencing file (its copy's metadata holds the locator): its BAT has a sector-bitmap entry for every chunk. */
  hasParent?: boolean;
}

/** What a rewritten copy of an existing file keeps (compact): it is the same disk in a new layout. */
export interface VhdxCopyOf {
  /** The metadata region as read (table and items at their offsets: disk id, sizes, file parameters, parent locator). */
  metadata: Uint8Array;
  /** The data did not change: a child's parent_linkage and the labels keyed on this GUID stay valid. */
  dataWriteGuid: Uint8Array;
  logLength: number;
  creator: string;
}

export interface VhdxPlan {
  spec: NewVhdxSpec;
  geometry: BatGeometry;
  batOffset: number;
  batLength: number;
  metadataOffset: number;
  /** File offset of the first payload block. */
  dataStart: number;
  /** The header section and the metadata region: written once, anywhere in the order. */
  pieces: { at: number; data: Uint8Array }[];
}

/** Refuses what no VHDX can be: typed usage errors naming the option (--size, --block-size, --sector-size). */
export function validateNewVhdx(s: NewVhdxSpec): void {
  const { virtualSize, blockSize, logicalSectorSize: lss } = s;
  if (!(VHDX_SECTOR_SIZES as readonly number[]).includes(lss))
    throw new UsageError('BAD_SECTOR_SIZE', `--sector-size ${lss} must be 512 or 4096`, { field: 'sectorSize' });
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0)
    throw new UsageError('BAD_BLOCK_SIZE', `--block-size ${blockSize} must be a power of two from 1 MiB to 256 MiB for a VHDX`, { field: 'blockSize' });
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0)
    throw new UsageError('BAD_SIZE', `--size must be a positive number of bytes, got ${virtualSize}`, { field: 'size' });
  if (virtualSize % lss !== 0) throw new UsageError('BAD_SIZE', `--size ${virtualSize} is not a multiple of the ${lss}-byte logical sector`, { field: 'size' });
  if (virtualSize > MAX_VIRTUAL_SIZE) throw new UsageError('BAD_SIZE', `--size ${virtualSize} exceeds the VHDX maximum of 64 TiB`, { field: 'size' });
}

/** Plans a new file; its BAT comes from encodeNewBat once the block offsets are known. */
export function planNewVhdx(spec: NewVhdxSpec, copyOf?: VhdxCopyOf): VhdxPlan {
  validateNewVhdx(spec);
  const geometry = batGeometry({ ...spec, hasParent: spec.hasParent ?? spec.locator !== undefined });
  const logLength = copyOf?.logLength ?? LOG_LENGTH;
  const batOffset = LOG_OFFSET + logLength;
  const batLength = Math.max(1, Math.ceil((geometry.totalEntries * BAT_ENTRY_SIZE) / MiB)) * MiB;
  const metadataOffset = batOffset + batLength;
  const metadataLength = copyOf ? Math.max(1, Math.ceil(copyOf.metadata.length / MiB)) * MiB : METADATA_LENGTH;
  const dataStart = metadataOffset + metadataLength;
  const pieces: { at: number; data: Uint8Array }[] = [];
  if (copyOf) pieces.push({ at: metadataOffset, data: copyOf.metadata });
  else pieces.push(...newMetadata(spec, metadataOffset));

  const regions = encodeRegionTable(
    newRegionTable([
      { guid: BAT_REGION_GUID, fileOffset: BigInt(batOffset), length: batLength, flags: 1 },
      { guid: METADATA_REGION_GUID, fileOffset: BigInt(metadataOffset), length: metadataLength, flags: 1 },
    ]),
  );
  for (const at of REGION_TABLE_OFFSETS) pieces.push({ at, data: regions });

  // Two valid headers, the second current; the GUIDs are the file's first write.
  const fileWriteGuid = newGuid();
  const dataWriteGuid = copyOf?.dataWriteGuid ?? newGuid();
  HEADER_OFFSETS.forEach((at, i) =>
    pieces.push({
      at,
      data: encodeHeader({
        signature: 'head',
        checksum: 0,
        sequenceNumber: BigInt(i),
        fileWriteGuid,
        dataWriteGuid,
        logGuid: ZERO_GUID,
        logVersion: LOG_VERSION,
        version: HEADER_VERSION,
        logLength,
        logOffset: BigInt(LOG_OFFSET),
        reserved: new Uint8Array(HEADER_SIZE - 80),
      }),
    }),
  );
  pieces.push({ at: 0, data: encodeIdentifier({ signature: 'vhdxfile', creator: copyOf?.creator ?? NEW_VHDX_CREATOR }) });
  return { spec, geometry, batOffset, batLength, metadataOffset, dataStart, pieces };
}

/** The metadata region of a new disk: the table and its items (five, and a parent locator for a child). */
function newMetadata(spec: NewVhdxSpec, metadataOffset: number): { at: number; data: Uint8Array }[] {
  const pieces: { at: number; data: Uint8Array }[] = [];
  const hasParent = spec.locator !== undefined;
  const items: { id: Uint8Array; data: Uint8Array; flags: number }[] = [
    {
      id: FILE_PARAMETERS_ITEM,
      data: encodeFileParameters({ blockSize: spec.blockSize, flags: (spec.fixed ? LEAVE_BLOCKS_ALLOCATED : 0) | (hasParent ? HAS_PARENT : 0) }),
      flags: IS_REQUIRED,
    },
    { id: VIRTUAL_DISK_SIZE_ITEM, data: encodeVirtualDiskSize(spec.virtualSize), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: PAGE83_ITEM, data: encodePage83(newGuid()), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: LOGICAL_SECTOR_SIZE_ITEM, data: encodeSectorSize(spec.logicalSectorSize), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
    { id: PHYSICAL_SECTOR_SIZE_ITEM, data: encodeSectorSize(spec.physicalSectorSize ?? PHYSICAL_SECTOR_SIZE), flags: IS_REQUIRED | IS_VIRTUAL_DISK },
  ];
  if (spec.locator) items.push({ id: PARENT_LOCATOR_ITEM, data: encodeParentLocator(spec.locator), flags: IS_REQUIRED });
  const entries: MetadataEntry[] = [];
  let itemAt = MIN_ITEM_OFFSET;
  for (const it of items) {
    entries.push({ itemId: it.id, offset: itemAt, length: it.data.length, flags: it.flags, reserved: 0 });
    pieces.push({ at: metadataOffset + itemAt, data: it.data });
    itemAt += it.data.length;
  }
  pieces.push({ at: metadataOffset, data: encodeMetadataTable(newMetadataTable(entries)) });
  return pieces;
}

/**
 * The BAT of a planned file: `offsets[b]` is payload block b's file offset
 * (1 MiB aligned) or 0 when it is not allocated. Allocated blocks are fully
 * present; the rest, and every sector-bitmap entry, not present (a file
 * without a parent has no sector bitmaps).
 */
export function encodeNewBat(plan: VhdxPlan, offsets: ArrayLike<number>): Uint8Array {
  const states = Array.from(offsets, (at) => (at === 0 ? PayloadState.NotPresent : PayloadState.FullyPresent));
  return encodeVhdxBat(plan, states, offsets);
}

/**
 * The BAT of a planned file, any state: block b has `states[b]` at
 * `offsets[b]` (0 for a state that stores nothing), chunk c's sector bitmap
 * is at `bitmaps[c]` when non-zero. Offsets are 1 MiB aligned past the metadata.
 */
export function encodeVhdxBat(plan: VhdxPlan, states: ArrayLike<number>, offsets: ArrayLike<number>, bitmaps: ArrayLike<number> = []): Uint8Array {
  const g = plan.geometry;
  if (offsets.length !== g.payloadBlocks || states.length !== g.payloadBlocks)
    throw new RangeError(`BAT: ${states.length} states and ${offsets.length} block offsets for ${g.payloadBlocks} blocks`);
  const bat = new Uint8Array(g.totalEntries * BAT_ENTRY_SIZE);
  const entry = (i: number, state: number, at: number, what: string) => {
    if (at !== 0 && (at % MiB !== 0 || at < plan.dataStart)) throw new RangeError(`BAT: ${what} at ${at} is not a 1 MiB aligned offset past the metadata`);
    if (isAllocatedPayload(state) && at === 0) throw new RangeError(`BAT: ${what} is stored (state ${state}) but has no offset`);
    encodeBatEntry({ state, reserved: 0, offsetMB: at / MiB }, bat, i * BAT_ENTRY_SIZE);
  };
  for (let b = 0; b < g.payloadBlocks; b++)
    if (states[b] !== PayloadState.NotPresent) entry(payloadEntryIndex(b, g.chunkRatio), states[b], offsets[b], `block ${b}`);
  for (let c = 0; c < bitmaps.length; c++) {
    if (bitmaps[c] === 0) continue;
    if (!plan.spec.hasParent) throw new RangeError('BAT: only a differencing file has sector bitmaps');
    entry(bitmapEntryIndex(c, g.chunkRatio), BitmapState.Present, bitmaps[c], `sector bitmap ${c}`);
  }
  return bat;
}

// Layout of a new VHDX file, as vhdsnap writes it (a differencing one, with
// a parent locator, starts with every block not present and no bitmaps):
//   0       header section: identifier, header 1 (64 KiB), header 2 (128 KiB),
//           region table 1 (192 KiB), region table 2 (256 KiB)
//   1 MiB   log region (1 MiB, empty: the log GUID is zero)
//   2 MiB   BAT region (its size rounded up to whole MiB)
//   then    metadata region (1 MiB: the table, items from 64 KiB)
//   then    payload blocks, each blockSize long, in the order they are written.
// Everything is 1 MiB aligned (MS-VHDX requires it of regions and blocks).
// Pure: it returns bytes and offsets; core/ops/transfer.ts does the I/O.
import { UsageError } from '../../errors.js';
import { BAT_ENTRY_SIZE, batGeometry, encodeBatEntry, payloadEntryIndex, PayloadState, type BatGeometry } from './bat.js';
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
export function planNewVhdx(spec: NewVhdxSpec): VhdxPlan {
  validateNewVhdx(spec);
  const hasParent = spec.locator !== undefined;
  const geometry = batGeometry({ ...spec, hasParent });
  const batOffset = LOG_OFFSET + LOG_LENGTH;
  const batLength = Math.max(1, Math.ceil((geometry.totalEntries * BAT_ENTRY_SIZE) / MiB)) * MiB;
  const metadataOffset = batOffset + batLength;
  const dataStart = metadataOffset + METADATA_LENGTH;
  const pieces: { at: number; data: Uint8Array }[] = [];

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

  const regions = encodeRegionTable(
    newRegionTable([
      { guid: BAT_REGION_GUID, fileOffset: BigInt(batOffset), length: batLength, flags: 1 },
      { guid: METADATA_REGION_GUID, fileOffset: BigInt(metadataOffset), length: METADATA_LENGTH, flags: 1 },
    ]),
  );
  for (const at of REGION_TABLE_OFFSETS) pieces.push({ at, data: regions });

  // Two valid headers, the second current; the GUIDs are the file's first write.
  const fileWriteGuid = newGuid();
  const dataWriteGuid = newGuid();
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
        logLength: LOG_LENGTH,
        logOffset: BigInt(LOG_OFFSET),
        reserved: new Uint8Array(HEADER_SIZE - 80),
      }),
    }),
  );
  pieces.push({ at: 0, data: encodeIdentifier({ signature: 'vhdxfile', creator: NEW_VHDX_CREATOR }) });
  return { spec, geometry, batOffset, batLength, metadataOffset, dataStart, pieces };
}

/**
 * The BAT of a planned file: `offsets[b]` is payload block b's file offset
 * (1 MiB aligned) or 0 when it is not allocated. Allocated blocks are fully
 * present; the rest, and every sector-bitmap entry, not present (a file
 * without a parent has no sector bitmaps).
 */
export function encodeNewBat(plan: VhdxPlan, offsets: ArrayLike<number>): Uint8Array {
  const g = plan.geometry;
  if (offsets.length !== g.payloadBlocks) throw new RangeError(`BAT: ${offsets.length} block offsets for ${g.payloadBlocks} blocks`);
  const bat = new Uint8Array(g.totalEntries * BAT_ENTRY_SIZE);
  for (let b = 0; b < g.payloadBlocks; b++) {
    const at = offsets[b];
    if (at === 0) continue; // NOT_PRESENT is all zeros
    if (at % MiB !== 0 || at < plan.dataStart) throw new RangeError(`BAT: block ${b} at ${at} is not a 1 MiB aligned offset past the metadata`);
    encodeBatEntry({ state: PayloadState.FullyPresent, reserved: 0, offsetMB: at / MiB }, bat, payloadEntryIndex(b, g.chunkRatio) * BAT_ENTRY_SIZE);
  }
  return bat;
}

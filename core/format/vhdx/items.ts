// The known system metadata items and the codecs of the fixed-size ones:
//   file parameters (8): 0 block size (u32) · 4 flags (bit 0 leave blocks allocated, bit 1 has parent)
//   virtual disk size (8): 0 size in bytes (u64)
//   virtual disk id, "page 83 data" (16): 0 GUID
//   logical sector size (4): 0 bytes (u32, 512 or 4096)
//   physical sector size (4): 0 bytes (u32, 512 or 4096)
// The parent locator (variable size) has its own codec: parent-locator.ts.
import { type Finding } from '../../errors.js';
import { isPowerOfTwo } from '../header.js';
import { copyBytes } from '../bytes.js';
import { GUID_SIZE, guidFromString } from './guid.js';
import { MiB, needBytes, putU32le, putU64le, u32le, u64le } from './le.js';

export const FILE_PARAMETERS_ITEM = guidFromString('caa16737-fa36-4d43-b3b6-33f0aa44e76b');
export const VIRTUAL_DISK_SIZE_ITEM = guidFromString('2fa54224-cd1b-4876-b211-5dbed83bf4b8');
export const PAGE83_ITEM = guidFromString('beca12ab-b2e6-4523-93ef-c309e000c746');
export const LOGICAL_SECTOR_SIZE_ITEM = guidFromString('8141bf1d-a96f-4709-ba47-f233a8faab5f');
export const PHYSICAL_SECTOR_SIZE_ITEM = guidFromString('cda348c7-445d-4471-9cc9-e9885251c556');
export const PARENT_LOCATOR_ITEM = guidFromString('a8d35f2d-b30b-454d-abf7-d3d84834ab0c');

/** Each known item: its name (also its field name in findings) and its size (null: variable). */
export const KNOWN_ITEMS: readonly { id: Uint8Array; name: string; size: number | null }[] = [
  { id: FILE_PARAMETERS_ITEM, name: 'fileParameters', size: 8 },
  { id: VIRTUAL_DISK_SIZE_ITEM, name: 'virtualDiskSize', size: 8 },
  { id: PAGE83_ITEM, name: 'page83', size: 16 },
  { id: LOGICAL_SECTOR_SIZE_ITEM, name: 'logicalSectorSize', size: 4 },
  { id: PHYSICAL_SECTOR_SIZE_ITEM, name: 'physicalSectorSize', size: 4 },
  { id: PARENT_LOCATOR_ITEM, name: 'parentLocator', size: null },
];

export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;
/** MS-VHDX: the virtual size is at most 64 TiB. */
export const MAX_VIRTUAL_SIZE = 64 * 1024 ** 4;
export const LEAVE_BLOCKS_ALLOCATED = 1;
export const HAS_PARENT = 2;

export interface FileParameters {
  blockSize: number;
  /** LEAVE_BLOCKS_ALLOCATED, HAS_PARENT; the other 30 bits are reserved. */
  flags: number;
}

export function decodeFileParameters(b: Uint8Array): FileParameters {
  needBytes(b, 8, 'metadata.fileParameters');
  return { blockSize: u32le(b, 0), flags: u32le(b, 4) };
}

export function encodeFileParameters(p: FileParameters): Uint8Array {
  const b = new Uint8Array(8);
  putU32le(b, 0, p.blockSize);
  putU32le(b, 4, p.flags);
  return b;
}

export function hasParentFlag(p: FileParameters): boolean {
  return (p.flags & HAS_PARENT) !== 0;
}

export function leaveBlocksAllocatedFlag(p: FileParameters): boolean {
  return (p.flags & LEAVE_BLOCKS_ALLOCATED) !== 0;
}

export function validateFileParameters(p: FileParameters): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  if (!isPowerOfTwo(p.blockSize) || p.blockSize < MIN_BLOCK_SIZE || p.blockSize > MAX_BLOCK_SIZE) {
    errors.push({
      code: 'VHDX_BLOCK_SIZE',
      field: 'metadata.fileParameters.blockSize',
      message: `block size ${p.blockSize} is not a power of two from 1 MiB to 256 MiB`,
    });
  }
  if ((p.flags & ~(LEAVE_BLOCKS_ALLOCATED | HAS_PARENT)) !== 0) {
    warnings.push({
      code: 'VHDX_FILE_PARAMETERS_FLAGS',
      field: 'metadata.fileParameters.flags',
      message: `file parameters have reserved flag bits 0x${p.flags.toString(16)}`,
    });
  }
  return { errors, warnings };
}

export function decodeVirtualDiskSize(b: Uint8Array): bigint {
  needBytes(b, 8, 'metadata.virtualDiskSize');
  return u64le(b, 0);
}

export function encodeVirtualDiskSize(size: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  putU64le(b, 0, size);
  return b;
}

/** The virtual size must be a non-zero multiple of the logical sector size, at most 64 TiB. */
export function validateVirtualDiskSize(size: bigint, logicalSectorSize: number): Finding[] {
  const field = 'metadata.virtualDiskSize';
  if (size === 0n) return [{ code: 'VHDX_VIRTUAL_SIZE', field, message: 'virtual disk size is 0' }];
  if (size > BigInt(MAX_VIRTUAL_SIZE)) return [{ code: 'VHDX_VIRTUAL_SIZE', field, message: `virtual disk size ${size} exceeds 64 TiB` }];
  if (size % BigInt(logicalSectorSize) !== 0n) {
    return [{ code: 'VHDX_VIRTUAL_SIZE', field, message: `virtual disk size ${size} is not a multiple of the logical sector size ${logicalSectorSize}` }];
  }
  return [];
}

export function decodePage83(b: Uint8Array): Uint8Array {
  needBytes(b, GUID_SIZE, 'metadata.page83');
  return copyBytes(b, 0, GUID_SIZE);
}

export function encodePage83(id: Uint8Array): Uint8Array {
  return new Uint8Array(id.subarray(0, GUID_SIZE));
}

export function decodeSectorSize(b: Uint8Array, field: 'logicalSectorSize' | 'physicalSectorSize'): number {
  needBytes(b, 4, `metadata.${field}`);
  return u32le(b, 0);
}

export function encodeSectorSize(n: number): Uint8Array {
  const b = new Uint8Array(4);
  putU32le(b, 0, n);
  return b;
}

export function validateSectorSize(n: number, field: 'logicalSectorSize' | 'physicalSectorSize'): Finding[] {
  if (n === 512 || n === 4096) return [];
  const code = field === 'logicalSectorSize' ? 'VHDX_LOGICAL_SECTOR_SIZE' : 'VHDX_PHYSICAL_SECTOR_SIZE';
  return [{ code, field: `metadata.${field}`, message: `${field === 'logicalSectorSize' ? 'logical' : 'physical'} sector size ${n} is not 512 or 4096` }];
}

// Creating new VHD files (fixed, dynamic, and differencing children of any
// disk) and new fixed and dynamic VHDX files.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError, UsageError } from '../errors.js';
import { batBytes, encodeBat, BAT_UNUSED } from '../format/bat.js';
import { alignUp, dateToVhdTime, newUuid, SECTOR } from '../format/bytes.js';
import {
  DiskType,
  encodeFooter,
  FEATURE_RESERVED,
  FIXED_DATA_OFFSET,
  FORMAT_VERSION,
  MAX_DYNAMIC_SIZE,
  MAX_FIXED_SIZE,
  type Footer,
} from '../format/footer.js';
import { chsForSize } from '../format/geometry.js';
import {
  DEFAULT_BLOCK_SIZE,
  encodeHeader,
  HEADER_COOKIE,
  HEADER_SIZE,
  HEADER_VERSION,
  isPowerOfTwo,
  MAX_BLOCK_SIZE,
  MIN_BLOCK_SIZE,
  type DynamicHeader,
} from '../format/header.js';
import { emptyLocator, encodeLocatorPayload, LOCATOR_COUNT, type LocatorEntry } from '../format/locator.js';
import { U64_MAX } from '../format/bytes.js';
import { refuseExisting, writeAtomically } from '../io/file.js';
import { VhdFile } from '../disk/vhd-file.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { diskFormat } from '../disk/sniff.js';
import { BAT_ENTRY_SIZE } from '../format/vhdx/bat.js';
import { guidToBraced } from '../format/vhdx/guid.js';
import { vhdxLocator, type ParentLocator } from '../format/vhdx/parent-locator.js';
import { DEFAULT_LOGICAL_SECTOR_SIZE, DEFAULT_VHDX_BLOCK_SIZE, encodeNewBat, planNewVhdx, validateNewVhdx, type NewVhdxSpec } from '../format/vhdx/new-file.js';

/**
 * Creator written into new footers. QEMU, VirtualBox and others take the size
 * from CHS geometry (rounding down) unless the creator is one known to write
 * exact sizes; we write exact sizes as Hyper-V does, so we present as it.
 */
export const CREATOR_APP = 'win ';
export const CREATOR_VERSION = 0x000a0000;
export const CREATOR_HOST_OS = 'Wi2k';

export function newFooter(type: DiskType, size: number, dataOffset: bigint): Footer {
  return {
    cookie: 'conectix',
    features: FEATURE_RESERVED,
    formatVersion: FORMAT_VERSION,
    dataOffset,
    timestamp: dateToVhdTime(new Date()),
    creatorApp: CREATOR_APP,
    creatorVersion: CREATOR_VERSION,
    creatorHostOs: CREATOR_HOST_OS,
    originalSize: BigInt(size),
    currentSize: BigInt(size),
    geometry: chsForSize(size),
    diskType: type,
    checksum: 0,
    uniqueId: newUuid(),
    savedState: 0,
    reserved: new Uint8Array(427),
  };
}

export function newHeader(size: number, blockSize: number): DynamicHeader {
  const locators: LocatorEntry[] = [];
  for (let i = 0; i < LOCATOR_COUNT; i++) locators.push(emptyLocator());
  return {
    cookie: HEADER_COOKIE,
    dataOffset: U64_MAX,
    tableOffset: BigInt(SECTOR + HEADER_SIZE),
    headerVersion: HEADER_VERSION,
    maxTableEntries: Math.ceil(size / blockSize),
    blockSize,
    checksum: 0,
    parentUniqueId: new Uint8Array(16),
    parentTimestamp: 0,
    reserved1: 0,
    parentName: '',
    locators,
    reserved2: new Uint8Array(256),
  };
}

/**
 * Largest disk vhdsnap creates, of either type: 2040 GiB, the VHD maximum
 * (Hyper-V and Windows open no larger VHD, and a differencing child, which
 * takes its parent's size, cannot address more), so every disk it makes can
 * be snapshotted. Larger fixed disks made elsewhere still open.
 */
export const MAX_NEW_SIZE = MAX_DYNAMIC_SIZE;

/**
 * Smallest block size vhdsnap creates: qemu-img (7.2 checked) reads disks
 * with smaller blocks wrongly, so a disk made with them would show other
 * content there. Smaller ones written elsewhere still open (MIN_BLOCK_SIZE).
 */
export const MIN_NEW_BLOCK_SIZE = 4096;

export function validateSize(size: number, type: 'fixed' | 'dynamic'): void {
  const max = type === 'fixed' ? MAX_FIXED_SIZE : MAX_DYNAMIC_SIZE;
  if (!Number.isSafeInteger(size) || size <= 0) throw new UsageError('BAD_SIZE', `size must be a positive number of bytes, got ${size}`);
  if (size % SECTOR !== 0) throw new UsageError('BAD_SIZE', `size ${size} is not a multiple of 512 bytes`);
  if (size > max) throw new UsageError('BAD_SIZE', `size ${size} exceeds the ${type} maximum of ${max} bytes`);
}

export function validateBlockSize(blockSize: number): void {
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new UsageError('BAD_BLOCK_SIZE', `block size ${blockSize} must be a power of two between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  }
}

/** What `create` and `import` ask for in a new disk. */
export interface NewDiskSpec {
  size: number;
  type: 'fixed' | 'dynamic';
  /** Only for dynamic disks (the default, DEFAULT_BLOCK_SIZE, when absent). */
  blockSize?: number;
}

/** The one validator of a new disk's size, type and block size (create, import): both accept and refuse the same. */
export function validateNewDisk(spec: NewDiskSpec): void {
  const { size, type, blockSize } = spec;
  if (!Number.isSafeInteger(size) || size <= 0) throw new UsageError('BAD_SIZE', `size must be a positive number of bytes, got ${size}`, { field: 'size' });
  if (size % SECTOR !== 0) throw new UsageError('BAD_SIZE', `size ${size} is not a multiple of 512 bytes`, { field: 'size' });
  if (size > MAX_NEW_SIZE) throw new UsageError('BAD_SIZE', `size ${size} is ${tooLarge()}`, { field: 'size' });
  if (blockSize === undefined) return;
  if (type === 'fixed')
    throw new UsageError('BAD_BLOCK_SIZE', 'a block size applies to dynamic disks only (a fixed disk has no blocks)', { field: 'blockSize' });
  validateBlockSize(blockSize);
  if (blockSize < MIN_NEW_BLOCK_SIZE)
    throw new UsageError(
      'BAD_BLOCK_SIZE',
      `block size ${blockSize} is below ${MIN_NEW_BLOCK_SIZE}: qemu-img misreads disks with blocks smaller than 4 KiB (it would show other data than was written)`,
      { field: 'blockSize' },
    );
}

/** "too large (VHD maximum …)", for sizes past MAX_NEW_SIZE. */
export function tooLarge(): string {
  return `too large (VHD maximum ${MAX_NEW_SIZE} bytes, 2040 GiB: Windows opens no larger VHD and no snapshot of a larger disk can be made)`;
}

/** Writes `parts` as a new file of `totalSize` bytes at `path` (never over an existing one; see writeAtomically). */
async function writeNewFile(path: string, parts: { at: number; data: Uint8Array }[], totalSize: number): Promise<void> {
  await refuseExisting(path);
  await writeAtomically(path, async (f) => {
    await f.truncate(totalSize);
    for (const p of parts) await f.write(p.data, p.at);
  });
}

export async function createFixed(path: string, size: number): Promise<void> {
  validateNewDisk({ size, type: 'fixed' });
  const footer = encodeFooter(newFooter(DiskType.Fixed, size, FIXED_DATA_OFFSET));
  // The data area is a hole: sparse where the file system allows, zeros either way.
  await writeNewFile(path, [{ at: size, data: footer }], size + SECTOR);
}

export interface DynamicLayout {
  footer: Footer;
  header: DynamicHeader;
  /** Locator payloads placed after the BAT. */
  payloads: { at: number; data: Uint8Array }[];
  /** First byte after the metadata: where the first block (or the footer) goes. */
  dataStart: number;
}

/** Lays out footer copy, header, BAT and locator payloads of an empty dynamic or differencing file. */
export function layoutDynamic(
  type: DiskType.Dynamic | DiskType.Differencing,
  size: number,
  blockSize: number,
  payloads: { code: string; data: Uint8Array }[] = [],
): DynamicLayout {
  const footer = newFooter(type, size, BigInt(SECTOR));
  const header = newHeader(size, blockSize);
  let at = SECTOR + HEADER_SIZE + batBytes(header.maxTableEntries);
  const placed: { at: number; data: Uint8Array }[] = [];
  payloads.forEach((p, i) => {
    const space = alignUp(Math.max(p.data.length, 1), SECTOR);
    header.locators[i] = { code: p.code, dataSpace: space, dataLength: p.data.length, reserved: 0, dataOffset: BigInt(at) };
    placed.push({ at, data: p.data });
    at += space;
  });
  return { footer, header, payloads: placed, dataStart: at };
}

async function writeEmptyDynamic(path: string, layout: DynamicLayout): Promise<void> {
  const footerBytes = encodeFooter(layout.footer);
  const bat = new Uint32Array(layout.header.maxTableEntries).fill(BAT_UNUSED);
  await writeNewFile(
    path,
    [
      { at: 0, data: footerBytes },
      { at: SECTOR, data: encodeHeader(layout.header) },
      { at: Number(layout.header.tableOffset), data: encodeBat(bat) },
      ...layout.payloads,
      { at: layout.dataStart, data: footerBytes },
    ],
    layout.dataStart + SECTOR,
  );
}

export async function createDynamic(path: string, size: number, opts: { blockSize?: number } = {}): Promise<void> {
  validateNewDisk({ size, type: 'dynamic', blockSize: opts.blockSize });
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  await writeEmptyDynamic(path, layoutDynamic(DiskType.Dynamic, size, blockSize));
}

/**
 * The locators a new child carries, written for the platform we run on (`p`
 * is its path module; tests pass path.win32 or path.posix): W2ru, the path
 * relative to the child's folder starting `.\`, and W2ku, the absolute path
 * (on Windows the real `C:\…` one, as Hyper-V writes it), for Windows; MacX, a
 * file URL, for macOS/Linux tools. A parent on another drive has no relative
 * path: that child gets no W2ru.
 */
/** A parent's path as Windows-style locators spell it: relative to the child's folder (null across drives) and absolute. */
export function windowsParentPaths(childPath: string, parentPath: string, p: nodePath.PlatformPath = nodePath): { relative: string | null; absolute: string } {
  const absParent = p.resolve(parentPath);
  const rel = p.relative(p.dirname(p.resolve(childPath)), absParent);
  return {
    relative: p.isAbsolute(rel) ? null : '.\\' + rel.split(p.sep).join('\\'),
    absolute: p.sep === '\\' ? absParent : absParent.split('/').join('\\'),
  };
}

export function parentLocatorPayloads(childPath: string, parentPath: string, p: nodePath.PlatformPath = nodePath): { code: string; data: Uint8Array }[] {
  const absParent = p.resolve(parentPath);
  const win = windowsParentPaths(childPath, parentPath, p);
  const slashed = absParent.split(p.sep).join('/');
  // file:///C:/… on Windows (the drive is a path segment, not a host).
  const macx = 'file://' + (slashed.startsWith('/') ? '' : '/') + encodeURI(slashed).replace(/#/g, '%23').replace(/\?/g, '%3F');
  const out: { code: string; data: Uint8Array }[] = [];
  if (win.relative !== null) out.push({ code: 'W2ru', data: encodeLocatorPayload('W2ru', win.relative) });
  out.push({ code: 'W2ku', data: encodeLocatorPayload('W2ku', win.absolute) });
  out.push({ code: 'MacX', data: encodeLocatorPayload('MacX', macx) });
  return out;
}

/** Fills the parent-link fields of a child header from the parent file. */
export async function linkHeaderToParent(header: DynamicHeader, parent: VhdFile): Promise<void> {
  const st = await fsp.stat(parent.path);
  header.parentUniqueId = parent.footer.uniqueId.slice();
  header.parentTimestamp = dateToVhdTime(st.mtime);
  header.parentName = nodePath.basename(parent.path);
}

/**
 * Creates an empty differencing child of any disk. The child takes the
 * parent's block size (2 MiB under a fixed parent) and virtual size.
 */
export async function createDifferencing(path: string, parentPath: string, opts: { blockSize?: number; locatorTarget?: string } = {}): Promise<void> {
  // A chain is one format throughout: a VHDX parent gets an AVHDX child.
  if ((await diskFormat(parentPath)) === 'vhdx') return createVhdxDifferencing(path, parentPath, opts);
  const parent = await VhdFile.open(parentPath);
  try {
    // Plans refuse this first (newChildRefusals); here so no caller can write a child no tool can open.
    if (parent.virtualSize > MAX_DYNAMIC_SIZE)
      throw new RefusedError('CHILD_TOO_LARGE', `${parentPath} is ${parent.virtualSize} bytes; a differencing child cannot exceed ${MAX_DYNAMIC_SIZE}`, {
        path: parentPath,
      });
    const blockSize = opts.blockSize ?? (parent.blockSize || DEFAULT_BLOCK_SIZE);
    validateBlockSize(blockSize);
    // locatorTarget: the path the parent will have once an in-progress rename completes (snapshot).
    const target = opts.locatorTarget ?? parentPath;
    const layout = layoutDynamic(DiskType.Differencing, parent.virtualSize, blockSize, parentLocatorPayloads(path, target));
    await linkHeaderToParent(layout.header, parent);
    layout.header.parentName = nodePath.basename(target);
    await writeEmptyDynamic(path, layout);
  } finally {
    await parent.close();
  }
}

/** The parent locator of a VHDX child at `childPath` naming `parentPath` (data write GUID `parentId`) by relative and absolute Windows path. */
export function vhdxLocatorTo(childPath: string, parentPath: string, parentId: Uint8Array): ParentLocator {
  const win = windowsParentPaths(childPath, parentPath);
  return vhdxLocator({
    parent_linkage: guidToBraced(parentId),
    ...(win.relative !== null ? { relative_path: win.relative } : {}),
    absolute_win32_path: win.absolute,
  });
}

/**
 * An empty differencing VHDX child: the parent's size, block and sector
 * sizes; its locator links the parent's data write GUID and names it by
 * relative and absolute Windows path (`locatorTarget`: the parent's path
 * once an in-progress rename completes).
 */
async function createVhdxDifferencing(path: string, parentPath: string, opts: { locatorTarget?: string }): Promise<void> {
  const parent = await VhdxFile.open(parentPath);
  try {
    const locator = vhdxLocatorTo(path, opts.locatorTarget ?? parentPath, parent.header.dataWriteGuid);
    const plan = planNewVhdx({
      virtualSize: parent.virtualSize,
      blockSize: parent.blockSize,
      logicalSectorSize: parent.logicalSectorSize,
      physicalSectorSize: parent.physicalSectorSize,
      fixed: false,
      locator,
    });
    // Every entry zero: blocks not present (read from the parent), no sector bitmap blocks yet.
    await writeNewFile(path, [...plan.pieces, { at: plan.batOffset, data: new Uint8Array(plan.geometry.totalEntries * BAT_ENTRY_SIZE) }], plan.dataStart);
  } finally {
    await parent.close();
  }
}

/** What an empty differencing child of a disk (createDifferencing) will be: its format, its size, and the bytes its file takes. */
export interface NewChildShape {
  format: 'vhd' | 'vhdx';
  virtualSize: number;
  fileBytes: number;
}

export async function newChildShape(parentPath: string): Promise<NewChildShape> {
  if ((await diskFormat(parentPath)) === 'vhdx') {
    const p = await VhdxFile.open(parentPath);
    try {
      // The headers, log, BAT and metadata regions: everything before the first payload block.
      const { dataStart } = planNewVhdx({
        virtualSize: p.virtualSize,
        blockSize: p.blockSize,
        logicalSectorSize: p.logicalSectorSize,
        physicalSectorSize: p.physicalSectorSize,
        fixed: false,
        hasParent: true,
      });
      return { format: 'vhdx', virtualSize: p.virtualSize, fileBytes: dataStart };
    } finally {
      await p.close();
    }
  }
  const p = await VhdFile.open(parentPath);
  try {
    const blockSize = p.blockSize || DEFAULT_BLOCK_SIZE;
    // Footer copy, header, BAT, three locator payloads of a sector or so each, footer.
    const fileBytes = SECTOR + HEADER_SIZE + batBytes(Math.ceil(p.virtualSize / blockSize)) + 3 * 8192 + SECTOR;
    return { format: 'vhd', virtualSize: p.virtualSize, fileBytes };
  } finally {
    await p.close();
  }
}

/** What `create` and `import` ask for in a new VHDX file (defaults: DEFAULT_VHDX_BLOCK_SIZE, 512-byte sectors). */
export interface NewVhdxDiskSpec {
  size: number;
  type: 'fixed' | 'dynamic';
  blockSize?: number;
  logicalSectorSize?: number;
}

/** The spec with its defaults filled in, validated (typed usage errors naming --size, --block-size or --sector-size). */
export function resolveNewVhdx(spec: NewVhdxDiskSpec): NewVhdxSpec {
  const s: NewVhdxSpec = {
    virtualSize: spec.size,
    blockSize: spec.blockSize ?? DEFAULT_VHDX_BLOCK_SIZE,
    logicalSectorSize: spec.logicalSectorSize ?? DEFAULT_LOGICAL_SECTOR_SIZE,
    fixed: spec.type === 'fixed',
  };
  validateNewVhdx(s);
  return s;
}

/**
 * Creates an empty VHDX: dynamic (every block NOT_PRESENT) or fixed (every
 * block FULLY_PRESENT, its space in the file as holes that read as zeros).
 */
export async function createVhdx(path: string, spec: NewVhdxDiskSpec): Promise<void> {
  const plan = planNewVhdx(resolveNewVhdx(spec));
  const { payloadBlocks } = plan.geometry;
  const offsets = new Float64Array(payloadBlocks); // 0: not allocated
  if (spec.type === 'fixed') for (let b = 0; b < payloadBlocks; b++) offsets[b] = plan.dataStart + b * plan.spec.blockSize;
  const end = plan.dataStart + (spec.type === 'fixed' ? payloadBlocks * plan.spec.blockSize : 0);
  await writeNewFile(path, [...plan.pieces, { at: plan.batOffset, data: encodeNewBat(plan, offsets) }], end);
}

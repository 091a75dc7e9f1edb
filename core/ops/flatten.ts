// Flatten: a disk and its whole chain into one standalone dynamic or fixed
// VHD, dynamic or fixed VHDX (--format vhdx|vhdx-fixed, or an output named
// .vhdx) or raw file. Each block is resolved top-down through the chain;
// all-zero blocks stay unallocated in dynamic output. Inputs are never written.
import * as nodePath from 'node:path';
import { RefusedError, UsageError, type Finding } from '../errors.js';
import { guardAndWarn } from '../inuse.js';
import { bitmapBytes } from '../format/bitmap.js';
import { SECTOR } from '../format/bytes.js';
import { DEFAULT_BLOCK_SIZE, HEADER_SIZE } from '../format/header.js';
import { batBytes } from '../format/bat.js';
import { openReadableDisk, type Disk } from '../disk/chain.js';
import type { ChainLayer } from '../disk/layer.js';
import { assertNoRefusals, freeSpaceAt, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { defineOperation, diskPath } from '../operation.js';
import { assertFolderFor, refuseExisting, writeAtomically } from '../io/file.js';
import { diskSource, writeImage } from './transfer.js';
import { formatWords, isVhdName, isVhdxFormat, isVhdxName, OUTPUT_FORMATS, type OutputFormat } from '../output-format.js';
import { VhdxLayer } from '../disk/vhdx-layer.js';
import { DEFAULT_LOGICAL_SECTOR_SIZE, DEFAULT_VHDX_BLOCK_SIZE, planNewVhdx } from '../format/vhdx/new-file.js';
import { MAX_BLOCK_SIZE as MAX_VHDX_BLOCK_SIZE, MIN_BLOCK_SIZE as MIN_VHDX_BLOCK_SIZE } from '../format/vhdx/items.js';
import { sizeText, sizeWithBytes } from '../size.js';
import { diskText } from '../words.js';

export interface FlattenOptions extends JobContext {
  format?: OutputFormat;
  parentPath?: string;
}

export interface FlattenResult {
  path: string;
  format: OutputFormat;
  virtualSize: number;
  allocatedBlocks: number | null;
  /** IN_USE: another program has the disk open, so the output is a snapshot of a moving target. */
  warnings: Finding[];
}

/** A VHD output keeps a VHD source's block size; a VHDX source's (1–256 MiB) gives way to the VHD default. */
function outputBlockSize(disk: Disk<ChainLayer>): number {
  const top = disk.top;
  return top.format === 'vhd' && top.type !== 'fixed' ? top.sectorsPerBlock * SECTOR : DEFAULT_BLOCK_SIZE;
}

/** A VHDX output keeps the source's block size where a VHDX can have it (1–256 MiB) and a VHDX source's logical sector size. */
function vhdxOutput(disk: Disk<ChainLayer>): { blockSize: number; logicalSectorSize: number } {
  const top = disk.top;
  const bs = top.sectorsPerBlock * SECTOR;
  const keep = top.type !== 'fixed' && bs >= MIN_VHDX_BLOCK_SIZE && bs <= MAX_VHDX_BLOCK_SIZE;
  return {
    blockSize: keep ? bs : DEFAULT_VHDX_BLOCK_SIZE,
    logicalSectorSize: top instanceof VhdxLayer ? top.file.logicalSectorSize : DEFAULT_LOGICAL_SECTOR_SIZE,
  };
}

/**
 * The format asked for, or the one the output's name implies. A name that
 * says the other format is a usage error: Hyper-V goes by the extension, so
 * a VHDX named .vhd (or a VHD named .vhdx) would not open there.
 */
export function flattenFormat(out: string, format: OutputFormat | undefined): OutputFormat {
  if (format === undefined) return isVhdxName(out) ? 'vhdx' : 'dynamic';
  const name = nodePath.basename(out);
  if (isVhdxName(out) && !isVhdxFormat(format))
    throw new UsageError('USAGE', `--format ${format} does not write a VHDX, but ${name} is named as one: use --format vhdx or vhdx-fixed, or another name`, {
      field: 'format',
    });
  if (isVhdName(out) && (isVhdxFormat(format) || format === 'raw'))
    throw new UsageError(
      'USAGE',
      `--format ${format} writes a ${formatWords(format)}, but ${name} is named as a VHD: name it .${format === 'raw' ? 'raw' : 'vhdx'}`,
      {
        field: 'format',
      },
    );
  return format;
}

/** Bytes of the virtual disk that some layer stores, counted per output block. */
function bytesWithData(disk: Disk<ChainLayer>, blockSize: number): number {
  let n = 0;
  for (let at = 0; at < disk.virtualSize; at += blockSize) {
    const len = Math.min(blockSize, disk.virtualSize - at);
    if (disk.mayHaveData(at / SECTOR, len / SECTOR)) n += len;
  }
  return n;
}

async function planWith(disk: Disk<ChainLayer>, out: string, format: OutputFormat): Promise<Plan> {
  const size = disk.virtualSize;
  const vhdx = vhdxOutput(disk);
  const blockSize = isVhdxFormat(format) ? vhdx.blockSize : outputBlockSize(disk);
  const copy = bytesWithData(disk, blockSize);
  const growth =
    format === 'vhdx'
      ? planNewVhdx({ virtualSize: size, ...vhdx, fixed: false }).dataStart + Math.ceil(copy / blockSize) * blockSize
      : format === 'vhdx-fixed'
        ? planNewVhdx({ virtualSize: size, ...vhdx, fixed: true }).dataStart + Math.ceil(size / blockSize) * blockSize
        : format === 'dynamic'
          ? 3 * SECTOR + HEADER_SIZE + batBytes(Math.ceil(size / blockSize)) + (copy / blockSize) * (blockSize + bitmapBytes(blockSize))
          : format === 'fixed'
            ? size + SECTOR
            : size;
  await assertFolderFor(out);
  const freeSpace = await freeSpaceAt(nodePath.dirname(nodePath.resolve(out)));
  const refusals: Plan['refusals'] = [];
  await refuseExisting(out).catch((err: RefusedError) => refusals.push({ code: err.code, message: err.message }));
  if (freeSpace !== null && growth > freeSpace) {
    refusals.push({ code: 'NO_SPACE', message: `the output may need ${sizeText(growth)} but only ${sizeText(freeSpace)} is free on its volume` });
  }
  return {
    operation: 'flatten',
    summary: `write the content of ${await diskText(disk.path, disk.top.uuid)} (${sizeText(size)}; ${disk.layers.length} file${disk.layers.length > 1 ? 's' : ''} in its chain) to a new ${formatWords(format)} file ${nodePath.basename(out)}`,
    changes: [{ path: nodePath.resolve(out), action: 'create', detail: `${formatWords(format)}, ${sizeText(size)} virtual` }],
    bytesToCopy: copy,
    worstCaseGrowth: Math.ceil(growth),
    freeSpace,
    refusals,
  };
}

export async function planFlatten(file: string, out: string, opts: FlattenOptions = {}): Promise<Plan> {
  const disk = await openReadableDisk(file, { parentPath: opts.parentPath });
  try {
    return await planWith(disk, out, flattenFormat(out, opts.format));
  } finally {
    await disk.close();
  }
}

export async function flatten(file: string, out: string, opts: FlattenOptions = {}): Promise<FlattenResult> {
  const format = flattenFormat(out, opts.format);
  // One scan: the output must not be in use (IN_USE), the disk named may be, with a warning.
  // Only that disk: its ancestors are read-only snapshots other chains' programs rightly hold open.
  const warnings = await guardAndWarn([out], [file]);
  const disk = await openReadableDisk(file, { parentPath: opts.parentPath });
  try {
    const plan = await planWith(disk, out, format);
    assertNoRefusals(plan, out);
    let allocated: number | null = null;
    await writeAtomically(out, async (f) => {
      const shape = isVhdxFormat(format) ? vhdxOutput(disk) : { blockSize: outputBlockSize(disk) };
      allocated = await writeImage(f, diskSource(disk), format, { ...opts, ...shape, phase: 'flatten' });
    });
    return { path: nodePath.resolve(out), format, virtualSize: disk.virtualSize, allocatedBlocks: allocated, warnings };
  } finally {
    await disk.close();
  }
}

export const flattenOperation = defineOperation({
  op: 'flatten',
  request: z.object({ disk: diskPath, out: diskPath, format: z.optional(z.enum(OUTPUT_FORMATS)), parentPath: z.optional(diskPath) }),
  files: { disk: 'disk', out: 'output', parentPath: 'disk' },
  access: 'writes',
  // The inputs are only read; the output is the one file written.
  touched: (r) => [r.disk, r.out],
  guarded: (r) => [r.out],
  // Its run makes the in-use check itself, in the one scan that also finds its input's holders (a warning, not a refusal).
  guardsItself: true,
  plan: (r) => planFlatten(r.disk, r.out, r),
  run: (r, ctx) => flatten(r.disk, r.out, { format: r.format, parentPath: r.parentPath, signal: ctx.signal, onProgress: ctx.onProgress }),
  cli: {
    args: '<file> <out>',
    about: 'Writes what the disk shows into one standalone file.',
    positional: ['disk', 'out'],
    options: {
      format: {
        field: 'format',
        kind: OUTPUT_FORMATS,
        value: OUTPUT_FORMATS.join('|'),
        help: 'output format: dynamic or fixed VHD, raw, dynamic VHDX (vhdx) or fixed VHDX (vhdx-fixed); default vhdx when the output name ends in .vhdx or .avhdx, else dynamic',
      },
      parent: { field: 'parentPath', kind: 'text', value: '<path>', help: 'use this file as the parent instead of the one the disk names' },
    },
    print: (r, req) =>
      `Flattened ${req.disk} into ${r.path}: a standalone ${formatWords(r.format)}${r.format === 'raw' ? '' : ' disk'} of ${sizeWithBytes(r.virtualSize)}${r.allocatedBlocks !== null ? `, ${r.allocatedBlocks} block${r.allocatedBlocks === 1 ? '' : 's'} stored` : ''}.`,
    warnings: (r) => r.warnings.map((w) => `${w.message} [${w.code}]`),
  },
});

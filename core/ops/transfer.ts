// Writing a whole disk image from a source: import (raw file → VHD), export
// (disk → raw) and flatten (chain → standalone VHD or raw) are the same loop
// over different sources and output formats. Outputs are written under a
// temporary name, fsync'd, then renamed, so a crash never leaves a
// half-written file at the requested path; inputs are only read.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { RefusedError, UsageError } from '../errors.js';
import { encodeBat, BAT_UNUSED } from '../format/bat.js';
import { newBitmap } from '../format/bitmap.js';
import { alignUp, isAllZero, SECTOR } from '../format/bytes.js';
import { DiskType, encodeFooter, FIXED_DATA_OFFSET } from '../format/footer.js';
import { DEFAULT_BLOCK_SIZE, encodeHeader } from '../format/header.js';
import { openFile, syncDir, type RandomAccessFile } from '../io/file.js';
import { openDisk, type Disk, type OpenDiskOptions } from '../disk/chain.js';
import { ProgressReporter, throwIfCancelled, type JobContext } from '../job.js';
import { layoutDynamic, newFooter, validateBlockSize, validateSize } from './create.js';

const CHUNK = 4 * 1024 * 1024;

export type OutputFormat = 'dynamic' | 'fixed' | 'raw';

/** Something with bytes to copy: a raw file or a disk read through its chain. */
export interface Source {
  size: number;
  /** Fills `buf` with the bytes at `at` (zeros past the end of the source). */
  read(at: number, buf: Uint8Array): Promise<void>;
  /** False when [at, at+length) is known to read as zeros without reading it. */
  mayHaveData(at: number, length: number): boolean;
}

export function diskSource(disk: Disk): Source {
  return {
    size: disk.virtualSize,
    read: (at, buf) => disk.readSectors(at / SECTOR, buf.length / SECTOR, buf, 0),
    mayHaveData: (at, length) => disk.mayHaveData(at / SECTOR, Math.ceil(length / SECTOR)),
  };
}

function rawSource(f: RandomAccessFile, size: number): Source {
  return {
    size,
    read: async (at, buf) => {
      const n = at < size ? await f.read(buf.subarray(0, Math.min(buf.length, size - at)), at) : 0;
      buf.fill(0, n);
    },
    mayHaveData: () => true,
  };
}

export async function refuseExisting(path: string): Promise<void> {
  if (await fsp.lstat(path).then(() => true, () => false)) {
    throw new RefusedError('EXISTS', `${path} already exists; not overwriting it`, { path });
  }
}

/** Creates `<dir>/.<name>.<random>.tmp`, runs `fill`, fsyncs and renames over `path`; removes the temp on failure. */
export async function writeAtomically(path: string, fill: (f: RandomAccessFile) => Promise<void>): Promise<void> {
  const dir = nodePath.dirname(nodePath.resolve(path));
  const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const f = await openFile(tmp, 'wx');
  try {
    await fill(f);
    await f.sync();
    await f.close();
    await fsp.rename(tmp, path);
    await syncDir(dir);
  } catch (err) {
    await f.close();
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes `src` into the new file `f` in the given format. Zero chunks are
 * never written (raw and fixed stay sparse; dynamic leaves them unallocated).
 * Returns the number of blocks allocated (dynamic) or null.
 */
export async function writeImage(f: RandomAccessFile, src: Source, format: OutputFormat, ctx: JobContext & { blockSize?: number; phase: string }): Promise<number | null> {
  const size = alignUp(src.size, SECTOR);
  const progress = new ProgressReporter(ctx, ctx.phase, size);
  if (format === 'dynamic') return writeDynamic(f, src, size, ctx.blockSize ?? DEFAULT_BLOCK_SIZE, ctx, progress);
  await f.truncate(format === 'fixed' ? size + SECTOR : size);
  const buf = Buffer.alloc(Math.min(CHUNK, size));
  for (let at = 0; at < size; at += CHUNK) {
    throwIfCancelled(ctx);
    const view = buf.subarray(0, Math.min(CHUNK, size - at));
    if (src.mayHaveData(at, view.length)) {
      await src.read(at, view);
      if (!isAllZero(view)) await f.write(view, at);
    }
    progress.update(at + view.length);
  }
  if (format === 'fixed') await f.write(encodeFooter(newFooter(DiskType.Fixed, size, FIXED_DATA_OFFSET)), size);
  return null;
}

async function writeDynamic(f: RandomAccessFile, src: Source, size: number, blockSize: number, ctx: JobContext, progress: ProgressReporter): Promise<number> {
  const layout = layoutDynamic(DiskType.Dynamic, size, blockSize);
  const entries = layout.header.maxTableEntries;
  const bat = new Uint32Array(entries).fill(BAT_UNUSED);
  const bitmap = newBitmap(blockSize, true);
  const block = Buffer.alloc(bitmap.length + blockSize);
  block.set(bitmap, 0);
  const data = block.subarray(bitmap.length);
  let next = layout.dataStart;
  let allocated = 0;
  for (let b = 0; b < entries; b++) {
    throwIfCancelled(ctx);
    const at = b * blockSize;
    const len = Math.min(blockSize, size - at);
    if (src.mayHaveData(at, len)) {
      data.fill(0, len);
      await src.read(at, data.subarray(0, len));
      if (!isAllZero(data)) {
        await f.write(block, next);
        bat[b] = next / SECTOR;
        next += block.length;
        allocated++;
      }
    }
    progress.update(at + len);
  }
  const footer = encodeFooter(layout.footer);
  await f.write(footer, 0);
  await f.write(encodeHeader(layout.header), SECTOR);
  await f.write(encodeBat(bat), Number(layout.header.tableOffset));
  await f.write(footer, next);
  return allocated;
}

/** Writes the disk's content (through its chain) as a sparse raw file. */
export async function exportRaw(src: string, out: string, ctx?: JobContext & OpenDiskOptions): Promise<{ bytes: number }> {
  await refuseExisting(out);
  const disk = await openDisk(src, { parentPath: ctx?.parentPath });
  try {
    await writeAtomically(out, (f) => writeImage(f, diskSource(disk), 'raw', { ...ctx, phase: 'export' }).then(() => undefined));
    return { bytes: disk.virtualSize };
  } finally {
    await disk.close();
  }
}

export interface ImportOptions extends JobContext {
  type?: 'dynamic' | 'fixed';
  blockSize?: number;
}

/**
 * Imports a raw image. A size that is not a sector multiple is padded with
 * zeros to the next sector. In dynamic output all-zero blocks stay unallocated.
 */
export async function importRaw(raw: string, out: string, opts: ImportOptions = {}): Promise<{ virtualSize: number; allocatedBlocks: number | null }> {
  const type = opts.type ?? 'dynamic';
  const st = await fsp.stat(raw).catch(() => null);
  if (!st || !st.isFile()) throw new UsageError('NOT_A_FILE', `${raw} is not a readable regular file`);
  const size = alignUp(st.size, SECTOR);
  validateSize(size, type);
  if (type === 'dynamic') validateBlockSize(opts.blockSize ?? DEFAULT_BLOCK_SIZE);
  await refuseExisting(out);
  const f = await openFile(raw, 'r');
  try {
    let allocated: number | null = null;
    await writeAtomically(out, async (o) => {
      allocated = await writeImage(o, rawSource(f, st.size), type, { ...opts, phase: 'import' });
    });
    return { virtualSize: size, allocatedBlocks: allocated };
  } finally {
    await f.close();
  }
}

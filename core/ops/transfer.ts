// Moving content between raw files and VHDs: import raw → VHD, export → raw.
// Outputs are written under a temporary name, fsync'd, then renamed, so a
// crash never leaves a half-written file at the requested path.
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
import { openDisk, type OpenDiskOptions } from '../disk/chain.js';
import { ProgressReporter, throwIfCancelled, type JobContext } from '../job.js';
import { layoutDynamic, newFooter, validateBlockSize, validateSize } from './create.js';

const CHUNK = 4 * 1024 * 1024;

async function refuseExisting(path: string): Promise<void> {
  if (await fsp.stat(path).then(() => true, () => false)) {
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

/** Writes the disk's content (through its chain) as a sparse raw file. */
export async function exportRaw(src: string, out: string, ctx?: JobContext & OpenDiskOptions): Promise<{ bytes: number }> {
  await refuseExisting(out);
  const disk = await openDisk(src, { parentPath: ctx?.parentPath });
  try {
    const size = disk.virtualSize;
    const progress = new ProgressReporter(ctx, 'export', size);
    await writeAtomically(out, async (f) => {
      await f.truncate(size); // holes stay holes: zero chunks are never written
      const buf = Buffer.alloc(Math.min(CHUNK, size));
      for (let at = 0; at < size; at += CHUNK) {
        throwIfCancelled(ctx);
        const view = buf.subarray(0, Math.min(CHUNK, size - at));
        if (disk.mayHaveData(at / SECTOR, view.length / SECTOR)) {
          await disk.readSectors(at / SECTOR, view.length / SECTOR, view, 0);
          if (!isAllZero(view)) await f.write(view, at);
        }
        progress.update(at + view.length);
      }
    });
    return { bytes: size };
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
  const rawSize = st.size;
  const size = alignUp(rawSize, SECTOR);
  validateSize(size, type);
  await refuseExisting(out);
  const src = await openFile(raw, 'r');
  try {
    if (type === 'fixed') {
      await writeAtomically(out, (f) => importFixed(src, f, rawSize, size, opts));
      return { virtualSize: size, allocatedBlocks: null };
    }
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    validateBlockSize(blockSize);
    let allocated = 0;
    await writeAtomically(out, async (f) => {
      allocated = await importDynamic(src, f, rawSize, size, blockSize, opts);
    });
    return { virtualSize: size, allocatedBlocks: allocated };
  } finally {
    await src.close();
  }
}

async function importFixed(src: RandomAccessFile, f: RandomAccessFile, rawSize: number, size: number, ctx: JobContext): Promise<void> {
  await f.truncate(size + SECTOR);
  const progress = new ProgressReporter(ctx, 'import', rawSize);
  const buf = Buffer.alloc(CHUNK);
  for (let at = 0; at < rawSize; at += CHUNK) {
    throwIfCancelled(ctx);
    const view = buf.subarray(0, Math.min(CHUNK, rawSize - at));
    await src.read(view, at);
    if (!isAllZero(view)) await f.write(view, at);
    progress.update(at + view.length);
  }
  await f.write(encodeFooter(newFooter(DiskType.Fixed, size, FIXED_DATA_OFFSET)), size);
}

async function importDynamic(src: RandomAccessFile, f: RandomAccessFile, rawSize: number, size: number, blockSize: number, ctx: JobContext): Promise<number> {
  const layout = layoutDynamic(DiskType.Dynamic, size, blockSize);
  const entries = layout.header.maxTableEntries;
  const bat = new Uint32Array(entries).fill(BAT_UNUSED);
  const bitmap = newBitmap(blockSize, true);
  const block = Buffer.alloc(bitmap.length + blockSize);
  block.set(bitmap, 0);
  const data = block.subarray(bitmap.length);
  const progress = new ProgressReporter(ctx, 'import', rawSize);
  let next = layout.dataStart;
  let allocated = 0;
  for (let b = 0; b < entries; b++) {
    throwIfCancelled(ctx);
    const at = b * blockSize;
    data.fill(0);
    await src.read(data.subarray(0, Math.max(0, Math.min(blockSize, rawSize - at))), at);
    if (!isAllZero(data)) {
      await f.write(block, next);
      bat[b] = next / SECTOR;
      next += block.length;
      allocated++;
    }
    progress.update(Math.min(rawSize, at + blockSize));
  }
  const footer = encodeFooter(layout.footer);
  await f.write(footer, 0);
  await f.write(encodeHeader(layout.header), SECTOR);
  await f.write(encodeBat(bat), Number(layout.header.tableOffset));
  await f.write(footer, next);
  return allocated;
}

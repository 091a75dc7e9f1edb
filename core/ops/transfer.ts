// Writing a whole disk image from a source: import (raw file → VHD), export
// (disk → raw) and flatten (chain → standalone VHD or raw) are the same loop
// over different sources and output formats. Outputs are written under a
// temporary name, fsync'd, then renamed, so a crash never leaves a
// half-written file at the requested path; inputs are only read.
import { promises as fsp } from 'node:fs';
import { fromSystemError, UsageError, type Finding } from '../errors.js';
import { movingTargetWarnings } from '../inuse.js';
import { encodeBat, BAT_UNUSED } from '../format/bat.js';
import { newBitmap } from '../format/bitmap.js';
import { alignUp, SECTOR } from '../format/bytes.js';
import { DiskType, encodeFooter, FIXED_DATA_OFFSET } from '../format/footer.js';
import { DEFAULT_BLOCK_SIZE, encodeHeader } from '../format/header.js';
import { openFile, refuseExisting, writeAtomically, type RandomAccessFile } from '../io/file.js';
import { openReadableDisk, type Disk, type OpenDiskOptions } from '../disk/chain.js';
import type { ChainLayer } from '../disk/layer.js';
import { ProgressReporter, throwIfCancelled, type JobContext } from '../job.js';
import { layoutDynamic, newFooter, resolveNewVhdx, validateNewDisk } from './create.js';
import { DEFAULT_LOGICAL_SECTOR_SIZE, DEFAULT_VHDX_BLOCK_SIZE, encodeNewBat, planNewVhdx } from '../format/vhdx/new-file.js';
import { isVhdxName, type OutputFormat } from '../output-format.js';

/** Bytes read per step of a raw or fixed output; two such buffers are in use at once. */
const CHUNK = 8 * 1024 * 1024;
/** Zero detection granule: all-zero granules of raw output are left as holes, never written. */
const GRANULE = 64 * 1024;
/** Granularity of the "may this hold data" question within a chunk (a 2 MiB block holds two). */
const PIECE = 1024 * 1024;
const ZEROS = Buffer.alloc(GRANULE);

/** memcmp against a zero buffer: native speed, no per-byte loop in JS. */
function zeroAt(b: Uint8Array, start: number, end: number): boolean {
  for (let o = start; o < end; o += GRANULE) {
    const n = Math.min(GRANULE, end - o);
    if (ZEROS.compare(b, o, o + n, 0, n) !== 0) return false;
  }
  return true;
}

/** Something with bytes to copy: a raw file or a disk read through its chain. */
export interface Source {
  size: number;
  /** Fills `buf` with the bytes at `at` (zeros past the end of the source). */
  read(at: number, buf: Uint8Array): Promise<void>;
  /** False when [at, at+length) is known to read as zeros without reading it. */
  mayHaveData(at: number, length: number): boolean;
}

export function diskSource(disk: Disk<ChainLayer>): Source {
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

/**
 * Writes `src` into the new file `f` in the given format. Zero chunks are
 * never written (raw and fixed stay sparse; dynamic leaves them unallocated).
 * Returns the number of blocks allocated (dynamic) or null.
 */
export async function writeImage(
  f: RandomAccessFile,
  src: Source,
  format: OutputFormat,
  ctx: JobContext & { blockSize?: number; logicalSectorSize?: number; phase: string },
): Promise<number | null> {
  if (format === 'vhdx' || format === 'vhdx-fixed') return writeVhdx(f, src, format === 'vhdx-fixed', ctx);
  const size = alignUp(src.size, SECTOR);
  const progress = new ProgressReporter(ctx, ctx.phase, size);
  if (format === 'dynamic') return writeDynamic(f, src, size, ctx.blockSize ?? DEFAULT_BLOCK_SIZE, ctx, progress);
  await f.truncate(format === 'fixed' ? size + SECTOR : size);
  // Two buffers: the next chunk is read while the previous one's data is written.
  const len = Math.min(CHUNK, size);
  const bufs = [Buffer.alloc(len), Buffer.alloc(len)];
  const pipe = new WritePipe();
  const flush = new FlushAhead(f);
  try {
    for (let at = 0, k = 0; at < size; at += CHUNK) {
      throwIfCancelled(ctx);
      const buf = bufs[k & 1];
      const end = Math.min(at + CHUNK, size);
      // Only the parts that may hold data are read (and later scanned and written).
      const ranges: [number, number][] = [];
      for (let p = at; p < end; p += PIECE) {
        const q = Math.min(p + PIECE, end);
        if (!src.mayHaveData(p, q - p)) continue;
        const last = ranges[ranges.length - 1];
        if (last && last[1] === p - at) last[1] = q - at;
        else ranges.push([p - at, q - at]);
      }
      if (ranges.length > 0) {
        k++;
        await Promise.all(ranges.map(([a, b]) => src.read(at + a, buf.subarray(a, b))));
        await pipe.wait();
        pipe.start(writeNonZero(f, buf, at, ranges).then((n) => flush.wrote(n)));
      }
      progress.update(end);
    }
    await pipe.wait();
    await flush.done();
  } finally {
    await pipe.settle();
    await flush.settle();
  }
  if (format === 'fixed') await f.write(encodeFooter(newFooter(DiskType.Fixed, size, FIXED_DATA_OFFSET)), size);
  return null;
}

/** Writes the runs of non-zero granules of buf's `ranges` (buf sits at file offset `at`); zero granules stay holes. Returns the bytes written. */
async function writeNonZero(f: RandomAccessFile, buf: Buffer, at: number, ranges: [number, number][]): Promise<number> {
  let written = 0;
  for (const [from, to] of ranges) {
    let runStart = -1;
    for (let o = from; o < to; o += GRANULE) {
      if (!zeroAt(buf, o, Math.min(o + GRANULE, to))) {
        if (runStart < 0) runStart = o;
        continue;
      }
      if (runStart >= 0) {
        await f.write(buf.subarray(runStart, o), at + runStart);
        written += o - runStart;
      }
      runStart = -1;
    }
    if (runStart >= 0) {
      await f.write(buf.subarray(runStart, to), at + runStart);
      written += to - runStart;
    }
  }
  return written;
}

/** Bytes written between background fsyncs (see FlushAhead). */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Starts an fsync in the background for every FLUSH_EVERY bytes written, one
 * at a time, so the disk writes while the copy goes on: otherwise nothing
 * reaches it before the final fsync (the kernel's own writeback waits for
 * gigabytes of dirty pages on a machine with much RAM), which then waits for
 * all of it. A failed fsync fails the copy at done().
 */
class FlushAhead {
  private since = 0;
  private running: Promise<void> | null = null;
  private failed: { err: unknown } | null = null;
  constructor(private readonly f: RandomAccessFile) {}
  wrote(n: number): void {
    this.since += n;
    if (this.since < FLUSH_EVERY || this.running) return;
    this.since = 0;
    this.running = this.f
      .sync()
      .catch((err: unknown) => {
        this.failed ??= { err };
      })
      .finally(() => {
        this.running = null;
      });
  }
  async done(): Promise<void> {
    await this.running;
    if (this.failed) throw this.failed.err;
  }
  /** Waits for the fsync in flight without throwing (error paths: the first error stands). */
  async settle(): Promise<void> {
    await this.running;
  }
}

/** At most one write in flight, so reading the next piece overlaps it. */
class WritePipe {
  private pending: Promise<void> | null = null;
  start(p: Promise<void>): void {
    // Rejections surface at the next wait(); the no-op catch only keeps Node from calling them unhandled meanwhile.
    p.catch(() => undefined);
    this.pending = p;
  }
  async wait(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    if (p) await p;
  }
  /** Lets an in-flight write finish before the file is closed (on error paths). */
  async settle(): Promise<void> {
    await this.pending?.catch(() => undefined);
    this.pending = null;
  }
}

async function writeDynamic(f: RandomAccessFile, src: Source, size: number, blockSize: number, ctx: JobContext, progress: ProgressReporter): Promise<number> {
  const layout = layoutDynamic(DiskType.Dynamic, size, blockSize);
  const entries = layout.header.maxTableEntries;
  const bat = new Uint32Array(entries).fill(BAT_UNUSED);
  const bitmap = newBitmap(blockSize, true);
  // Two block buffers (bitmap + data): the next block is read while the previous one is written.
  const blocks = [Buffer.alloc(bitmap.length + blockSize), Buffer.alloc(bitmap.length + blockSize)];
  for (const b of blocks) b.set(bitmap, 0);
  let k = 0;
  let next = layout.dataStart;
  let allocated = 0;
  const pipe = new WritePipe();
  const flush = new FlushAhead(f);
  try {
    for (let b = 0; b < entries; b++) {
      throwIfCancelled(ctx);
      const at = b * blockSize;
      const len = Math.min(blockSize, size - at);
      if (src.mayHaveData(at, len)) {
        const block = blocks[k & 1];
        const data = block.subarray(bitmap.length);
        data.fill(0, len);
        await src.read(at, data.subarray(0, len));
        if (!zeroAt(data, 0, data.length)) {
          await pipe.wait();
          pipe.start(f.write(block, next).then(() => flush.wrote(block.length)));
          bat[b] = next / SECTOR;
          next += block.length;
          allocated++;
          k++;
        }
      }
      progress.update(at + len);
    }
    await pipe.wait();
    await flush.done();
  } finally {
    await pipe.settle();
    await flush.settle();
  }
  const footer = encodeFooter(layout.footer);
  await f.write(footer, 0);
  await f.write(encodeHeader(layout.header), SECTOR);
  await f.write(encodeBat(bat), Number(layout.header.tableOffset));
  await f.write(footer, next);
  return allocated;
}

/**
 * A VHDX output (layout: core/format/vhdx/new-file.ts). The data goes first,
 * in virtual order, in steps of at most CHUNK within a block: a dynamic file
 * allocates a block at its end when a step of the block holds data (all-zero
 * blocks stay NOT_PRESENT); a fixed one has every block in place from the
 * start. Zero granules inside allocated blocks stay holes. The BAT, metadata
 * and headers follow the data; writeAtomically fsyncs and renames.
 */
async function writeVhdx(
  f: RandomAccessFile,
  src: Source,
  fixed: boolean,
  ctx: JobContext & { blockSize?: number; logicalSectorSize?: number; phase: string },
): Promise<number> {
  const lss = ctx.logicalSectorSize ?? DEFAULT_LOGICAL_SECTOR_SIZE;
  const blockSize = ctx.blockSize ?? DEFAULT_VHDX_BLOCK_SIZE;
  const size = alignUp(src.size, lss);
  const plan = planNewVhdx({ virtualSize: size, blockSize, logicalSectorSize: lss, fixed });
  const blocks = plan.geometry.payloadBlocks;
  const offsets = new Float64Array(blocks); // 0: not allocated
  if (fixed) for (let b = 0; b < blocks; b++) offsets[b] = plan.dataStart + b * blockSize;
  let next = fixed ? plan.dataStart + blocks * blockSize : plan.dataStart;
  let allocated = fixed ? blocks : 0;
  const progress = new ProgressReporter(ctx, ctx.phase, size);
  const step = Math.min(CHUNK, blockSize);
  // Two buffers: the next step is read while the previous one's data is written.
  const bufs = [Buffer.alloc(Math.min(step, size)), Buffer.alloc(Math.min(step, size))];
  const pipe = new WritePipe();
  const flush = new FlushAhead(f);
  try {
    for (let at = 0, k = 0; at < size; at += step) {
      throwIfCancelled(ctx);
      const end = Math.min(at + step, size);
      if (src.mayHaveData(at, end - at)) {
        const buf = bufs[k & 1].subarray(0, end - at);
        await src.read(at, buf);
        if (!zeroAt(buf, 0, buf.length)) {
          const b = Math.floor(at / blockSize);
          if (offsets[b] === 0) {
            offsets[b] = next;
            next += blockSize;
            allocated++;
          }
          const fileAt = offsets[b] + (at - b * blockSize);
          k++;
          await pipe.wait();
          pipe.start(writeNonZero(f, buf, fileAt, [[0, buf.length]]).then((n) => flush.wrote(n)));
        }
      }
      progress.update(end);
    }
    await pipe.wait();
    await flush.done();
  } finally {
    await pipe.settle();
    await flush.settle();
  }
  // Every allocated block's whole space is in the file, the last one's too (unwritten parts are holes).
  await f.truncate(next);
  await f.write(encodeNewBat(plan, offsets), plan.batOffset);
  for (const p of plan.pieces) await f.write(p.data, p.at);
  return allocated;
}

/** Writes the disk's content (through its chain) as a sparse raw file. */
export async function exportRaw(src: string, out: string, ctx?: JobContext & OpenDiskOptions): Promise<{ bytes: number; warnings: Finding[] }> {
  await refuseExisting(out);
  // IN_USE: another program has the disk open; the export is a snapshot of a moving target.
  const warnings = await movingTargetWarnings([src]);
  const disk = await openReadableDisk(src, { parentPath: ctx?.parentPath });
  try {
    await writeAtomically(out, (f) => writeImage(f, diskSource(disk), 'raw', { ...ctx, phase: 'export' }).then(() => undefined));
    return { bytes: disk.virtualSize, warnings };
  } finally {
    await disk.close();
  }
}

export interface ImportOptions extends JobContext {
  type?: 'dynamic' | 'fixed';
  blockSize?: number;
  /** VHDX outputs only: 512 (default) or 4096. */
  logicalSectorSize?: number;
}

/**
 * Imports a raw image as a VHD, or as a VHDX when `out` ends in .vhdx or
 * .avhdx. A size that is not a (logical) sector multiple is padded with zeros
 * to the next sector. In dynamic output all-zero blocks stay unallocated.
 */
export async function importRaw(raw: string, out: string, opts: ImportOptions = {}): Promise<{ virtualSize: number; allocatedBlocks: number | null }> {
  const type = opts.type ?? 'dynamic';
  const st = await fsp.stat(raw).catch((err: unknown) => {
    throw fromSystemError(err, raw, 'cannot read');
  });
  if (!st.isFile()) throw new UsageError('NOT_A_FILE', `${raw} is not a readable regular file`);
  const vhdx = isVhdxName(out);
  let size: number;
  if (vhdx) {
    size = alignUp(st.size, opts.logicalSectorSize ?? DEFAULT_LOGICAL_SECTOR_SIZE);
    resolveNewVhdx({ size, type, blockSize: opts.blockSize, logicalSectorSize: opts.logicalSectorSize });
  } else {
    if (opts.logicalSectorSize !== undefined)
      throw new UsageError('USAGE', '--sector-size applies to VHDX outputs only (a VHD has 512-byte sectors)', { field: 'sectorSize' });
    size = alignUp(st.size, SECTOR);
    validateNewDisk({ size, type, blockSize: opts.blockSize });
  }
  const format: OutputFormat = vhdx ? (type === 'fixed' ? 'vhdx-fixed' : 'vhdx') : type;
  await refuseExisting(out);
  const f = await openFile(raw, 'r');
  try {
    let allocated: number | null = null;
    await writeAtomically(out, async (o) => {
      allocated = await writeImage(o, rawSource(f, st.size), format, { ...opts, phase: 'import' });
    });
    return { virtualSize: size, allocatedBlocks: allocated };
  } finally {
    await f.close();
  }
}

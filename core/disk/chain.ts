// A disk as users see it: a VHD file plus, for a differencing disk, its chain
// of parents. Reads resolve each sector top-down by the sector bitmaps, in
// runs (never sector by sector); writes go to the top file only.
import * as nodePath from 'node:path';
import { ChainError, UsageError, type Finding } from '../errors.js';
import { bitRuns } from '../format/bitmap.js';
import { fileKey } from '../io/identity.js';
import { SECTOR } from '../format/bytes.js';
import { resolveParent } from './parent.js';
import type { ChainLayer, WritableLayer } from './layer.js';
import { VhdFile, type VhdFileOptions } from './vhd-file.js';
import { VhdxLayer } from './vhdx-layer.js';
import { resolveVhdxParent } from './vhdx-parent.js';
import { diskFormat } from './sniff.js';

export const MAX_CHAIN_DEPTH = 256;
/** Reads and writes are split into pieces of this size to bound memory. */
const IO_CHUNK = 8 * 1024 * 1024;
/** Block pieces of one read request issued together before waiting for them. */
const READ_WAVE = 16;

export interface OpenDiskOptions extends VhdFileOptions {
  /** Explicit path of the top file's parent (a moved chain). */
  parentPath?: string;
  ignoreIdMismatch?: boolean;
}

/** A chain of VHD files (VhdFile, the default: what the operations that change disks work on) or of any layers (VHDX too). */
export class Disk<L extends ChainLayer = VhdFile> {
  /** layers[0] is the file opened; the last is the base. */
  constructor(
    readonly layers: L[],
    readonly warnings: Finding[],
  ) {}

  get format(): 'vhd' | 'vhdx' {
    return this.top.format;
  }

  get top(): L {
    return this.layers[0];
  }

  get path(): string {
    return this.top.path;
  }

  get virtualSize(): number {
    return this.top.virtualSize;
  }

  async close(): Promise<void> {
    await Promise.all(this.layers.map((l) => l.close()));
  }

  /** Reads `length` bytes at `offset` through the chain; reads past the end are an error. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    await this.readInto(out, offset);
    return out;
  }

  async readInto(out: Uint8Array, offset: number): Promise<void> {
    const length = out.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.virtualSize) {
      throw new UsageError('READ_PAST_END', `read of ${length} bytes at ${offset} is outside the disk (${this.virtualSize} bytes)`);
    }
    if (length === 0) return;
    if (offset % SECTOR === 0 && length % SECTOR === 0) {
      await this.readSectors(offset / SECTOR, length / SECTOR, out, 0);
      return;
    }
    // Unaligned: read the covering sectors in bounded pieces and copy out.
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const first = Math.floor(pos / SECTOR);
      const want = Math.min(length - done, IO_CHUNK);
      const last = Math.ceil((pos + want) / SECTOR);
      const tmp = Buffer.alloc((last - first) * SECTOR);
      await this.readSectors(first, last - first, tmp, 0);
      const skip = pos - first * SECTOR;
      tmp.copy(out, done, skip, skip + want);
      done += want;
    }
  }

  /**
   * False when no layer stores anything for these sectors (every layer sparse
   * and its blocks there unallocated): callers skip such ranges without reading.
   */
  mayHaveData(sector: number, count: number): boolean {
    for (const layer of this.layers) {
      if (layer.type === 'fixed') return true;
      const spb = layer.sectorsPerBlock;
      const last = Math.min(Math.floor((sector + count - 1) / spb), layer.blockCount - 1);
      for (let b = Math.floor(sector / spb); b <= last; b++) if (layer.blockOffset(b) !== null) return true;
      if (layer.type === 'dynamic') return false;
    }
    return false;
  }

  /** Reads whole sectors through the chain into out[outOffset..]. */
  async readSectors(sector: number, count: number, out: Uint8Array, outOffset: number): Promise<void> {
    await this.readLayer(0, sector, count, out, outOffset);
  }

  private async readLayer(i: number, sector: number, count: number, out: Uint8Array, outOffset: number): Promise<void> {
    if (count === 0) return;
    if (i >= this.layers.length) {
      out.fill(0, outOffset, outOffset + count * SECTOR);
      return;
    }
    const layer = this.layers[i];
    // Sectors past this layer's size read as zeros (a parent smaller than its child).
    const inside = Math.max(0, Math.min(count, layer.totalSectors - sector));
    if (inside < count) out.fill(0, outOffset + inside * SECTOR, outOffset + count * SECTOR);
    if (inside === 0) return;
    if (layer.type === 'fixed') {
      await layer.readOwn(0, sector, inside, out, outOffset);
      return;
    }
    const spb = layer.sectorsPerBlock;
    const end = sector + inside;
    // The pieces of one request are independent: their reads run concurrently
    // (the thread pool overlaps them), and are all awaited before returning.
    const reads: Promise<void>[] = [];
    for (let s = sector; s < end;) {
      const block = Math.floor(s / spb);
      const start = s - block * spb;
      const n = Math.min(spb - start, end - s);
      const o = outOffset + (s - sector) * SECTOR;
      if (layer.blockOffset(block) === null) {
        if (layer.type === 'dynamic') out.fill(0, o, o + n * SECTOR);
        else reads.push(this.readLayer(i + 1, s, n, out, o));
      } else {
        reads.push(this.readAllocated(i, block, start, n, out, o));
      }
      s += n;
      // Waves bound what one large request keeps in flight.
      if (reads.length >= READ_WAVE) await settleAll(reads.splice(0));
    }
    await settleAll(reads);
  }

  /**
   * One allocated block: runs of set bits from the layer; clear bits read the
   * layer below (differencing) or zeros (dynamic: the spec's "never modified",
   * as libvhdi reads it; QEMU and vhd-lib would show the data area instead).
   * A full bitmap is one run, so a full block is still one read.
   */
  private async readAllocated(i: number, block: number, start: number, n: number, out: Uint8Array, o: number): Promise<void> {
    const layer = this.layers[i];
    const bm = await layer.readBitmap(block);
    const spb = layer.sectorsPerBlock;
    const reads: Promise<void>[] = [];
    for (const run of bitRuns(bm, start, start + n)) {
      const ro = o + (run.start - start) * SECTOR;
      if (run.set) reads.push(layer.readOwn(block, run.start, run.length, out, ro));
      else if (layer.type === 'dynamic') out.fill(0, ro, ro + run.length * SECTOR);
      else reads.push(this.readLayer(i + 1, block * spb + run.start, run.length, out, ro));
    }
    await settleAll(reads);
  }

  /**
   * Writes bytes at any offset into the top file. Partial sectors (the top's
   * write unit: a VHDX's logical sector) are completed from what the chain
   * shows there now, so the parent's bytes around an unaligned write are preserved.
   */
  async write(this: Disk<WritableLayer>, offset: number, data: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.virtualSize) {
      throw new UsageError('WRITE_PAST_END', `write of ${data.length} bytes at ${offset} is outside the disk (${this.virtualSize} bytes)`);
    }
    const unit = this.top.writeUnit ?? SECTOR;
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const first = Math.floor(pos / unit);
      const want = Math.min(data.length - done, IO_CHUNK);
      const last = Math.ceil((pos + want) / unit);
      const piece = data.subarray(done, done + want);
      const skip = pos - first * unit;
      let buf: Uint8Array;
      if (skip === 0 && want % unit === 0) buf = piece;
      else {
        buf = Buffer.alloc((last - first) * unit);
        await this.readInto(buf.subarray(0, unit), first * unit);
        if (last - first > 1) await this.readInto(buf.subarray((last - first - 1) * unit), (last - 1) * unit);
        buf.set(piece, skip);
      }
      await this.top.writeSectors((first * unit) / SECTOR, buf);
      done += want;
    }
  }
}

/**
 * Opens a file and every ancestor. Ancestors are opened read-only unless
 * `writableChain` (merge) asks otherwise; the top follows `writable`.
 */
export async function openDisk(path: string, opts: OpenDiskOptions & { writableChain?: boolean } = {}): Promise<Disk> {
  return walkChain(path, await VhdFile.open(path, opts), 'parentUniqueId', async (current, first) => {
    const parent = await resolveParent(current, {
      explicit: first ? opts.parentPath : undefined,
      ignoreIdMismatch: first ? opts.ignoreIdMismatch : false,
      writable: opts.writableChain ?? false,
      sync: opts.sync,
    });
    return { layer: parent.file, warnings: parent.warnings };
  });
}

/**
 * Opens a VHD or VHDX file and every ancestor, read-only: what the
 * operations that only read a disk (info, check, export, flatten) use.
 */
export async function openReadableDisk(path: string, opts: Pick<OpenDiskOptions, 'parentPath' | 'ignoreIdMismatch'> = {}): Promise<Disk<ChainLayer>> {
  if ((await diskFormat(path)) !== 'vhdx') return openDisk(path, opts);
  return walkChain<VhdxLayer>(path, await VhdxLayer.open(path), 'parentLocator.parent_linkage', (current, first) =>
    resolveVhdxParent(current.file, { explicit: first ? opts.parentPath : undefined, ignoreIdMismatch: first ? opts.ignoreIdMismatch : false }),
  );
}

/** A VHDX file opened for writing (its log replayed into it first) over its read-only ancestors: what write works on. */
export async function openWritableVhdxDisk(path: string): Promise<Disk<VhdxLayer>> {
  return walkChain<VhdxLayer>(path, await VhdxLayer.openWritable(path), 'parentLocator.parent_linkage', (current) => resolveVhdxParent(current.file));
}

/**
 * From an opened file down to its base, whatever the format: each layer's
 * notes named by file, cycles (by file and by id) and the depth limit
 * refused, every layer closed again if any step fails. `parentOf` resolves
 * one parent (`first`: the file the caller named, which alone may take an
 * explicit parent).
 */
async function walkChain<L extends ChainLayer>(
  path: string,
  top: L,
  linkField: string,
  parentOf: (current: L, first: boolean) => Promise<{ layer: L; warnings: Finding[] }>,
): Promise<Disk<L>> {
  const layers: L[] = [];
  const warnings: Finding[] = [];
  const seen = new Set<string>();
  try {
    let current = top;
    for (;;) {
      layers.push(current);
      warnings.push(...current.notes.map((n) => ({ ...n, message: `${nodePath.basename(current.path)}: ${n.message}` })));
      const key = await fileKey(current.path);
      const id = `id:${current.uuid}`;
      if (seen.has(key) || seen.has(id)) {
        throw new ChainError('CHAIN_CYCLE', `${path}: the parent chain loops back to ${current.path}`, { path, field: linkField });
      }
      seen.add(key);
      seen.add(id);
      if (current.type !== 'differencing') break;
      if (layers.length >= MAX_CHAIN_DEPTH) {
        throw new ChainError('CHAIN_TOO_DEEP', `${path}: chain is deeper than ${MAX_CHAIN_DEPTH} files`, { path });
      }
      const parent = await parentOf(current, layers.length === 1);
      warnings.push(...parent.warnings);
      current = parent.layer;
    }
  } catch (err) {
    await Promise.all(layers.map((l) => l.close()));
    throw err;
  }
  return new Disk(layers, warnings);
}

/** Like Promise.all, but waits for every promise before rethrowing the first failure: no read is left writing into a buffer the caller has moved on from. */
async function settleAll(ps: Promise<void>[]): Promise<void> {
  if (ps.length <= 1) return ps[0];
  const rs = await Promise.allSettled(ps);
  for (const r of rs) if (r.status === 'rejected') throw r.reason;
}

// One VHD file: its footer, header, BAT and batmap, bounds-checked on open,
// plus sector-level access to the data it stores itself. Reading through a
// chain of files is chain.ts's job; this class knows nothing of parents.
import type { ChainLayer } from './layer.js';
import { isVhdxStart } from './sniff.js';
import { FormatError, RefusedError, UsageError, type Finding } from '../errors.js';
import { BAT_UNUSED, batBytes, encodeBatRange } from '../format/bat.js';
import { batmapChecksum, encodeBatmapHeader } from '../format/batmap.js';
import { bitmapBytes, countSet, isFull, newBitmap, setBits, testBit } from '../format/bitmap.js';
import { alignUp, SECTOR, uuidToString } from '../format/bytes.js';
import { diskTypeName, encodeFooter, FOOTER_SIZE, type Footer } from '../format/footer.js';
import { HEADER_SIZE, type DynamicHeader } from '../format/header.js';
import { locatorSpaceBytes } from '../format/locator.js';
import { headCached, openFile, readExact, type RandomAccessFile } from '../io/file.js';
import { readLayout, type Batmap } from './layout.js';

export { MAX_BAT_BYTES, type Batmap } from './layout.js';
/** Bitmaps cached per file; 512 B each for 2 MiB blocks. */
const BITMAP_CACHE_LIMIT = 8192;
/** Bitmap reads kept in flight while walking many blocks (see bitmaps()). */
const BITMAP_READ_AHEAD = 32;
/** stageRuns starts a background fsync once this much has been staged since the last one. */
export const FLUSH_AHEAD_BYTES = 32 * 1024 * 1024;
/**
 * What a long copy (merge, delete's fold) gathers in its reused buffer before
 * one stageRuns. Small on purpose: a 4 MiB buffer is faulted in once and stays
 * warm, where 32 MiB cost ~7k more page faults per run for no gain in speed.
 */
export const STAGE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * When a long copy into a file should commit what it staged (see stageRuns):
 * each second or every COMMIT_BYTES, whichever comes first. Fewer commits
 * mean fewer fsyncs; the byte bound caps the space a crash can leave
 * allocated but unreferenced (the redo allocates afresh).
 */
export class CommitPacer {
  static readonly BYTES = 512 * 1024 * 1024;
  static readonly INTERVAL_MS = 1000;
  private bytes = 0;
  private last = Date.now();

  /** Counts `n` more staged bytes; true when a commit is due. */
  add(n: number): boolean {
    this.bytes += n;
    return this.bytes >= CommitPacer.BYTES || Date.now() - this.last >= CommitPacer.INTERVAL_MS;
  }

  committed(): void {
    this.bytes = 0;
    this.last = Date.now();
  }
}

export interface VhdFileOptions {
  writable?: boolean;
  /** fsync at the ordering points of each write batch (default true). */
  sync?: boolean;
  /** Read-only opens: read the file's first this-many bytes at once, for the metadata reads inside them (see headCached). */
  readAhead?: number;
  /** Read-only opens for a few metadata reads, closed at once: blocking reads (see BlockingFile in core/io/file.ts). */
  blocking?: boolean;
}

/** A run of `count` sectors from `sector` cut at block boundaries: each piece's block, first sector in it, length, and first sector on the disk. */
export function* blockPieces(sector: number, count: number, sectorsPerBlock: number): Generator<{ block: number; start: number; n: number; s: number }> {
  for (let s = sector; s < sector + count;) {
    const block = Math.floor(s / sectorsPerBlock);
    const start = s - block * sectorsPerBlock;
    const n = Math.min(sectorsPerBlock - start, sector + count - s);
    yield { block, start, n, s };
    s += n;
  }
}

export class VhdFile implements ChainLayer {
  readonly format = 'vhd' as const;
  readonly type: 'fixed' | 'dynamic' | 'differencing';
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly sectorsPerBlock: number;
  readonly bitmapSize: number;
  /** Where the trailing footer starts: new blocks are placed here. */
  footerOffset: number;
  fileSize: number;
  private readonly bitmapCache = new Map<number, Uint8Array>();
  private readonly syncWrites: boolean;
  // Staged but not yet committed (see stageRuns): bitmaps of existing blocks, new BAT entries, batmap bits.
  private uncommitted = false;
  private readonly pendingBitmaps = new Map<number, Uint8Array>();
  private pendingBat: number[] = [];
  private readonly pendingBatmap = new Set<number>();
  private failedStage: unknown = null;
  // A flush started after a stage so the disk writes while the next one is prepared (see stageRuns).
  private backgroundFlush: Promise<void> | null = null;
  private stagedSinceFlush = 0;

  private constructor(
    readonly path: string,
    readonly file: RandomAccessFile,
    readonly footer: Footer,
    readonly header: DynamicHeader | null,
    readonly bat: Uint32Array | null,
    readonly batmap: Batmap | null,
    /** Where the footer in use came from; 'copy' means the trailing footer is damaged. */
    readonly footerSource: 'trailing' | 'copy',
    /** Problems noticed while opening that did not prevent it (see check for the full list). */
    readonly notes: Finding[],
    geometry: { footerOffset: number; fileSize: number },
    opts: VhdFileOptions,
  ) {
    this.type = diskTypeName(footer.diskType);
    this.virtualSize = Number(footer.currentSize);
    this.blockSize = header ? header.blockSize : 0;
    this.sectorsPerBlock = this.blockSize / SECTOR;
    this.bitmapSize = header ? bitmapBytes(header.blockSize) : 0;
    this.footerOffset = geometry.footerOffset;
    this.fileSize = geometry.fileSize;
    this.syncWrites = opts.sync !== false;
  }

  get uuid(): string {
    return uuidToString(this.footer.uniqueId);
  }

  get writable(): boolean {
    return this.file.writable;
  }

  get totalSectors(): number {
    return this.virtualSize / SECTOR;
  }

  get blockCount(): number {
    return this.bat ? this.bat.length : 0;
  }

  static async open(path: string, opts: VhdFileOptions = {}): Promise<VhdFile> {
    const opened = await openFile(path, opts.writable ? 'r+' : 'r', { blocking: opts.blocking && !opts.writable });
    const file = opts.readAhead && !opts.writable ? headCached(opened, opts.readAhead) : opened;
    try {
      return await VhdFile.parse(path, file, opts);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  private static async parse(path: string, file: RandomAccessFile, opts: VhdFileOptions): Promise<VhdFile> {
    const layout = await readLayout(file, { full: false });
    const fatal = layout.fatal;
    if (fatal || !layout.footer) {
      const head = Buffer.alloc(8);
      if ((await file.read(head, 0)) === 8 && isVhdxStart(head)) {
        throw new UsageError(
          'VHDX_READ_ONLY',
          `${path} is a VHDX file, and this command works on VHD files only for now (vhdsnap's other commands read and change VHDX files)`,
          {
            field: 'format',
            path,
          },
        );
      }
      const first = fatal ?? { code: 'FORMAT', field: 'footer', message: 'no usable footer' };
      throw new FormatError(first.code, `${path}: ${first.message}`, { field: first.field ?? 'footer', path });
    }
    // What opening tolerated; a footer read from the copy is one note, not the trailing footer's errors.
    const notes: Finding[] = [];
    const trailingErrors = layout.footerSource === 'copy' ? layout.footers!.trailing.errors : [];
    if (trailingErrors.length > 0) {
      notes.push({
        code: 'FOOTER_FROM_COPY',
        field: 'footer',
        message: `trailing footer is damaged (${trailingErrors.map((e) => e.code).join(', ')}); using the copy at offset 0`,
      });
    }
    const fromTrailing = new Set(trailingErrors.map((e) => e.code));
    notes.push(...layout.findings.errors.filter((e) => !fromTrailing.has(e.code)), ...layout.findings.warnings);
    const source = layout.footerSource === 'copy' ? 'copy' : 'trailing';
    const geometry = { footerOffset: layout.footerOffset, fileSize: layout.fileSize };
    // Only the entries the virtual size needs are kept: the rest can never be read.
    const bat = layout.bat ? layout.bat.subarray(0, layout.needed) : null;
    return new VhdFile(path, file, layout.footer, layout.header, bat, layout.batmap, source, notes, geometry, opts);
  }

  async close(): Promise<void> {
    await this.backgroundFlush;
    this.backgroundFlush = null;
    this.bitmapCache.clear();
    this.pendingBitmaps.clear();
    await this.file.close();
  }

  // ---- reading -----------------------------------------------------------

  /** Byte offset of a block's bitmap, or null when unallocated (or past the table). */
  blockOffset(block: number): number | null {
    if (!this.bat || block >= this.bat.length) return null;
    const e = this.bat[block];
    return e === BAT_UNUSED ? null : e * SECTOR;
  }

  /** Sectors of block `b` inside the disk (the last block may be cut short by the virtual size). */
  sectorsInBlock(b: number): number {
    return Math.min(this.sectorsPerBlock, this.totalSectors - b * this.sectorsPerBlock);
  }

  /** The allocated blocks sorted by where they sit in the file: the order that reads the file front to back. */
  physicalOrder(): number[] {
    const blocks: number[] = [];
    for (let b = 0; b < this.blockCount; b++) if (this.blockOffset(b) !== null) blocks.push(b);
    return blocks.sort((a, b) => this.blockOffset(a)! - this.blockOffset(b)!);
  }

  /**
   * The bitmaps of `blocks` (allocated ones), in that order. A few reads are
   * kept in flight ahead of the caller: walking every bitmap of a large file
   * one awaited 512-byte read at a time is mostly waiting.
   */
  async *bitmaps(blocks: readonly number[]): AsyncGenerator<[block: number, bitmap: Uint8Array]> {
    const ahead: Promise<Uint8Array>[] = [];
    const start = (i: number) => {
      const p = this.readBitmap(blocks[i]);
      // Handled here so a read ahead of a caller who stops early is no unhandled rejection; awaiting p still throws.
      p.catch(() => undefined);
      ahead.push(p);
    };
    let next = 0;
    for (let i = 0; i < blocks.length; i++) {
      while (next < blocks.length && next < i + BITMAP_READ_AHEAD) start(next++);
      yield [blocks[i], await ahead.shift()!];
    }
  }

  /** Bytes whose bitmap bit is set in `blocks` (allocated ones): what they hold of their own. */
  async setBytes(blocks: readonly number[]): Promise<number> {
    let n = 0;
    for await (const [b, bm] of this.bitmaps(blocks)) n += countSet(bm, this.sectorsInBlock(b)) * SECTOR;
    return n;
  }

  /** The block's sector bitmap (cached); an unallocated block has none. */
  async readBitmap(block: number): Promise<Uint8Array> {
    // A bitmap changed by a stage and not yet committed is newer than the file's (and never evicted).
    const cached = this.bitmapCache.get(block) ?? this.pendingBitmaps.get(block);
    if (cached) return cached;
    const at = this.blockOffset(block);
    if (at === null) throw new UsageError('BLOCK_UNALLOCATED', `block ${block} is not allocated`);
    this.assertInData(at, this.bitmapSize, block);
    const bm = new Uint8Array(await readExact(this.file, at, this.bitmapSize, `bitmap of block ${block}`));
    this.cacheBitmap(block, bm);
    return bm;
  }

  private cacheBitmap(block: number, bm: Uint8Array): void {
    if (this.bitmapCache.size >= BITMAP_CACHE_LIMIT) {
      const oldest = this.bitmapCache.keys().next().value as number;
      this.bitmapCache.delete(oldest);
    }
    this.bitmapCache.set(block, bm);
  }

  /** Bounds check before any data access: the BAT may point anywhere in a crafted file. */
  private assertInData(at: number, length: number, block: number): void {
    if (at + length > this.footerOffset) {
      throw new FormatError('BAT_ENTRY_PAST_EOF', `${this.path}: block ${block} at ${at} (+${length}) runs past the end of the data (${this.footerOffset})`, {
        field: `bat[${block}]`,
        path: this.path,
      });
    }
  }

  /**
   * Reads `count` sectors starting at `sectorInBlock` of an allocated block
   * (or, for fixed disks, absolute sectors with block = 0) from this file only.
   */
  async readOwn(block: number, sectorInBlock: number, count: number, out: Uint8Array, outOffset: number): Promise<void> {
    const dst = out.subarray(outOffset, outOffset + count * SECTOR);
    if (this.type === 'fixed') {
      const at = sectorInBlock * SECTOR;
      const n = await this.file.read(dst, at);
      if (n < dst.length)
        throw new FormatError('TRUNCATED', `${this.path}: fixed data at ${at} is past the end of the file`, { path: this.path, field: 'data' });
      return;
    }
    const base = this.blockOffset(block);
    if (base === null) throw new UsageError('BLOCK_UNALLOCATED', `block ${block} is not allocated`);
    const at = base + this.bitmapSize + sectorInBlock * SECTOR;
    this.assertInData(at, dst.length, block);
    const n = await this.file.read(dst, at);
    if (n < dst.length)
      throw new FormatError('TRUNCATED', `${this.path}: block ${block} data is past the end of the file`, { path: this.path, field: `bat[${block}]` });
  }

  // ---- writing -----------------------------------------------------------

  private assertWritable(): void {
    if (!this.file.writable) throw new UsageError('READ_ONLY', `${this.path} was opened read-only`);
    if (this.footerSource === 'copy') {
      throw new RefusedError('NEEDS_REPAIR', `${this.path}: the trailing footer is damaged; run \`vhdsnap repair\` before writing`, { path: this.path });
    }
  }

  /** Writes whole sectors at `sector`; see writeRuns for the ordering guarantees. */
  async writeSectors(sector: number, data: Uint8Array): Promise<void> {
    await this.writeRuns([{ sector, data }]);
  }

  /** Writes several runs of whole sectors and makes them durable and visible: stageRuns, then commit. */
  async writeRuns(runs: { sector: number; data: Uint8Array }[]): Promise<void> {
    await this.stage(runs, false);
    await this.commit();
  }

  /**
   * Writes the data of several runs of whole sectors (which must not
   * overlap), but not yet the metadata that makes new data reachable: in
   * dynamic and differencing files missing blocks are allocated at the end
   * (footer moved first; a new block gets its bitmap and the given pieces,
   * the rest reads as zeros, being past the old end of the file), data
   * for existing blocks goes in place, and the BAT entries, bitmap bits of
   * existing blocks and batmap wait in memory for commit(). Other readers of
   * the file see new blocks and newly set sectors only after the commit;
   * sectors the file already mapped are overwritten in place, as by any
   * write. Several stages may share one commit (fewer fsyncs); the caller's
   * buffers can be reused as soon as this returns. Until the commit, this
   * object already reads the staged data back.
   */
  async stageRuns(runs: { sector: number; data: Uint8Array }[]): Promise<void> {
    await this.stage(runs, true);
  }

  private async stage(runs: { sector: number; data: Uint8Array }[], flushAhead: boolean): Promise<void> {
    this.assertWritable();
    if (this.failedStage) throw this.failedStage;
    for (const r of runs) {
      if (r.data.length % SECTOR !== 0) throw new UsageError('UNALIGNED_WRITE', 'writeRuns needs whole sectors');
      if (r.sector < 0 || r.sector + r.data.length / SECTOR > this.totalSectors) {
        throw new UsageError(
          'WRITE_PAST_END',
          `write of ${r.data.length / SECTOR} sectors at sector ${r.sector} is past the disk end (${this.totalSectors} sectors)`,
        );
      }
    }
    try {
      await this.stageChecked(runs);
    } catch (err) {
      // Half-staged metadata must never be committed: this object refuses further writes.
      this.failedStage = err;
      throw err;
    }
    // Start writing what was staged out now, without waiting: the disk works while the caller
    // prepares the next stage, and the ordering fsync in commit() has little left to do (pointless
    // when the commit follows at once). One flush per FLUSH_AHEAD_BYTES staged, each after the
    // previous: the I/O steps depend on the byte counts only, never on timing. A failure is kept
    // and thrown by commit, as fsync errors are reported only once.
    if (flushAhead && this.syncWrites) {
      for (const r of runs) this.stagedSinceFlush += r.data.length;
      if (this.stagedSinceFlush >= FLUSH_AHEAD_BYTES) {
        this.stagedSinceFlush = 0;
        const flush = (this.backgroundFlush ?? Promise.resolve()).then(() => this.file.sync());
        this.backgroundFlush = flush.then(
          () => undefined,
          (err: unknown) => {
            this.failedStage ??= err;
          },
        );
      }
    }
  }

  private async stageChecked(runs: { sector: number; data: Uint8Array }[]): Promise<void> {
    this.uncommitted = true;
    if (this.type === 'fixed') {
      for (const r of runs) await this.file.write(r.data, r.sector * SECTOR);
      return;
    }
    const spb = this.sectorsPerBlock;
    // Pieces per block: data for blocks that exist goes straight in; new blocks are appended.
    const fresh = new Map<number, { start: number; count: number; data: Uint8Array }[]>();
    const existing: { block: number; start: number; count: number }[] = [];
    const inPlace: { data: Uint8Array; at: number }[] = [];
    for (const r of runs) {
      for (const { block, start, n, s } of blockPieces(r.sector, r.data.length / SECTOR, spb)) {
        const src = (s - r.sector) * SECTOR;
        const piece = r.data.subarray(src, src + n * SECTOR);
        const at = this.blockOffset(block);
        if (at === null) {
          const list = fresh.get(block) ?? [];
          list.push({ start, count: n, data: piece });
          fresh.set(block, list);
        } else {
          const dataAt = at + this.bitmapSize + start * SECTOR;
          this.assertInData(dataAt, n * SECTOR, block);
          inPlace.push({ data: piece, at: dataAt });
          existing.push({ block, start, count: n });
        }
      }
    }
    // Collected first, so a bad entry is refused before anything is written; one at a time
    // (concurrent buffered writes to one file only contend for its inode lock).
    for (const p of inPlace) await this.file.write(p.data, p.at);
    // Bits of existing blocks: set in memory now, written by commit. Held here, not only in the cache, which may evict.
    for (const e of existing) {
      const bm = this.pendingBitmaps.get(e.block) ?? (await this.readBitmap(e.block));
      let changed = false;
      for (let i = e.start; i < e.start + e.count && !changed; i++) changed = !testBit(bm, i);
      if (!changed) continue;
      setBits(bm, e.start, e.count);
      this.pendingBitmaps.set(e.block, bm);
      this.pendingBatmap.add(e.block);
    }
    if (fresh.size === 0) return;
    const blockBytes = this.bitmapSize + this.blockSize;
    const placed: { block: number; at: number }[] = [];
    let next = alignUp(this.footerOffset, SECTOR);
    for (const block of fresh.keys()) {
      placed.push({ block, at: next });
      next += blockBytes;
    }
    await this.file.write(encodeFooter(this.footer), next);
    this.footerOffset = next;
    this.fileSize = next + FOOTER_SIZE;
    // New blocks lie past the old end of the file, so what is not written reads as zeros: each
    // block's bitmap and pieces are written straight from the callers' buffers, in file order (no
    // assembly copy, no zero fill). The bitmap sector also overwrites the old footer.
    for (const p of placed) {
      const bm = newBitmap(this.blockSize, this.type === 'dynamic');
      const pieces = fresh.get(p.block)!;
      if (this.type === 'differencing') for (const piece of pieces) setBits(bm, piece.start, piece.count);
      await this.file.write(bm, p.at);
      for (const piece of pieces) await this.file.write(piece.data, p.at + this.bitmapSize + piece.start * SECTOR);
      this.cacheBitmap(p.block, bm);
    }
    // The in-memory BAT points at the new blocks now (later stages write into them in place); the file's, at commit.
    for (const p of placed) {
      this.bat![p.block] = p.at / SECTOR;
      this.pendingBat.push(p.block);
      this.pendingBatmap.add(p.block);
    }
  }

  /**
   * Makes everything staged durable and visible: fsync, then the BAT
   * entries, bitmap bits and batmap, then fsync. A BAT entry or bitmap bit
   * never points at unwritten data.
   */
  async commit(): Promise<void> {
    await this.backgroundFlush;
    this.backgroundFlush = null;
    if (this.failedStage) throw this.failedStage;
    if (!this.uncommitted) return;
    if (this.syncWrites) await this.file.sync();
    this.stagedSinceFlush = 0;
    if (this.type !== 'fixed') {
      // Dynamic files normally have full bitmaps, but some writers leave bits clear, so both kinds are updated.
      for (const [b, bm] of this.pendingBitmaps) await this.file.write(bm, this.blockOffset(b)!);
      if (this.pendingBat.length > 0) await this.writeBatEntries(this.pendingBat);
      if (this.batmap && this.pendingBatmap.size > 0) await this.updateBatmap([...this.pendingBatmap]);
      if (this.syncWrites) await this.file.sync();
    }
    this.pendingBitmaps.clear();
    this.pendingBat = [];
    this.pendingBatmap.clear();
    this.uncommitted = false;
  }

  /** Writes the in-memory BAT entries of `blocks` in one span from the lowest to the highest index. */
  private async writeBatEntries(blocks: number[]): Promise<void> {
    let lo = Infinity;
    let hi = -1;
    for (const b of blocks) {
      lo = Math.min(lo, b);
      hi = Math.max(hi, b);
    }
    await this.file.write(encodeBatRange(this.bat!, lo, hi + 1), Number(this.header!.tableOffset) + lo * 4);
  }

  /**
   * Reserves `length` bytes (sector-padded) at the end of the file for new
   * metadata (locator payloads): the footer moves first, so the file stays
   * valid whether or not the caller's later writes land.
   */
  async appendRegion(length: number): Promise<number> {
    this.assertWritable();
    const at = alignUp(this.footerOffset, SECTOR);
    const next = at + alignUp(length, SECTOR);
    await this.file.write(encodeFooter(this.footer), next);
    if (this.syncWrites) await this.file.sync();
    this.footerOffset = next;
    this.fileSize = next + FOOTER_SIZE;
    return at;
  }

  /**
   * End of everything the file's metadata points at (header, BAT, batmap,
   * locator payloads, allocated blocks): bytes past it up to the footer are
   * referenced by nothing.
   */
  referencedEnd(): number {
    if (!this.header || !this.bat) return this.footerOffset;
    let end = Number(this.footer.dataOffset) + HEADER_SIZE;
    end = Math.max(end, Number(this.header.tableOffset) + batBytes(this.header.maxTableEntries));
    if (this.batmap) end = Math.max(end, this.batmap.headerOffset + SECTOR, Number(this.batmap.header.offset) + this.batmap.header.sizeSectors * SECTOR);
    for (const l of this.header.locators) {
      const space = locatorSpaceBytes(l);
      if (l.dataOffset > 0n && (l.dataLength > 0 || (space ?? 0) > 0)) end = Math.max(end, Number(l.dataOffset) + Math.max(space ?? 0, l.dataLength));
    }
    const blockBytes = this.bitmapSize + this.blockSize;
    for (let b = 0; b < this.bat.length; b++) {
      const at = this.blockOffset(b);
      if (at !== null) end = Math.max(end, at + blockBytes);
    }
    return alignUp(end, SECTOR);
  }

  /**
   * Gives back the space an interrupted copy left allocated but unreferenced
   * (staged blocks whose BAT entries were never committed: the footer had
   * already moved past them), never going below `floor` (the file's end
   * before that copy began, so space other tools left is kept): the footer
   * is written at the new end first, then the file cut after it. A resumed
   * merge then reuses that space instead of appending after it.
   */
  async reclaimUnreferencedTail(floor: number): Promise<number> {
    this.assertWritable();
    if (this.uncommitted || this.type === 'fixed') return 0;
    const end = Math.max(this.referencedEnd(), alignUp(floor, SECTOR));
    if (end >= this.footerOffset) return 0;
    const freed = this.footerOffset - end;
    await this.file.write(encodeFooter(this.footer), end);
    if (this.syncWrites) await this.file.sync();
    await this.file.truncate(end + FOOTER_SIZE);
    if (this.syncWrites) await this.file.sync();
    this.footerOffset = end;
    this.fileSize = end + FOOTER_SIZE;
    return freed;
  }

  /** Keeps blktap's "bitmap is full" map true for the blocks just touched. */
  private async updateBatmap(blocks: number[]): Promise<void> {
    const bm = this.batmap!;
    let changed = false;
    for (const b of blocks) {
      const full = isFull(await this.readBitmap(b), this.sectorsPerBlock);
      const byte = b >>> 3;
      const mask = 0x80 >>> (b & 7);
      const was = (bm.map[byte] & mask) !== 0;
      if (was !== full) {
        bm.map[byte] = full ? bm.map[byte] | mask : bm.map[byte] & ~mask;
        changed = true;
      }
    }
    if (!changed) return;
    bm.header.checksum = batmapChecksum(bm.map);
    await this.file.write(bm.map, Number(bm.header.offset));
    await this.file.write(encodeBatmapHeader(bm.header), bm.headerOffset);
  }
}

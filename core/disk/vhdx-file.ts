// One VHDX file: its headers, region table, metadata and BAT, bounds-checked
// on open (vhdx-layout.ts), plus access to the data it stores itself. Reads
// only; vhdx-writer.ts changes a file opened through it and keeps this view
// current (patchBat, forgetBitmap, grew). Fixed and dynamic files read as a whole disk; a differencing file
// gives its own sectors and which of them it has, so a chain can resolve
// each sector top-down. This class knows nothing of parents.
import { FormatError, UsageError, type Finding } from '../errors.js';
import { bitmapEntryIndex, BitmapState, decodeBatEntry, payloadEntryIndex, PayloadState, badEntryState } from '../format/vhdx/bat.js';
import { guidToString } from '../format/vhdx/guid.js';
import { type VhdxHeader } from '../format/vhdx/header.js';
import { MiB } from '../format/vhdx/le.js';
import { locatorValue, type ParentLocator } from '../format/vhdx/parent-locator.js';
import { openFile, type RandomAccessFile } from '../io/file.js';
import { readVhdxLayout, type VhdxLayout, type VhdxOverlayWrite } from './vhdx-layout.js';

export type { VhdxOverlayWrite };

/** Bitmap slices cached per file (a few KiB each at most). */
const BITMAP_CACHE_LIMIT = 4096;

export interface VhdxFileOptions {
  /**
   * The writes replaying the file's log produced, applied to every read
   * (metadata, BAT, bitmaps, data); required when the current header names
   * a log, else opening throws VHDX_LOG_NOT_REPLAYED. Nothing is written.
   */
  overlay?: readonly VhdxOverlayWrite[];
  /** False: refuse a file whose log needs replaying (VHDX_LOG_NOT_REPLAYED) rather than replay it in memory. */
  replayLog?: boolean;
  /** Read-only opens for a few metadata reads, closed at once: blocking reads (see BlockingFile in core/io/file.ts). */
  blocking?: boolean;
}

/** What a differencing layer stores of a run of sectors: the bytes, and per logical sector whether it has them. */
export interface OwnRead {
  /** The file's own bytes; zeros where `present` is 0. */
  data: Buffer;
  /** One byte per logical sector: 1 when this file defines the sector, 0 when its parent must. */
  present: Uint8Array;
}

export class VhdxFile {
  readonly type: 'fixed' | 'dynamic' | 'differencing';
  readonly virtualSize: number;
  readonly blockSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  readonly hasParent: boolean;
  readonly leaveBlocksAllocated: boolean;
  readonly chunkRatio: number;
  /** Payload blocks the virtual size needs. */
  readonly blockCount: number;
  /** The current header (1 or 2 says which copy). */
  readonly header: VhdxHeader;
  readonly headerIndex: 1 | 2;
  /** The region table in use; 2 means the first copy is damaged. */
  readonly regionTableIndex: 1 | 2;
  readonly parentLocator: ParentLocator | null;
  /** The virtual disk id (page 83 data), lowercase text; null when the item is missing. */
  readonly diskId: string | null;
  readonly creator: string;
  /** Log entries replayed in memory on open (0: closed cleanly). */
  readonly logEntriesReplayed: number;
  /** File offset of the BAT region. */
  readonly batOffset: number;
  private readonly bat: Uint8Array;
  private readonly sectorsPerBlock: number;
  /** The file's size as opened (with the replayed log), or as grown by a writer: reads are checked against it. */
  private fileSize: number;
  private readonly bitmapCache = new Map<number, Uint8Array>();
  readonly metadataRegion: { offset: number; length: number };

  private constructor(
    readonly path: string,
    /** The file as read: with the replayed log applied (a writer's handle: the file itself). */
    readonly file: RandomAccessFile,
    layout: VhdxLayout,
    /** Problems noticed while opening that did not prevent it. */
    readonly notes: Finding[],
  ) {
    const m = layout.metadata!;
    this.header = layout.header!;
    this.headerIndex = layout.headerIndex!;
    this.regionTableIndex = layout.regionTableIndex!;
    this.virtualSize = m.virtualSize;
    this.blockSize = m.blockSize;
    this.logicalSectorSize = m.logicalSectorSize;
    this.physicalSectorSize = m.physicalSectorSize;
    this.hasParent = m.hasParent;
    this.leaveBlocksAllocated = m.leaveBlocksAllocated;
    this.parentLocator = m.parentLocator;
    this.diskId = m.page83 ? guidToString(m.page83) : null;
    this.creator = layout.identifier!.creator;
    this.logEntriesReplayed = layout.logReplay?.entries ?? 0;
    this.chunkRatio = layout.geometry!.chunkRatio;
    this.blockCount = layout.geometry!.payloadBlocks;
    this.bat = layout.bat!;
    this.batOffset = Number(layout.regions!.bat.fileOffset);
    this.sectorsPerBlock = this.blockSize / this.logicalSectorSize;
    this.fileSize = layout.fileSize;
    this.metadataRegion = { offset: Number(layout.regions!.metadata.fileOffset), length: layout.regions!.metadata.length };
    // MS-VHDX has no type field: a parent makes it differencing; a fixed file keeps every block allocated.
    this.type = m.hasParent ? 'differencing' : m.leaveBlocksAllocated ? 'fixed' : 'dynamic';
  }

  static async open(path: string, opts: VhdxFileOptions = {}): Promise<VhdxFile> {
    return VhdxFile.fromHandle(path, await openFile(path, 'r', { blocking: opts.blocking }), opts);
  }

  /** Reads the layout through an open handle (closed on failure). */
  static async fromHandle(path: string, raw: RandomAccessFile, opts: VhdxFileOptions = {}): Promise<VhdxFile> {
    try {
      const layout = await readVhdxLayout(raw, { overlay: opts.overlay, replayLog: opts.replayLog });
      if (layout.fatal) {
        const first = layout.fatal;
        throw new FormatError(first.code, `${path}: ${first.message}`, { field: first.field ?? 'header', path });
      }
      return new VhdxFile(path, layout.file, layout, [...layout.findings.errors, ...layout.findings.warnings]);
    } catch (err) {
      await raw.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.bitmapCache.clear();
    await this.file.close();
  }

  /** The metadata region as read (with the replayed log): a rewritten copy keeps it verbatim (core/ops/compact-vhdx.ts). */
  async readMetadataRegion(): Promise<Buffer> {
    const { offset, length } = this.metadataRegion;
    const b = Buffer.alloc(length);
    await this.file.read(b, offset);
    return b;
  }

  /** The data write GUID (lowercase, no braces): what a child's parent_linkage must name. */
  get dataWriteGuid(): string {
    return guidToString(this.header.dataWriteGuid);
  }

  /** The parent_linkage a differencing file names (braced, as stored), if any. */
  get parentLinkage(): string | undefined {
    return this.parentLocator ? locatorValue(this.parentLocator, 'parent_linkage') : undefined;
  }

  get totalSectors(): number {
    return this.virtualSize / this.logicalSectorSize;
  }

  /** Payload block `b`'s state and file offset (bytes); a state the file kind does not allow is a FormatError. */
  blockEntry(b: number): { state: number; offset: number } {
    if (!Number.isInteger(b) || b < 0 || b >= this.blockCount)
      throw new UsageError('BLOCK_OUT_OF_RANGE', `block ${b} is outside the disk (${this.blockCount} blocks)`);
    const i = payloadEntryIndex(b, this.chunkRatio);
    const e = decodeBatEntry(this.bat, i * 8);
    const bad = badEntryState(e, i, { ratio: this.chunkRatio, differencing: this.hasParent });
    if (bad) throw new FormatError(bad.code, `${this.path}: ${bad.message}`, { field: bad.field, path: this.path });
    return { state: e.state, offset: e.offsetMB * MiB };
  }

  /** Writer side: the live BAT bytes (entry i at i * 8), to patch with encodeBatEntry; forget cached bitmaps it changes. */
  batBytes(): Uint8Array {
    return this.bat;
  }

  /** Writer side: block `b`'s cached sector bits are stale. */
  forgetBitmap(b: number): void {
    this.bitmapCache.delete(b);
  }

  /** Writer side: the file now extends to `size` bytes. */
  grew(size: number): void {
    this.fileSize = Math.max(this.fileSize, size);
  }

  /** Payload block `b`'s state (PayloadState). */
  blockState(b: number): number {
    return this.blockEntry(b).state;
  }

  /** Bytes of block `b` inside the disk (the last block may be cut short by the virtual size). */
  bytesInBlock(b: number): number {
    return Math.min(this.blockSize, this.virtualSize - b * this.blockSize);
  }

  /**
   * The sector bits of a partially present block `b` (bit i of byte i/8, least
   * significant first: logical sector i of the block is in this file).
   */
  async blockBitmap(b: number): Promise<Uint8Array> {
    const cached = this.bitmapCache.get(b);
    if (cached) return cached;
    const chunk = Math.floor(b / this.chunkRatio);
    const i = bitmapEntryIndex(chunk, this.chunkRatio);
    const e = decodeBatEntry(this.bat, i * 8);
    if (e.state !== BitmapState.Present) {
      throw new FormatError('VHDX_BITMAP_MISSING', `${this.path}: block ${b} is partially present but chunk ${chunk} has no sector bitmap block`, {
        field: `bat[${i}]`,
        path: this.path,
      });
    }
    const sliceBytes = this.sectorsPerBlock / 8;
    const at = e.offsetMB * MiB + (b % this.chunkRatio) * sliceBytes;
    this.assertInFile(at, sliceBytes, `bat[${i}]`, `sector bitmap of chunk ${chunk}`);
    const bm = Buffer.alloc(sliceBytes);
    await this.file.read(bm, at);
    if (this.bitmapCache.size >= BITMAP_CACHE_LIMIT) this.bitmapCache.delete(this.bitmapCache.keys().next().value as number);
    this.bitmapCache.set(b, bm);
    return bm;
  }

  /** Bounds check before any data access: the BAT may point anywhere in a crafted file. */
  private assertInFile(at: number, length: number, field: string, what: string): void {
    if (at < MiB || at + length > this.fileSize) {
      const message = `${this.path}: ${what} at ${at} (+${length}) is not inside the file past the header section (${this.fileSize} bytes)`;
      throw new FormatError('VHDX_BAT_ENTRY_PAST_EOF', message, { field, path: this.path });
    }
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.virtualSize) {
      throw new UsageError('READ_PAST_END', `read of ${length} bytes at ${offset} is outside the disk (${this.virtualSize} bytes)`);
    }
  }

  /**
   * The bytes block `b` stores from `inBlock`, into all of `out` (any 512-byte
   * granule: a chain reads in 512-byte sectors whatever the logical size).
   * The block must be fully or partially present.
   */
  async readStored(b: number, inBlock: number, out: Uint8Array): Promise<void> {
    const e = this.blockEntry(b);
    if (e.state !== PayloadState.FullyPresent && e.state !== PayloadState.PartiallyPresent)
      throw new UsageError('VHDX_BLOCK_NOT_STORED', `block ${b} of ${this.path} stores no data (state ${e.state})`);
    if (inBlock < 0 || inBlock + out.length > this.bytesInBlock(b))
      throw new UsageError('READ_PAST_END', `read of ${out.length} bytes at ${inBlock} is outside block ${b}`);
    await this.readBlockBytes(b, e.offset, inBlock, out.length, out, 0);
  }

  /** Reads `length` bytes of block `b` from `inBlock` into `out` at `outAt` (an allocated block). */
  private async readBlockBytes(b: number, blockOffset: number, inBlock: number, length: number, out: Uint8Array, outAt: number): Promise<void> {
    const at = blockOffset + inBlock;
    this.assertInFile(at, length, `bat[${payloadEntryIndex(b, this.chunkRatio)}]`, `block ${b}`);
    await this.file.read(out.subarray(outAt, outAt + length), at);
  }

  /**
   * Reads `length` bytes of the virtual disk at `offset` (any alignment).
   * Blocks not present, zero, unmapped or undefined read as zeros. For a
   * differencing file use readOwn: its content depends on the parent.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.hasParent)
      throw new UsageError('VHDX_NEEDS_PARENT', `${this.path} is a differencing disk: its content needs its parent (read it through readOwn)`);
    this.checkRange(offset, length);
    const out = Buffer.alloc(length);
    for (let pos = offset; pos < offset + length;) {
      const b = Math.floor(pos / this.blockSize);
      const inBlock = pos - b * this.blockSize;
      const n = Math.min(this.blockSize - inBlock, offset + length - pos);
      const e = this.blockEntry(b);
      if (e.state === PayloadState.FullyPresent) await this.readBlockBytes(b, e.offset, inBlock, n, out, pos - offset);
      pos += n;
    }
    return out;
  }

  /**
   * What this file itself stores of `length` bytes at `offset` (both whole
   * logical sectors), and which sectors it defines. Fully present blocks
   * define every sector; partially present ones those their sector bitmap
   * sets; not-present blocks none (in a fixed or dynamic file: all, as
   * zeros). Zero, unmapped and undefined blocks define every sector as
   * zeros: MS-VHDX allows any content for the last two, and zeros never
   * expose a parent's stale data.
   */
  async readOwn(offset: number, length: number, scratch?: OwnRead): Promise<OwnRead> {
    const lss = this.logicalSectorSize;
    if (offset % lss !== 0 || length % lss !== 0)
      throw new UsageError('UNALIGNED_READ', `readOwn needs whole ${lss}-byte sectors (got ${length} bytes at ${offset})`);
    this.checkRange(offset, length);
    // A caller reading step by step passes its buffers back: a fresh 8 MiB buffer per step costs its page faults each time.
    const data = scratch && scratch.data.length >= length ? scratch.data.subarray(0, length).fill(0) : Buffer.alloc(length);
    const present = scratch && scratch.present.length >= length / lss ? scratch.present.subarray(0, length / lss).fill(0) : new Uint8Array(length / lss);
    for (let pos = offset; pos < offset + length;) {
      const b = Math.floor(pos / this.blockSize);
      const inBlock = pos - b * this.blockSize;
      const n = Math.min(this.blockSize - inBlock, offset + length - pos);
      const outAt = pos - offset;
      const first = outAt / lss;
      const count = n / lss;
      const e = this.blockEntry(b);
      if (e.state === PayloadState.FullyPresent) {
        await this.readBlockBytes(b, e.offset, inBlock, n, data, outAt);
        present.fill(1, first, first + count);
      } else if (e.state === PayloadState.PartiallyPresent) {
        const bm = await this.blockBitmap(b);
        const s0 = inBlock / lss;
        // Runs of set bits, each read in one call.
        for (let k = 0; k < count;) {
          const bit = (s: number) => (bm[s >>> 3] >>> (s & 7)) & 1;
          const on = bit(s0 + k);
          let j = k + 1;
          while (j < count && bit(s0 + j) === on) j++;
          if (on) {
            await this.readBlockBytes(b, e.offset, inBlock + k * lss, (j - k) * lss, data, outAt + k * lss);
            present.fill(1, first + k, first + j);
          }
          k = j;
        }
      } else if (e.state !== PayloadState.NotPresent || !this.hasParent) {
        present.fill(1, first, first + count);
      }
      pos += n;
    }
    return { data, present };
  }
}

// Compacting a VHDX (the compact operation's VHDX half; core/ops/compact.ts
// holds the journal, the rename and recovery for both formats). The copy is
// the same disk in a packed layout: the metadata region verbatim (disk id,
// block and sector sizes, virtual size, file parameters, parent locator), the
// data write GUID kept, a clean empty log, and only the blocks that matter:
// - base (no parent): a block not stored (not present, zero, unmapped,
//   undefined) reads as zeros, and so does a fully present block of zeros:
//   both become not present;
// - differencing: zero, unmapped and undefined blocks keep their state (they
//   read as zeros over the parent) without space; a partially present block
//   with no sector-bitmap bit set goes, every other stored block stays, zeros
//   included (a set bit over zeros hides the parent's data).
// A file whose log was not replayed is read through the in-memory replay
// (VhdxFile.open), so the copy holds the replayed content.
import * as nodePath from 'node:path';
import { CancelledError } from '../errors.js';
import { PayloadState, SECTOR_BITMAP_BLOCK_SIZE } from '../format/vhdx/bat.js';
import { isAllZero } from '../format/bytes.js';
import { encodeVhdxBat, planNewVhdx, type VhdxPlan } from '../format/vhdx/new-file.js';
import { type RandomAccessFile } from '../io/file.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { cancelledMessage, ProgressReporter, type JobContext } from '../job.js';
import { sizeText } from '../size.js';

/** Bytes read and written at a time inside a block (blocks are up to 256 MiB). */
const STEP = 8 * 1024 * 1024;

const isStored = (state: number) => state === PayloadState.FullyPresent || state === PayloadState.PartiallyPresent;

/** The layout of a rewritten copy of `f`: its metadata verbatim; the data write GUID kept unless the copy's content differs (merge). */
export function rewriteLayout(f: VhdxFile, metadata: Uint8Array, dataWriteGuid: Uint8Array = f.header.dataWriteGuid): VhdxPlan {
  return planNewVhdx(
    { virtualSize: f.virtualSize, blockSize: f.blockSize, logicalSectorSize: f.logicalSectorSize, fixed: f.leaveBlocksAllocated, hasParent: f.hasParent },
    { metadata, dataWriteGuid, logLength: f.header.logLength, creator: f.creator },
  );
}

function hasSetBit(bm: Uint8Array, sectors: number): boolean {
  const whole = sectors >>> 3;
  for (let i = 0; i < whole; i++) if (bm[i] !== 0) return true;
  const rest = sectors & 7;
  return rest > 0 && (bm[whole] & ((1 << rest) - 1)) !== 0;
}

/** What planning knows without reading data: stored blocks now, those known to go, and the copy's largest size. */
export interface VhdxCompactEstimate {
  blocksBefore: number;
  blocksKnownEmpty: number;
  /** The copy's size if every other stored block stays. */
  maxBytesAfter: number;
  /** Bytes of block data the copy reads. */
  bytesToRead: number;
}

export async function estimateVhdxCompact(f: VhdxFile): Promise<VhdxCompactEstimate> {
  const plan = rewriteLayout(f, await f.readMetadataRegion());
  let stored = 0;
  let empty = 0;
  const chunks = new Set<number>();
  for (let b = 0; b < f.blockCount; b++) {
    const state = f.blockState(b);
    if (!isStored(state)) continue;
    stored++;
    if (state === PayloadState.PartiallyPresent) {
      if (!hasSetBit(await f.blockBitmap(b), f.bytesInBlock(b) / f.logicalSectorSize)) empty++;
      else chunks.add(Math.floor(b / f.chunkRatio));
    }
  }
  const kept = stored - empty;
  return {
    blocksBefore: stored,
    blocksKnownEmpty: empty,
    maxBytesAfter: plan.dataStart + kept * f.blockSize + chunks.size * SECTOR_BITMAP_BLOCK_SIZE,
    bytesToRead: kept * f.blockSize,
  };
}

/** The plan's sentence: what goes, and what that frees (at least, for a base disk: its all-zero blocks are found while copying). */
export function vhdxCompactSummary(path: string, f: VhdxFile, e: VhdxCompactEstimate, fileSize: number): string {
  const frees = fileSize - e.maxBytesAfter;
  const freed = frees > 0 ? sizeText(frees) : 'nothing';
  const name = nodePath.basename(path);
  if (f.hasParent) {
    return `rewrite ${name} without its ${e.blocksKnownEmpty} of ${e.blocksBefore} stored blocks that have no sector of their own and without unused space, under a temporary name, then rename it over the original: this frees ${freed}`;
  }
  return `rewrite ${name} without the blocks that read as all zeros (unmapped, zero or never written, and those of its ${e.blocksBefore} stored blocks that hold only zeros, found while copying), under a temporary name, then rename it over the original: this frees at least ${freed}`;
}

/**
 * Lays out the blocks of a rewritten VHDX as they are copied (compact, merge):
 * each kept block takes the next 1 MiB aligned place after the metadata (a
 * fixed file's blocks have theirs in index order), a chunk's sector bitmap
 * the place after the first partially present block of the chunk; finish()
 * writes the BAT and the plan's headers and metadata. Blocks are added in
 * index order.
 */
export class VhdxBlockPlacer {
  private readonly states: Uint8Array;
  private readonly offsets: Float64Array;
  private readonly bitmaps: Float64Array;
  private readonly sliceBytes: number;
  private next: number;
  private chunk = -1;
  private chunkMap: Buffer | null = null;
  kept = 0;

  constructor(
    private readonly out: RandomAccessFile,
    private readonly plan: VhdxPlan,
  ) {
    const blocks = plan.geometry.payloadBlocks;
    this.states = new Uint8Array(blocks);
    this.offsets = new Float64Array(blocks);
    this.bitmaps = new Float64Array(plan.geometry.bitmapBlocks);
    this.sliceBytes = plan.spec.blockSize / plan.spec.logicalSectorSize / 8;
    this.next = plan.spec.fixed ? plan.dataStart + blocks * plan.spec.blockSize : plan.dataStart;
  }

  /** Where block b's data goes if it is kept: write there first, then keep() it. */
  offsetFor(b: number): number {
    return this.plan.spec.fixed ? this.plan.dataStart + b * this.plan.spec.blockSize : this.next;
  }

  /** A state that stores nothing (zero, unmapped, undefined in a differencing file). */
  mark(b: number, state: number): void {
    this.states[b] = state;
  }

  /** Keeps block b at offsetFor(b), with its slice of the sector bitmap when partially present. */
  async keep(b: number, state: number, bm: Uint8Array | null): Promise<void> {
    this.offsets[b] = this.offsetFor(b);
    if (!this.plan.spec.fixed) this.next += this.plan.spec.blockSize;
    this.states[b] = state;
    this.kept++;
    if (!bm) return;
    const ratio = this.plan.geometry.chunkRatio;
    const c = Math.floor(b / ratio);
    if (c !== this.chunk) {
      await this.flushChunk();
      this.chunk = c;
    }
    if (!this.chunkMap) {
      this.chunkMap = Buffer.alloc(SECTOR_BITMAP_BLOCK_SIZE);
      this.bitmaps[c] = this.next;
      this.next += SECTOR_BITMAP_BLOCK_SIZE;
    }
    this.chunkMap.set(bm.subarray(0, this.sliceBytes), (b % ratio) * this.sliceBytes);
  }

  private async flushChunk(): Promise<void> {
    if (this.chunkMap) await this.out.write(this.chunkMap, this.bitmaps[this.chunk]);
    this.chunkMap = null;
  }

  /** Writes the last bitmap, the BAT and the fixed pieces; returns the file's size. */
  async finish(): Promise<number> {
    await this.flushChunk();
    // Every kept block's whole space is in the file, the last one's too (unwritten parts are holes).
    await this.out.truncate(this.next);
    await this.out.write(encodeVhdxBat(this.plan, this.states, this.offsets, this.bitmaps), this.plan.batOffset);
    for (const p of this.plan.pieces) await this.out.write(p.data, p.at);
    return this.next;
  }
}

/** Writes the compacted copy of `f` into the empty file `out`. */
export async function writeCompactedVhdx(f: VhdxFile, out: RandomAccessFile, ctx: JobContext): Promise<{ blocksAfter: number; bytesAfter: number }> {
  const placer = new VhdxBlockPlacer(out, rewriteLayout(f, await f.readMetadataRegion()));
  const progress = new ProgressReporter(ctx, 'compact', f.virtualSize);
  for (let b = 0; b < f.blockCount; b++) {
    // The original is never written: dropping the copy (the caller does) is the whole rollback.
    if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('compact'));
    const state = f.blockState(b);
    const bytes = f.bytesInBlock(b);
    progress.update(b * f.blockSize);
    if (!isStored(state)) {
      // Not stored: zeros over the parent in a differencing file (the state says so, no space needed); in a base disk no entry reads the same.
      if (f.hasParent && state !== PayloadState.NotPresent) placer.mark(b, state);
      continue;
    }
    let bm: Uint8Array | null = null;
    if (state === PayloadState.PartiallyPresent) {
      bm = await f.blockBitmap(b);
      if (!hasSetBit(bm, bytes / f.logicalSectorSize)) continue;
    }
    // Steps of the block are written at their place as they are read; an all-zero step stays a hole.
    const at = placer.offsetFor(b);
    let data = false;
    for (let s = 0; s < bytes; s += STEP) {
      if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('compact'));
      const { data: buf } = await f.readOwn(b * f.blockSize + s, Math.min(STEP, bytes - s));
      if (isAllZero(buf)) continue;
      data = true;
      await out.write(buf, at + s);
    }
    // A base disk's block of zeros reads the same not present: it goes (it wrote nothing).
    if (!f.hasParent && !data) continue;
    await placer.keep(b, state, bm);
  }
  progress.update(f.virtualSize);
  const bytesAfter = await placer.finish();
  return { blocksAfter: placer.kept, bytesAfter };
}

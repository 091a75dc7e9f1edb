// Writing into an existing VHDX file (fixed, dynamic or differencing), the
// way MS-VHDX orders it:
//   open     a log left by a crash is replayed into the file first, then the
//            header is rewritten with an empty log;
//   session  before the first change, the other header copy becomes current
//            (sequence + 1) with new file and data write GUIDs (so a child's
//            parent_linkage no longer matches: its parent changed) and a new
//            log GUID;
//   write    data goes to its final place (new blocks appended, 1 MiB
//            aligned); then the BAT and sector-bitmap pages it changed are
//            written as a log entry, flushed, written in place, flushed;
//   close    the header is rewritten once more with an empty log.
// A kill at any point leaves a file that replays (here, or in Hyper-V or
// QEMU) to the metadata before or after one entry: never a BAT entry naming
// data that is not there.
import { UsageError } from '../errors.js';
import {
  bitmapEntryIndex,
  BitmapState,
  decodeBatEntry,
  encodeBatEntry,
  payloadEntryIndex,
  PayloadState,
  SECTOR_BITMAP_BLOCK_SIZE,
} from '../format/vhdx/bat.js';
import { newGuid, ZERO_GUID } from '../format/vhdx/guid.js';
import { encodeHeader, HEADER_OFFSETS, HEADER_SIZE, pickCurrentHeader, readHeaderCopy, type VhdxHeader } from '../format/vhdx/header.js';
import { MiB } from '../format/vhdx/le.js';
import { descriptorSectors, LOG_SECTOR } from '../format/vhdx/log-entry.js';
import { replayLog, type LogWrite } from '../format/vhdx/log-replay.js';
import { applyWrites, encodeLogEntry, placeLogEntry } from '../format/vhdx/log-writer.js';
import { openFile, type RandomAccessFile } from '../io/file.js';
import { VhdxFile } from './vhdx-file.js';

const PAGE = LOG_SECTOR;

async function readAt(f: RandomAccessFile, at: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await f.read(buf, at);
  return buf;
}

/** The current header and which copy holds it, as stored. */
async function currentHeader(f: RandomAccessFile): Promise<{ header: VhdxHeader; index: 1 | 2 }> {
  const h1 = readHeaderCopy(await readAt(f, HEADER_OFFSETS[0], HEADER_SIZE), 1);
  const h2 = readHeaderCopy(await readAt(f, HEADER_OFFSETS[1], HEADER_SIZE), 2);
  const pick = pickCurrentHeader(h1, h2);
  if (!pick.current) {
    const e = pick.errors[0];
    throw new UsageError(e.code, `${f.path}: ${e.message}`, { field: e.field, path: f.path });
  }
  return { header: pick.current.header, index: pick.current.index };
}

/**
 * Makes `change` current: written to the other header copy with the next
 * sequence number and flushed, so a torn write leaves the old one current.
 */
async function advanceHeader(
  f: RandomAccessFile,
  cur: { header: VhdxHeader; index: 1 | 2 },
  change: Partial<VhdxHeader>,
): Promise<{ header: VhdxHeader; index: 1 | 2 }> {
  const header: VhdxHeader = { ...cur.header, ...change, sequenceNumber: cur.header.sequenceNumber + 1n };
  const index = cur.index === 1 ? 2 : 1;
  await f.write(encodeHeader(header), HEADER_OFFSETS[index - 1]);
  await f.sync();
  return { header, index };
}

/**
 * Replays the log the current header names into the file itself (what the
 * first write after a crash must do), then clears the header's log GUID.
 * Returns the entries replayed; 0 and nothing written when the log is empty.
 */
export async function replayLogIntoFile(f: RandomAccessFile): Promise<number> {
  const cur = await currentHeader(f);
  if (cur.header.logGuid.every((b) => b === 0)) return 0;
  const r = await replayLog((at, length) => readAt(f, at, length), {
    offset: Number(cur.header.logOffset),
    length: cur.header.logLength,
    guid: cur.header.logGuid,
    fileSize: await f.size(),
  });
  if (r.entries > 0) {
    await applyWrites({ write: (offset, data) => f.write(data, offset) }, r.writes);
    if ((await f.size()) < r.lastFileOffset) await f.truncate(r.lastFileOffset);
    await f.sync();
  }
  await advanceHeader(f, cur, { logGuid: ZERO_GUID });
  return r.entries;
}

/** Replays a VHDX file's pending log into it (a no-op for a file closed cleanly); returns the entries replayed. */
export async function replayVhdxLog(path: string): Promise<number> {
  const f = await openFile(path, 'r+');
  try {
    return await replayLogIntoFile(f);
  } finally {
    await f.close();
  }
}

export class VhdxWriter {
  private session: { header: VhdxHeader; index: 1 | 2 } | null = null;
  /** A write failed part way: its log entry may be needed, so close leaves the log for the next replay. */
  private failed = false;
  private sequence = 0n;
  private head = 0;
  /** Where the next block is appended (1 MiB aligned). */
  private end: number;

  private constructor(
    readonly file: VhdxFile,
    fileSize: number,
  ) {
    this.end = Math.ceil(fileSize / MiB) * MiB;
  }

  /** Opens `path` for writing: its log, if any, is replayed into it first. */
  static async open(path: string): Promise<VhdxWriter> {
    const raw = await openFile(path, 'r+');
    try {
      await replayLogIntoFile(raw);
    } catch (err) {
      await raw.close();
      throw err;
    }
    const f = await VhdxFile.fromHandle(path, raw, { replayLog: false });
    return new VhdxWriter(f, await raw.size());
  }

  private get io(): RandomAccessFile {
    return this.file.file;
  }

  /** Ends the session (an empty log in the current header) and closes the file. */
  async close(): Promise<void> {
    try {
      if (this.session && !this.failed) await advanceHeader(this.io, this.session, { logGuid: ZERO_GUID });
      this.session = null;
    } finally {
      await this.file.close();
    }
  }

  /** `sameData`: the change leaves what the disk shows as it was (a relink), so its children's parent_linkage stays true. */
  private async begin(sameData = false): Promise<void> {
    if (this.session) return;
    const cur = await currentHeader(this.io);
    const ids = sameData ? { fileWriteGuid: newGuid() } : { fileWriteGuid: newGuid(), dataWriteGuid: newGuid() };
    this.session = await advanceHeader(this.io, cur, { ...ids, logGuid: newGuid() });
  }

  /**
   * Writes a new metadata region (the same size: core/format/vhdx/metadata.ts
   * replaceSystemItem makes one) as one log entry of the pages that differ.
   * For changes that leave the disk's content as it was: the data write GUID
   * is kept. The file must be closed after it (its parsed metadata is stale).
   */
  async replaceMetadata(region: Uint8Array): Promise<void> {
    const { offset, length } = this.file.metadataRegion;
    if (region.length !== length) throw new UsageError('VHDX_METADATA_SIZE', `a new metadata region must be ${length} bytes (got ${region.length})`);
    const old = await readAt(this.io, offset, length);
    const pages = new Map<number, Uint8Array>();
    for (let at = 0; at < length; at += PAGE) {
      const page = region.subarray(at, at + PAGE);
      if (!page.every((b, i) => b === old[at + i])) pages.set(offset + at, Uint8Array.from(page));
    }
    if (pages.size === 0) return;
    try {
      await this.begin(true);
      // The file keeps its size: the entry says so (a reader takes a file shorter than that for a lost tail).
      await this.commit(pages, await this.io.size());
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private allocate(size: number): number {
    const at = this.end;
    this.end = at + Math.ceil(size / MiB) * MiB;
    return at;
  }

  /**
   * Writes whole logical sectors at `offset` (bytes) of the virtual disk.
   * One call is one log entry (or a few, for a very large write): its
   * metadata changes land together.
   */
  async write(offset: number, data: Uint8Array): Promise<void> {
    try {
      await this.writeLogged(offset, data);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private async writeLogged(offset: number, data: Uint8Array): Promise<void> {
    const f = this.file;
    const lss = f.logicalSectorSize;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % lss !== 0 || data.length % lss !== 0 || offset + data.length > f.virtualSize)
      throw new UsageError('UNALIGNED_WRITE', `a VHDX write needs whole ${lss}-byte sectors inside the disk (got ${data.length} bytes at ${offset})`);
    if (data.length === 0) return;
    await this.begin();
    const pages = new Map<number, Uint8Array>();
    const touchedBitmaps = new Set<number>();
    const writes: { at: number; data: Uint8Array }[] = [];
    for (let pos = offset; pos < offset + data.length;) {
      const b = Math.floor(pos / f.blockSize);
      const inBlock = pos - b * f.blockSize;
      const n = Math.min(f.blockSize - inBlock, offset + data.length - pos);
      const piece = data.subarray(pos - offset, pos - offset + n);
      const e = f.blockEntry(b);
      if (e.state === PayloadState.FullyPresent) {
        writes.push({ at: e.offset + inBlock, data: piece });
      } else if (e.state === PayloadState.PartiallyPresent) {
        writes.push({ at: e.offset + inBlock, data: piece });
        await this.setBits(b, inBlock / lss, n / lss, false, pages);
        touchedBitmaps.add(b);
      } else {
        // A new block reads as zeros around the write (fresh file space): right for every state
        // but not-present in a differencing file, where the rest must still come from the parent.
        const at = this.allocate(f.blockSize);
        writes.push({ at: at + inBlock, data: piece });
        const partial = f.hasParent && e.state === PayloadState.NotPresent && n < f.bytesInBlock(b);
        this.setEntry(payloadEntryIndex(b, f.chunkRatio), partial ? PayloadState.PartiallyPresent : PayloadState.FullyPresent, at, pages);
        if (partial) {
          await this.setBits(b, inBlock / lss, n / lss, true, pages);
          touchedBitmaps.add(b);
        }
      }
      pos += n;
    }
    for (const w of writes) await this.io.write(w.data, w.at);
    if ((await this.io.size()) < this.end) await this.io.truncate(this.end);
    f.grew(this.end);
    // Data first and durable: a BAT entry must never name a block whose bytes may not be there.
    await this.io.sync();
    if (pages.size > 0) await this.commit(pages);
    for (const b of touchedBitmaps) f.forgetBitmap(b);
  }

  /** Payload or bitmap entry `index` now says `state` at `at`; its BAT page joins the update. */
  private setEntry(index: number, state: number, at: number, pages: Map<number, Uint8Array>): void {
    const bat = this.file.batBytes();
    encodeBatEntry({ state, reserved: 0, offsetMB: at / MiB }, bat, index * 8);
    const pageAt = Math.floor((index * 8) / PAGE) * PAGE;
    // Bytes of the page past the table's end (the region's slack) are written as zeros.
    const page = new Uint8Array(PAGE);
    page.set(bat.subarray(pageAt, Math.min(pageAt + PAGE, bat.length)));
    pages.set(this.file.batOffset + pageAt, page);
  }

  /** Sets the bits of `count` sectors from `first` in block `b`'s sector bitmap; `fresh` clears the block's other bits. */
  private async setBits(b: number, first: number, count: number, fresh: boolean, pages: Map<number, Uint8Array>): Promise<void> {
    const f = this.file;
    const chunk = Math.floor(b / f.chunkRatio);
    const bi = bitmapEntryIndex(chunk, f.chunkRatio);
    let e = decodeBatEntry(f.batBytes(), bi * 8);
    if (e.state !== BitmapState.Present) {
      this.setEntry(bi, BitmapState.Present, this.allocate(SECTOR_BITMAP_BLOCK_SIZE), pages);
      e = decodeBatEntry(f.batBytes(), bi * 8);
      // Stale bits of the other blocks of a new bitmap block are never read: only partially present blocks' are.
    }
    const sectors = f.blockSize / f.logicalSectorSize;
    const sliceAt = e.offsetMB * MiB + (b % f.chunkRatio) * (sectors / 8);
    const page = async (byteAt: number) => {
      const at = Math.floor(byteAt / PAGE) * PAGE;
      let p = pages.get(at);
      if (!p) {
        p = await readAt(this.io, at, PAGE);
        pages.set(at, p);
      }
      return { p, i: byteAt - at };
    };
    if (fresh) {
      for (let at = sliceAt; at < sliceAt + sectors / 8;) {
        const { p, i } = await page(at);
        const n = Math.min(PAGE - i, sliceAt + sectors / 8 - at);
        p.fill(0, i, i + n);
        at += n;
      }
    }
    for (let s = first; s < first + count; s++) {
      const { p, i } = await page(sliceAt + (s >>> 3));
      p[i] |= 1 << (s & 7);
    }
  }

  /** The pages as log entries, each flushed, applied in place and flushed before the next; `fileSize`: the file's size, as the entries record it. */
  private async commit(pages: Map<number, Uint8Array>, fileSize = this.end): Promise<void> {
    const h = this.session!.header;
    const logOffset = Number(h.logOffset);
    const logLength = h.logLength;
    // Bitmap pages (past the BAT) first: were a large update split, a block turns partially present only once its bits are set.
    const all: LogWrite[] = [...pages].sort((a, b) => b[0] - a[0]).map(([offset, data]) => ({ offset, length: PAGE, data }));
    const room = logLength / PAGE - 1;
    for (let i = 0; i < all.length;) {
      let n = Math.min(all.length - i, room);
      while (n > 1 && descriptorSectors(n) + n > room) n--;
      const batch = all.slice(i, i + n);
      this.sequence++;
      const entry = encodeLogEntry({
        sequence: this.sequence,
        tail: this.head,
        guid: h.logGuid,
        flushedFileOffset: fileSize,
        lastFileOffset: fileSize,
        writes: batch,
      });
      const placed = placeLogEntry(logLength, this.head, this.head, entry);
      for (const w of placed.writes) await this.io.write(w.data, logOffset + w.offset);
      await this.io.sync();
      await applyWrites({ write: (at, data) => this.io.write(data, at) }, batch);
      await this.io.sync();
      this.head = placed.head;
      i += n;
    }
  }
}

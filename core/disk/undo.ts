// An undo record for writes into an existing VHD (merge's parent, delete's
// children), so Cancel and `recover --rollback` can give the file back as it
// was before the job.
//
// Why an undo record rather than copying the other way: a merge into the
// parent then writes each byte once, as before, and only the parent's bytes
// a batch is about to overwrite are saved first — its old bitmaps and the
// sectors it already stored in blocks that existed before the job. Blocks the
// job appends need nothing: the file is cut back to its old size. Merging
// into a sparse parent (the usual case) so saves little; a fixed parent
// saves every sector the merge overwrites (see the bench in README).
//
// The first record holds the file's old size and end of data, then come its
// old trailing footer, BAT and batmap; each batch appends the regions it will
// overwrite, fsynced before the batch writes anything (a caller may save many
// batches ahead with one fsync: merge saves a window of them). Rollback applies the
// records newest first (so the oldest copy of a region wins), then cuts the
// file back: idempotent, so a rollback killed half way is simply run again.
// A torn last record (a kill while appending) is ignored: the writes it
// would have covered wait for its fsync, so they never started.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { FormatError } from '../errors.js';
import { testBit } from '../format/bitmap.js';
import { SECTOR } from '../format/bytes.js';
import { openFile, readExact, readFully, syncDir, type RandomAccessFile } from '../io/file.js';
import { blockPieces, type VhdFile } from './vhd-file.js';

const MAGIC = Buffer.from('VHDSUNDO', 'latin1');
const RECORD_HEADER = 32;
const KIND_START = 1;
const KIND_REGION = 2;
/** A longer saved region is split into records of this much data, so one reused buffer holds any record. */
const RECORD_DATA_MAX = 4 * 1024 * 1024;

/** One record's header: magic, kind, data length, target offset (start: the old file size), check of header and data. */
interface RecordHeader {
  kind: number;
  length: number;
  offset: number;
}

function check(head: Uint8Array, data: Uint8Array): Buffer {
  return createHash('sha256').update(head.subarray(0, 24)).update(data).digest().subarray(0, 4);
}

/** The record codec: header (32 bytes) then `data`. */
export function encodeUndoRecord(r: RecordHeader, data: Uint8Array): Buffer {
  const out = Buffer.alloc(RECORD_HEADER + data.length);
  out.set(data, RECORD_HEADER);
  encodeUndoHeaderInPlace(out, r.kind, r.offset);
  return out;
}

/**
 * Writes the header into `rec`'s first 32 bytes for the data after it (all of
 * `rec` past the header): magic 0–8, kind 8–12, data length 12–16, target
 * offset 16–24, check 24–28, zero 28–32.
 */
function encodeUndoHeaderInPlace(rec: Buffer, kind: number, offset: number): void {
  MAGIC.copy(rec, 0);
  rec.writeUInt32BE(kind, 8);
  rec.writeUInt32BE(rec.length - RECORD_HEADER, 12);
  rec.writeBigUInt64BE(BigInt(offset), 16);
  check(rec, rec.subarray(RECORD_HEADER)).copy(rec, 24);
  rec.fill(0, 28, RECORD_HEADER);
}

function decodeUndoHeader(b: Uint8Array): RecordHeader | null {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < RECORD_HEADER || !buf.subarray(0, 8).equals(MAGIC)) return null;
  return { kind: buf.readUInt32BE(8), length: buf.readUInt32BE(12), offset: Number(buf.readBigUInt64BE(16)) };
}

interface IndexedRecord extends RecordHeader {
  /** Where its data starts in the undo file. */
  at: number;
}

/** The complete records of an undo file, in order; a torn or damaged tail ends the list. */
async function readRecords(f: RandomAccessFile): Promise<{ records: IndexedRecord[]; end: number }> {
  const size = await f.size();
  const records: IndexedRecord[] = [];
  let pos = 0;
  const head = Buffer.alloc(RECORD_HEADER);
  while (pos + RECORD_HEADER <= size) {
    if ((await f.read(head, pos)) < RECORD_HEADER) break;
    const h = decodeUndoHeader(head);
    if (!h || pos + RECORD_HEADER + h.length > size) break;
    const data = await readExact(f, pos + RECORD_HEADER, h.length, 'undo record');
    if (!check(head, data).equals(head.subarray(24, 28))) break;
    records.push({ ...h, at: pos + RECORD_HEADER });
    pos += RECORD_HEADER + h.length;
  }
  return { records, end: pos };
}

export class UndoLog {
  /** Blocks whose bitmap this log already saved (per session; a second copy after a resume is harmless: the oldest wins). */
  private readonly savedBitmaps = new Set<number>();
  /** Bytes appended by this session (the bench reports them). */
  written = 0;
  /** Reused for every saved region: its record's header, then the bytes read from the target right behind it. */
  private scratch: Buffer | null = null;

  private constructor(
    readonly path: string,
    private readonly file: RandomAccessFile,
    private end: number,
    /** The target's end of data before the job: blocks at or past it are the job's own. */
    readonly originalEnd: number,
  ) {}

  /** Creates the record for `target` (opened by the caller) and makes it durable, before the job's first write. */
  static async begin(path: string, target: VhdFile): Promise<UndoLog> {
    const file = await openFile(path, 'wx');
    const log = new UndoLog(path, file, 0, target.footerOffset);
    try {
      // Its end of data, then its access and modification times: a rollback gives those back too, so the
      // parent timestamps its children recorded still match (Windows refuses a mismatch: 0xC03A000F).
      const st = await fsp.stat(target.path);
      const start = Buffer.alloc(24);
      start.writeBigUInt64BE(BigInt(target.footerOffset), 0);
      start.writeDoubleBE(st.atimeMs, 8);
      start.writeDoubleBE(st.mtimeMs, 16);
      await log.append({ kind: KIND_START, length: start.length, offset: target.fileSize }, start);
      // The metadata the job rewrites at each commit: trailing footer, BAT, batmap.
      await log.saveRegion(target, target.footerOffset, Math.min(SECTOR, target.fileSize - target.footerOffset));
      if (target.header && target.bat) await log.saveRegion(target, Number(target.header.tableOffset), target.header.maxTableEntries * 4);
      if (target.batmap) {
        await log.saveRegion(target, target.batmap.headerOffset, SECTOR);
        await log.saveRegion(target, Number(target.batmap.header.offset), target.batmap.header.sizeSectors * SECTOR);
      }
      await file.sync();
      await syncDir(nodePath.dirname(path));
      return log;
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Opens an existing record to go on appending (a resumed job); a torn tail is cut off first. */
  static async reopen(path: string): Promise<UndoLog> {
    const file = await openFile(path, 'r+');
    try {
      const { records, end } = await readRecords(file);
      const start = records[0];
      if (!start || start.kind !== KIND_START) throw new FormatError('UNDO_DAMAGED', `${path}: the undo record has no start`, { path });
      const endBuf = await readExact(file, start.at, 8, 'undo start');
      if ((await file.size()) > end) await file.truncate(end);
      return new UndoLog(path, file, end, Number(endBuf.readBigUInt64BE(0)));
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private async append(h: RecordHeader, data: Uint8Array): Promise<void> {
    const rec = encodeUndoRecord(h, data);
    await this.file.write(rec, this.end);
    this.end += rec.length;
    this.written += rec.length;
  }

  /** One record per RECORD_DATA_MAX of the region, each read straight into the reused buffer behind its header. */
  private async saveRegion(target: VhdFile, at: number, length: number): Promise<void> {
    for (let done = 0; done < length;) {
      const n = Math.min(length - done, RECORD_DATA_MAX);
      if (!this.scratch || this.scratch.length < RECORD_HEADER + n) this.scratch = Buffer.allocUnsafe(RECORD_HEADER + n);
      const rec = this.scratch.subarray(0, RECORD_HEADER + n);
      await readFully(target.file, rec.subarray(RECORD_HEADER), at + done, 'bytes to save for undo');
      encodeUndoHeaderInPlace(rec, KIND_REGION, at + done);
      await this.file.write(rec, this.end);
      this.end += rec.length;
      this.written += rec.length;
      done += n;
    }
  }

  /**
   * Saves what writing the sector ranges into `target` will overwrite that
   * the file held before the job, and makes it durable (one fsync): call
   * before staging any of them.
   */
  async saveBefore(target: VhdFile, ranges: readonly { sector: number; count: number }[]): Promise<void> {
    const before = this.end;
    if (target.type === 'fixed') {
      for (const r of ranges) await this.saveRegion(target, r.sector * SECTOR, r.count * SECTOR);
    } else {
      const spb = target.sectorsPerBlock;
      for (const r of ranges) {
        for (const { block, start, n } of blockPieces(r.sector, r.count, spb)) {
          const at = target.blockOffset(block);
          if (at === null || at >= this.originalEnd) continue;
          const saved = this.savedBitmaps.has(block);
          // The bitmap as the file holds it (not the staged one in memory); a dynamic file's needs reading only to be saved.
          const bm = saved && target.type === 'dynamic' ? null : await readExact(target.file, at, target.bitmapSize, 'bitmap to save for undo');
          if (!saved) {
            await this.append({ kind: KIND_REGION, length: bm!.length, offset: at }, bm!);
            this.savedBitmaps.add(block);
          }
          // A dynamic file's allocated block is read whole; a differencing file shows only its set sectors.
          const stored = (i: number) => bm === null || target.type === 'dynamic' || testBit(bm, i);
          for (let i = start; i < start + n;) {
            if (!stored(i)) {
              i++;
              continue;
            }
            let k = i;
            while (k < start + n && stored(k)) k++;
            await this.saveRegion(target, at + target.bitmapSize + i * SECTOR, (k - i) * SECTOR);
            i = k;
          }
        }
      }
    }
    if (this.end > before) await this.file.sync();
  }
}

/**
 * Gives `targetPath` back its bytes from before the job, from the undo record
 * at `undoPath`: every saved region rewritten (newest first), the file cut to
 * its old size, then fsynced. Safe to run again after a kill.
 */
export async function applyUndo(undoPath: string, targetPath: string): Promise<void> {
  const undo = await openFile(undoPath, 'r');
  try {
    const { records } = await readRecords(undo);
    const start = records[0];
    if (!start || start.kind !== KIND_START) throw new FormatError('UNDO_DAMAGED', `${undoPath}: the undo record has no start`, { path: undoPath });
    const target = await openFile(targetPath, 'r+');
    try {
      for (let i = records.length - 1; i >= 1; i--) {
        const r = records[i];
        if (r.kind !== KIND_REGION) continue;
        await target.write(await readExact(undo, r.at, r.length, 'undo record'), r.offset);
      }
      await target.truncate(start.offset);
      await target.sync();
    } finally {
      await target.close();
    }
    // Records of older versions hold the end of data only.
    if (start.length >= 24) {
      const times = await readExact(undo, start.at + 8, 16, 'undo start');
      await fsp.utimes(targetPath, times.readDoubleBE(0) / 1000, times.readDoubleBE(8) / 1000);
    }
  } finally {
    await undo.close();
  }
}

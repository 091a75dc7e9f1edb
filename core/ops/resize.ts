// Growing a disk's virtual size (shrinking is refused: it would cut data off).
//
// Fixed: the new footer is written at the new end (the file grows as a hole of
// zeros), fsync, then the old footer's sector, now inside the data, is zeroed.
// Dynamic and differencing, in two phases:
// - prepare: work the old-size disk cannot see. BAT entries past the old end
//   are cleared, sectors of the last partial block past the old end are zeroed
//   (and their bits cleared in a differencing disk), and when the BAT is too
//   small a larger copy of it (and of a blktap batmap) is written at the end of
//   the file, behind a moved footer;
// - switch: the header (new BAT offset and entry count, fsync), then the
//   trailing footer and its copy with the new size and CHS geometry (fsync).
//   A new header with the old footer is still a valid disk of the old size.
// The journal carries the exact bytes of the switch, so recovery either drops
// an unfinished prepare (nothing visible changed) or redoes the switch.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CancelledError, RefusedError } from '../errors.js';
import { BAT_UNUSED, batBytes, decodeBat, encodeBat } from '../format/bat.js';
import { batmapChecksum, encodeBatmapHeader } from '../format/batmap.js';
import { clearBits, isFull } from '../format/bitmap.js';
import { alignUp, SECTOR } from '../format/bytes.js';
import { decodeFooter, encodeFooter, FOOTER_SIZE, footerChecksum, validateFooter, type Footer } from '../format/footer.js';
import { encodeHeader, type DynamicHeader } from '../format/header.js';
import { chsForSize } from '../format/geometry.js';
import { openFile, readExact, withOwnerWrite, type RandomAccessFile } from '../io/file.js';
import { VhdFile } from '../disk/vhd-file.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, offset, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskPath, journalKind, type RecoveryOutcome, writesOneDisk } from '../operation.js';
import { findChildren } from '../library/scan.js';
import { validateSize } from './create.js';
import { sizeText, sizeWithBytes } from '../size.js';

export const resizeJournalSchema = journalSchema('resize', {
  kind: z.enum(['fixed', 'sparse']),
  /** prepare: only invisible changes so far; switch: the bytes below are being written. */
  phase: z.enum(['prepare', 'switch']),
  path: z.string(),
  uuid: z.string(),
  oldSize: offset,
  newSize: offset,
  /** The new footer (base64). */
  footer: z.string(),
  /** Sparse: where the trailing footer is written. */
  footerOffset: offset,
  /** Sparse: the new dynamic header (base64) and its offset, when the BAT changed. */
  header: z.nullable(z.string()),
  headerOffset: offset,
  /** Fixed: the old footer (zeroed once the new one is durable; 511 bytes in old files) and the old file size (for rollback). */
  oldFooterOffset: offset,
  oldFooterLength: offset,
  oldFileSize: offset,
});
export type ResizeJournal = z.infer<typeof resizeJournalSchema>;

export interface ResizePlan extends Plan {
  path: string;
  oldSize: number;
  newSize: number;
  /** Sparse disks: the BAT is rewritten at the end of the file with this many entries. */
  relocateBatTo: number | null;
}

export interface ResizeResult {
  path: string;
  oldSize: number;
  newSize: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

function newFooterFor(f: VhdFile, size: number): Footer {
  return { ...f.footer, currentSize: BigInt(size), geometry: chsForSize(size) };
}

/** BAT entries the new size needs, and whether the table (or the batmap after it) must move to hold them. */
function batNeeds(f: VhdFile, newSize: number): { entries: number; relocate: boolean } {
  const entries = Math.ceil(newSize / f.blockSize);
  const max = f.header!.maxTableEntries;
  const tableFits = batBytes(entries) <= batBytes(max);
  const batmapFits = !f.batmap || f.batmap.map.length >= Math.ceil(entries / 8);
  return { entries, relocate: !(tableFits && batmapFits) };
}

function batmapBytesFor(entries: number): number {
  return alignUp(Math.ceil(entries / 8), SECTOR);
}

export async function planResize(path: string, newSize: number): Promise<ResizePlan> {
  const abs = nodePath.resolve(path);
  const f = await VhdFile.open(abs);
  try {
    validateSize(newSize, f.type === 'fixed' ? 'fixed' : 'dynamic');
    const oldSize = f.virtualSize;
    const refusals: Plan['refusals'] = [];
    if (newSize < oldSize) {
      refusals.push({
        code: 'SHRINK_NOT_SUPPORTED',
        message: `${abs} is ${sizeWithBytes(oldSize)}; shrinking it to ${sizeWithBytes(newSize)} would cut off data (only growing is supported)`,
      });
    }
    // A child must match its parent's size (Windows 0xC03A0017; our parent resolution enforces it too).
    if (f.type === 'differencing') {
      refusals.push({
        code: 'DIFFERENCING_DISK',
        message: `${abs} is a differencing disk: its size must match its parent's; grow a standalone copy (flatten) or the base before taking snapshots`,
      });
    }
    if (f.footer.savedState === 1) refusals.push({ code: 'SAVED_STATE', message: `${abs} is in a saved state; resizing it is not allowed` });
    if (f.footerSource === 'copy') refusals.push({ code: 'NEEDS_REPAIR', message: `${abs} has a damaged trailing footer; repair it first` });
    if (f.type === 'fixed' && f.footerOffset !== oldSize) {
      refusals.push({
        code: 'FIXED_EXTRA_DATA',
        message: `${abs} holds ${f.footerOffset - oldSize} bytes between its data and its footer; run \`vhdsnap check\``,
      });
    }
    const children = await findChildren(abs);
    if (children.length > 0) {
      refusals.push({
        code: 'HAS_CHILDREN',
        message: `${abs} is the parent of ${children.join(', ')}; resizing it would break their chain (Windows 0xC03A0017)`,
      });
    }
    let growth = 0;
    let relocateBatTo: number | null = null;
    let detail: string;
    if (newSize <= oldSize) {
      detail = 'no change';
    } else if (f.type === 'fixed') {
      growth = newSize - oldSize;
      detail = `virtual size ${sizeText(oldSize)} → ${sizeText(newSize)}; the new area reads as zeros`;
    } else {
      const need = batNeeds(f, newSize);
      // The last partial block may have to be completed, and the BAT may move to the end.
      growth = f.bitmapSize + f.blockSize + SECTOR;
      if (need.relocate) {
        relocateBatTo = need.entries;
        growth += batBytes(need.entries) + (f.batmap ? SECTOR + batmapBytesFor(need.entries) : 0) + SECTOR;
      }
      detail = `virtual size ${sizeText(oldSize)} → ${sizeText(newSize)}${relocateBatTo !== null ? `; the BAT grows to ${relocateBatTo} entries at the end of the file` : ''}; footer and header updated`;
    }
    const freeSpace = await freeSpaceAt(nodePath.dirname(abs));
    if (freeSpace !== null && growth > freeSpace)
      refusals.push({ code: 'NO_SPACE', message: `resizing may need ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
    return {
      operation: 'resize',
      summary:
        newSize === oldSize
          ? `${nodePath.basename(abs)} is already ${sizeText(oldSize)}; nothing to do`
          : `grow ${nodePath.basename(abs)} (${f.type}) from ${sizeText(oldSize)} to ${sizeText(newSize)}`,
      changes: newSize > oldSize ? [{ path: abs, action: 'modify', detail }] : [],
      bytesToCopy: 0,
      worstCaseGrowth: growth,
      freeSpace,
      refusals,
      path: abs,
      oldSize,
      newSize,
      relocateBatTo,
    };
  } finally {
    await f.close();
  }
}

/** Plans and resizes (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function resize(path: string, newSize: number, ctx: JobContext = {}): Promise<ResizeResult> {
  const plan = await planResize(path, newSize);
  assertNoRefusals(plan, plan.path);
  return resizePlanned(plan, ctx);
}

async function resizePlanned(plan: ResizePlan, ctx: JobContext): Promise<ResizeResult> {
  const { path: abs, newSize } = plan;
  const result = { path: abs, oldSize: plan.oldSize, newSize };
  if (newSize === plan.oldSize) return result;
  if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('resize'));
  const progress = new ProgressReporter(ctx, 'resize', newSize - plan.oldSize);
  const jpath = journalPath(abs);
  await withOwnerWrite(abs, () =>
    withActiveJournal(jpath, async () => {
      const f = await VhdFile.open(abs, { writable: true });
      try {
        const j: ResizeJournal = {
          ...journalHeader('resize', f.type === 'fixed' ? 'switch' : 'prepare'),
          kind: f.type === 'fixed' ? 'fixed' : 'sparse',
          path: abs,
          uuid: f.uuid,
          oldSize: plan.oldSize,
          newSize,
          footer: b64(encodeFooter(newFooterFor(f, newSize))),
          footerOffset: f.type === 'fixed' ? newSize : f.footerOffset,
          header: null,
          headerOffset: f.header ? Number(f.footer.dataOffset) : 0,
          oldFooterOffset: f.footerOffset,
          oldFooterLength: f.fileSize - f.footerOffset,
          oldFileSize: f.fileSize,
        };
        await writeJournal(jpath, j);
        if (f.type === 'fixed') {
          await growFixed(f, j);
        } else {
          const header = await prepareSparse(f, newSize);
          if (ctx.signal?.aborted) {
            // Everything so far is invisible at the old size; the file also gets its old length back.
            await undoPrepare(f.file, j);
            await removeJournal(jpath);
            throw new CancelledError(cancelledMessage('resize'));
          }
          // The point of no return: the switch.
          progress.finishing();
          j.phase = 'switch';
          j.header = header ? b64(encodeHeader(header)) : null;
          j.footerOffset = f.footerOffset;
          await writeJournal(jpath, j);
          await applySwitch(f.file, j);
        }
        await removeJournal(jpath);
      } finally {
        await f.close();
      }
    }),
  );
  progress.update(newSize - plan.oldSize);
  return result;
}

async function growFixed(f: VhdFile, j: ResizeJournal): Promise<void> {
  // Writing past the end makes the gap a hole that reads as zeros.
  await f.file.write(unb64(j.footer), j.newSize);
  await f.file.sync();
  await f.file.write(new Uint8Array(j.oldFooterLength), j.oldFooterOffset);
  await f.file.sync();
}

/**
 * Changes the old-size disk cannot see; returns the header to switch to
 * (null when the header stays as it is).
 */
async function prepareSparse(f: VhdFile, newSize: number): Promise<DynamicHeader | null> {
  const header = f.header!;
  const oldEntries = f.blockCount;
  const need = batNeeds(f, newSize);
  const tableOffset = Number(header.tableOffset);
  let changed = false;

  // Entries past the old end (allocated by some writer, or non-0xFF padding) would show their blocks.
  if (!need.relocate) {
    const upto = Math.max(header.maxTableEntries, need.entries);
    if (upto > oldEntries) {
      const raw = decodeBat(await readExact(f.file, tableOffset + oldEntries * 4, (upto - oldEntries) * 4, 'BAT'), upto - oldEntries);
      if (raw.some((e) => e !== BAT_UNUSED)) {
        await f.file.write(new Uint8Array((upto - oldEntries) * 4).fill(0xff), tableOffset + oldEntries * 4);
        changed = true;
      }
    }
  }

  // The last block, when partial: sectors past the old end become visible.
  const last = oldEntries - 1;
  const firstHidden = f.totalSectors - last * f.sectorsPerBlock;
  const at = f.blockOffset(last);
  if (at !== null && firstHidden < f.sectorsPerBlock) {
    const end = at + f.bitmapSize + f.blockSize;
    // Some writers store a partial last block only up to the old end: complete it first.
    if (end > f.footerOffset) await f.appendRegion(end - alignUp(f.footerOffset, SECTOR));
    await f.file.write(new Uint8Array((f.sectorsPerBlock - firstHidden) * SECTOR), at + f.bitmapSize + firstHidden * SECTOR);
    if (f.type === 'differencing') {
      const bm = new Uint8Array(await f.readBitmap(last));
      clearBits(bm, firstHidden, f.sectorsPerBlock - firstHidden);
      await f.file.write(bm, at);
      if (f.batmap && !isFull(bm, f.sectorsPerBlock)) {
        const m = f.batmap;
        m.map[last >>> 3] &= ~(0x80 >>> (last & 7));
        m.header.checksum = batmapChecksum(m.map);
        await f.file.write(m.map, Number(m.header.offset));
        await f.file.write(encodeBatmapHeader(m.header), m.headerOffset);
      }
    }
    changed = true;
  }
  if (changed) await f.file.sync();

  if (!need.relocate) return need.entries > header.maxTableEntries ? { ...header, maxTableEntries: need.entries } : null;

  // A larger BAT (and batmap right after it, where blktap looks) at the end of the file.
  const bat = new Uint32Array(need.entries).fill(BAT_UNUSED);
  bat.set(f.bat!.subarray(0, oldEntries));
  const batPart = encodeBat(bat);
  let region = batPart;
  if (f.batmap) {
    const mapBytes = batmapBytesFor(need.entries);
    region = new Uint8Array(batPart.length + SECTOR + mapBytes);
    region.set(batPart, 0);
    const map = region.subarray(batPart.length + SECTOR);
    for (let b = 0; b < oldEntries; b++) if (f.batmap.map[b >>> 3] & (0x80 >>> (b & 7))) map[b >>> 3] |= 0x80 >>> (b & 7);
    const at0 = alignUp(f.footerOffset, SECTOR);
    const bh = { ...f.batmap.header, offset: BigInt(at0 + batPart.length + SECTOR), sizeSectors: mapBytes / SECTOR, checksum: batmapChecksum(map) };
    region.set(encodeBatmapHeader(bh), batPart.length);
  }
  // appendRegion moves the footer first and fsyncs; the region is unreferenced until the switch.
  const regionAt = await f.appendRegion(region.length);
  await f.file.write(region, regionAt);
  await f.file.sync();
  return { ...header, tableOffset: BigInt(regionAt), maxTableEntries: need.entries };
}

/** Header first, then the trailing footer and its copy; each write is idempotent. */
async function applySwitch(file: { write(b: Uint8Array, at: number): Promise<void>; sync(): Promise<void> }, j: ResizeJournal): Promise<void> {
  if (j.header) {
    await file.write(unb64(j.header), j.headerOffset);
    await file.sync();
  }
  const footer = unb64(j.footer);
  await file.write(footer, j.footerOffset);
  await file.sync();
  await file.write(footer, 0);
  await file.sync();
}

function footerIf(raw: Uint8Array, uuid: string, size: number | null): boolean {
  if (raw.length < FOOTER_SIZE) return false;
  const f = decodeFooter(raw);
  if (validateFooter(f, footerChecksum(f)).errors.length > 0) return false;
  const id = Buffer.from(f.uniqueId).toString('hex');
  return id === uuid.replace(/-/g, '').toLowerCase() && (size === null || Number(f.currentSize) === size);
}

/**
 * Undoes a sparse prepare: what it wrote is invisible at the old size, but a
 * larger BAT copy moved the footer and grew the file. The old footer (the one
 * at the current end: moving it does not change it) goes back to its old place
 * and the file back to its old length.
 */
async function undoPrepare(file: RandomAccessFile, j: ResizeJournal): Promise<void> {
  const size = await file.size();
  if (size === j.oldFileSize) return;
  if (size > j.oldFileSize && size >= FOOTER_SIZE) {
    const tail = await readExact(file, size - FOOTER_SIZE, FOOTER_SIZE, 'footer');
    if (footerIf(tail, j.uuid, j.oldSize)) {
      await file.write(tail.subarray(FOOTER_SIZE - j.oldFooterLength), j.oldFooterOffset);
      await file.sync();
    }
  }
  await file.truncate(j.oldFileSize);
  await file.sync();
}

/** Rolls back a sparse resize that has not switched: its prepare undone. */
export async function rollbackResize(jpath: string, j: ResizeJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (
      await fsp.lstat(j.path).then(
        (s) => s.isFile(),
        () => false,
      )
    ) {
      await withOwnerWrite(j.path, async () => {
        const file = await openFile(j.path, 'r+');
        try {
          await undoPrepare(file, j);
        } finally {
          await file.close();
        }
      });
    }
    await removeJournal(jpath);
    return { action: 'discarded', detail: `resize of ${j.path} rolled back; it keeps its size of ${sizeWithBytes(j.oldSize)}` };
  });
}

/** Finishes or rolls back an interrupted resize (see the top of this file). */
export async function recoverResize(jpath: string, j: ResizeJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (
      !(await fsp.lstat(j.path).then(
        (s) => s.isFile(),
        () => false,
      ))
    ) {
      await removeJournal(jpath);
      return { action: 'discarded', detail: `${j.path} no longer exists; nothing to resize` };
    }
    const out = await withOwnerWrite(j.path, async () => {
      const file = await openFile(j.path, 'r+');
      try {
        if (j.kind === 'fixed') {
          // The new footer is valid only once it was fsync'd, and the old one is zeroed only after that.
          const size = await file.size();
          const tail = size >= FOOTER_SIZE ? await readExact(file, size - FOOTER_SIZE, FOOTER_SIZE, 'footer') : new Uint8Array(0);
          if (size === j.newSize + FOOTER_SIZE && footerIf(tail, j.uuid, j.newSize)) {
            await file.write(new Uint8Array(j.oldFooterLength), j.oldFooterOffset);
            await file.sync();
            return { action: 'completed' as const, detail: `${j.path} grew to ${sizeWithBytes(j.newSize)}` };
          }
          await file.truncate(j.oldFileSize);
          await file.sync();
          return { action: 'discarded' as const, detail: `resize of ${j.path} was rolled back; it keeps its size of ${sizeWithBytes(j.oldSize)}` };
        }
        if (j.phase === 'prepare') {
          return {
            action: 'discarded' as const,
            detail: `resize of ${j.path} stopped before its size changed; it keeps its size of ${sizeWithBytes(j.oldSize)}`,
          };
        }
        // Never write into a file that is not the one the journal was made for.
        const copy = await readExact(file, 0, FOOTER_SIZE, 'footer copy');
        const size = await file.size();
        const tail = size >= j.footerOffset + FOOTER_SIZE ? await readExact(file, j.footerOffset, FOOTER_SIZE, 'footer') : new Uint8Array(0);
        if (!footerIf(copy, j.uuid, null) && !footerIf(tail, j.uuid, null)) {
          throw new RefusedError('ID_CHANGED', `${j.path} no longer has the id ${j.uuid} the resize was started with; journal ${jpath} left in place`, {
            path: j.path,
          });
        }
        await applySwitch(file, j);
        return { action: 'completed' as const, detail: `${j.path} grew to ${sizeWithBytes(j.newSize)}` };
      } finally {
        await file.close();
      }
    });
    await removeJournal(jpath);
    return out;
  });
}

export const resizeOperation = defineOperation({
  op: 'resize',
  // Whole bytes; the cap only keeps absurd input out (the plan refuses what VHD cannot hold, saying why).
  request: z.object({ disk: diskPath, size: z.int('size must be a whole number of bytes').check(z.positive('size must be positive'), z.lte(2 ** 50)) }),
  ...writesOneDisk,
  plan: (r) => planResize(r.disk, r.size),
  run: (_r, ctx) => resizePlanned(ctx.plan, ctx),
  cli: {
    args: '<file>',
    about: "Changes a disk's virtual size.",
    positional: ['disk'],
    options: { size: { field: 'size', kind: 'size', value: '<n>[K|M|G|T]', help: 'new virtual size in bytes, or with a binary unit', required: true } },
    print: (r) =>
      r.oldSize === r.newSize
        ? `${r.path} is already ${sizeWithBytes(r.newSize)}: nothing to do.`
        : `Grew ${r.path} from ${sizeWithBytes(r.oldSize)} to ${sizeWithBytes(r.newSize)}; the new space reads as zeros.`,
  },
  // Past the switch the new size is being written. A fixed disk's grow is that switch alone (one footer
  // write, no cancel point): recover finishes it, or cuts the file back when the new footer never landed.
  journal: journalKind(resizeJournalSchema, recoverResize, { rollback: rollbackResize, pastNoReturn: (j) => j.kind === 'fixed' || j.phase === 'switch' }),
});

// Compacting a dynamic or differencing disk: blocks that hold nothing are
// dropped and the gaps closed, so the file shrinks.
// - dynamic: a block whose set sectors are all zero (or with no set bit) reads
//   exactly like an unallocated one: clear-bit sectors read as zeros, so the
//   copy stores zeros there whatever the original held;
// - differencing: only a block with no set bit may go. A set bit over a zero
//   sector hides the parent's data there, so such a block stays.
//
// Crash safety: the compacted file is written under a temporary name in the
// same folder (same id, footer and header fields, new offsets), fsync'd, then
// renamed over the original and the folder fsync'd. At every instant the path
// holds either the original or the finished copy, both with the same content.
// The journal says which temporary file belongs to the run: before the copy is
// complete recovery deletes it, afterwards recovery finishes the rename.
// A VHDX is copied by compact-vhdx.ts under the same journal and rename.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CancelledError, RefusedError } from '../errors.js';
import { BAT_UNUSED, batBytes, encodeBat } from '../format/bat.js';
import { batmapChecksum, encodeBatmapHeader } from '../format/batmap.js';
import { bitRuns, isEmpty, isFull } from '../format/bitmap.js';
import { isAllZero, SECTOR } from '../format/bytes.js';
import { encodeFooter, FOOTER_SIZE } from '../format/footer.js';
import { encodeHeader, HEADER_SIZE, type DynamicHeader } from '../format/header.js';
import { isEmptyLocator, locatorSpaceBytes } from '../format/locator.js';
import { openFile, readExact, renameFile, syncDir, tempSibling, type RandomAccessFile } from '../io/file.js';
import { VhdFile } from '../disk/vhd-file.js';
import { diskIds } from '../disk/ids.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { diskFormat } from '../disk/sniff.js';
import { estimateVhdxCompact, vhdxCompactSummary, writeCompactedVhdx } from './compact-vhdx.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskRequest, journalKind, type RecoveryOutcome, writesOneDisk } from '../operation.js';
import { findChildren } from '../library/scan.js';
import { sizeText, sizeWithBytes } from '../size.js';

export const compactJournalSchema = journalSchema('compact', {
  /** copy: the temporary file may be incomplete; rename: it is complete and fsync'd. */
  phase: z.enum(['copy', 'rename']),
  path: z.string(),
  uuid: z.string(),
  tmp: z.string(),
});
export type CompactJournal = z.infer<typeof compactJournalSchema>;

export interface CompactPlan extends Plan {
  path: string;
  format: 'vhd' | 'vhdx';
  /** Allocated blocks now. */
  blocksBefore: number;
  /** Blocks known to be droppable without reading data (differencing: empty bitmaps); dynamic disks learn the rest while copying. */
  blocksKnownEmpty: number;
}

export interface CompactResult {
  path: string;
  blocksBefore: number;
  blocksAfter: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Where the metadata goes in the compacted file: everything packed after the footer copy. */
interface Layout {
  header: DynamicHeader;
  tableOffset: number;
  batmap: { headerAt: number; mapAt: number } | null;
  /** Locator payloads: read from `from`, written at `to`. */
  payloads: { from: number; to: number; length: number }[];
  dataStart: number;
}

function layoutFor(f: VhdFile): Layout {
  const old = f.header!;
  const header: DynamicHeader = { ...old, locators: old.locators.map((l) => ({ ...l })) };
  const tableOffset = SECTOR + HEADER_SIZE;
  header.tableOffset = BigInt(tableOffset);
  let at = tableOffset + batBytes(old.maxTableEntries);
  let batmap: Layout['batmap'] = null;
  if (f.batmap) {
    // blktap finds the batmap header in the sector right after the BAT.
    batmap = { headerAt: at, mapAt: at + SECTOR };
    at += SECTOR + f.batmap.map.length;
  }
  const payloads: Layout['payloads'] = [];
  for (const l of header.locators) {
    if (isEmptyLocator(l)) continue;
    const space = locatorSpaceBytes(l);
    const from = Number(l.dataOffset);
    if (space === null || space === 0 || from + Math.min(space, Math.max(l.dataLength, 1)) > f.footerOffset) {
      throw new RefusedError('LOCATOR_INVALID', `${f.path}: parent locator ${l.code} is not inside the file; run \`vhdsnap check\``, { path: f.path });
    }
    // Only the bytes inside the file are copied; the rest of the space is zero.
    payloads.push({ from, to: at, length: Math.min(space, f.footerOffset - from) });
    l.dataOffset = BigInt(at);
    at += space;
  }
  return { header, tableOffset, batmap, payloads, dataStart: at };
}

function allocatedBlocks(f: VhdFile): number {
  let n = 0;
  for (let b = 0; b < f.blockCount; b++) if (f.blockOffset(b) !== null) n++;
  return n;
}

/** HAS_CHILDREN when other disks name this one as their parent. */
async function childRefusals(abs: string): Promise<Plan['refusals']> {
  const children = await findChildren(abs);
  if (children.length === 0) return [];
  return [
    {
      code: 'HAS_CHILDREN',
      message: `${abs} is the parent of ${children.join(', ')}; compacting it would break their chain (compact the newest child instead)`,
    },
  ];
}

/** NO_SPACE when the folder cannot hold the temporary copy (at most `growth` bytes) beside the original. */
async function spaceRefusals(abs: string, growth: number): Promise<{ freeSpace: number | null; refusals: Plan['refusals'] }> {
  const freeSpace = await freeSpaceAt(nodePath.dirname(abs));
  if (freeSpace === null || growth <= freeSpace) return { freeSpace, refusals: [] };
  return {
    freeSpace,
    refusals: [
      { code: 'NO_SPACE', message: `compacting needs room for a temporary copy of up to ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` },
    ],
  };
}

/** What every compact plan starts from, before its blocks are counted. */
function planBase(abs: string, format: 'vhd' | 'vhdx') {
  return { operation: 'compact', path: abs, format, bytesToCopy: 0, worstCaseGrowth: 0, freeSpace: null, blocksBefore: 0, blocksKnownEmpty: 0 };
}

export async function planCompact(path: string): Promise<CompactPlan> {
  const abs = nodePath.resolve(path);
  if ((await diskFormat(abs)) === 'vhdx') return planCompactVhdx(abs);
  const f = await VhdFile.open(abs);
  try {
    const refusals: Plan['refusals'] = [];
    const base = planBase(abs, 'vhd');
    if (f.type === 'fixed') {
      return {
        ...base,
        summary: `${nodePath.basename(abs)} is a fixed disk: it has no blocks to drop`,
        changes: [],
        refusals: [
          {
            code: 'FIXED_DISK',
            message: `${abs} is a fixed disk; only dynamic and differencing disks can be compacted (convert it with \`vhdsnap flatten --format dynamic\`)`,
          },
        ],
      };
    }
    if (f.footer.savedState === 1) refusals.push({ code: 'SAVED_STATE', message: `${abs} is in a saved state; compacting it is not allowed` });
    if (f.footerSource === 'copy') refusals.push({ code: 'NEEDS_REPAIR', message: `${abs} has a damaged trailing footer; repair it first` });
    refusals.push(...(await childRefusals(abs)));
    let layout: Layout | null = null;
    try {
      layout = layoutFor(f);
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      refusals.push({ code: err.code, message: err.message });
    }
    const blockBytes = f.bitmapSize + f.blockSize;
    const before = allocatedBlocks(f);
    let knownEmpty = 0;
    if (f.type === 'differencing') {
      for await (const [b, bm] of f.bitmaps(f.physicalOrder())) if (isEmpty(bm, f.sectorsInBlock(b))) knownEmpty++;
    }
    // The copy exists beside the original until the rename: at most the whole file again.
    const growth = (layout?.dataStart ?? f.footerOffset) + (before - knownEmpty) * blockBytes + FOOTER_SIZE;
    const space = await spaceRefusals(abs, growth);
    refusals.push(...space.refusals);
    const freeSpace = space.freeSpace;
    const what = f.type === 'dynamic' ? 'blocks that read as all zero' : 'blocks with no sector of their own (no bitmap bit set)';
    return {
      ...base,
      summary: `rewrite ${nodePath.basename(abs)} without ${what}${f.type === 'differencing' ? ` (${knownEmpty} of ${before} blocks)` : ` (of ${before} allocated blocks)`}, under a temporary name, then rename it over the original`,
      changes: [
        {
          path: abs,
          action: 'modify',
          detail: `replaced by a compacted copy with the same id and content (${before} blocks now${f.type === 'differencing' ? `, ${before - knownEmpty} after` : ''})`,
        },
      ],
      bytesToCopy: (before - knownEmpty) * blockBytes,
      worstCaseGrowth: growth,
      freeSpace,
      refusals,
      blocksBefore: before,
      blocksKnownEmpty: knownEmpty,
    };
  } finally {
    await f.close();
  }
}

async function planCompactVhdx(abs: string): Promise<CompactPlan> {
  const f = await VhdxFile.open(abs);
  try {
    const base = planBase(abs, 'vhdx');
    if (f.leaveBlocksAllocated) {
      return {
        ...base,
        summary: `${nodePath.basename(abs)} is a fixed VHDX: it has no blocks to drop`,
        changes: [],
        refusals: [
          {
            code: 'FIXED_DISK',
            message: `${abs} is a fixed VHDX (its file parameters say to leave every block allocated), so compacting it frees nothing; \`vhdsnap flatten\` to a .vhdx name writes a dynamic copy`,
          },
        ],
      };
    }
    const refusals = await childRefusals(abs);
    const e = await estimateVhdxCompact(f);
    const fileSize = (await fsp.stat(abs)).size;
    const space = await spaceRefusals(abs, e.maxBytesAfter);
    refusals.push(...space.refusals);
    const cautions =
      f.logEntriesReplayed > 0
        ? [
            `${nodePath.basename(abs)} was not closed cleanly: the copy holds its content with the ${f.logEntriesReplayed} pending log entries applied, and an empty log`,
          ]
        : undefined;
    return {
      ...base,
      summary: vhdxCompactSummary(abs, f, e, fileSize),
      changes: [
        {
          path: abs,
          action: 'modify',
          detail: `replaced by a compacted copy of the same disk (same disk id and content; ${e.blocksBefore} stored blocks now${f.hasParent ? `, ${e.blocksBefore - e.blocksKnownEmpty} after` : ''})`,
        },
      ],
      bytesToCopy: e.bytesToRead,
      worstCaseGrowth: e.maxBytesAfter,
      freeSpace: space.freeSpace,
      // A base disk may free more: its all-zero stored blocks are found while copying.
      frees: fileSize - e.maxBytesAfter,
      refusals,
      ...(cautions ? { cautions } : {}),
      blocksBefore: e.blocksBefore,
      blocksKnownEmpty: e.blocksKnownEmpty,
    };
  } finally {
    await f.close();
  }
}

/** Plans and compacts (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function compact(path: string, ctx: JobContext = {}): Promise<CompactResult> {
  const plan = await planCompact(path);
  assertNoRefusals(plan, plan.path);
  return compactPlanned(plan, ctx);
}

/** The open disk a compaction copies, either format. */
interface CompactSource {
  uuid: string;
  virtualSize: number;
  writeTo(out: RandomAccessFile, ctx: JobContext): Promise<{ blocksAfter: number; bytesAfter: number }>;
  close(): Promise<void>;
}

async function openSource(plan: CompactPlan): Promise<CompactSource> {
  if (plan.format === 'vhdx') {
    const x = await VhdxFile.open(plan.path);
    return { uuid: x.dataWriteGuid, virtualSize: x.virtualSize, writeTo: (out, ctx) => writeCompactedVhdx(x, out, ctx), close: () => x.close() };
  }
  const v = await VhdFile.open(plan.path);
  return { uuid: v.uuid, virtualSize: v.virtualSize, writeTo: (out, ctx) => writeCompacted(v, out, ctx), close: () => v.close() };
}

async function compactPlanned(plan: CompactPlan, ctx: JobContext): Promise<CompactResult> {
  const abs = plan.path;
  const f = await openSource(plan);
  const jpath = journalPath(abs);
  const dir = nodePath.dirname(abs);
  const j: CompactJournal = {
    ...journalHeader('compact', 'copy'),
    path: abs,
    uuid: f.uuid,
    tmp: tempSibling(abs, 'compact'),
  };
  try {
    return await withActiveJournal(jpath, async () => {
      await writeJournal(jpath, j);
      const stBefore = await fsp.stat(abs);
      let out: RandomAccessFile | null = null;
      let counts: { blocksAfter: number; bytesAfter: number };
      try {
        out = await openFile(j.tmp, 'wx');
        counts = await f.writeTo(out, ctx);
        // The copy keeps the original's permission bits (snapshots are read-only); fsync makes mode and data durable.
        await fsp.chmod(j.tmp, stBefore.mode & 0o7777);
        await out.sync();
        await out.close();
        out = null;
        // Something wrote into the original while we copied: the copy would lose that write.
        const stAfter = await fsp.stat(abs);
        if (stAfter.size !== stBefore.size || stAfter.mtimeMs !== stBefore.mtimeMs || stAfter.ino !== stBefore.ino) {
          throw new RefusedError('CHANGED', `${abs} changed while it was being compacted; nothing was replaced`, { path: abs });
        }
      } catch (err) {
        await out?.close();
        await fsp.unlink(j.tmp).catch(() => undefined);
        await removeJournal(jpath);
        throw err;
      }
      // Windows refuses to rename over a file that is still open, ours included.
      await f.close();
      j.phase = 'rename';
      await writeJournal(jpath, j);
      // The point of no return: the copy replaces the original.
      new ProgressReporter(ctx, 'compact', f.virtualSize).finishing();
      try {
        await renameFile(j.tmp, abs);
      } catch (err) {
        // Another program holds the disk: the original is untouched, so drop the copy rather than leave the swap to a later recover.
        if (err instanceof RefusedError && err.code === 'IN_USE') {
          await fsp.unlink(j.tmp).catch(() => undefined);
          await removeJournal(jpath);
        }
        throw err;
      }
      await syncDir(dir);
      await removeJournal(jpath);
      return { path: abs, blocksBefore: plan.blocksBefore, blocksAfter: counts.blocksAfter, bytesBefore: stBefore.size, bytesAfter: counts.bytesAfter };
    });
  } finally {
    await f.close();
  }
}

/** Writes the compacted image of `f` into the empty file `out`. */
async function writeCompacted(f: VhdFile, out: RandomAccessFile, ctx: JobContext): Promise<{ blocksAfter: number; bytesAfter: number }> {
  const layout = layoutFor(f);
  const blockBytes = f.bitmapSize + f.blockSize;
  const bat = new Uint32Array(f.header!.maxTableEntries).fill(BAT_UNUSED);
  const map = f.batmap ? new Uint8Array(f.batmap.map.length) : null;
  const buf = Buffer.alloc(blockBytes);
  const data = buf.subarray(f.bitmapSize);
  const progress = new ProgressReporter(ctx, 'compact', f.virtualSize);
  let next = layout.dataStart;
  let kept = 0;
  // Index order: the compacted file reads sequentially for sequential sectors.
  for (let b = 0; b < f.blockCount; b++) {
    // The original was never written: dropping the copy (the caller does) is the whole rollback.
    if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('compact'));
    if (f.blockOffset(b) === null) continue;
    const sectors = f.sectorsInBlock(b);
    const bm = await f.readBitmap(b);
    // No set bit: nothing of its own (a dynamic block's clear sectors read as zeros).
    if (isEmpty(bm, sectors)) continue;
    buf.fill(0);
    await f.readOwn(b, 0, sectors, data, 0);
    if (f.type === 'dynamic') {
      // Clear-bit sectors read as zeros: the copy stores them as zeros, so only set sectors decide.
      for (const r of bitRuns(bm, 0, sectors)) if (!r.set) data.fill(0, r.start * SECTOR, (r.start + r.length) * SECTOR);
      if (isAllZero(data.subarray(0, sectors * SECTOR))) continue;
    }
    // Bitmap verbatim; data verbatim in a differencing block, whose clear-bit sectors are never read.
    buf.set(bm, 0);
    await out.write(buf, next);
    bat[b] = next / SECTOR;
    if (map && isFull(bm, f.sectorsPerBlock)) map[b >>> 3] |= 0x80 >>> (b & 7);
    next += blockBytes;
    kept++;
    progress.update(Math.min((b + 1) * f.blockSize, f.virtualSize));
  }
  progress.update(f.virtualSize);
  const footer = encodeFooter({ ...f.footer, dataOffset: BigInt(SECTOR) });
  await out.write(footer, 0);
  await out.write(encodeHeader(layout.header), SECTOR);
  await out.write(encodeBat(bat), layout.tableOffset);
  if (layout.batmap && map && f.batmap) {
    await out.write(encodeBatmapHeader({ ...f.batmap.header, offset: BigInt(layout.batmap.mapAt), checksum: batmapChecksum(map) }), layout.batmap.headerAt);
    await out.write(map, layout.batmap.mapAt);
  }
  for (const p of layout.payloads) await out.write(await readExact(f.file, p.from, p.length, 'parent locator payload'), p.to);
  await out.write(footer, next);
  return { blocksAfter: kept, bytesAfter: next + FOOTER_SIZE };
}

/**
 * Recovery: an incomplete copy is deleted (the original was never touched);
 * a complete one is renamed over the original if that has not happened yet.
 */
export async function recoverCompact(jpath: string, j: CompactJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    const tmpExists = await fsp.lstat(j.tmp).then(
      () => true,
      () => false,
    );
    if (j.phase === 'rename' && tmpExists) {
      let ok: boolean;
      try {
        ok = (await diskIds(j.tmp)).uuid === j.uuid;
      } catch {
        ok = false;
      }
      if (ok) {
        await renameFile(j.tmp, j.path);
        await syncDir(nodePath.dirname(j.path));
        await removeJournal(jpath);
        return { action: 'completed', detail: `finished compacting ${j.path}` };
      }
    }
    if (tmpExists) await fsp.unlink(j.tmp).catch(() => undefined);
    await removeJournal(jpath);
    return j.phase === 'rename' && !tmpExists
      ? { action: 'completed', detail: `${j.path} was already compacted` }
      : { action: 'discarded', detail: `compaction of ${j.path} was interrupted; the original is unchanged and the partial copy was removed` };
  });
}

/** Rollback: the original was never written; the copy goes (a copy already renamed into place cannot be undone). */
export async function rollbackCompact(jpath: string, j: CompactJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    await fsp.unlink(j.tmp).catch(() => undefined);
    await removeJournal(jpath);
    return { action: 'discarded', detail: `compaction of ${j.path} rolled back: the original is unchanged and the partial copy was removed` };
  });
}

const blocks = (n: number) => `${n} block${n === 1 ? '' : 's'}`;

export const compactOperation = defineOperation({
  op: 'compact',
  request: diskRequest,
  ...writesOneDisk,
  plan: (r) => planCompact(r.disk),
  run: (_r, ctx) => compactPlanned(ctx.plan, ctx),
  cli: {
    args: '<file>',
    about: 'Drops blocks that hold nothing (a dynamic disk also drops all-zero blocks) and closes the gaps, so the file shrinks.',
    positional: ['disk'],
    print: (r) =>
      r.bytesAfter < r.bytesBefore
        ? `Compacted ${r.path} from ${sizeWithBytes(r.bytesBefore)} to ${sizeWithBytes(r.bytesAfter)}, ${blocks(r.blocksBefore)} to ${r.blocksAfter}: ${sizeText(r.bytesBefore - r.bytesAfter)} freed.`
        : `${r.path} stays at ${sizeWithBytes(r.bytesAfter)} and ${blocks(r.blocksAfter)}: nothing could be freed, every stored block holds data.`,
  },
  journal: journalKind(compactJournalSchema, recoverCompact, { rollback: rollbackCompact, pastNoReturn: (j) => j.phase === 'rename' }),
});

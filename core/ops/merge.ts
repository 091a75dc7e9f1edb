// Merge a differencing child into its parent. Bitmap-aware: a full child
// block is copied whole, otherwise only its runs of set bits, OR'ed into the
// parent's bitmap; blocks are visited in the child's physical order and
// staged into the parent in batches, whose metadata is committed (two fsyncs)
// at each journal checkpoint (see CommitPacer).
//
// Crash safety: the journal is written before the first write. The copy is
// idempotent and, while it runs, everything read through the child is
// unchanged (the child shadows every sector being copied), so recovery can
// roll forward: redo the copy from the last checkpoint, relink the child's
// children to the parent, delete the child. Refused when the parent has other
// children, whose view would change.
//
// Cancel and `recover --rollback` roll back instead: the parent is overwritten
// in place, so before each batch the bytes of the parent it overwrites are
// saved in an undo record beside the journal (core/disk/undo.ts says why this
// design, README has its cost). Rollback gives the parent back its old bytes
// and size; the child was never written. The point of no return is the end
// of the copy: relinking the grandchildren and deleting the child are not
// undone, so from there the job finishes (Progress.finishing).
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CancelledError, RefusedError, UsageError } from '../errors.js';
import { applyUndo, UndoLog } from '../disk/undo.js';
import { bitRuns } from '../format/bitmap.js';
import { SECTOR } from '../format/bytes.js';
import { openDisk, openReadableDisk } from '../disk/chain.js';
import { CommitPacer, STAGE_BATCH_BYTES, VhdFile } from '../disk/vhd-file.js';
import { assertCanWrite, closeAll, openAll, pathExists, removeFile, tempSibling, withOwnerWrite } from '../io/file.js';
import { fileKey, fileKeyOrNull } from '../io/identity.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, offset, relinkRecordSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskPath, journalKind } from '../operation.js';
import { findChildren } from '../library/scan.js';
import { applyRelink, prepareRelink, stampChildren, type PreparedRelink } from './relink.js';
import type { DeletePlan } from './delete.js';
import type { VhdxMergeShape } from './merge-vhdx.js';
import { blockBytes, freedBytes, receiverAt, relinkBytes } from './frees.js';
import { diskText, sizeText } from '../words.js';

/** Child data per undo window (see copyPhase): one fsync of the undo record per this much copied. */
const UNDO_WINDOW_BYTES = 256 * 1024 * 1024;
/** A window of sparse blocks ends here anyway, so its list of runs stays small. */
const UNDO_WINDOW_BLOCKS = 4096;

export const mergeJournalSchema = journalSchema('merge', {
  phase: z.enum(['copy', 'relink', 'finalize']),
  child: z.string(),
  childUuid: z.string(),
  parent: z.string(),
  parentUuid: z.string(),
  /** Index into the child's blocks in physical order: everything before it is copied. */
  nextBlock: offset,
  grandchildren: z.array(z.string()),
  relinks: z.array(relinkRecordSchema),
  /** Where the parent's footer was before the copy began: a resumed copy gives back unreferenced space down to it. Absent in older journals. */
  parentEnd: z.optional(offset),
  /** The undo record of the parent's overwritten bytes (core/disk/undo.ts): what a rollback restores. Absent in older journals. */
  undo: z.optional(z.string()),
  /** The child's allocated blocks: with nextBlock, how far the copy got (the app's banner). Absent in older journals. */
  blocks: z.optional(offset),
});
export type MergeJournal = z.infer<typeof mergeJournalSchema>;

export interface MergePlan extends Plan {
  child: string;
  parent: string;
  grandchildren: string[];
  /** With --into: the chain from the child up to that ancestor, both included (one merge per level); else [child, parent]. */
  segment: string[];
  /** Set when this merge of the tree's active disk runs as the delete of its parent snapshot (merge-active.ts). */
  viaDelete?: DeletePlan;
  /** Set when the child is a VHDX: the merge rewrites the parent (merge-vhdx.ts). */
  vhdx?: VhdxMergeShape;
}

export interface MergeResult {
  /** The merged disk (at the parent's path). */
  merged: string;
  removed: string[];
  relinked: string[];
}

/** The parent's children other than `child`, compared by file (a second name of the child is not another child). */
export async function otherChildren(parent: string, child: string): Promise<string[]> {
  const c = await fileKey(child);
  const all = await findChildren(parent);
  const out: string[] = [];
  for (const p of all) if ((await fileKeyOrNull(p)) !== c) out.push(p);
  return out;
}

export async function planMerge(childPath: string): Promise<MergePlan> {
  const disk = await openDisk(childPath);
  try {
    const child = disk.top;
    const refusals: Plan['refusals'] = [];
    if (child.type !== 'differencing') {
      return {
        operation: 'merge',
        summary: `${nodePath.basename(childPath)} is a ${child.type} disk with no parent to merge into`,
        changes: [],
        bytesToCopy: 0,
        worstCaseGrowth: 0,
        freeSpace: null,
        refusals: [{ code: 'NOT_DIFFERENCING', message: `${childPath} is not a differencing disk` }],
        child: childPath,
        parent: '',
        grandchildren: [],
        segment: [nodePath.resolve(childPath)],
      };
    }
    const parent = disk.layers[1];
    const others = await otherChildren(parent.path, child.path);
    if (others.length > 0) {
      refusals.push({
        code: 'PARENT_HAS_OTHER_CHILDREN',
        message: `${nodePath.basename(parent.path)} is also the parent of ${others.join(', ')}; merging into it would change what they show`,
      });
    }
    if (parent.footer.savedState === 1) refusals.push({ code: 'SAVED_STATE', message: `${parent.path} is in a saved state` });
    if (parent.footerSource === 'copy') refusals.push({ code: 'NEEDS_REPAIR', message: `${parent.path} has a damaged trailing footer; repair it first` });
    let copy = 0;
    const parentBlocks = new Set<number>();
    // The undo record (Cancel, roll back) holds what the copy overwrites in the parent's existing
    // blocks, at most: the runs that land there, a bitmap per block, a header per region, the BAT.
    let undo = 2 * SECTOR + (parent.header ? parent.header.maxTableEntries * 4 : 0);
    const touched = new Set<number>();
    for await (const [b, bm] of child.bitmaps(child.physicalOrder())) {
      for (const r of bitRuns(bm, 0, child.sectorsInBlock(b))) {
        if (!r.set) continue;
        copy += r.length * SECTOR;
        const first = b * child.sectorsPerBlock + r.start;
        if (parent.type === 'fixed') {
          undo += r.length * SECTOR + 32;
          continue;
        }
        for (let pb = Math.floor(first / parent.sectorsPerBlock); pb <= Math.floor((first + r.length - 1) / parent.sectorsPerBlock); pb++) {
          if (parent.blockOffset(pb) === null) {
            parentBlocks.add(pb);
            continue;
          }
          const lo = Math.max(first, pb * parent.sectorsPerBlock);
          const hi = Math.min(first + r.length, (pb + 1) * parent.sectorsPerBlock);
          undo += (hi - lo) * SECTOR + 32;
          if (!touched.has(pb)) undo += parent.bitmapSize + 32;
          touched.add(pb);
        }
      }
    }
    const growth = parentBlocks.size * (parent.bitmapSize + parent.blockSize) + 4 * SECTOR + undo;
    const freeSpace = await freeSpaceAt(nodePath.dirname(parent.path));
    if (freeSpace !== null && growth > freeSpace)
      refusals.push({ code: 'NO_SPACE', message: `the merge may need ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
    // A parent this user cannot write fails in the plan (dry run too), not in the copy after the journal is written.
    await assertCanWrite(parent.path, 'merge cannot write into');
    const grandchildren = await findChildren(child.path);
    // The child goes; the parent takes its new blocks, and each grandchild a locator region for its new parent.
    const frees = await freedBytes(
      [child.path],
      [
        { path: parent.path, footerOffset: parent.footerOffset, appended: blockBytes(parent, parentBlocks.size) },
        ...(await Promise.all(grandchildren.map((g) => receiverAt(g, relinkBytes(g, parent.path))))),
      ],
    );
    const [childText, parentText] = [await diskText(child.path, child.uuid), await diskText(parent.path, parent.uuid)];
    return {
      operation: 'merge',
      summary: `copy the ${sizeText(copy)} stored in ${childText} into ${parentText}, then delete ${nodePath.basename(child.path)}`,
      changes: [
        {
          path: parent.path,
          action: 'modify',
          detail: `receives ${sizeText(copy)}, in at most ${parentBlocks.size} new block${parentBlocks.size === 1 ? '' : 's'}; up to ${sizeText(undo)} of what it overwrites is kept beside it until the copy ends, so Cancel can restore it`,
        },
        { path: nodePath.resolve(child.path), action: 'delete' },
        ...grandchildren.map((g) => ({ path: g, action: 'modify' as const, detail: `will point at ${nodePath.basename(parent.path)} as its parent` })),
      ],
      bytesToCopy: copy,
      worstCaseGrowth: growth,
      freeSpace,
      frees,
      refusals,
      child: nodePath.resolve(child.path),
      parent: nodePath.resolve(parent.path),
      grandchildren: grandchildren.map((g) => nodePath.resolve(g)),
      segment: [nodePath.resolve(child.path), nodePath.resolve(parent.path)],
    };
  } finally {
    await disk.close();
  }
}

/** The chain from `childPath` up to its ancestor `into` (both included), either format; a UsageError when `into` is not one. */
async function segmentTo(childPath: string, into: string): Promise<string[]> {
  const disk = await openReadableDisk(childPath);
  const paths = disk.layers.map((l) => nodePath.resolve(l.path));
  await disk.close();
  return segmentOf(paths, into, childPath);
}

/** The start of `chain` (resolved paths, child first) up to the ancestor `into`, matched by path or by file; a UsageError naming `child` when it is none. */
export async function segmentOf(chain: string[], into: string, child: string): Promise<string[]> {
  const target = await fileKeyOrNull(into);
  for (let i = 1; i < chain.length; i++) {
    if (chain[i] === nodePath.resolve(into) || (target !== null && (await fileKeyOrNull(chain[i])) === target)) return chain.slice(0, i + 1);
  }
  throw new UsageError('NOT_AN_ANCESTOR', `${into} is not an ancestor of ${child}`, { field: 'into' });
}

/**
 * Merging level by level up to an ancestor (merge --into). Every level is
 * decided here, before the first is merged: each ancestor that receives the
 * merged data must have no other child, be in no saved state and need no
 * repair. Sizes are upper bounds: a level copies at most what every level
 * below it stores.
 */
export async function planMergeInto(childPath: string, into: string): Promise<MergePlan> {
  const segment = await segmentTo(childPath, into);
  const first = await planMerge(childPath);
  if (segment.length <= 2) return first;
  const refusals = [...first.refusals];
  const changes = [...first.changes];
  let copy = first.bytesToCopy;
  let below = first.bytesToCopy;
  let growth = first.worstCaseGrowth;
  for (let k = 2; k < segment.length; k++) {
    const [child, parent] = [segment[k - 1], segment[k]];
    const f = await VhdFile.open(parent);
    try {
      const others = await otherChildren(parent, child);
      if (others.length > 0) {
        refusals.push({
          code: 'PARENT_HAS_OTHER_CHILDREN',
          message: `${nodePath.basename(parent)} (level ${k} of the merge into it) is also the parent of ${others.join(', ')}; merging into it would change what they show`,
        });
      }
      if (f.footer.savedState === 1) refusals.push({ code: 'SAVED_STATE', message: `${parent} is in a saved state` });
      if (f.footerSource === 'copy') refusals.push({ code: 'NEEDS_REPAIR', message: `${parent} has a damaged trailing footer; repair it first` });
      // What the merged child holds at this level: its own data plus everything merged into it.
      below += await storedBytes(child);
      copy += below;
      growth += Math.min(below, f.virtualSize) + 4 * SECTOR;
    } finally {
      await f.close();
    }
    const i = changes.findIndex((c) => c.path === child);
    changes.splice(i, 1, { path: child, action: 'delete', detail: `receives the levels below, then is merged into ${nodePath.basename(parent)} and removed` });
    changes.push({ path: parent, action: 'modify', detail: `receives the merged content of the ${k === 1 ? 'level' : `${k} levels`} below it` });
  }
  const top = segment[segment.length - 1];
  const freeSpace = await freeSpaceAt(nodePath.dirname(top));
  if (freeSpace !== null && growth > freeSpace)
    refusals.push({ code: 'NO_SPACE', message: `merging into ${nodePath.basename(top)} may need ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
  return {
    ...first,
    summary: `merge ${nodePath.basename(childPath)} level by level into ${nodePath.basename(top)} (${segment.length - 1} merges), removing ${segment
      .slice(0, -1)
      .map((p) => nodePath.basename(p))
      .join(', ')}`,
    changes,
    bytesToCopy: copy,
    worstCaseGrowth: growth,
    freeSpace,
    // Each level's figure depends on the levels merged below it: no exact figure is given.
    frees: undefined,
    refusals,
    segment,
  };
}

/** Bytes whose bitmap bit is set in one file (a pass over its bitmaps). */
async function storedBytes(path: string): Promise<number> {
  const f = await VhdFile.open(path);
  try {
    let n = 0;
    for await (const [b, bm] of f.bitmaps(f.physicalOrder())) for (const r of bitRuns(bm, 0, f.sectorsInBlock(b))) if (r.set) n += r.length * SECTOR;
    return n;
  } finally {
    await f.close();
  }
}

/** Plans and merges (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function merge(childPath: string, ctx: JobContext = {}): Promise<MergeResult> {
  const plan = await planMerge(childPath);
  assertNoRefusals(plan, childPath);
  return mergePlanned(plan, ctx);
}

/** `undoable` false: a level of merge --into past its job's point of no return, which keeps no undo record. */
async function mergePlanned(plan: MergePlan, ctx: JobContext, undoable = true): Promise<MergeResult> {
  if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('merge'));
  const jpath = journalPath(plan.parent);
  const [c, p] = await openAll([VhdFile.open(plan.child), VhdFile.open(plan.parent)]);
  // The undo record exists (durable) before the journal names it: a journal never names a record that is not there.
  // A kill between the two leaves a temp of a dead pid, which recover removes.
  const undo = undoable ? tempSibling(plan.parent, 'undo') : undefined;
  if (undo !== undefined) {
    try {
      await (await UndoLog.begin(undo, p)).close();
    } catch (err) {
      await closeAll([c, p]);
      await removeFile(undo, { missingOk: true }).catch(() => undefined);
      throw err;
    }
  }
  const journal: MergeJournal = {
    ...journalHeader('merge', 'copy'),
    child: plan.child,
    childUuid: c.uuid,
    parent: plan.parent,
    parentUuid: p.uuid,
    nextBlock: 0,
    grandchildren: plan.grandchildren,
    relinks: [],
    parentEnd: p.footerOffset,
    undo,
    blocks: c.physicalOrder().length,
  };
  await closeAll([c, p]);
  await writeJournal(jpath, journal).catch(async (err: unknown) => {
    // No journal names the record: it goes with the failure (nothing was written yet).
    if (undo !== undefined) await removeFile(undo, { missingOk: true }).catch(() => undefined);
    throw err;
  });
  // The plan, made under the same locks, already counted what the copy will move: no second pass over the bitmaps.
  return runMerge(jpath, journal, ctx, plan.bytesToCopy);
}

/**
 * The planned merge, or with --into each level in turn: a level's own plan is
 * made when the level below is done (its numbers depend on that merge), and
 * must refuse nothing the whole plan did not already check.
 */
async function mergeSegment(plan: MergePlan, ctx: JobContext): Promise<MergeResult & { steps: MergeResult[] }> {
  const steps = [await mergePlanned(plan, ctx)];
  // Once the first level is merged (its child deleted) the job cannot be undone: the rest finishes, cancel or not.
  const onProgress = ctx.onProgress;
  const rest: JobContext = onProgress ? { onProgress: (p) => onProgress({ ...p, finishing: true }) } : {};
  for (let k = 2; k < plan.segment.length; k++) {
    const level = await planMerge(plan.segment[k - 1]);
    assertNoRefusals(level, plan.segment[k - 1]);
    steps.push(await mergePlanned(level, rest, false));
  }
  const last = steps[steps.length - 1];
  return { merged: last.merged, removed: steps.flatMap((s) => s.removed), relinked: last.relinked, steps };
}

/** Continues a merge from its journal (also the recovery path). */
export async function runMerge(jpath: string, j: MergeJournal, ctx: JobContext = {}, bytesToCopy?: number): Promise<MergeResult> {
  return withActiveJournal(jpath, () => runMergeSteps(jpath, j, ctx, bytesToCopy));
}

async function runMergeSteps(jpath: string, j: MergeJournal, ctx: JobContext, bytesToCopy?: number): Promise<MergeResult> {
  // The copy's last checkpoint moves the journal on (to 'finalize' when there is nothing to relink).
  if (j.phase === 'copy' && (await copyPhase(jpath, j, ctx, bytesToCopy)) === 'cancelled') {
    await rollbackMerge(jpath, j);
    throw new CancelledError(cancelledMessage('merge'));
  }
  // Past the point of no return: the undo record is no longer needed.
  if (j.undo) await removeFile(j.undo, { missingOk: true });
  if (j.phase === 'relink') {
    for (const g of j.grandchildren) {
      let prepared = j.relinks.find((r) => r.child === g);
      if (!prepared) {
        const r = await prepareRelink(g, j.parent, { expectedParentUuid: j.parentUuid, expectedCurrentParents: [j.childUuid, j.parentUuid] });
        prepared = { child: r.child, headerOffset: r.headerOffset, header: Buffer.from(r.header).toString('base64') };
        j.relinks.push(prepared);
        await writeJournal(jpath, j);
      }
      await applyRelink(decodeRelink(prepared));
    }
    j.phase = 'finalize';
    await writeJournal(jpath, j);
  }
  await removeFile(j.child, { missingOk: true });
  // The parent was written (and each relinked grandchild): their children's timestamps follow.
  // After the child is gone, so the parent's children are the relinked ones.
  for (const p of [j.parent, ...j.grandchildren]) await stampChildren(p);
  // A parent of other disks stays read-only; a new leaf becomes writable.
  const mode = (await fsp.stat(j.parent)).mode & 0o777;
  await fsp.chmod(j.parent, j.grandchildren.length > 0 ? mode & ~0o222 : mode | 0o200).catch(() => undefined);
  await removeJournal(jpath);
  return { merged: j.parent, removed: [j.child], relinked: j.grandchildren };
}

/** The job is past its point of no return once the copy is done (or its journal keeps no undo record). */
export function mergePastNoReturn(j: MergeJournal): boolean {
  return j.phase !== 'copy' || j.undo === undefined;
}

/**
 * Rolls back a merge still copying: the parent gets back its bytes and size
 * from the undo record (the child and its children were never written), then
 * the journal and the record go. Idempotent: a rollback cut short runs again.
 */
export async function rollbackMerge(jpath: string, j: MergeJournal): Promise<void> {
  if (mergePastNoReturn(j)) throw new RefusedError('PAST_NO_RETURN', `the merge into ${j.parent} is past its point of no return`);
  const undo = j.undo!;
  if (!(await pathExists(undo))) {
    throw new RefusedError('UNDO_MISSING', `${undo}, the undo record of the merge into ${j.parent}, is missing; the journal is left for a person`, {
      path: jpath,
    });
  }
  const p = await VhdFile.open(j.parent);
  const id = p.uuid;
  await p.close();
  // Never write old bytes into a file that is not the parent the merge wrote.
  if (id !== j.parentUuid) throw new RefusedError('ID_CHANGED', `${j.parent} no longer has the id the merge was planned with; refusing to roll back into it`);
  await withOwnerWrite(j.parent, () => applyUndo(undo, j.parent));
  await removeJournal(jpath);
  await removeFile(undo, { missingOk: true });
}

function decodeRelink(r: MergeJournal['relinks'][number]): PreparedRelink {
  return { child: r.child, headerOffset: r.headerOffset, header: new Uint8Array(Buffer.from(r.header, 'base64')) };
}

/**
 * `bytesToCopy`, when known, is what is left to copy from `j.nextBlock` on
 * (progress only). 'cancelled': the signal aborted before the copy ended
 * (what it staged is for the caller to roll back).
 */
async function copyPhase(jpath: string, j: MergeJournal, ctx: JobContext, bytesToCopy?: number): Promise<'done' | 'cancelled'> {
  return withOwnerWrite(j.parent, async () => {
    const child = await VhdFile.open(j.child);
    let parent: VhdFile | null = null;
    let undo: UndoLog | null = null;
    try {
      parent = await VhdFile.open(j.parent, { writable: true });
      // Ids are checked right before writing: never write into a file that is not the planned parent.
      if (parent.uuid !== j.parentUuid || child.uuid !== j.childUuid) {
        throw new RefusedError('ID_CHANGED', `${j.parent} or ${j.child} no longer has the id the merge was planned with; refusing to write`);
      }
      // An interrupted copy (ENOSPC, a kill) left staged blocks no BAT entry points at, the footer
      // already past them: that space is reused, not appended after, so a resumed merge ends no
      // larger than a clean one and needs no more free space than its plan said.
      if (j.parentEnd !== undefined) await parent.reclaimUnreferencedTail(j.parentEnd);
      if (j.undo !== undefined) undo = await UndoLog.reopen(j.undo);
      const order = child.physicalOrder();
      const todo = order.slice(j.nextBlock);
      // Progress in bytes still to copy (what the plan quoted), counted from where this run starts.
      const progress = new ProgressReporter(ctx, 'merge', bytesToCopy ?? (await child.setBytes(todo)));
      let copied = 0;
      const pacer = new CommitPacer();
      let batch: { sector: number; data: Uint8Array }[] = [];
      let bytes = 0;
      // One reused arena holds a batch's runs (a batch ends within one block of STAGE_BATCH_BYTES):
      // no per-run allocation, and memory stays flat however large the child is.
      const arena = Buffer.allocUnsafe(STAGE_BATCH_BYTES + child.blockSize);
      const flush = async (next: number, checkpoint: boolean) => {
        // What the batch overwrites was saved (and made durable) with its window's, before it.
        if (batch.length > 0) await parent!.stageRuns(batch);
        copied += bytes;
        const due = pacer.add(bytes);
        batch = [];
        bytes = 0;
        // The copy is idempotent, so a checkpoint only saves redoing work after a crash: one per
        // commit is plenty (each costs two fsyncs of the parent and one of the journal). The
        // parent's metadata is committed first: the journal never counts a block as copied
        // before it is visible in the parent.
        if (checkpoint || due) {
          await parent!.commit();
          j.nextBlock = next;
          // The last checkpoint also moves the journal to the next phase: one write fewer.
          if (next === order.length) j.phase = j.grandchildren.length > 0 ? 'relink' : 'finalize';
          await writeJournal(jpath, j);
          pacer.committed();
        }
        progress.update(copied);
      };
      let i = j.nextBlock;
      if (ctx.signal?.aborted) return 'cancelled';
      // Blocks go in windows: what a window overwrites in the parent is saved to the undo record with
      // one fsync before any of it is staged, not one fsync per batch (each also waits for the parent's
      // writeback on ext4's ordered journal). The window holds only bitmaps, so memory stays bounded.
      let window: { block: number; runs: { start: number; length: number }[] }[] = [];
      let windowBytes = 0;
      const copyWindow = async (): Promise<'done' | 'cancelled'> => {
        await undo?.saveBefore(
          parent!,
          window.flatMap((w) => w.runs.map((r) => ({ sector: w.block * child.sectorsPerBlock + r.start, count: r.length }))),
        );
        for (const { block: b, runs } of window) {
          // A full bitmap is one run, so a full block is one read; a block's runs are read concurrently.
          const reads: Promise<void>[] = [];
          for (const r of runs) {
            const data = arena.subarray(bytes, bytes + r.length * SECTOR);
            reads.push(child.readOwn(b, r.start, r.length, data, 0));
            batch.push({ sector: b * child.sectorsPerBlock + r.start, data });
            bytes += data.length;
          }
          const settled = await Promise.allSettled(reads);
          for (const x of settled) if (x.status === 'rejected') throw x.reason;
          i++;
          if (bytes >= STAGE_BATCH_BYTES) await flush(i, false);
          // What is staged is rolled back by the caller; the batch not yet staged is simply dropped.
          // (Unless that flush was the last checkpoint: the journal has moved past the copy, the point of no return.)
          if (ctx.signal?.aborted && j.phase === 'copy') return 'cancelled';
        }
        window = [];
        windowBytes = 0;
        return 'done';
      };
      for await (const [b, bm] of child.bitmaps(todo)) {
        const runs = bitRuns(bm, 0, child.sectorsInBlock(b)).filter((r) => r.set);
        window.push({ block: b, runs });
        for (const r of runs) windowBytes += r.length * SECTOR;
        if ((windowBytes >= UNDO_WINDOW_BYTES || window.length >= UNDO_WINDOW_BLOCKS) && (await copyWindow()) === 'cancelled') return 'cancelled';
      }
      if ((await copyWindow()) === 'cancelled') return 'cancelled';
      await flush(order.length, true);
      progress.finishing();
      return 'done';
    } finally {
      await closeAll([child, parent, undo]);
    }
  });
}

export const mergeOperation = defineOperation({
  op: 'merge',
  request: z.object({ disk: diskPath, into: z.optional(diskPath) }),
  files: { disk: 'disk', into: 'disk' },
  access: 'writes',
  touched: (r) => [r.disk],
  plan: (r) => (r.into === undefined ? planMerge(r.disk) : planMergeInto(r.disk, r.into)),
  run: (_r, ctx) => mergeSegment(ctx.plan, ctx),
  cli: {
    args: '<child>',
    about: 'Folds a child disk into its parent and removes the child file (with --into, level by level up to that ancestor).',
    positional: ['disk'],
    // With --into the plan covers every level, and each level is its own journaled merge.
    options: { into: { field: 'into', kind: 'text', value: '<ancestor>', help: 'merge level by level up to this ancestor' } },
    print: (r) =>
      r.steps
        .map((s) => `merged ${s.removed.join(', ')} into ${s.merged}${s.relinked.length ? ` (relinked ${s.relinked.length} child disk(s))` : ''}`)
        .join('\n'),
    json: (r) => (r.steps.length === 1 ? r.steps[0] : r.steps),
  },
  journal: journalKind(
    mergeJournalSchema,
    async (path, j) => {
      const r = await runMerge(path, j);
      return { action: 'completed', detail: `merged into ${r.merged}, removed ${r.removed.join(', ')}` };
    },
    {
      rollback: async (path, j) => {
        await rollbackMerge(path, j);
        return { action: 'discarded', detail: `rolled back the merge of ${j.child} into ${j.parent}: both are as before` };
      },
      pastNoReturn: mergePastNoReturn,
    },
  ),
});

// Deleting a snapshot from the tree so that every descendant keeps its exact
// content and every remaining file keeps its path.
//
// Strategies (the plan says which):
// - "fold": the snapshot has a parent. Its stored sectors are copied into each
//   child wherever that child's own bit is clear (what the child showed from
//   the snapshot now lives in the child), each child is relinked to the
//   snapshot's parent, and the snapshot is removed. While folding, what a child
//   shows does not change, so recovery rolls forward. Cancel and `recover
//   --rollback` roll back instead: each child's overwritten bytes (its old
//   bitmaps, BAT, footer, size) are kept in an undo record (core/disk/undo.ts)
//   before each batch, and restored. The relink is the point of no return.
//   A base with one child is folded too when that copies less than merging
//   the child into it (a child that stores nearly everything it shows): the
//   child then also gets zeros in the sectors neither file stores, and instead
//   of a relink it becomes a dynamic disk (relink.ts applyUnlink).
// - "merge-child": the snapshot is a base with one child. The child is merged
//   into it (merge.ts), then the result is renamed onto the child's path.
//   Rolled back like the merge, until the merge is past its copy.
// - "remove": the disk is a saved state (a leaf that is not its tree's active
//   disk). Nothing depends on it, so its file just goes: one unlink, then its
//   label; no journal (a kill leaves the file or not, and at worst a label of
//   no file). Either format.
// - "rewrite" (VHDX only, which vhdsnap does not write in place): a snapshot
//   with one child takes that child in by merge-vhdx.ts's rewrite, run as for
//   an active child (the result at the child's path), under the merge's
//   journal.
// - "vhdx-fold" (VHDX): a snapshot with several children, each child
//   rewritten as itself over the snapshot and renamed over itself
//   (core/ops/fold-vhdx.ts), then the snapshot goes.
// A base with several children is refused: each child would have to become a
// standalone disk (flatten them instead). The active disk is refused: it is
// the current state, not a snapshot.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CancelledError, RefusedError } from '../errors.js';
import { applyUndo, UndoLog } from '../disk/undo.js';
import { bitRuns, testBit } from '../format/bitmap.js';
import { SECTOR, uuidToString } from '../format/bytes.js';
import { openDisk, openReadableDisk } from '../disk/chain.js';
import { diskFormat } from '../disk/sniff.js';
import { CommitPacer, STAGE_BATCH_BYTES, VhdFile } from '../disk/vhd-file.js';
import { closeAll, openAll, pathExists, removeFile, renameFile, syncDir, tempSibling, withOwnerWrite } from '../io/file.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import {
  journalHeader,
  journalPath,
  journalSchema,
  offset,
  readJournalOf,
  relinkRecordSchema,
  removeJournal,
  withActiveJournal,
  writeJournal,
} from '../journal.js';
import { defineOperation, diskRequest, journalKind, PAST_NO_RETURN, type RecoveryOutcome, writesOneDisk } from '../operation.js';
import { readSidecar, writeSidecar } from '../library/sidecar.js';
import { findChildren, treeOf } from '../library/scan.js';
import { removalSentence, savedStateSentence } from '../library/keep-lose.js';
import { merge, mergeJournalSchema, mergePastNoReturn, rollbackMerge, runMerge } from './merge.js';
import { planVhdxMerge, vhdxMergePlanned, type VhdxMergePlanFields } from './merge-vhdx.js';
import { discardVhdxFold, runVhdxFold, startVhdxFold, vhdxFoldJournalSchema, vhdxFoldPastNoReturn, type VhdxFoldJournal } from './fold-vhdx.js';
import { applyRelink, applyUnlink, prepareRelink, prepareUnlink, stampChildren } from './relink.js';
import { treeEffect } from '../library/effect.js';
import { blocksToAdd, blockBytes, freedBytes, receiverAt, relinkBytes, type Receiver } from './frees.js';
import { diskText, sizeText } from '../words.js';

/** Fold: the snapshot's data moves into each child, which is relinked to the snapshot's parent. */
const foldJournalSchema = journalSchema('delete', {
  strategy: z.literal('fold'),
  phase: z.enum(['fold', 'relink', 'remove']),
  snapshot: z.string(),
  snapshotUuid: z.string(),
  /** The snapshot's parent; null when a base is folded into its only child, which becomes standalone. */
  parent: z.nullable(z.string()),
  parentUuid: z.nullable(z.string()),
  children: z.array(z.string()),
  /** Children fully folded so far. */
  folded: z.array(z.string()),
  relinks: z.array(relinkRecordSchema),
  /** Each child's footer offset before the fold: a resumed fold gives back unreferenced space down to it. Absent in older journals. */
  childEnds: z.optional(z.record(z.string(), offset)),
  /** Each child's undo record (core/disk/undo.ts): what a rollback restores. Absent in older journals. */
  undo: z.optional(z.record(z.string(), z.string())),
  /** The child's new header and footer as a dynamic disk (base64), once prepared: a base's fold ends with them. */
  unlink: z.optional(z.object({ child: z.string(), headerOffset: offset, header: z.string(), footer: z.string() })),
});
export type FoldJournal = z.infer<typeof foldJournalSchema>;

/** Merge-child: the only child is merged into the base, which then takes the child's path. */
const mergeChildJournalSchema = journalSchema('delete', {
  strategy: z.literal('merge-child'),
  phase: z.enum(['merge', 'rename', 'relink']),
  snapshot: z.string(),
  snapshotUuid: z.string(),
  child: z.string(),
  childUuid: z.string(),
  grandchildren: z.array(z.string()),
  relinks: z.array(relinkRecordSchema),
});
export type MergeChildJournal = z.infer<typeof mergeChildJournalSchema>;

export const deleteJournalSchema = z.discriminatedUnion('strategy', [foldJournalSchema, mergeChildJournalSchema, vhdxFoldJournalSchema]);
export type DeleteJournal = FoldJournal | MergeChildJournal | VhdxFoldJournal;

export interface DeletePlan extends Plan {
  strategy: 'fold' | 'merge-child' | 'remove' | 'rewrite' | 'vhdx-fold' | null;
  snapshot: string;
  /** Rewrite (a VHDX snapshot with one child): the merge of that child into it, run as for the active disk (merge-vhdx.ts). */
  viaVhdxMerge?: VhdxMergePlanFields;
  /** The id of the file removed (remove): the run removes no other file put at its path. */
  snapshotUuid?: string;
  /** vhdx-fold: the snapshot's parent, which each child links to once folded. */
  foldParent?: string;
  children: string[];
}

export async function planDelete(snapshotPath: string): Promise<DeletePlan> {
  const snap = nodePath.resolve(snapshotPath);
  const children = (await findChildren(snap)).map((c) => nodePath.resolve(c));
  // A leaf needs no merge whatever its format; a VHDX snapshot needs one that is not written yet.
  if (children.length === 0 || (await diskFormat(snap)) === 'vhdx') return planWithoutMerge(snap, children);
  const disk = await openDisk(snap);
  try {
    const refusals: Plan['refusals'] = [];
    const base = disk.layers.length === 1;
    const own = await storedBytes(disk.top);
    let strategy: 'fold' | 'merge-child' | null = null;
    let copy = 0;
    if (!base) [strategy, copy] = ['fold', own * children.length];
    else if (children.length === 1) {
      // A base's fold writes into the child what it lacks; a merge, what the child stores into the base: the smaller.
      const merging = await childBytes(children[0]);
      const folding = disk.top.type === 'dynamic' ? await baseFoldBytes(disk.top, children[0]) : Infinity;
      [strategy, copy] = folding < merging ? ['fold', folding] : ['merge-child', merging];
    } else {
      refusals.push({
        code: 'BASE_WITH_SEVERAL_CHILDREN',
        message: `${nodePath.basename(snap)} is the base of ${children.length} branches (${children.join(', ')}); each would have to become a standalone disk — flatten them instead`,
      });
    }
    const freeSpace = await freeSpaceAt(nodePath.dirname(snap));
    // Folding may allocate a whole block in a child per block the snapshot stores.
    const growth = strategy === 'fold' ? copy + children.length * 64 * 1024 : copy;
    if (freeSpace !== null && growth > freeSpace)
      refusals.push({ code: 'NO_SPACE', message: `deleting may need ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
    const parent = disk.layers[1]?.path ?? null;
    const changes: Plan['changes'] =
      strategy === 'fold'
        ? [
            ...children.map((c) => ({
              path: c,
              action: 'modify' as const,
              detail: parent
                ? `receives the snapshot's data it shows, then points at ${nodePath.basename(parent)} as its parent`
                : "receives the base's data it shows, then stands alone (a dynamic disk with no parent)",
            })),
            { path: snap, action: 'delete' as const },
          ]
        : strategy === 'merge-child'
          ? [
              {
                path: snap,
                action: 'modify' as const,
                detail: `receives ${nodePath.basename(children[0])}'s data, then is renamed to ${nodePath.basename(children[0])}`,
              },
              { path: children[0], action: 'delete' as const, detail: 'replaced by the merged disk under the same name' },
            ]
          : [];
    const keepLose = strategy !== null ? await removalSentence(snap, disk.top.uuid) : undefined;
    const frees = strategy === null ? undefined : await deleteFrees(disk.top, strategy, children, parent);
    const snapText = await diskText(snap, disk.top.uuid);
    return {
      operation: 'delete',
      keepLose,
      summary:
        strategy === 'fold'
          ? base
            ? `fold the base ${snapText} into its only child ${nodePath.basename(children[0])} (${sizeText(copy)} to write, less than merging that child into it), which then stands alone, and remove it`
            : `fold the snapshot ${snapText} into ${children.length === 1 ? 'its child' : `its ${children.length} children`} (${sizeText(copy)} to copy) and remove it`
          : strategy === 'merge-child'
            ? `merge ${nodePath.basename(children[0])} into the base ${snapText} (${sizeText(copy)} to copy) and keep the result under ${nodePath.basename(children[0])}`
            : `cannot delete ${snapText}`,
      changes,
      // Either way the person sees the snapshot go and the disks below it keep what they show (merge-child keeps the child's path).
      effect: strategy !== null ? treeEffect({ removed: [snap], changed: children }) : undefined,
      bytesToCopy: copy,
      worstCaseGrowth: growth,
      freeSpace,
      frees,
      refusals,
      strategy,
      snapshot: snap,
      children,
    };
  } finally {
    await disk.close();
  }
}

/**
 * A leaf (VHD or VHDX): a saved state is removed, the active disk refused. A
 * VHDX snapshot: its one child takes it in (rewrite), or its several children
 * each do (vhdx-fold).
 */
async function planWithoutMerge(snap: string, children: string[]): Promise<DeletePlan> {
  // The chain must open: its id is what the run checks, and a broken disk is for repair to look at first.
  const disk = await openReadableDisk(snap);
  const uuid = disk.top.uuid;
  await disk.close();
  const name = nodePath.basename(snap);
  const refusals: Plan['refusals'] = [];
  let strategy: DeletePlan['strategy'] = null;
  if (children.length === 1) return planVhdxRewrite(snap, uuid, children[0]);
  if (children.length > 1) return planVhdxFold(snap, uuid, children);
  {
    const tree = await treeOf(snap);
    if (tree === null || tree.node === tree.active)
      refusals.push({
        code: 'NOT_A_SNAPSHOT',
        message: `${name} has no children: it is the current state of its chain (the active disk), not a snapshot (use revert to go back from it)`,
      });
    else strategy = 'remove';
  }
  const snapText = await diskText(snap, uuid);
  return {
    operation: 'delete',
    keepLose: strategy ? await savedStateSentence(snap, uuid) : undefined,
    summary: strategy ? `remove the saved state ${snapText} (nothing depends on it)` : `cannot delete ${snapText}`,
    changes: strategy ? [{ path: snap, action: 'delete', detail: 'a saved state: its file is removed' }] : [],
    effect: strategy ? treeEffect({ removed: [snap], changed: [] }) : undefined,
    bytesToCopy: 0,
    worstCaseGrowth: 0,
    freeSpace: await freeSpaceAt(nodePath.dirname(snap)),
    frees: strategy ? await freedBytes([snap], []) : undefined,
    refusals,
    strategy,
    snapshot: snap,
    snapshotUuid: uuid,
    children,
  };
}

/**
 * A VHDX snapshot with one child: the child's merge into it, as for an active
 * child (the merged disk is written beside, then put at the child's path, and
 * the snapshot goes), so the child's path keeps its content; the child's own
 * children are relinked to it there. Its refusals are the merge's (other
 * children, space).
 */
async function planVhdxRewrite(snap: string, uuid: string, child: string): Promise<DeletePlan> {
  const m = await planVhdxMerge(child, true);
  const snapText = await diskText(snap, uuid);
  return {
    operation: 'delete',
    keepLose: m.refusals.length === 0 ? await removalSentence(snap, uuid) : undefined,
    summary: m.refusals.length === 0 ? `delete the snapshot ${snapText}: ${m.summary}` : `cannot delete ${snapText}`,
    changes: m.changes,
    effect: treeEffect({ removed: [snap], changed: [child] }),
    bytesToCopy: m.bytesToCopy,
    worstCaseGrowth: m.worstCaseGrowth,
    freeSpace: m.freeSpace,
    refusals: m.refusals,
    ...(m.cautions ? { cautions: m.cautions } : {}),
    strategy: 'rewrite',
    snapshot: snap,
    snapshotUuid: uuid,
    children: [child],
    viaVhdxMerge: m,
  };
}

/** Removes a saved state: checked again under the run's lock (same file, still no children), then unlinked; its label goes after. */
async function removeSavedState(plan: DeletePlan): Promise<DeleteResult> {
  const snap = plan.snapshot;
  const disk = await openReadableDisk(snap);
  const uuid = disk.top.uuid;
  await disk.close();
  if (uuid !== plan.snapshotUuid) throw new RefusedError('ID_CHANGED', `${snap} no longer has the planned id; refusing to remove it`, { path: snap });
  const children = await findChildren(snap);
  if (children.length > 0)
    throw new RefusedError('HAS_CHILDREN', `${snap} has children since the plan (${children.join(', ')}); refusing to remove it`, { path: snap });
  await removeFile(snap);
  await syncDir(nodePath.dirname(snap));
  await forgetDisk(snap, uuid);
  return { strategy: 'remove', removed: snap, changed: [] };
}

/** A removed disk's label, and its record as an active disk, leave its folder's sidecar. */
async function forgetDisk(path: string, uuid: string): Promise<void> {
  const dir = nodePath.dirname(path);
  const file = nodePath.basename(path);
  const s = await readSidecar(dir);
  const active = s.active?.[file] !== undefined;
  if (!s.disks[uuid] && !active) return;
  delete s.disks[uuid];
  if (active) delete s.active![file];
  await writeSidecar(dir, s);
}

/**
 * Plan.frees of a delete. Fold: the snapshot goes; each child takes the blocks
 * of its data it lacks, then a locator region for the snapshot's parent.
 * Merge-child: the child goes; the base takes the child's blocks it lacks, and
 * each grandchild is relinked twice (to the base's path by the merge, then to
 * the child's path the base is renamed to).
 */
async function deleteFrees(snap: VhdFile, strategy: 'fold' | 'merge-child', children: string[], parent: string | null): Promise<number> {
  const receivers: Receiver[] = [];
  if (strategy === 'fold') {
    for (const c of children) {
      const f = await VhdFile.open(c);
      try {
        receivers.push({ path: c, footerOffset: f.footerOffset, appended: blockBytes(f, await blocksToAdd(snap, f)) + (parent ? relinkBytes(c, parent) : 0) });
      } finally {
        await f.close();
      }
    }
    return freedBytes([snap.path], receivers);
  }
  const child = await VhdFile.open(children[0]);
  try {
    receivers.push({ path: snap.path, footerOffset: snap.footerOffset, appended: blockBytes(snap, await blocksToAdd(child, snap)) });
  } finally {
    await child.close();
  }
  for (const g of await findChildren(children[0])) receivers.push(await receiverAt(g, relinkBytes(g, snap.path) + relinkBytes(g, children[0])));
  return freedBytes([children[0]], receivers);
}

async function storedBytes(f: VhdFile): Promise<number> {
  if (f.type === 'fixed') return f.virtualSize;
  // Set bits only, in dynamic files too: a clear-bit sector reads as zeros there, it stores nothing.
  return f.setBytes(f.physicalOrder());
}

/**
 * Bytes a base's fold into its only child writes: the base's stored sectors
 * the child lacks, and zeros for the sectors of the child's blocks neither
 * stores (a dynamic disk's unwritten sectors must hold zeros for readers that
 * ignore its bitmaps). For a dynamic base (a fixed one stores every sector).
 */
async function baseFoldBytes(base: VhdFile, childPath: string): Promise<number> {
  const child = await VhdFile.open(childPath);
  try {
    let n = 0;
    for await (const [b, bm] of base.bitmaps(base.physicalOrder())) {
      const first = b * base.sectorsPerBlock;
      for (const r of bitRuns(bm, 0, base.sectorsInBlock(b))) {
        if (r.set) for (const gap of await childGaps(child, first + r.start, r.length)) n += gap.count * SECTOR;
      }
    }
    // Then the child's own clear sectors the base does not fill.
    for await (const [b, bm] of child.bitmaps(child.physicalOrder())) {
      const first = b * child.sectorsPerBlock;
      for (const r of bitRuns(bm, 0, child.sectorsInBlock(b))) {
        if (!r.set) n += (r.length - (await baseSetSectors(base, first + r.start, r.length))) * SECTOR;
      }
    }
    return n;
  } finally {
    await child.close();
  }
}

/** How many of [sector, sector+count) a dynamic disk stores (bit set in an allocated block). */
async function baseSetSectors(f: VhdFile, sector: number, count: number): Promise<number> {
  let n = 0;
  for (const gap of await childGaps(f, sector, count)) n += gap.count;
  return count - n;
}

async function childBytes(p: string): Promise<number> {
  const f = await VhdFile.open(p);
  try {
    return await storedBytes(f);
  } finally {
    await f.close();
  }
}

export interface DeleteResult {
  strategy: 'fold' | 'merge-child' | 'remove' | 'rewrite';
  removed: string;
  changed: string[];
}

/** Plans and deletes (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function deleteSnapshot(snapshotPath: string, ctx: JobContext = {}): Promise<DeleteResult> {
  const plan = await planDelete(snapshotPath);
  assertNoRefusals(plan, snapshotPath);
  return deletePlanned(plan, ctx);
}

export async function deletePlanned(plan: DeletePlan, ctx: JobContext): Promise<DeleteResult> {
  if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('delete'));
  if (plan.strategy === 'remove') return removeSavedState(plan);
  if (plan.strategy === 'rewrite') {
    // Journaled as the merge it is (recovery and the banner treat it as one).
    const r = await vhdxMergePlanned(plan.viaVhdxMerge!, ctx);
    return { strategy: 'rewrite', removed: plan.snapshot, changed: [r.merged] };
  }
  if (plan.strategy === 'vhdx-fold') {
    const { jpath, j } = await startVhdxFold(plan.snapshot, plan.children, plan.foldParent!);
    await writeJournal(jpath, j);
    return runDelete(jpath, j, ctx);
  }
  let j: DeleteJournal;
  let jpath: string;
  const disk = await openDisk(plan.snapshot);
  try {
    const target = { snapshot: plan.snapshot, snapshotUuid: disk.top.uuid };
    if (plan.strategy === 'merge-child') {
      const child = plan.children[0];
      const c = await VhdFile.open(child);
      const childUuid = c.uuid;
      await c.close();
      j = {
        ...journalHeader('delete', 'merge'),
        ...target,
        strategy: 'merge-child',
        child,
        childUuid,
        grandchildren: (await findChildren(child)).map((g) => nodePath.resolve(g)),
        relinks: [],
      };
      // Named after the child: the merge writes its own journal named after the base.
      jpath = journalPath(child);
    } else {
      const parent = disk.layers[1] ?? null;
      const childEnds: Record<string, number> = {};
      // Each child's undo record exists (durable) before the journal names it.
      const undo: Record<string, string> = {};
      try {
        for (const c of plan.children) {
          const cf = await VhdFile.open(c);
          try {
            childEnds[c] = cf.footerOffset;
            undo[c] = tempSibling(c, 'undo');
            await (await UndoLog.begin(undo[c], cf)).close();
          } finally {
            await cf.close();
          }
        }
      } catch (err) {
        // No journal names them yet: they go with the failure.
        for (const u of Object.values(undo)) await removeFile(u, { missingOk: true }).catch(() => undefined);
        throw err;
      }
      j = {
        ...journalHeader('delete', 'fold'),
        ...target,
        strategy: 'fold',
        parent: parent && nodePath.resolve(parent.path),
        parentUuid: parent && parent.uuid,
        children: plan.children,
        folded: [],
        relinks: [],
        childEnds,
        undo,
      };
      jpath = journalPath(plan.snapshot);
    }
  } finally {
    await disk.close();
  }
  await writeJournal(jpath, j).catch(async (err: unknown) => {
    // No journal names the undo records: they go with the failure (nothing was written yet).
    if (j.strategy === 'fold') for (const u of Object.values(j.undo ?? {})) await removeFile(u, { missingOk: true }).catch(() => undefined);
    throw err;
  });
  return runDelete(jpath, j, ctx);
}

/** Continues a delete from its journal (also the recovery path). */
export async function runDelete(jpath: string, j: DeleteJournal, ctx: JobContext = {}): Promise<DeleteResult> {
  return withActiveJournal(jpath, () =>
    j.strategy === 'merge-child' ? runMergeChild(jpath, j, ctx) : j.strategy === 'vhdx-fold' ? runVhdxFoldDelete(jpath, j, ctx) : runFold(jpath, j, ctx),
  );
}

async function runVhdxFoldDelete(jpath: string, j: VhdxFoldJournal, ctx: JobContext): Promise<DeleteResult> {
  await runVhdxFold(jpath, j, ctx);
  await forgetDisk(j.snapshot, j.snapshotUuid);
  await removeJournal(jpath);
  return { strategy: 'fold', removed: j.snapshot, changed: j.children.map((c) => c.path) };
}

/**
 * A VHDX snapshot with several children: each child is rewritten over it
 * (fold-vhdx.ts). Refused for a base (each child would become a disk of its
 * own: flatten them instead, as for VHD), and where a child's copy does not fit.
 */
async function planVhdxFold(snap: string, uuid: string, children: string[]): Promise<DeletePlan> {
  const disk = await openReadableDisk(snap);
  const parent = disk.layers[1] ? nodePath.resolve(disk.layers[1].path) : null;
  await disk.close();
  const name = nodePath.basename(snap);
  const refusals: Plan['refusals'] = [];
  if (parent === null)
    refusals.push({
      code: 'BASE_WITH_SEVERAL_CHILDREN',
      message: `${name} is the base of ${children.length} branches (${children.join(', ')}); each would have to become a standalone disk — flatten them instead`,
    });
  // Each child's copy is written beside it and replaces it before the next: room for the largest is enough.
  const snapBytes = (await fsp.stat(snap)).size;
  let largest = 0;
  let bytes = 0;
  for (const c of children) {
    const { size } = await fsp.stat(c);
    largest = Math.max(largest, size + snapBytes);
    bytes += size;
  }
  const freeSpace = await freeSpaceAt(nodePath.dirname(snap));
  if (freeSpace !== null && largest > freeSpace)
    refusals.push({
      code: 'NO_SPACE',
      message: `folding ${name} into a child writes a copy of up to ${sizeText(largest)} but only ${sizeText(freeSpace)} is free`,
    });
  const snapText = await diskText(snap, uuid);
  const ok = refusals.length === 0;
  return {
    operation: 'delete',
    keepLose: ok ? await removalSentence(snap, uuid) : undefined,
    summary: ok
      ? `delete the snapshot ${snapText}: rewrite each of its ${children.length} children with its data under theirs (beside each, then renamed over it: the same content, id and disk id, now over ${nodePath.basename(parent!)}), then delete ${name}`
      : `cannot delete ${snapText}`,
    changes: ok
      ? [
          ...children.map((c) => ({
            path: c,
            action: 'modify' as const,
            detail: `replaced by a copy holding ${name}'s data under its own (it shows the same; its own children stay linked)`,
          })),
          { path: snap, action: 'delete' as const },
        ]
      : [],
    effect: ok ? treeEffect({ removed: [snap], changed: children }) : undefined,
    bytesToCopy: bytes,
    worstCaseGrowth: largest,
    freeSpace,
    // No `frees`: it is exact or absent, and what each rewritten child grows by is known only once it is written.
    refusals,
    strategy: ok ? 'vhdx-fold' : null,
    snapshot: snap,
    snapshotUuid: uuid,
    foldParent: parent ?? undefined,
    children,
  };
}

async function relinkAll(jpath: string, j: FoldJournal | MergeChildJournal, children: string[], parent: string, parentUuid: string): Promise<void> {
  for (const c of children) {
    let prepared = j.relinks.find((r) => r.child === c);
    if (!prepared) {
      // A child replaced since the plan (pointing at neither the snapshot nor the new parent) is not touched.
      const current = [j.snapshotUuid, parentUuid, ...(j.strategy === 'merge-child' ? [j.childUuid] : [])];
      const r = await prepareRelink(c, parent, { expectedParentUuid: parentUuid, expectedCurrentParents: current });
      prepared = { child: r.child, headerOffset: r.headerOffset, header: Buffer.from(r.header).toString('base64') };
      j.relinks.push(prepared);
      await writeJournal(jpath, j);
    }
    await applyRelink({ child: prepared.child, headerOffset: prepared.headerOffset, header: new Uint8Array(Buffer.from(prepared.header, 'base64')) });
  }
}

async function runMergeChild(jpath: string, j: MergeChildJournal, ctx: JobContext): Promise<DeleteResult> {
  if (j.phase === 'merge') {
    const mjPath = journalPath(j.snapshot);
    const mj = await readJournalOf(mjPath, mergeJournalSchema);
    try {
      if (mj) await runMerge(mjPath, mj, ctx);
      // The merge deletes the child before dropping its journal: a child still present means it never started.
      else if (await pathExists(j.child)) await merge(j.child, ctx);
    } catch (err) {
      // The merge rolled itself back: nothing else was done yet.
      if (err instanceof CancelledError) {
        await removeJournal(jpath);
        throw new CancelledError(cancelledMessage('delete'));
      }
      throw err;
    }
    j.phase = 'rename';
    await writeJournal(jpath, j);
  }
  if (j.phase === 'rename') {
    if (await pathExists(j.snapshot)) {
      // The merged base takes the child's name: the path in use keeps working.
      await renameFile(j.snapshot, j.child);
      await syncDir(nodePath.dirname(j.child));
    }
    await moveLabel(j);
    j.phase = 'relink';
    await writeJournal(jpath, j);
  }
  // The grandchildren were relinked to the base's old name by the merge; point them at the new one.
  await relinkAll(jpath, j, j.grandchildren, j.child, j.snapshotUuid);
  // Relinking wrote each grandchild: its own children's timestamps follow.
  for (const g of j.grandchildren) await stampChildren(g);
  await removeJournal(jpath);
  return { strategy: 'merge-child', removed: j.snapshot, changed: [j.child] };
}

/** The surviving disk carries the base's id but is the child people knew: it keeps the child's label. */
async function moveLabel(j: MergeChildJournal): Promise<void> {
  const dir = nodePath.dirname(j.child);
  const s = await readSidecar(dir);
  const childLabel = s.disks[j.childUuid];
  const file = nodePath.basename(j.child);
  if (childLabel) {
    s.disks[j.snapshotUuid] = { ...childLabel, file };
    delete s.disks[j.childUuid];
  } else if (s.disks[j.snapshotUuid]?.file === file) {
    return; // moved on an earlier, interrupted run
  } else if (s.disks[j.snapshotUuid]) {
    delete s.disks[j.snapshotUuid];
  } else return;
  await writeSidecar(dir, s);
}

async function runFold(jpath: string, j: FoldJournal, ctx: JobContext): Promise<DeleteResult> {
  if (j.phase === 'fold') {
    for (const c of j.children) {
      if (j.folded.includes(c)) continue;
      if ((await foldInto(j, c, ctx)) === 'cancelled') {
        await rollbackFold(jpath, j);
        throw new CancelledError(cancelledMessage('delete'));
      }
      j.folded.push(c);
      await writeJournal(jpath, j);
    }
    // The point of no return: the children are relinked past the snapshot.
    new ProgressReporter(ctx, 'delete', 1).finishing();
    j.phase = 'relink';
    await writeJournal(jpath, j);
    for (const u of Object.values(j.undo ?? {})) await removeFile(u, { missingOk: true });
  }
  if (j.phase === 'relink') {
    if (j.parent !== null && j.parentUuid !== null) await relinkAll(jpath, j, j.children, j.parent, j.parentUuid);
    else await unlinkChild(jpath, j);
    j.phase = 'remove';
    await writeJournal(jpath, j);
  }
  // Each child received data and a new link: its own children's timestamps follow.
  for (const c of j.children) await stampChildren(c);
  await removeFile(j.snapshot, { missingOk: true });
  await syncDir(nodePath.dirname(j.snapshot));
  await forgetDisk(j.snapshot, j.snapshotUuid);
  for (const u of Object.values(j.undo ?? {})) await removeFile(u, { missingOk: true });
  await removeJournal(jpath);
  return { strategy: 'fold', removed: j.snapshot, changed: j.children };
}

/** A base's fold ends with its only child made a dynamic disk: the bytes are journaled first, so recovery rewrites them. */
async function unlinkChild(jpath: string, j: FoldJournal): Promise<void> {
  if (!j.unlink) {
    const u = await prepareUnlink(j.children[0], j.snapshotUuid);
    j.unlink = {
      child: u.child,
      headerOffset: u.headerOffset,
      header: Buffer.from(u.header).toString('base64'),
      footer: Buffer.from(u.footer).toString('base64'),
    };
    await writeJournal(jpath, j);
  }
  const u = j.unlink;
  await applyUnlink({ ...u, header: new Uint8Array(Buffer.from(u.header, 'base64')), footer: new Uint8Array(Buffer.from(u.footer, 'base64')) });
}

/** A fold is undone from its children's undo records until the relink (older journals have none). */
function foldPastNoReturn(j: FoldJournal): boolean {
  return j.phase !== 'fold' || j.undo === undefined;
}

/** Gives every child back its bytes and size from before the fold; then the journal and the records go. Idempotent. */
async function rollbackFold(jpath: string, j: FoldJournal): Promise<void> {
  const undo = j.undo ?? {};
  for (const c of j.children) {
    const u = undo[c];
    if (!u || !(await pathExists(u)))
      throw new RefusedError('UNDO_MISSING', `the undo record of ${c} is missing; the delete journal ${jpath} is left for a person`, { path: jpath });
  }
  for (const c of j.children) await withOwnerWrite(c, () => applyUndo(undo[c], c));
  await removeJournal(jpath);
  for (const c of j.children) await removeFile(undo[c], { missingOk: true });
}

/** Rolls back a delete: the fold's children restored, or the merge-child's merge rolled back; past the point of no return it finishes. */
async function rollbackDelete(jpath: string, j: DeleteJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (j.strategy === 'fold') {
      await rollbackFold(jpath, j);
      return { action: 'discarded', detail: `rolled back the delete of ${j.snapshot}: its children are as before` };
    }
    if (j.strategy === 'vhdx-fold') {
      if (await vhdxFoldPastNoReturn(j)) {
        const r = await runVhdxFoldDelete(jpath, j, {});
        return { action: 'completed', detail: `${PAST_NO_RETURN}: deleted ${r.removed} (${r.strategy})` };
      }
      await discardVhdxFold(jpath, j);
      return { action: 'discarded', detail: `rolled back the delete of ${j.snapshot}: it and its children are as before` };
    }
    const mjPath = journalPath(j.snapshot);
    const mj = await readJournalOf(mjPath, mergeJournalSchema);
    if (mj && mergePastNoReturn(mj)) {
      const r = await runMergeChild(jpath, j, {});
      return { action: 'completed', detail: `${PAST_NO_RETURN}: deleted ${r.removed} (${r.strategy})` };
    }
    if (mj) await rollbackMerge(mjPath, mj);
    await removeJournal(jpath);
    return { action: 'discarded', detail: `rolled back the delete of ${j.snapshot}: it and ${j.child} are as before` };
  });
}

export const deleteOperation = defineOperation({
  op: 'delete',
  request: diskRequest,
  ...writesOneDisk,
  plan: (r) => planDelete(r.disk),
  // A VHDX snapshot's delete puts a new file at its child's path (merge-vhdx.ts), or at each child's (fold-vhdx.ts).
  replaces: (plan) => (plan.viaVhdxMerge ? [plan.viaVhdxMerge.vhdx.target] : plan.strategy === 'vhdx-fold' ? plan.children : []),
  run: (_r, ctx) => deletePlanned(ctx.plan, ctx),
  cli: {
    args: '<snapshot>',
    about: 'Removes a snapshot, folding its content into its children so none of them changes, or a saved state (a leaf that is not the active disk).',
    positional: ['disk'],
    print: (r) =>
      `deleted ${r.removed} (${
        r.strategy === 'remove'
          ? 'a saved state: its file removed'
          : r.strategy === 'fold'
            ? `folded into ${r.changed.length} child disk(s)`
            : r.strategy === 'rewrite'
              ? `its only child merged into it, the result kept as ${r.changed[0]}`
              : `merged into the base, kept as ${r.changed[0]}`
      })`,
  },
  journal: journalKind(
    deleteJournalSchema,
    async (path, j) => {
      const r = await runDelete(path, j);
      return { action: 'completed', detail: `deleted ${r.removed} (${r.strategy})` };
    },
    {
      rollback: rollbackDelete,
      pastNoReturn: async (j) => {
        if (j.strategy === 'fold') return foldPastNoReturn(j);
        if (j.strategy === 'vhdx-fold') return vhdxFoldPastNoReturn(j);
        if (j.phase !== 'merge') return true;
        // In its merge phase, as far as the merge it runs has got (rollbackDelete finishes a merge past its own).
        const mj = await readJournalOf(journalPath(j.snapshot), mergeJournalSchema);
        return mj !== null && mergePastNoReturn(mj);
      },
      // A merge-child delete runs the merge of its only child under the merge's own journal (runMergeChild).
      nested: (_path, j) => (j.strategy === 'merge-child' && j.phase === 'merge' ? [journalPath(j.snapshot)] : []),
    },
  ),
});

/**
 * Copies the snapshot's stored sectors into `childPath` wherever the child's
 * own bit is clear. 'cancelled': the signal aborted (what it staged is for the
 * caller to roll back).
 */
async function foldInto(j: FoldJournal, childPath: string, ctx: JobContext): Promise<'done' | 'cancelled'> {
  return withOwnerWrite(childPath, async () => {
    const [snap, child] = await openAll([VhdFile.open(j.snapshot), VhdFile.open(childPath, { writable: true })]);
    let undo: UndoLog | null = null;
    try {
      if (snap.uuid !== j.snapshotUuid) throw new RefusedError('ID_CHANGED', `${j.snapshot} no longer has the planned id; refusing to continue`);
      if (child.type !== 'differencing') throw new RefusedError('NOT_DIFFERENCING', `${childPath} is not a differencing disk`);
      // Checked right before writing: a file put at the child's path since the plan is not folded into.
      if (uuidToString(child.header!.parentUniqueId) !== j.snapshotUuid) {
        throw new RefusedError('CHILD_CHANGED', `${childPath} is no longer a child of ${j.snapshot}; refusing to write into it`, { path: childPath });
      }
      // A fold cut short (ENOSPC, a kill) left staged blocks no BAT entry points at: reused, not appended after.
      const floor = j.childEnds?.[childPath];
      if (floor !== undefined) await child.reclaimUnreferencedTail(floor);
      const undoPath = j.undo?.[childPath];
      if (undoPath !== undefined) undo = await UndoLog.reopen(undoPath);
      // Progress in bytes of the snapshot's stored data (what the plan quoted).
      const progress = new ProgressReporter(ctx, `fold into ${nodePath.basename(childPath)}`, await storedBytes(snap));
      let done = 0;
      // Runs are staged in batches, not per block, and committed (fsync, metadata, fsync) as paced.
      // A crash redoes the whole fold, which only fills sectors the child does not hold: idempotent.
      const pacer = new CommitPacer();
      let runs: { sector: number; data: Uint8Array }[] = [];
      let pending = 0;
      const flush = async (commit: boolean) => {
        if (runs.length > 0) {
          // What the batch overwrites is saved (and durable) before it writes anything.
          await undo?.saveBefore(
            child,
            runs.map((r) => ({ sector: r.sector, count: r.data.length / SECTOR })),
          );
          await child.stageRuns(runs);
        }
        if (pacer.add(pending) || commit) {
          await child.commit();
          pacer.committed();
        }
        runs = [];
        pending = 0;
        progress.update(done);
      };
      // One reused arena holds a batch (which ends within one block of STAGE_BATCH_BYTES).
      const arena = Buffer.allocUnsafe(STAGE_BATCH_BYTES + snap.blockSize);
      // The snapshot's blocks in file order, their bitmaps read ahead.
      for await (const [b, bm] of snap.bitmaps(snap.physicalOrder())) {
        if (ctx.signal?.aborted) return 'cancelled';
        const first = b * snap.sectorsPerBlock;
        const count = snap.sectorsInBlock(b);
        for (const r of bitRuns(bm, 0, count)) {
          if (!r.set) continue;
          done += r.length * SECTOR;
          // Split by the child's bits: only sectors the child does not store itself.
          for (const gap of await childGaps(child, first + r.start, r.length)) {
            const data = arena.subarray(pending, pending + gap.count * SECTOR);
            await snap.readOwn(b, gap.sector - first, gap.count, data, 0);
            runs.push({ sector: gap.sector, data });
            pending += data.length;
          }
        }
        if (pending >= STAGE_BATCH_BYTES) await flush(false);
      }
      if (j.parent === null) {
        // The child will stand alone: what it does not store must hold zeros for readers that ignore a
        // dynamic disk's bitmaps. Only in its blocks from before the fold (appended ones are zeros already).
        // The batch so far is staged first: its bits are then set, so no zero run overlaps its data.
        await flush(false);
        const zeros = Buffer.alloc(child.blockSize);
        const before = child.physicalOrder().filter((b) => floor === undefined || child.blockOffset(b)! < floor);
        for await (const [b, bm] of child.bitmaps(before)) {
          if (ctx.signal?.aborted) return 'cancelled';
          const first = b * child.sectorsPerBlock;
          for (const r of [...bitRuns(bm, 0, child.sectorsInBlock(b))]) {
            if (r.set) continue;
            runs.push({ sector: first + r.start, data: zeros.subarray(0, r.length * SECTOR) });
            pending += r.length * SECTOR;
          }
          if (pending >= STAGE_BATCH_BYTES) await flush(false);
        }
      }
      await flush(true);
      return 'done';
    } finally {
      await closeAll([snap, child, undo]);
    }
  });
}

/** Sub-ranges of [sector, sector+count) whose bits are clear (or whose block is absent) in `f`. */
async function childGaps(f: VhdFile, sector: number, count: number): Promise<{ sector: number; count: number }[]> {
  const out: { sector: number; count: number }[] = [];
  const spb = f.sectorsPerBlock;
  let s = sector;
  const end = sector + count;
  while (s < end) {
    const block = Math.floor(s / spb);
    const stop = Math.min(end, (block + 1) * spb);
    if (f.blockOffset(block) === null) out.push({ sector: s, count: stop - s });
    else {
      const bm = await f.readBitmap(block);
      for (let i = s; i < stop;) {
        if (testBit(bm, i - block * spb)) {
          i++;
          continue;
        }
        let k = i;
        while (k < stop && !testBit(bm, k - block * spb)) k++;
        out.push({ sector: i, count: k - i });
        i = k;
      }
    }
    s = stop;
  }
  return out;
}

// Reverting a disk to a snapshot: the disk's path becomes a fresh, empty
// differencing child of the snapshot (its parent by default, or any ancestor,
// or another snapshot of the same tree), so whatever uses the path keeps
// working. With `keep`, the current state first gets a second name beside it
// and stays in the tree as a branch; without it, that state is gone.
//
// Order (no instant where the path is missing, nothing lost before the last
// step): journal; create the child under a temporary name; journal the
// child's id; hard-link the current file to the kept name (keep only); rename
// the child over the path; fsync the folder. Until the rename the path shows
// exactly what it showed before. Recovery rolls back an unfinished child
// (phase "create") and rolls forward once the child is complete ("swap").
import { constants as fsc, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CancelledError, fromSystemError, RefusedError, toIoError } from '../errors.js';
import { openReadableDisk, type Disk } from '../disk/chain.js';
import { diskIds } from '../disk/ids.js';
import type { ChainLayer } from '../disk/layer.js';
import { diskFormat } from '../disk/sniff.js';
import { isNoHardLinkError, linkFile, pathExists, renameFile, syncDir, tempSibling } from '../io/file.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskPath, journalKind, plannedAt, plannedTime, type RecoveryOutcome } from '../operation.js';
import { findChildren, isActiveDisk } from '../library/scan.js';
import { displayNameOf, recordActive, savedStateName } from '../library/active.js';
import { readSidecar, recordChild, writeSidecar } from '../library/sidecar.js';
import { createDifferencing, newChildShape } from './create.js';
import { datedSibling, newChildRefusals } from './snapshot.js';
import { fileKeyOrNull } from '../io/identity.js';
import { treeEffect } from '../library/effect.js';
import { diskText, sizeText } from '../words.js';

export interface RevertOptions {
  /** Snapshot to revert to (default: the disk's parent). */
  to?: string;
  /** Keep the current state as a branch instead of discarding it. */
  keep?: boolean;
  /** For tests and the UI: the timestamp used in the kept file's name. */
  now?: Date;
}

export interface RevertPlan extends Plan {
  /** The snapshot the path will show (null when refused before it was known). */
  snapshot: string | null;
  /** Where the current state will be kept (null without keep). */
  kept: string | null;
  /** The disk reverted: the file a symlink leads to, so the symlink then leads to the new child. */
  path: string;
  /** The name the kept state gets when it has none ("State before revert to ‘…’, 3 Dec 14:05"). */
  keptLabel: string | null;
  /** The disk is its tree's active disk: the run records it so (the kept state is a saved state). */
  pinActive: boolean;
  /** The time the kept state's file name and label carry (ISO; pinned, so the run makes these names). */
  plannedAt: string;
}

export interface RevertResult {
  /** The reverted path: an empty child of `snapshot`. */
  active: string;
  snapshot: string;
  kept: string | null;
  /** True when the previous state no longer exists anywhere. */
  discarded: boolean;
}

export const revertJournalSchema = journalSchema('revert', {
  phase: z.enum(['create', 'swap']),
  path: z.string(),
  /** Id of the file at `path` before the revert: the swap happens only over this file. */
  oldUuid: z.string(),
  target: z.string(),
  targetUuid: z.string(),
  tmp: z.string(),
  kept: z.nullable(z.string()),
  /** Id of the new child, known once it is complete (phase "swap"). */
  newUuid: z.nullable(z.string()),
  /** The kept state's automatic name; absent in older journals. */
  keptLabel: z.optional(z.string()),
  /** Record the path as its tree's active disk when done; absent in older journals. */
  pinActive: z.optional(z.boolean()),
});
export type RevertJournal = z.infer<typeof revertJournalSchema>;

/** What "the same disk" compares: the file (core/io/identity.ts), not its name. */
async function real(p: string): Promise<string> {
  return (await fileKeyOrNull(p)) ?? `path:${nodePath.resolve(p)}`;
}

/** `<stem>-state-<time>.vhd` beside the disk, numbered when taken. */
export function keptName(diskPath: string, now = new Date()): Promise<string> {
  return datedSibling(diskPath, 'state', now);
}

/** The new child's temp name; the journal records it, so recovery finds it. */
function tmpName(path: string): string {
  return tempSibling(path, 'revert');
}

interface Target {
  path: string;
  uuid: string;
  /** Files in its chain, itself included: the new child makes it one deeper. */
  depth: number;
}

/** Finds the snapshot to revert to, or the reasons there is none. */
async function findTarget(disk: Disk<ChainLayer>, to: string | undefined, refusals: Plan['refusals']): Promise<Target | null> {
  const self = disk.top;
  if (to === undefined) {
    if (self.type !== 'differencing') {
      refusals.push({ code: 'NO_PARENT', message: `${nodePath.basename(self.path)} is a ${self.type} disk with no parent snapshot; name one with --to` });
      return null;
    }
    const p = disk.layers[1];
    return { path: nodePath.resolve(p.path), uuid: p.uuid, depth: disk.layers.length - 1 };
  }
  await fsp.stat(to).catch((err: unknown) => {
    throw fromSystemError(err, to, 'cannot read', { field: 'to' });
  });
  const want = await real(to);
  if (want === (await real(self.path))) {
    refusals.push({ code: 'SAME_DISK', message: `${to} is the disk itself, not one of its snapshots` });
    return null;
  }
  for (let i = 1; i < disk.layers.length; i++) {
    const l = disk.layers[i];
    if ((await real(l.path)) === want) return { path: nodePath.resolve(l.path), uuid: l.uuid, depth: disk.layers.length - i };
  }
  // A chain is one format throughout (as in Hyper-V): a VHD is never a VHDX's parent, nor the reverse.
  if ((await diskFormat(to)) !== disk.format) {
    refusals.push({
      code: 'FORMAT_MISMATCH',
      message: `${to} is not a ${disk.format.toUpperCase()} file like ${nodePath.basename(self.path)}: a chain is one format throughout, so it cannot be one of its snapshots`,
    });
    return null;
  }
  // Not an ancestor: another snapshot of the same tree (same base) also qualifies.
  const other = await openReadableDisk(to).catch(() => null);
  if (!other) {
    refusals.push({ code: 'NOT_IN_TREE', message: `${to} is not a snapshot in the tree of ${nodePath.basename(self.path)} (its chain does not open)` });
    return null;
  }
  try {
    const sameBase = (await real(other.layers[other.layers.length - 1].path)) === (await real(disk.layers[disk.layers.length - 1].path));
    if (!sameBase) {
      refusals.push({ code: 'NOT_IN_TREE', message: `${to} is not a snapshot in the tree of ${nodePath.basename(self.path)} (different base disk)` });
      return null;
    }
    if ((await findChildren(to)).length === 0) {
      refusals.push({
        code: 'NOT_A_SNAPSHOT',
        message: `${to} has no children: it is the current state of another branch, not a snapshot (reverting to it would freeze it)`,
      });
      return null;
    }
    return { path: nodePath.resolve(other.top.path), uuid: other.top.uuid, depth: other.layers.length };
  } finally {
    await other.close();
  }
}

export async function planRevert(diskPath: string, opts: RevertOptions = {}): Promise<RevertPlan> {
  // Through a symlink, the file it leads to is reverted (renaming over the symlink would replace the link, not the disk).
  const path = await fsp.realpath(nodePath.resolve(diskPath)).catch(() => nodePath.resolve(diskPath));
  // The whole chain must open: reverting inside a broken chain would hide the damage.
  const disk = await openReadableDisk(path);
  const refusals: Plan['refusals'] = [];
  let target: Target | null;
  try {
    const children = await findChildren(path);
    if (children.length > 0) {
      refusals.push({
        code: 'HAS_CHILDREN',
        message: `${nodePath.basename(path)} is a snapshot (the parent of ${children.join(', ')}), not a current state; revert one of its children instead`,
      });
    }
    target = await findTarget(disk, opts.to, refusals);
  } finally {
    await disk.close();
  }
  const now = opts.now ?? new Date();
  const kept = opts.keep ? await keptName(path, now) : null;
  // Only a kept state adds a leaf that could be taken for the active disk: then the decision is recorded.
  const pinActive = kept !== null && refusals.length === 0 && (await isActiveDisk(path));
  const targetName = target ? await displayNameOf(target.path, target.uuid) : null;
  const ownName = await displayNameOf(path, disk.top.uuid);
  const keptLabel = kept && targetName ? savedStateName('revert', targetName, now) : null;
  const dir = nodePath.dirname(path);
  let growth = 0;
  if (target) {
    const child = await newChildShape(target.path);
    growth = child.fileBytes;
    refusals.push(...newChildRefusals(target.path, child.virtualSize, target.depth, child.format));
  }
  const freeSpace = await freeSpaceAt(dir);
  if (freeSpace !== null && growth > freeSpace)
    refusals.push({ code: 'NO_SPACE', message: `reverting needs ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
  const name = nodePath.basename(path);
  const changes: Plan['changes'] = [];
  if (target) {
    if (kept) changes.push({ path: kept, action: 'create', detail: `the current state of ${name}, kept as a branch (same file, second name)` });
    changes.push({
      path,
      action: 'modify',
      detail: `becomes an empty differencing child of ${nodePath.basename(target.path)}${kept ? '' : '; its current content is discarded'}`,
    });
  }
  return {
    operation: 'revert',
    summary: target
      ? `revert ${ownName === name ? name : `‘${ownName}’ (${name})`} to the snapshot ${await diskText(target.path, target.uuid)}${kept ? `, keeping the current state as ${nodePath.basename(kept)}` : ', discarding the current state'}`
      : `cannot revert ${name}`,
    changes,
    // The disk starts again under the snapshot; its current state is kept beside where it was, or lost.
    effect: target
      ? treeEffect({
          moved: [{ path, place: { under: target.path } }],
          changed: [path],
          ...(kept ? { created: [{ path: kept, place: { beside: path }, name: keptLabel ?? undefined }] } : { removed: [path] }),
          active: path,
        })
      : undefined,
    bytesToCopy: 0,
    worstCaseGrowth: growth,
    freeSpace,
    refusals,
    snapshot: target?.path ?? null,
    kept,
    path,
    keptLabel,
    pinActive,
    plannedAt: now.toISOString(),
    keepLose: target
      ? kept
        ? `Nothing is lost: ${name} will show ‘${targetName}’, and what it shows now is kept as the saved state ‘${ownName === name ? keptLabel : ownName}’.`
        : `What ${ownName === name ? name : `‘${ownName}’`} shows now (every change since ‘${targetName}’) will be lost; ‘${targetName}’ and every other snapshot stay.`
      : undefined,
  };
}

/** Plans and reverts (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function revert(diskPath: string, opts: RevertOptions = {}, ctx: JobContext = {}): Promise<RevertResult> {
  const plan = await planRevert(diskPath, opts);
  assertNoRefusals(plan, plan.path);
  return revertPlanned(plan.path, plan, ctx);
}

async function revertPlanned(path: string, plan: RevertPlan, ctx: JobContext): Promise<RevertResult> {
  const target = plan.snapshot!;
  // The ids a VHDX child links by are data write GUIDs (core/disk/ids.ts).
  const [self, t] = [await diskIds(path), await diskIds(target)];
  const j: RevertJournal = {
    ...journalHeader('revert', 'create'),
    path,
    oldUuid: self.uuid,
    target,
    targetUuid: t.uuid,
    tmp: tmpName(path),
    kept: plan.kept,
    newUuid: null,
    ...(plan.keptLabel ? { keptLabel: plan.keptLabel } : {}),
    pinActive: plan.pinActive,
  };
  if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('revert'));
  const jpath = journalPath(path);
  await writeJournal(jpath, j);
  return withActiveJournal(jpath, async () => {
    try {
      await fsp.unlink(j.tmp).catch(() => undefined);
      await createDifferencing(j.tmp, target);
      j.newUuid = (await diskIds(j.tmp)).uuid;
      // Children outside their parent's folder are recorded beside the parent before they take their names.
      await recordChild(target, j.targetUuid, path, j.newUuid);
      if (j.kept) {
        const cur = await openReadableDisk(path);
        const parent = cur.layers.length > 1 ? { path: cur.layers[1].path, uuid: cur.layers[1].uuid } : null;
        await cur.close();
        if (parent) await recordChild(parent.path, parent.uuid, j.kept, j.oldUuid);
      }
      // The last moment a cancel applies: the new child is not in place yet.
      if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('revert'));
    } catch (err) {
      // Nothing visible changed yet: undo and report.
      await fsp.unlink(j.tmp).catch(() => undefined);
      await removeJournal(jpath);
      throw err;
    }
    // The point of no return: the swap.
    new ProgressReporter(ctx, 'revert', 1).finishing();
    j.phase = 'swap';
    await writeJournal(jpath, j);
    try {
      return await finish(jpath, j);
    } catch (err) {
      // Another program holds the disk (Windows): the path still shows its old state; undo the rest rather than leave the swap to a later recover.
      if (err instanceof RefusedError && err.code === 'IN_USE' && (await pathExists(j.tmp))) {
        if (j.kept) await fsp.unlink(j.kept).catch(() => undefined);
        await fsp.unlink(j.tmp).catch(() => undefined);
        await removeJournal(jpath);
      }
      throw err;
    }
  });
}

/** Phase "swap": keep-link, rename over the path, then the bookkeeping. Idempotent. */
async function finish(jpath: string, j: RevertJournal): Promise<RevertResult> {
  const dir = nodePath.dirname(j.path);
  if (await pathExists(j.tmp)) {
    if ((await diskIds(j.path)).uuid !== j.oldUuid)
      throw new RefusedError('ID_CHANGED', `${j.path} no longer has the planned id ${j.oldUuid}; revert left ${j.tmp} and its journal for inspection`, {
        path: j.path,
      });
    if (j.kept && !(await pathExists(j.kept))) await keepCopy(j.path, j.kept);
    await renameFile(j.tmp, j.path);
  }
  await syncDir(dir);
  await fsp.chmod(j.target, 0o444).catch(() => undefined);
  await moveLabel(j);
  // The path stays its tree's active disk (decided and recorded, so the kept state never wins a derivation).
  if (j.pinActive) await recordActive(j.path);
  await removeJournal(jpath);
  return { active: j.path, snapshot: j.target, kept: j.kept, discarded: j.kept === null };
}

/** A second name for the current file: a hard link, or a complete copy where links are unsupported. */
export async function keepCopy(path: string, kept: string, ctx?: JobContext): Promise<void> {
  try {
    await linkFile(path, kept);
  } catch (err) {
    if (!isNoHardLinkError(err)) throw toIoError(err, kept, 'cannot link');
    // Copied under a temporary name first, so a kept file is always complete.
    const tmp = tempSibling(kept, 'copy');
    try {
      await copyWhole(path, tmp, ctx);
    } catch (e) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw e;
    }
    await renameFile(tmp, kept);
  }
  await syncDir(nodePath.dirname(kept));
}

const COPY_CHUNK = 8 * 2 ** 20;

/** A byte copy of `from` as a new file `to`, made durable; cancellable between chunks, with progress (a folder without hard links copies a whole disk). */
async function copyWhole(from: string, to: string, ctx?: JobContext): Promise<void> {
  const src = await fsp.open(from, 'r').catch((err: unknown) => {
    throw toIoError(err, from, 'cannot read');
  });
  try {
    const dst = await fsp.open(to, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644).catch((err: unknown) => {
      throw toIoError(err, to, 'cannot create');
    });
    try {
      const size = (await src.stat()).size;
      const progress = new ProgressReporter(ctx, 'copy', size);
      const buf = Buffer.alloc(Math.min(COPY_CHUNK, Math.max(size, 1)));
      for (let at = 0; at < size;) {
        if (ctx?.signal?.aborted) throw new CancelledError();
        const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, size - at), at);
        if (bytesRead === 0) throw toIoError(Object.assign(new Error(`${from} ended early`), { code: 'EIO' }), from, 'cannot read');
        await dst.write(buf, 0, bytesRead, at);
        at += bytesRead;
        progress.update(at);
      }
      await dst.sync();
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** The old state's label follows it to the kept name, or goes with it. */
async function moveLabel(j: RevertJournal): Promise<void> {
  const dir = nodePath.dirname(j.path);
  const s = await readSidecar(dir);
  const label = s.disks[j.oldUuid];
  if (j.kept) {
    // A kept state with no name of its own is named for what happened ("State before revert to ‘…’, …").
    const name = label?.name ?? j.keptLabel;
    if (label?.file === nodePath.basename(j.kept) && label.name === name) return;
    s.disks[j.oldUuid] = { ...label, ...(name !== undefined ? { name } : {}), file: nodePath.basename(j.kept) };
  } else if (label) delete s.disks[j.oldUuid];
  else return;
  await writeSidecar(dir, s);
}

/** Recovery: roll back an incomplete child, roll forward a complete one. */
export async function recoverRevert(jpath: string, j: RevertJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (j.phase === 'create') {
      // The child may be partly written; the path was never touched.
      await fsp.unlink(j.tmp).catch(() => undefined);
      await syncDir(nodePath.dirname(j.path));
      await removeJournal(jpath);
      return { action: 'discarded', detail: `rolled back an unfinished revert of ${j.path}; it is unchanged` };
    }
    if (!(await pathExists(j.tmp))) {
      // Renamed already: only the bookkeeping may be missing. Check it is really the new child.
      const f = await diskIds(j.path);
      const ok = f.uuid === j.newUuid && f.parentId === j.targetUuid;
      if (!ok) return { action: 'left', detail: `${j.path} is neither the old state nor the new child; journal left in place for inspection` };
    }
    try {
      const r = await finish(jpath, j);
      return { action: 'completed', detail: `reverted ${r.active} to ${r.snapshot}${r.kept ? ` (previous state kept as ${r.kept})` : ''}` };
    } catch (err) {
      if (err instanceof RefusedError) return { action: 'left', detail: `${err.message}; journal left in place` };
      throw err;
    }
  });
}

export const revertOperation = defineOperation({
  op: 'revert',
  // at: the plan's time (pinned), which the kept state's file name and label carry.
  request: z.object({ disk: diskPath, to: z.optional(diskPath), keep: z.optional(z.boolean()), at: z.optional(plannedAt) }),
  files: { disk: 'disk', to: 'disk' },
  access: 'writes',
  touched: (r) => [r.disk, ...(r.to ? [r.to] : [])],
  plan: (r) => planRevert(r.disk, { to: r.to, keep: r.keep, now: plannedTime(r.at) }),
  pins: (plan) => (plan.kept ? { at: plan.plannedAt } : {}),
  run: (r, ctx) => revertPlanned(ctx.plan.path, ctx.plan, ctx),
  cli: {
    args: '<disk>',
    about: 'Makes the disk show a snapshot again, discarding (or with --keep, keeping) its current state.',
    positional: ['disk'],
    options: {
      to: { field: 'to', kind: 'text', value: '<snapshot>', help: 'the snapshot to go back to (default: the parent)' },
      keep: { field: 'keep', kind: 'bool', help: 'keep the current state as a saved branch instead of discarding it' },
    },
    print: (r) => `reverted ${r.active} to ${r.snapshot}\n${r.kept ? `previous state kept as ${r.kept}` : 'previous state discarded'}`,
  },
  // The disk's name gets a new child (renamed over it): the old file is not written, so another name of it keeps what it shows.
  replaces: (plan) => plan.changes.filter((c) => c.action === 'modify').map((c) => c.path),
  // Rollback before the swap is what recovery does then (drop the new child); from the swap on it finishes.
  journal: journalKind(revertJournalSchema, recoverRevert, { rollback: recoverRevert, pastNoReturn: (j) => j.phase === 'swap' }),
});

// Every long operation behind one shape: a request (plain JSON, so it can
// cross a worker or IPC boundary), a plan computed without writing, and a run
// that reports progress, honours an AbortSignal and returns a JSON result.
// The CLI, the app's job runner and the tests all go through here.
import * as nodePath from 'node:path';
import { RefusedError, UsageError, VhdError } from './errors.js';
import { openDisk } from './disk/chain.js';
import { isIoFailure } from './disk/parent.js';
import type { JobContext, Plan, PlanOptions } from './job.js';
import { assertNotInUse, inUseRefusals, warnIfMoving } from './inuse.js';
import { withLocks } from './lock.js';
import { checkPaths } from './ops/check.js';
import { compact, planCompact } from './ops/compact.js';
import { deleteSnapshot, planDelete } from './ops/delete.js';
import { flatten, planFlatten } from './ops/flatten.js';
import { merge, planMerge } from './ops/merge.js';
import { planReparent, reparent } from './ops/reparent.js';
import { planRepair, repair } from './ops/repair.js';
import { planRevert, revert } from './ops/revert.js';
import { planResize, resize } from './ops/resize.js';
import { assertNoChildren, snapshot, snapshotName } from './ops/snapshot.js';
import { supportsHardLinks } from './io/file.js';

export type OperationRequest =
  | { op: 'snapshot'; disk: string; out?: string; name?: string; description?: string }
  | { op: 'merge'; disk: string }
  | { op: 'flatten'; disk: string; out: string; format: 'dynamic' | 'fixed' | 'raw'; parentPath?: string }
  | { op: 'delete'; disk: string }
  | { op: 'reparent'; disk: string; parent: string; ignoreIdMismatch?: boolean }
  | { op: 'check'; disk: string; deep?: boolean }
  | { op: 'revert'; disk: string; to?: string; keep?: boolean }
  | { op: 'repair'; disk: string }
  | { op: 'compact'; disk: string }
  | { op: 'resize'; disk: string; size: number };

export type OperationName = OperationRequest['op'];

/** Disks an operation writes or removes: one job per disk at a time. */
export function touchedPaths(req: OperationRequest): string[] {
  const p = [req.disk];
  if (req.op === 'reparent') p.push(req.parent);
  if (req.op === 'flatten') p.push(req.out);
  if (req.op === 'revert' && req.to) p.push(req.to);
  if (req.op === 'snapshot' && req.out) p.push(req.out);
  return p.map((x) => nodePath.resolve(x));
}

/** Requests arrive as JSON (IPC, worker): an op outside the union is a usage error, and a missing case a type error. */
function unknownOperation(req: never): never {
  throw new UsageError('UNKNOWN_OPERATION', `unknown operation "${(req as { op: string }).op}"`);
}

/**
 * The files another program must not be using while the operation runs
 * (core/inuse.ts): the disk named and every file the plan changes (written,
 * renamed, linked or deleted); for a snapshot with --out, the disk named is
 * the one that becomes a read-only parent. Revert's --to and reparent's new
 * parent are only read: a VM running a sibling branch rightly holds them open.
 * Flatten and check only read their disks (they warn instead, in their
 * results); flatten's output is guarded.
 */
function guardedPaths(req: OperationRequest, changed: string[]): string[] {
  if (req.op === 'check') return [];
  if (req.op === 'flatten') return [nodePath.resolve(req.out)];
  return [...new Set([nodePath.resolve(req.disk), ...changed.map((p) => nodePath.resolve(p))])];
}

/**
 * The plan, with an IN_USE refusal for every file another program is using.
 * `pathsOnly` plans (made to know what to lock) skip that scan: the run
 * makes its own, under the locks.
 */
export async function planOperation(req: OperationRequest, opts: PlanOptions = {}): Promise<Plan> {
  const plan = await planUnguarded(req, opts);
  if (opts.pathsOnly) return plan;
  plan.refusals.push(...(await inUseRefusals(guardedPaths(req, plan.changes.map((c) => c.path)))));
  return plan;
}

async function planUnguarded(req: OperationRequest, opts: PlanOptions): Promise<Plan> {
  switch (req.op) {
    case 'merge':
      return planMerge(req.disk, opts);
    case 'flatten':
      return planFlatten(req.disk, req.out, { format: req.format, parentPath: req.parentPath });
    case 'delete':
      return planDelete(req.disk, opts);
    case 'snapshot':
      return planSnapshot(req, opts);
    case 'reparent':
      return planReparent(req.disk, req.parent, { ignoreIdMismatch: req.ignoreIdMismatch });
    case 'compact':
      return planCompact(req.disk, opts);
    case 'resize':
      return planResize(req.disk, req.size);
    case 'revert':
      return planRevert(req.disk, { to: req.to, keep: req.keep });
    case 'repair':
      return planRepair(req.disk);
    case 'check':
      return { operation: 'check', summary: `check ${nodePath.basename(req.disk)} and its chain`, changes: [], bytesToCopy: 0, worstCaseGrowth: 0, freeSpace: null, refusals: [] };
    default:
      return unknownOperation(req);
  }
}

/** An in-place snapshot's plan also says how the snapshot name is given: a hard link, or a rename where the folder has none (null: not probed). */
export interface SnapshotPlan extends Plan {
  via: 'link' | 'rename' | null;
}

async function planSnapshot(req: Extract<OperationRequest, { op: 'snapshot' }>, opts: PlanOptions): Promise<SnapshotPlan> {
  const disk = nodePath.resolve(req.disk);
  const refusals: Plan['refusals'] = [];
  const d = await openDisk(disk);
  await d.close();
  if (!req.out) {
    try {
      await assertNoChildren(disk);
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      refusals.push({ code: err.code, message: err.message });
    }
  }
  const snap = req.out ? disk : await snapshotName(disk);
  const active = req.out ? nodePath.resolve(req.out) : disk;
  // A probe link of a tiny temp file in the disk's folder (not needed just to know the paths to lock, nor for --out).
  const links = opts.pathsOnly || req.out ? null : await supportsHardLinks(nodePath.dirname(disk));
  const via = links === null ? null : links ? 'link' : 'rename';
  const snapDetail =
    via === 'rename'
      ? 'read-only snapshot holding the current content: this folder has no hard links, so the disk is renamed to this name and the new child takes its path right after (journaled: after a crash, recover puts the disk back or finishes)'
      : 'read-only snapshot holding the current content (same file, second name by hard link)';
  return {
    operation: 'snapshot',
    summary: req.out
      ? `keep ${nodePath.basename(disk)} as the snapshot and create ${nodePath.basename(active)} on top of it`
      : `preserve the current content of ${nodePath.basename(disk)} as ${nodePath.basename(snap)}; ${nodePath.basename(disk)} becomes an empty child of it`,
    changes: req.out
      ? [{ path: active, action: 'create', detail: 'empty differencing child' }]
      : [
          { path: snap, action: 'create', detail: snapDetail },
          { path: disk, action: 'modify', detail: 'becomes an empty differencing child of the snapshot' },
        ],
    bytesToCopy: 0,
    worstCaseGrowth: 64 * 1024,
    freeSpace: null,
    refusals,
    via,
  };
}

/**
 * Disks locked while an operation runs: what it names, plus every file its plan
 * changes (a merge's parent and relinked grandchildren, a delete's children...).
 * A plan that cannot be made leaves the operation to fail by itself, unless
 * the cause is a real I/O failure, which is reported here.
 */
export async function lockedPaths(req: OperationRequest): Promise<string[]> {
  return locksFor(req, await changedPaths(req));
}

function locksFor(req: OperationRequest, changed: string[]): string[] {
  return [...new Set([...touchedPaths(req), ...changed])];
}

/** What the plan says the operation changes (none when the plan cannot be made; see lockedPaths). */
async function changedPaths(req: OperationRequest): Promise<string[]> {
  try {
    return (await planOperation(req, { pathsOnly: true })).changes.map((c) => nodePath.resolve(c.path));
  } catch (err) {
    if (!(err instanceof VhdError) || isIoFailure(err)) throw err;
    return [];
  }
}

/**
 * Runs an operation; the result is plain JSON. Every disk it changes is
 * locked first (core/lock.ts), so a second operation on one of them, in this
 * or another process, is refused with LOCKED. `check` only reads: no locks.
 */
export async function runOperation(req: OperationRequest, ctx: JobContext = {}): Promise<unknown> {
  if (req.op === 'check') return runUnlocked(req, ctx);
  const changed = await changedPaths(req);
  return withLocks(locksFor(req, changed), req.op, async () => {
    // Under the locks, right before the operation's first write (its journal):
    // a program that opened a disk since the plan was shown is still caught.
    // (Flatten makes this check itself, in the one scan that also finds its input's holders.)
    if (req.op !== 'flatten') await assertNotInUse(guardedPaths(req, changed));
    return runUnlocked(req, ctx);
  });
}

async function runUnlocked(req: OperationRequest, ctx: JobContext): Promise<unknown> {
  switch (req.op) {
    case 'merge':
      return merge(req.disk, ctx);
    case 'flatten':
      return flatten(req.disk, req.out, { format: req.format, parentPath: req.parentPath, ...ctx });
    case 'delete':
      return deleteSnapshot(req.disk, ctx);
    case 'snapshot':
      return snapshot(req.disk, { out: req.out, name: req.name, description: req.description });
    case 'reparent':
      return reparent(req.disk, req.parent, { ignoreIdMismatch: req.ignoreIdMismatch });
    case 'check':
      return warnIfMoving(await checkPaths([req.disk], { deep: req.deep }), [req.disk]);
    case 'revert':
      return revert(req.disk, { to: req.to, keep: req.keep }, ctx);
    case 'repair':
      return repair(req.disk, ctx);
    case 'compact':
      return compact(req.disk, ctx);
    case 'resize':
      return resize(req.disk, req.size, ctx);
    default:
      return unknownOperation(req);
  }
}

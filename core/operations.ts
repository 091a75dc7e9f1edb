// The one runner: every operation, from the CLI, the app's job worker or a
// test, goes through here. What an operation is comes from its descriptor
// (core/operation.ts) in the registry (core/registry.ts); this module only
// orders the steps every writing operation shares:
//   request checked → locks on the disks named → no interrupted work in their
//   folders (PENDING_JOB: the person resumes or rolls it back, nobody else) →
//   one plan → locks on what it changes, the same check there → refusals
//   (other programs using the files, then the plan's own) → run with progress
//   and cancel → result.
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { openReadableDisk } from './disk/chain.js';
import { fromSystemError, RefusedError, UsageError } from './errors.js';
import { assertNoRefusals, type JobContext, type Plan } from './job.js';
import type { Operation } from './operation.js';
import { hardLinkRefusals } from './hardlinks.js';
import { effectOfChanges } from './library/effect.js';
import { assertNotInUse, inUseRefusals } from './inuse.js';
import { fileKeyOrNull } from './io/identity.js';
import { findChildren, withChildFolders } from './library/scan.js';
import { withLocks } from './lock.js';
import { pendingJobRefusals, releaseJournals } from './ops/recover.js';
import { stampChildren } from './ops/relink.js';
import { isOperationName, operationNamed, type OperationName, type OperationOutcome, type PlanOf, type RequestOf, type ResultOf } from './registry.js';
import { sentence } from './words.js';

export type { OperationName, OperationOutcome, OperationRequest, PlanOf, RequestOf, ResultOf } from './registry.js';

const resolveAll = (paths: string[]): string[] => [...new Set(paths.map((p) => nodePath.resolve(p)))];

/** The descriptor and the request's own fields, checked against its schema (requests arrive as JSON from IPC and workers). */
function prepare<K extends OperationName>(req: RequestOf<K>) {
  const op: unknown = typeof req === 'object' && req !== null ? req.op : undefined;
  if (typeof op !== 'string' || !isOperationName(op)) throw new UsageError('UNKNOWN_OPERATION', `unknown operation "${String(op)}"`);
  const d = operationNamed<K>(req.op);
  const parsed = d.request.safeParse(req);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(request)';
    throw new UsageError('BAD_REQUEST', `${req.op}: ${field}: ${issue.message}`, { field });
  }
  return { d, r: parsed.data };
}

/** Disks the request names that the job works on (the app runs one job per disk at a time). */
export function touchedPaths<K extends OperationName>(req: RequestOf<K>): string[] {
  const { d, r } = prepare(req);
  return resolveAll(d.touched(r));
}

/**
 * The disks a job holds in the app (one job per disk at a time): those it
 * names and every disk their chains read through, since another job may
 * rewrite any of them (a merge writes into the parent). A broken chain holds
 * what it can open; the operation itself says what is wrong.
 */
export async function heldDisks(paths: string[]): Promise<string[]> {
  const out = new Set(resolveAll(paths));
  for (const p of paths) {
    const d = await openReadableDisk(p).catch(() => null);
    if (!d) continue;
    for (const l of d.layers) out.add(nodePath.resolve(l.path));
    await d.close();
  }
  return [...out];
}

/** The disks a job running `req` holds (heldDisks of what it names). */
export async function jobDisks<K extends OperationName>(req: RequestOf<K>): Promise<string[]> {
  return heldDisks(touchedPaths(req));
}

/**
 * The files another program must not be using while the operation runs
 * (core/inuse.ts): by default the disk named and every file the plan changes
 * (written, renamed, linked or deleted). Files only read — revert's --to,
 * reparent's new parent — are left out: a VM running a sibling branch
 * rightly holds them open.
 */
function guardedPaths<Req>(d: Operation<string, Req, unknown, Plan>, r: Req, plan: Plan): string[] {
  const changed = plan.changes.map((c) => c.path);
  if (d.access === 'reads') return [];
  return resolveAll(d.guarded ? d.guarded(r, changed) : [d.touched(r)[0], ...changed]);
}

/**
 * The files the run writes in place (or deletes) of those it guards: each must
 * have no other hard link (core/hardlinks.ts), or the other names would
 * change too. Files the run replaces by a new one are left out.
 */
function writtenInPlace<Req>(d: Operation<string, Req, unknown, Plan>, r: Req, plan: Plan): string[] {
  const replaced = new Set(resolveAll(d.replaces?.(plan) ?? []));
  return changedGuarded(d, r, plan).filter((p) => !replaced.has(p));
}

/** The guarded files the plan modifies or deletes (not those it creates or only renames). */
function changedGuarded<Req>(d: Operation<string, Req, unknown, Plan>, r: Req, plan: Plan): string[] {
  const guarded = new Set(guardedPaths(d, r, plan));
  return resolveAll(plan.changes.filter((c) => c.action === 'modify' || c.action === 'delete').map((c) => c.path)).filter((p) => guarded.has(p));
}

/**
 * For each disk the plan changes that is a parent: children of it that other
 * programs made in other folders cannot be found (vhdsnap finds those in the
 * parent's folder and those it made and recorded itself), so the plan says so.
 */
async function unseenChildrenNotes<Req>(d: Operation<string, Req, unknown, Plan>, r: Req, plan: Plan): Promise<string[]> {
  if (d.access === 'reads') return [];
  const parents: string[] = [];
  for (const p of changedGuarded(d, r, plan)) if ((await findChildren(p).catch(() => [])).length > 0) parents.push(p);
  if (parents.length === 0) return [];
  return [
    `children of ${parents.join(', ')} made in other folders by other programs cannot be found (vhdsnap finds those beside ${parents.length > 1 ? 'them' : 'it'} and those it made itself); if there are any, this changes what they show`,
  ];
}

/**
 * Fails typed (NO_PERMISSION, READ_ONLY...) when a folder the run must write
 * in (journal, temp files, new names, the sidecar) is not writable: before
 * the first write, and the same in the dry run as in the run.
 */
async function assertFoldersWritable<Req>(d: Operation<string, Req, unknown, Plan>, plan: Plan): Promise<void> {
  if (d.writesInPlaceOnly) return;
  const dirs = [...new Set(plan.changes.map((c) => nodePath.dirname(nodePath.resolve(c.path))))];
  for (const dir of dirs) {
    await fsp.access(dir, fsConstants.W_OK).catch((err: unknown) => {
      throw fromSystemError(err, dir, `${d.op} cannot write in the folder`);
    });
  }
}

/**
 * The plan, with the refusals the runner will make: interrupted or running
 * work in the folders it changes, every file another program is using, and
 * (HARD_LINKED) every file it would write in place that has other names.
 */
export async function planOperation<K extends OperationName>(req: RequestOf<K>, opts: Pick<JobContext, 'childFolders'> = {}): Promise<PlanOf<K>> {
  return withChildFolders(opts.childFolders, () => planPrepared(req));
}

async function planPrepared<K extends OperationName>(req: RequestOf<K>): Promise<PlanOf<K>> {
  const { d, r } = prepare(req);
  const plan = await d.plan(r);
  if (d.access === 'writes') await assertFoldersWritable(d, plan);
  const shared: Plan = plan;
  // One sentence for people, whichever operation wrote it (core/words.ts).
  shared.summary = sentence(shared.summary);
  const pins = d.pins?.(plan);
  if (pins && Object.keys(pins).length > 0)
    shared.pins = Object.fromEntries(Object.entries(pins).filter((e): e is [string, string] => typeof e[1] === 'string'));
  shared.effect ??= effectOfChanges(plan);
  const notes = await unseenChildrenNotes(d, r, plan);
  if (notes.length > 0) shared.cautions = [...(shared.cautions ?? []), ...notes];
  if (d.access === 'writes') shared.refusals.unshift(...(await pendingJobRefusals([...d.touched(r), ...plan.changes.map((c) => c.path)])));
  shared.refusals.push(...(await inUseRefusals(guardedPaths(d, r, plan))), ...(await hardLinkRefusals(writtenInPlace(d, r, plan))));
  return plan;
}

/** Refuses while a journal waits in (or another job works in) the folders of `paths`: before the plan reads files a journal may be changing. */
async function assertNoPendingJobs(paths: string[]): Promise<void> {
  const refusals = await pendingJobRefusals(paths);
  if (refusals.length > 0) throw new RefusedError(refusals[0].code, refusals.map((x) => x.message).join('; '), { path: paths[0] });
}

/**
 * Runs an operation and returns its typed result (plain JSON). A second
 * operation on any disk this one locks, in this or another process, is
 * refused with LOCKED. Operations that only read take no locks.
 */
export async function runOperation<K extends OperationName>(req: RequestOf<K>, ctx: JobContext = {}): Promise<ResultOf<K>> {
  return withChildFolders(ctx.childFolders, () => runPrepared(req, ctx));
}

async function runPrepared<K extends OperationName>(req: RequestOf<K>, ctx: JobContext): Promise<ResultOf<K>> {
  const { d, r } = prepare(req);
  if (d.access === 'reads') return d.run(r, { ...ctx, plan: await d.plan(r) });
  const named = resolveAll(d.touched(r));
  return withLocks(named, d.op, async () => {
    // Interrupted work in these folders is the person's to resume or roll back (`recover`), never this operation's.
    await assertNoPendingJobs(named);
    const plan = await d.plan(r);
    await assertFoldersWritable(d, plan);
    // By file: a changed path that is another name of a disk already locked here (a symlink resolved by the plan) is already locked.
    const keyOf = async (p: string) => (await fileKeyOrNull(p)) ?? `path:${p}`;
    const namedKeys = new Set(await Promise.all(named.map(keyOf)));
    const more: string[] = [];
    for (const p of resolveAll(plan.changes.map((c) => c.path))) if (!named.includes(p) && !namedKeys.has(await keyOf(p))) more.push(p);
    return withLocks(more, d.op, async () => {
      if (more.length > 0) await assertNoPendingJobs(more);
      // Under every lock, right before the first write: a program that opened a disk since the plan was shown is still caught.
      // (An operation that guards itself also refuses itself, in that order: IN_USE comes first for every operation.)
      if (!d.guardsItself) {
        await assertNotInUse(guardedPaths(d, r, plan));
        const shared: Plan = plan;
        shared.refusals.push(...(await hardLinkRefusals(writtenInPlace(d, r, plan))));
        assertNoRefusals(shared, named[0]);
      }
      let result: ResultOf<K>;
      try {
        result = await d.run(r, { ...ctx, plan });
      } catch (err) {
        // A journal it leaves is interrupted work now, for the person to resume (see releaseJournals).
        await releaseJournals([...named, ...more]).catch(() => undefined);
        throw err;
      }
      await stampChanged(plan);
      return result;
    });
  });
}

/**
 * Keeps the parent timestamps of the children of every file the run wrote
 * true (core/ops/relink.ts), so `check` afterwards is clean. A failure here
 * is reported like any other (never swallowed: a failed read could hide a
 * child); what it leaves is at most a stale stamp, a warning for check.
 */
async function stampChanged(plan: Plan): Promise<void> {
  // A file the run created has no children yet (and may be no VHD at all: a raw export).
  for (const c of plan.changes) if (c.action !== 'delete' && c.action !== 'create') await stampChildren(c.path);
}

/** runOperation's result with the operation's name beside it (see OperationOutcome). */
export async function runOutcome<K extends OperationName>(req: RequestOf<K>, ctx: JobContext = {}): Promise<OperationOutcome<K>> {
  return { op: req.op, result: await runOperation(req, ctx) };
}

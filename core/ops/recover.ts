// Finishing or rolling back interrupted operations from their journals.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { fromSystemError } from '../errors.js';
import { findJournals, isActiveJournal, JOURNAL_PREFIX, readJournal, writeJournal, type JournalBase } from '../journal.js';
import { currentThreadId } from '../thread.js';
import { hasDiskExtension, parseTempName, pathExists } from '../io/file.js';
import { judgeLockFile, LOCK_PREFIX, mtimeSlack, ownerAlive, removeStaleLockFile, staleUserLocksFor, withLocks } from '../lock.js';
import { SIDECAR_NAME } from '../library/sidecar.js';
import type { Recovery, WaitingJob } from '../shapes.js';
import { isOperationName, operationNamed } from '../registry.js';

export type { Recovery, WaitingJob };

/** A temp or lock file found beside the disks. */
export interface Leftover {
  path: string;
  kind: 'temp' | 'lock';
  bytes: number;
  /** Why it goes (left by a process that is gone) or stays (its owner may be running). */
  detail: string;
}

/** What recover did (or, with dryRun, would do) in one folder. */
export interface RecoverReport {
  dir: string;
  dryRun: boolean;
  /** Interrupted operations finished or rolled back (dry run: found, with `pending`). */
  recoveries: Recovery[];
  pending: PendingJournal[];
  /** Temp and lock files left by dead owners, removed (dry run: that would be removed). */
  removed: Leftover[];
  bytesFreed: number;
  /** Temp and lock files whose owner may still be running, left alone. */
  kept: Leftover[];
}

/**
 * True when the journal's writer is still at work: another process that is
 * running, or another thread of this one (the app's jobs run in worker
 * threads of one process). A journal of this thread that it is not carrying
 * out is a leftover (an interrupted job of an earlier run).
 */
function ownedByLiveProcess(j: JournalBase): boolean {
  if (!Number.isInteger(j.pid) || j.pid <= 0) return false;
  if (j.pid === process.pid) return j.thread !== undefined && j.thread !== currentThreadId();
  return ownerAlive(j.pid, Date.parse(j.startedAt), 100, j.startTicks);
}

/**
 * The journals of `dir` a person deals with: each with its parsed content
 * (null when unreadable), without those another journal there runs itself
 * (a delete's merge, JournalHooks.nested), which come with their owner.
 */
async function jobJournals(dir: string): Promise<{ path: string; j: JournalBase | null; nested: JournalBase[] }[]> {
  const all = await Promise.all((await findJournals(dir)).map(async (path) => ({ path, j: await readJournal(path) })));
  const owner = new Map<string, string>();
  for (const { path, j } of all) {
    const kind = j && isOperationName(j.op) ? operationNamed(j.op).journal : undefined;
    for (const n of kind?.nested(path, j!) ?? []) owner.set(nodePath.resolve(n), path);
  }
  const ownerOf = (path: string) => owner.get(nodePath.resolve(path));
  return all
    .filter(({ path }) => ownerOf(path) === undefined)
    .map(({ path, j }) => ({ path, j, nested: all.filter((x) => ownerOf(x.path) === path && x.j !== null).map((x) => x.j!) }));
}

/**
 * After this thread's operation failed or was cancelled: its journals left in
 * the folders of `paths` are no longer being carried out, so they stop
 * naming this thread. Other threads of the process (the app's other jobs)
 * then see them as interrupted (PENDING_JOB) rather than as running.
 */
export async function releaseJournals(paths: string[]): Promise<void> {
  const dirs = [...new Set(paths.map((p) => nodePath.dirname(nodePath.resolve(p))))];
  for (const dir of dirs) {
    for (const jpath of await findJournals(dir).catch(() => [] as string[])) {
      if (isActiveJournal(jpath)) continue;
      const j = await readJournal(jpath);
      if (!j || j.pid !== process.pid || j.thread !== currentThreadId()) continue;
      const { thread, ...rest } = j;
      void thread;
      await writeJournal(jpath, rest);
    }
  }
}

/** "merge (d1.vhd, d0.vhd; started 4 Dec 21:40; at copy)": the job a journal belongs to, for people. */
function describeJob(jpath: string, j: JournalBase): string {
  const dir = nodePath.dirname(jpath);
  const files = new Set<string>();
  for (const v of Object.values(j)) if (typeof v === 'string' && nodePath.isAbsolute(v) && hasDiskExtension(v)) files.add(nodePath.relative(dir, v) || v);
  const started = Number.isNaN(Date.parse(j.startedAt)) ? '' : `started ${new Date(j.startedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC; `;
  return `${j.op} (${[...files].slice(0, 3).join(', ') || nodePath.basename(jpath)}; ${started}at its ${j.phase} step)`;
}

/**
 * Work in the folders of `paths` that an operation must not run beside, as
 * plan refusals: a job another vhdsnap is carrying out (LOCKED), and
 * interrupted work (PENDING_JOB) — which is the person's to resume or roll
 * back with `recover`, never finished or undone on the side by an
 * unrelated operation.
 */
export async function pendingJobRefusals(paths: string[]): Promise<{ code: string; message: string }[]> {
  const dirs = [...new Set(paths.map((p) => nodePath.dirname(nodePath.resolve(p))))];
  const out: { code: string; message: string }[] = [];
  for (const dir of dirs) for (const w of await jobsWaitingIn(dir)) out.push({ code: w.code, message: w.message });
  return out;
}

/** The journals of `dir` that hold its other operations back (see pendingJobRefusals). */
export async function jobsWaitingIn(dir: string): Promise<WaitingJob[]> {
  const out: WaitingJob[] = [];
  for (const { path: jpath, j, nested } of await jobJournals(dir)) {
    if (isActiveJournal(jpath)) continue;
    if (!j) {
      if (await pathExists(jpath))
        out.push({
          journal: jpath,
          op: 'unknown',
          code: 'PENDING_JOB',
          job: nodePath.basename(jpath),
          message: `${jpath} is a journal vhdsnap cannot read; look at it, then remove it or run \`vhdsnap recover ${dir}\``,
        });
      continue;
    }
    const job = describeJob(jpath, j);
    const kind = isOperationName(j.op) ? operationNamed(j.op).journal : undefined;
    // A job that runs another's journal (a delete's merge) has got as far as that one has.
    const progress = [j, ...nested].map(journalProgress).find((p) => p !== null) ?? null;
    const about = {
      files: journalFiles(j),
      progress,
      pastNoReturn: kind ? await kind.pastNoReturn(j) : true,
      forward: kind ? await kind.forward(j) : ('finish' as const),
    };
    if (ownedByLiveProcess(j))
      out.push({ journal: jpath, op: j.op, code: 'LOCKED', job, message: `another vhdsnap job is running ${job} in ${dir}; wait for it to finish`, ...about });
    else
      out.push({
        journal: jpath,
        op: j.op,
        code: 'PENDING_JOB',
        job,
        message: `an interrupted ${job} is waiting in ${dir}; resume it with \`vhdsnap recover ${dir}\` or roll it back with \`vhdsnap recover --rollback ${dir}\` before anything else changes this folder`,
        ...about,
      });
  }
  return out;
}

export interface PendingJournal {
  journal: string;
  op: string;
  phase: string | null;
  startedAt: string | null;
  /** Owned by another process that is still running. */
  busy: boolean;
  /** What recover (with the options given) would do with it, for people. */
  would: string;
}

function folderOf(st: { isDirectory(): boolean }, target: string): string {
  return nodePath.resolve(st.isDirectory() ? target : nodePath.dirname(nodePath.resolve(target)));
}

/**
 * Recovers every journal in a folder (or in the folder of a file), then
 * removes the temp and lock files left by dead owners. Returns what it did,
 * removals included (action 'removed').
 */
export async function recover(target: string): Promise<Recovery[]> {
  const r = await recoverFolder(target);
  return [...r.recoveries, ...r.removed.map((x): Recovery => ({ journal: x.path, op: x.kind, action: 'removed', detail: x.detail, bytes: x.bytes }))];
}

/** How recover treats a journal: finish it (the default) or roll it back (`--rollback`). */
export interface RecoverOptions {
  /** Roll back instead of finishing (a job past its point of no return is finished all the same, and says so). */
  rollback?: boolean;
}

/**
 * recover with the whole report; `dryRun` only looks: it lists the journals
 * (each saying what it would do) and what would be removed. A `target` that
 * is a journal file recovers that journal only (its folder's leftovers too).
 */
export async function recoverFolder(target: string, opts: { dryRun?: boolean } & RecoverOptions = {}): Promise<RecoverReport> {
  const st = await fsp.stat(target).catch((err: unknown) => {
    throw fromSystemError(err, target, 'cannot read');
  });
  const dir = folderOf(st, target);
  // A folder it cannot list may hold a pending journal: that is a failure naming it, never "nothing to recover".
  await fsp.readdir(dir).catch((err: unknown) => {
    throw fromSystemError(err, dir, 'cannot list the folder');
  });
  const dryRun = opts.dryRun === true;
  const only = st.isFile() && nodePath.basename(target).startsWith(JOURNAL_PREFIX) ? nodePath.resolve(target) : null;
  const recoveries = dryRun ? [] : await recoverJournals(dir, opts, only);
  const pending = dryRun ? (await pendingIn(dir, opts)).filter((p) => only === null || p.journal === only) : [];
  const { stale, live } = await findLeftovers(dir);
  const removed: Leftover[] = [];
  for (const x of stale) {
    if (dryRun || (await removeLeftover(x))) removed.push(x);
  }
  return { dir, dryRun, recoveries, pending, removed, bytesFreed: removed.reduce((n, x) => n + x.bytes, 0), kept: live };
}

async function recoverJournals(dir: string, opts: RecoverOptions, only: string | null): Promise<Recovery[]> {
  const out: Recovery[] = [];
  for (const { path: jpath } of await jobJournals(dir)) {
    if (isActiveJournal(jpath) || (only !== null && jpath !== only)) continue;
    const r = await recoverJournal(jpath, opts);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Resumes one interrupted job from its journal: finishes it, or rolls it back
 * where it never reached its point of no return. Null when the journal is
 * gone (finished meanwhile by the recovery of another: delete runs its
 * merge's journal).
 */
export async function recoverJournal(jpath: string, opts: RecoverOptions = {}): Promise<Recovery | null> {
  const j = await readJournal(jpath);
  if (!j) {
    if (!(await pathExists(jpath))) return null;
    // Unreadable journals are left for a person: deleting one could hide an unfinished change.
    return { journal: jpath, op: 'unknown', action: 'left', detail: 'journal is unreadable; left in place for inspection' };
  }
  if (ownedByLiveProcess(j))
    return { journal: jpath, op: j.op, action: 'busy', detail: `another vhdsnap job (pid ${j.pid}) is running ${j.op} here; wait for it` };
  // Each operation recovers its own journal, validated against its schema first (core/operation.ts).
  const kind = isOperationName(j.op) ? operationNamed(j.op).journal : undefined;
  if (!kind) return { journal: jpath, op: j.op, action: 'left', detail: `unknown operation "${j.op}"; left in place` };
  return { journal: jpath, op: j.op, ...(await (opts.rollback ? kind.rollback(jpath, j) : kind.recover(jpath, j))) };
}

/** Resumes one journal (recoverJournal) holding the locks of every disk it names, as an operation would. */
export async function resumeJob(jpath: string): Promise<Recovery> {
  const r = await withLocks(await journalDisks(jpath), 'recover', () => recoverJournal(jpath));
  return r ?? { journal: jpath, op: 'unknown', action: 'completed', detail: 'the job had already been finished' };
}

/** Rolls one journal back (finishing it where it is past its point of no return), holding the locks of every disk it names. */
export async function rollbackJob(jpath: string): Promise<Recovery> {
  const r = await withLocks(await journalDisks(jpath), 'recover', () => recoverJournal(jpath, { rollback: true }));
  return r ?? { journal: jpath, op: 'unknown', action: 'completed', detail: 'the job had already been finished or rolled back' };
}

/** What recover would do with a journal, for people: "would finish merge of …", "would roll back …", "cannot roll back: …". */
export async function wouldDo(j: JournalBase | null, opts: RecoverOptions): Promise<string> {
  if (!j) return 'would leave it: the journal is unreadable';
  const kind = isOperationName(j.op) ? operationNamed(j.op).journal : undefined;
  if (!kind) return `would leave it: unknown operation "${j.op}"`;
  const what = `${j.op} of ${jobFiles(j)}`;
  if (!opts.rollback)
    return (await kind.forward(j)) === 'finish' ? `would finish ${what}` : `would roll back ${what}: it stopped short of its point of no return`;
  return (await kind.pastNoReturn(j)) ? `cannot roll back: past the point of no return, would finish ${what}` : `would roll back ${what}`;
}

/** The disks a journal's top-level fields name, in its order (a merge: child, then parent). */
function journalFiles(j: JournalBase): string[] {
  const files: string[] = [];
  for (const v of Object.values(j)) if (typeof v === 'string' && nodePath.isAbsolute(v) && hasDiskExtension(v) && !files.includes(v)) files.push(v);
  return files;
}

function jobFiles(j: JournalBase): string {
  return (
    journalFiles(j)
      .map((f) => nodePath.basename(f))
      .slice(0, 3)
      .join(', ') || 'its disks'
  );
}

/** How far an interrupted job got, in percent, where its journal says (a merge's blocks copied); null otherwise. */
export function journalProgress(j: JournalBase): number | null {
  const done = (j as { nextBlock?: unknown }).nextBlock;
  const total = (j as { blocks?: unknown }).blocks;
  if (typeof done !== 'number' || typeof total !== 'number' || total <= 0) return null;
  return Math.min(100, Math.floor((done / total) * 100));
}

export async function journalDisks(jpath: string): Promise<string[]> {
  return [
    ...new Set(
      pathsIn(await readJournal(jpath))
        .filter(hasDiskExtension)
        .map((p) => nodePath.resolve(p)),
    ),
  ];
}

/** Every absolute path a journal's fields hold, however deep (relink records, lists of children...). */
function pathsIn(v: unknown): string[] {
  if (typeof v === 'string') return nodePath.isAbsolute(v) ? [v] : [];
  if (Array.isArray(v)) return v.flatMap(pathsIn);
  if (v && typeof v === 'object') return Object.values(v).flatMap(pathsIn);
  return [];
}

/** What `recover` would act on, without touching anything (`recover --dry-run`). */
export async function pendingJournals(target: string, opts: RecoverOptions = {}): Promise<PendingJournal[]> {
  return pendingIn(folderOf(await fsp.stat(target), target), opts);
}

async function pendingIn(dir: string, opts: RecoverOptions = {}): Promise<PendingJournal[]> {
  const out: PendingJournal[] = [];
  for (const { path: jpath, j } of await jobJournals(dir)) {
    const would = await wouldDo(j, opts);
    out.push(
      j
        ? {
            journal: jpath,
            op: j.op,
            phase: typeof j.phase === 'string' ? j.phase : null,
            startedAt: j.startedAt ?? null,
            busy: ownedByLiveProcess(j),
            would,
          }
        : { journal: jpath, op: 'unknown', phase: null, startedAt: null, busy: false, would },
    );
  }
  return out;
}

/** Temp names of older versions, without a pid: output temps of journaled operations (their journal names them). */
const OLD_JOURNALED_TEMP = /^\..+\.(?:snapshot|revert|copy|[0-9a-f]{8}\.compact)\.tmp$/;
const OLD_JOURNAL_TEMP = /\.json\.[0-9a-f]{8}\.tmp$/;
const OLD_SIDECAR_TEMP = new RegExp(`^${SIDECAR_NAME.replace(/\./g, '\\.')}\\.[0-9a-f]{8}\\.tmp$`);

/** Every file name inside `dir` that a journal's fields mention (a temp it will finish or roll back). */
async function namesInJournals(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const jpath of await findJournals(dir))
    for (const p of pathsIn(await readJournal(jpath))) if (nodePath.dirname(p) === dir) out.add(nodePath.basename(p));
  return out;
}

/**
 * The temp and lock files of a folder, split into those left by a process
 * that is gone (stale) and those whose owner may still be running (live).
 * Current names carry the writer's pid (tempSibling); a lock says who holds
 * it. A file that a journal still in the folder names is never stale: that
 * journal's recovery (or a person, for a journal left in place) decides.
 * Old pid-less names are stale only while no live process owns a journal here.
 */
export async function findLeftovers(dir: string): Promise<{ stale: Leftover[]; live: Leftover[] }> {
  const stale: Leftover[] = [];
  const live: Leftover[] = [];
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
  const inJournals = await namesInJournals(dir);
  let busy: boolean | undefined;
  const someJournalBusy = async (): Promise<boolean> => (busy ??= (await pendingIn(dir)).some((p) => p.busy));
  for (const name of names) {
    const path = nodePath.join(dir, name);
    if (name.startsWith(LOCK_PREFIX)) {
      const v = await judgeLockFile(path);
      if (v) (v.stale ? stale : live).push({ path, kind: 'lock', bytes: v.bytes, detail: v.detail });
      continue;
    }
    const pid = parseTempName(name);
    const oldKind =
      pid !== null
        ? null
        : name.startsWith(JOURNAL_PREFIX) && OLD_JOURNAL_TEMP.test(name)
          ? 'journal'
          : OLD_SIDECAR_TEMP.test(name) || OLD_JOURNALED_TEMP.test(name)
            ? 'pidless'
            : null;
    if (pid === null && oldKind === null) continue;
    const st = await fsp.lstat(path).catch(() => null);
    if (!st || !st.isFile()) continue;
    const item = (detail: string): Leftover => ({ path, kind: 'temp', bytes: st.size, detail });
    if (inJournals.has(name)) {
      live.push(item('a temp file named by a journal in this folder; its recovery decides'));
    } else if (pid !== null) {
      if (ownerAlive(pid, st.mtimeMs, mtimeSlack(st.mtimeMs)))
        live.push(
          item(
            pid === process.pid
              ? `a temp file of this process (pid ${pid}), maybe a job still running in it`
              : `a temp file being written by pid ${pid}, which is running`,
          ),
        );
      else stale.push(item(`a temp file left by pid ${pid}, which is no longer running`));
    } else if (oldKind === 'journal') {
      // Old journal temps name their writer inside; a partial one was never renamed into place.
      const j = await readJournal(path);
      if (j && j.pid !== process.pid && ownedByLiveProcess(j)) live.push(item(`a journal temp being written by pid ${j.pid}, which is running`));
      else if (j && j.pid === process.pid && ownerAlive(j.pid, st.mtimeMs, mtimeSlack(st.mtimeMs))) live.push(item('a journal temp of this process'));
      else stale.push(item(`a journal temp left by ${j ? `pid ${j.pid}, which is no longer running` : 'a writer killed before it was complete'}`));
    } else if (await someJournalBusy()) {
      live.push(item('a temp file of an older vhdsnap, kept while another process works in this folder'));
    } else {
      stale.push(item('a temp file of an older vhdsnap, no journal needs it'));
    }
  }
  // This folder's disks' stale locks in the user's lock folder (identity locks) go too.
  for (const v of await staleUserLocksFor(dir)) stale.push({ path: v.path, kind: 'lock', bytes: v.bytes, detail: v.detail });
  return { stale, live };
}

async function removeLeftover(x: Leftover): Promise<boolean> {
  if (x.kind === 'lock') {
    const v = await judgeLockFile(x.path);
    return v !== null && (await removeStaleLockFile(v));
  }
  return fsp.unlink(x.path).then(
    () => true,
    () => false,
  );
}

// Finishing or rolling back interrupted operations from their journals.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { fromSystemError, RefusedError } from '../errors.js';
import { findJournals, isActiveJournal, JOURNAL_PREFIX, readJournal, type JournalBase } from '../journal.js';
import { parseTempName } from '../io/file.js';
import { judgeLockFile, LOCK_PREFIX, mtimeSlack, ownerAlive, removeStaleLockFile } from '../lock.js';
import { SIDECAR_NAME } from '../library/sidecar.js';
import { isOperationName, operationNamed } from '../registry.js';

export interface Recovery {
  journal: string;
  op: string;
  /** completed: finished forward; discarded: the unfinished change was rolled back; left: needs a person; busy: another live process owns it; removed: a leftover temp or lock file deleted. */
  action: 'completed' | 'discarded' | 'left' | 'busy' | 'removed';
  detail: string;
  /** Bytes freed (removed files only). */
  bytes?: number;
}

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

/** True when the journal's writer is another process that is still running. */
function ownedByLiveProcess(j: JournalBase): boolean {
  if (!Number.isInteger(j.pid) || j.pid <= 0 || j.pid === process.pid) return false;
  return ownerAlive(j.pid, Date.parse(j.startedAt), 100);
}

/**
 * Run by operations before they start: finishes interrupted work in the
 * folders they touch, and refuses while another live process owns a journal.
 */
export async function recoverBefore(paths: string[]): Promise<Recovery[]> {
  const dirs = [...new Set(paths.map((p) => nodePath.dirname(nodePath.resolve(p))))];
  const done: Recovery[] = [];
  // A folder that does not exist holds no journal: the operation then reports its missing disk or folder itself.
  for (const d of dirs) if (await isFolderOrUnreadable(d)) done.push(...(await recover(d)));
  const busy = done.filter((r) => r.action === 'busy');
  if (busy.length > 0) throw new RefusedError('BUSY', busy.map((b) => b.detail).join('; '));
  return done;
}

/** False only when `dir` is not there (missing, or a file on the path); a folder it cannot read is recovered, and fails there. */
async function isFolderOrUnreadable(dir: string): Promise<boolean> {
  return fsp.stat(dir).then(
    (st) => st.isDirectory(),
    (err: unknown) => {
      const code = err instanceof Error && 'code' in err ? err.code : undefined;
      return code !== 'ENOENT' && code !== 'ENOTDIR';
    },
  );
}

export interface PendingJournal {
  journal: string;
  op: string;
  phase: string | null;
  startedAt: string | null;
  /** Owned by another process that is still running. */
  busy: boolean;
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

/** recover with the whole report; `dryRun` only looks: it lists the journals and what would be removed. */
export async function recoverFolder(target: string, opts: { dryRun?: boolean } = {}): Promise<RecoverReport> {
  const st = await fsp.stat(target).catch((err: unknown) => {
    throw fromSystemError(err, target, 'cannot read');
  });
  const dir = folderOf(st, target);
  // A folder it cannot list may hold a pending journal: that is a failure naming it, never "nothing to recover".
  await fsp.readdir(dir).catch((err: unknown) => {
    throw fromSystemError(err, dir, 'cannot list the folder');
  });
  const dryRun = opts.dryRun === true;
  const recoveries = dryRun ? [] : await recoverJournals(dir);
  const pending = dryRun ? await pendingIn(dir) : [];
  const { stale, live } = await findLeftovers(dir);
  const removed: Leftover[] = [];
  for (const x of stale) {
    if (dryRun || (await removeLeftover(x))) removed.push(x);
  }
  return { dir, dryRun, recoveries, pending, removed, bytesFreed: removed.reduce((n, x) => n + x.bytes, 0), kept: live };
}

async function recoverJournals(dir: string): Promise<Recovery[]> {
  const out: Recovery[] = [];
  for (const jpath of await findJournals(dir)) {
    if (isActiveJournal(jpath)) continue;
    const j = await readJournal(jpath);
    if (!j) {
      // Finished meanwhile by the recovery of another journal (delete runs its merge's journal).
      if (
        !(await fsp.lstat(jpath).then(
          () => true,
          () => false,
        ))
      )
        continue;
      // Unreadable journals are left for a person: deleting one could hide an unfinished change.
      out.push({ journal: jpath, op: 'unknown', action: 'left', detail: 'journal is unreadable; left in place for inspection' });
      continue;
    }
    if (ownedByLiveProcess(j)) {
      out.push({ journal: jpath, op: j.op, action: 'busy', detail: `another vhdsnap process (pid ${j.pid}) is running ${j.op} here; wait for it` });
    } else {
      // Each operation recovers its own journal, validated against its schema first (core/operation.ts).
      const kind = isOperationName(j.op) ? operationNamed(j.op).journal : undefined;
      if (kind) out.push({ journal: jpath, op: j.op, ...(await kind.recover(jpath, j)) });
      else out.push({ journal: jpath, op: j.op, action: 'left', detail: `unknown operation "${j.op}"; left in place` });
    }
  }
  return out;
}

/** What `recover` would act on, without touching anything (`recover --dry-run`). */
export async function pendingJournals(target: string): Promise<PendingJournal[]> {
  return pendingIn(folderOf(await fsp.stat(target), target));
}

async function pendingIn(dir: string): Promise<PendingJournal[]> {
  const out: PendingJournal[] = [];
  for (const jpath of await findJournals(dir)) {
    const j = await readJournal(jpath);
    out.push(
      j
        ? { journal: jpath, op: j.op, phase: typeof j.phase === 'string' ? j.phase : null, startedAt: j.startedAt ?? null, busy: ownedByLiveProcess(j) }
        : { journal: jpath, op: 'unknown', phase: null, startedAt: null, busy: false },
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
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (nodePath.isAbsolute(v) && nodePath.dirname(v) === dir) out.add(nodePath.basename(v));
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  for (const jpath of await findJournals(dir)) visit(await readJournal(jpath));
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

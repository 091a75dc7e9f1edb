// Per-disk locks: one operation per disk at a time, across processes. A lock
// is a small JSON file next to the disk (`.vhdsnap-lock-<file>`) saying who
// holds it. It is written complete under a temporary name and hard-linked into
// place (link fails when the name exists), so a lock file is never seen half
// written. A lock whose holder ran on this host and is no longer alive is
// stale: an acquirer may take it over, and `recover` removes it.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { RefusedError, toIoError } from './errors.js';
import { randomHex, removeFile } from './io/file.js';

export const LOCK_PREFIX = '.vhdsnap-lock-';
const TAKEOVER_SUFFIX = '.takeover';
const MAX_LOCK_BYTES = 64 * 1024;

export interface LockInfo {
  version: 1;
  pid: number;
  host: string;
  op: string;
  startedAt: string;
  /** The disk the lock is for (absolute). */
  path: string;
  /** Random per acquisition: release removes only its own lock. */
  token: string;
}

export interface HeldLock {
  path: string;
  lockFile: string;
  info: LockInfo;
  release(): Promise<void>;
}

export function lockPathFor(disk: string): string {
  const abs = nodePath.resolve(disk);
  return nodePath.join(nodePath.dirname(abs), `${LOCK_PREFIX}${nodePath.basename(abs)}`);
}

/** True when `pid` names a running process on this machine (EPERM: running, not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stale: written on this host by a process that is gone. Locks from other hosts are never judged stale. */
export function isStale(info: LockInfo): boolean {
  return info.host === os.hostname() && !pidAlive(info.pid);
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const st = await fsp.lstat(file);
    if (!st.isFile() || st.size > MAX_LOCK_BYTES) return null;
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as LockInfo;
    return j && j.version === 1 && Number.isInteger(j.pid) && typeof j.host === 'string' && typeof j.token === 'string' ? j : null;
  } catch {
    return null;
  }
}

function tempName(file: string): string {
  return `${file}.${process.pid}.${randomHex(4)}.tmp`;
}

/** Creates `file` holding `info` only if it does not exist; false when it does. */
async function tryCreate(file: string, info: LockInfo): Promise<boolean> {
  const tmp = tempName(file);
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      await fh.writeFile(JSON.stringify(info));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fsp.link(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } catch (err) {
    throw toIoError(err, file, 'cannot create lock');
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

/** Removes `file` only if it still holds `token` (never someone else's newer lock). */
async function removeIfToken(file: string, token: string): Promise<void> {
  const cur = await readLock(file);
  // Through removeFile: on Windows a reader checking the lock at that instant makes a plain unlink fail.
  if (cur && cur.token === token) await removeFile(file, { missingOk: true }).catch(() => undefined);
}

function lockedMessage(info: LockInfo | null, disk: string): string {
  if (!info) return `${disk} is locked by another vhdsnap operation (its lock file is unreadable; if no operation is running, delete ${lockPathFor(disk)})`;
  return `${disk} is in use: ${info.op} by pid ${info.pid} on ${info.host} since ${info.startedAt}; wait for it to finish`;
}

/**
 * Takes the lock of one disk. Throws RefusedError LOCKED when another live
 * operation (in this or another process) holds it. A stale lock is taken over
 * under a second, short-lived lock so two acquirers cannot both take it.
 */
export async function acquireLock(disk: string, op: string): Promise<HeldLock> {
  const abs = nodePath.resolve(disk);
  const file = lockPathFor(abs);
  const info: LockInfo = { version: 1, pid: process.pid, host: os.hostname(), op, startedAt: new Date().toISOString(), path: abs, token: randomHex(8) };
  const held: HeldLock = { path: abs, lockFile: file, info, release: () => removeIfToken(file, info.token) };
  try {
    if (await tryCreate(file, info)) return held;
  } catch (err) {
    // No folder, or one we cannot write: nothing can change there, so there is
    // nothing to guard (an operation that must write there fails on its own).
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return { path: abs, lockFile: file, info, release: async () => undefined };
    }
    throw err;
  }

  const cur = await readLock(file);
  if (!cur || !isStale(cur)) throw new RefusedError('LOCKED', lockedMessage(cur, abs), { path: abs });

  const takeover = file + TAKEOVER_SUFFIX;
  const tinfo: LockInfo = { ...info, op: `take over the stale lock of ${op}`, token: randomHex(8) };
  if (!(await tryCreate(takeover, tinfo))) {
    const t = await readLock(takeover);
    if (t && isStale(t)) await removeIfToken(takeover, t.token);
    if (!(await tryCreate(takeover, tinfo))) throw new RefusedError('LOCKED', `${abs}: another process is taking over its stale lock; try again`, { path: abs });
  }
  try {
    // Under the takeover lock: remove the stale lock only if it is still the one judged stale.
    await removeIfToken(file, cur.token);
    if (await tryCreate(file, info)) return held;
    throw new RefusedError('LOCKED', lockedMessage(await readLock(file), abs), { path: abs });
  } finally {
    await removeIfToken(takeover, tinfo.token);
  }
}

/** Takes every lock in sorted order (so two operations never wait on each other in a cycle); all or none. */
export async function acquireLocks(disks: string[], op: string): Promise<HeldLock[]> {
  const paths = [...new Set(disks.map((d) => nodePath.resolve(d)))].sort();
  const held: HeldLock[] = [];
  try {
    for (const p of paths) held.push(await acquireLock(p, op));
  } catch (err) {
    await releaseLocks(held);
    throw err;
  }
  return held;
}

export async function releaseLocks(held: HeldLock[]): Promise<void> {
  for (const h of [...held].reverse()) await h.release().catch(() => undefined);
}

/** Runs `fn` holding the locks of `disks`; released however `fn` ends. */
export async function withLocks<T>(disks: string[], op: string, fn: () => Promise<T>): Promise<T> {
  const held = await acquireLocks(disks, op);
  try {
    return await fn();
  } finally {
    await releaseLocks(held);
  }
}

export interface ClearedLock {
  lockFile: string;
  detail: string;
}

/**
 * Removes the stale lock files of a folder (holder gone), including takeover
 * locks and temporaries left by a process killed while creating a lock.
 * Live locks and locks from other hosts are left alone.
 */
export async function clearStaleLocks(dir: string): Promise<ClearedLock[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: ClearedLock[] = [];
  for (const n of names.filter((x) => x.startsWith(LOCK_PREFIX)).sort()) {
    const file = nodePath.join(dir, n);
    const tmp = /\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(n);
    if (tmp) {
      // A temporary's name carries its writer's pid; its content may be partial.
      if (!pidAlive(Number(tmp[1]))) {
        await fsp.unlink(file).catch(() => undefined);
        out.push({ lockFile: file, detail: `removed a temporary lock file left by pid ${tmp[1]}, which is no longer running` });
      }
      continue;
    }
    const info = await readLock(file);
    if (!info || !isStale(info)) continue;
    await removeIfToken(file, info.token);
    out.push({ lockFile: file, detail: `removed the stale lock of ${info.path} (${info.op} by pid ${info.pid}, no longer running)` });
  }
  return out;
}

// Per-disk locks: one operation per disk at a time, across processes. A lock
// is a small JSON file next to the disk (`.vhdsnap-lock-<file>.lock`; never
// ending in a disk extension, so `*.vhd` globs skip it) saying who holds it.
// It is written complete under a temporary name and hard-linked into place
// (link fails when the name exists), so a lock file is never seen half
// written. A second lock, keyed by the file's identity (device + inode) in
// this user's lock folder, makes every name of one file (symlink, hard link,
// another case) meet the same lock; where the disk's folder cannot be written
// it is the one that guards the disk (acquireLock). Where the folder has no hard links (FAT, many SMB shares), the
// final name is created exclusively (`wx`) and written there, while the
// complete temporary stays beside it until the lock is fsync'd: a lock that
// does not parse is held (never free), by the writer its temporary names. A
// lock whose holder ran on this host and is no longer alive is stale: an
// acquirer may take it over, and `recover` removes it.
import { createHash } from 'node:crypto';
import { readFileSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import { currentThreadId } from './thread.js';
import * as nodePath from 'node:path';
import { RefusedError, toIoError } from './errors.js';
import { isNoHardLinkError, linkFile, parseTempName, randomHex, removeFile, tempSibling } from './io/file.js';
import { fileIdentityOrNull, fileKeyOrNull } from './io/identity.js';

export const LOCK_PREFIX = '.vhdsnap-lock-';
export const LOCK_SUFFIX = '.lock';
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
  /** The worker thread of the holder (absent in locks of older versions). */
  thread?: number;
  /** The holder's processStartTicks (absent off Linux and in locks of older versions). */
  startTicks?: number;
}

export interface HeldLock {
  path: string;
  /** The lock beside the disk (in its real folder), or where that folder cannot be written, the one in the user's lock folder. */
  lockFile: string;
  /** The lock keyed by the file's identity in the user's lock folder (absent for a file that does not exist yet). */
  identityLockFile?: string;
  info: LockInfo;
  release(): Promise<void>;
}

export function lockPathFor(disk: string): string {
  const abs = nodePath.resolve(disk);
  return nodePath.join(nodePath.dirname(abs), `${LOCK_PREFIX}${nodePath.basename(abs)}${LOCK_SUFFIX}`);
}

/** The name older versions used (`.vhdsnap-lock-<file>`): still honoured and cleared. */
export function oldLockPathFor(disk: string): string {
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

/** When this process started (ms since the epoch); process.uptime() is process-wide, worker threads included. */
const PROCESS_START = Date.now() - process.uptime() * 1000;

/** Field 22 of /proc/<pid>/stat: the process's start in clock ticks since boot (Linux); null elsewhere or when it is gone. */
function startTicksOf(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Counted after the ")" ending the command name (which may hold spaces).
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

let ownTicks: number | null | undefined;
/**
 * This process's start in clock ticks since boot, recorded in its locks and
 * journals: with the pid it names one process exactly, however the wall clock
 * is stepped meanwhile (a VM resuming, NTP), which a wall-clock start time
 * compared to a wall-clock write time does not.
 */
export function processStartTicks(): number | null {
  if (ownTicks === undefined) ownTicks = startTicksOf(process.pid);
  return ownTicks;
}

/** `{ startTicks }` for a lock or journal this process writes, where the system tells them. */
export function startTicksField(): { startTicks?: number } {
  const t = processStartTicks();
  return t === null ? {} : { startTicks: t };
}

/** Start time of another process (ms since the epoch), where the system tells it (Linux /proc); else null. */
function processStart(pid: number): number | null {
  if (pid === process.pid) return PROCESS_START;
  const ticks = startTicksOf(pid);
  if (ticks === null) return null;
  try {
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux ABI Node runs on.
    return Number.isFinite(btime) ? btime * 1000 + ticks * 10 : null;
  } catch {
    return null;
  }
}

/**
 * True when the process that wrote something at `writtenAt` (ms) may still be
 * running as `pid`. A pid alone is not enough: pids are reused (a container
 * gives every run the same low pid, so `recover` may be the very pid of the
 * operation it cleans up after). With the writer's `startTicks` (what
 * processStartTicks said in it) the answer is exact. Without them, a process that
 * started after the write, beyond `slackMs` for clock and timestamp
 * granularity, is not the writer. A file of this process written since it
 * started may be a job still running in it (an app's worker thread), so it
 * counts as alive. Unknown times count as alive: keeping a leftover is safe,
 * removing a live file is not.
 */
export function ownerAlive(pid: number, writtenAt: number, slackMs: number, startTicks?: number): boolean {
  if (!pidAlive(pid)) return false;
  if (startTicks !== undefined) {
    const now = startTicksOf(pid);
    if (now !== null) return now === startTicks;
  }
  const start = processStart(pid);
  return start === null || !Number.isFinite(writtenAt) || start <= writtenAt + slackMs;
}

/**
 * Tokens of the locks this thread holds right now. A lock naming this very
 * thread whose token is not here was left behind by it (its release failed):
 * no one holds it. Without this, such a lock would count as live for the
 * process's whole life — and a lock keyed by inode would then refuse a new
 * file that happens to get the same inode.
 */
const liveTokens = new Set<string>();

/** Stale: written on this host by a process that is gone, or by this thread and no longer held. Locks from other hosts are never judged stale. */
export function isStale(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return false;
  if (info.pid === process.pid && info.thread === currentThreadId() && !liveTokens.has(info.token)) return true;
  // startedAt comes from the same clock as the process start times: little slack needed.
  return !ownerAlive(info.pid, Date.parse(info.startedAt), 100, info.startTicks);
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const st = await fsp.lstat(file);
    if (!st.isFile() || st.size > MAX_LOCK_BYTES) return null;
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as LockInfo;
    if (!(j && j.version === 1 && Number.isInteger(j.pid) && typeof j.host === 'string' && typeof j.token === 'string')) return null;
    // A start time that is not a whole number cannot be matched: judge the owner by the wall clock instead.
    if (j.startTicks !== undefined && !Number.isSafeInteger(j.startTicks)) delete j.startTicks;
    return j;
  } catch {
    return null;
  }
}

/**
 * Who is writing a lock file that does not parse (no hard links here: it is
 * written in place): the complete temporary of the same lock beside it, kept
 * until the lock is whole. null when there is none (then nobody can tell, and
 * the lock counts as held).
 */
async function partialLockWriter(file: string): Promise<LockInfo | null> {
  const dir = nodePath.dirname(file);
  const base = nodePath.basename(file);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    // Exactly `<lock>.<pid>-<hex>.tmp` (tempSibling; not the temp of `<lock>.takeover`).
    if (!n.startsWith(base) || !/^\.\d+-[0-9a-f]{8}\.tmp$/.test(n.slice(base.length))) continue;
    const info = await readLock(nodePath.join(dir, n));
    if (info) return info;
  }
  return null;
}

/** The holder of `file`: what it says, or for a lock still being written (or torn by a kill), its writer. */
async function lockHolder(file: string): Promise<LockInfo | null> {
  const info = await readLock(file);
  if (info) return info;
  if (
    !(await fsp.lstat(file).then(
      (st) => st.isFile(),
      () => false,
    ))
  )
    return null;
  return partialLockWriter(file);
}

/** Where hard links are missing: the final name created exclusively and written in place (the temp stays until it is durable). */
async function createInPlace(file: string, info: LockInfo): Promise<boolean> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(JSON.stringify(info));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** Creates `file` holding `info` only if it does not exist; false when it does. */
async function tryCreate(file: string, info: LockInfo): Promise<boolean> {
  const tmp = tempSibling(file);
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      await fh.writeFile(JSON.stringify(info));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await linkFile(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      if (!isNoHardLinkError(err)) throw err;
    }
    return await createInPlace(file, info);
  } catch (err) {
    throw toIoError(err, file, 'cannot create lock');
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

/** Removes `file` only if it still holds `token` (never someone else's newer lock), or is that lock torn while being written. */
async function removeIfToken(file: string, token: string): Promise<boolean> {
  const cur = await lockHolder(file);
  if (!cur || cur.token !== token) return false;
  // Through removeFile: on Windows a reader checking the lock at that instant makes a plain unlink fail.
  return removeFile(file, { missingOk: true }).then(
    () => true,
    () => false,
  );
}

function lockedMessage(info: LockInfo | null, disk: string, file: string): string {
  if (!info) return `${disk} is locked by another vhdsnap operation (its lock file is unreadable; if no operation is running, delete ${file})`;
  return `${disk} is in use: ${info.op} by pid ${info.pid} on ${info.host} since ${info.startedAt}; wait for it to finish`;
}

/**
 * This user's lock folder, for locks keyed by file identity and for disks in
 * folders we cannot write. One fixed place per user (os.tmpdir() is per user
 * on Windows and macOS; on Linux /tmp is shared, hence the uid in the name and
 * mode 0700), so every vhdsnap process of the user finds the same locks. A
 * folder of that name that is not ours (another user made it first) is never
 * used: its locks could be removed or forged.
 */
export async function userLockDir(): Promise<string> {
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  const dir = userLockDirPath();
  try {
    await fsp.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toIoError(err, dir, 'cannot create the lock folder');
  }
  const st = await fsp.lstat(dir).catch((err: unknown) => {
    throw toIoError(err, dir, 'cannot read the lock folder');
  });
  const foreign = uid !== null && (st.uid !== uid || (st.mode & 0o077) !== 0);
  if (!st.isDirectory() || foreign)
    throw new RefusedError('LOCK_DIR_UNSAFE', `${dir} is not a private folder of this user; remove it so vhdsnap can keep its locks there`, { path: dir });
  return dir;
}

/** Where userLockDir is (not created here). */
function userLockDirPath(): string {
  let who = typeof process.getuid === 'function' ? String(process.getuid()) : '';
  if (who === '') {
    try {
      who = os.userInfo().username.replace(/[^A-Za-z0-9._-]/g, '_');
    } catch {
      who = 'user';
    }
  }
  return nodePath.join(os.tmpdir(), `vhdsnap-locks-${who}`);
}

/**
 * Stale locks in this user's lock folder (identity and fallback locks, and
 * their takeover locks) of disks in `dir`, and the temporaries of such locks
 * whose writer is gone: `recover <dir>` removes them with the folder's own. Left by a killed process, such a lock would otherwise
 * wait to be taken over by the next operation on a file with that inode.
 */
export async function staleUserLocksFor(dir: string): Promise<LockFileVerdict[]> {
  const lockDir = userLockDirPath();
  const st = await fsp.lstat(lockDir).catch(() => null);
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  if (!st || !st.isDirectory() || (uid !== null && st.uid !== uid)) return [];
  const want = nodePath.resolve(dir);
  const out: LockFileVerdict[] = [];
  for (const n of (await fsp.readdir(lockDir).catch(() => [] as string[])).sort()) {
    if (!(n.startsWith(`${LOCK_PREFIX}id-`) || n.startsWith(`${LOCK_PREFIX}path-`))) continue;
    const v = await judgeLockFile(nodePath.join(lockDir, n));
    if (!v || !v.stale) continue;
    // A temporary whose writer is gone (killed between writing and linking it) names no disk and
    // is no one's: whichever folder is being recovered removes it, or it would stay for good.
    if (parseTempName(n) !== null || (v.disk !== undefined && nodePath.dirname(nodePath.resolve(v.disk)) === want)) out.push(v);
  }
  return out;
}

/**
 * The identity lock's file: keyed by device + inode, so every name of one file
 * (symlinks anywhere, hard links, another case of the name) meets the same
 * lock. Null where the file has no identity to key by: it does not exist yet
 * (a child about to be created) or the file system reports inode 0 (some
 * network and FUSE mounts); there the lock beside the disk, named after its
 * real path, is all there is. On Windows the bigint stat's ino is the NTFS
 * file index, stable for the file's life.
 */
async function identityLockPath(real: string): Promise<string | null> {
  const id = await fileIdentityOrNull(real);
  if (!id || id.ino === 0n) return null;
  return nodePath.join(await userLockDir(), `${LOCK_PREFIX}id-${id.dev}-${id.ino}${LOCK_SUFFIX}`);
}

/** The lock in this user's folder standing in for one beside a disk whose folder we cannot write. */
async function fallbackLockPath(real: string): Promise<string> {
  const h = createHash('sha256').update(real).digest('hex').slice(0, 32);
  return nodePath.join(await userLockDir(), `${LOCK_PREFIX}path-${h}${LOCK_SUFFIX}`);
}

const errnoOf = (err: unknown): string | undefined => ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;

/**
 * Takes the lock of one disk. Throws RefusedError LOCKED when another live
 * operation (in this or another process) holds it. A stale lock is taken over
 * under a second, short-lived lock so two acquirers cannot both take it.
 *
 * Two lock files: one in this user's lock folder keyed by the file's identity
 * (no second name of the file can take a second lock), and one beside the
 * file in its real folder, named after its real name (what other users,
 * other hosts sharing the folder and older versions see). Where that folder
 * cannot be written, the identity lock alone guards it (or, for a file with
 * no identity, a lock in the user's folder keyed by its real path): never no
 * lock at all.
 */
export async function acquireLock(disk: string, op: string): Promise<HeldLock> {
  const abs = nodePath.resolve(disk);
  const real = await fsp.realpath(abs).catch(() => abs);
  const info: LockInfo = {
    version: 1,
    pid: process.pid,
    host: os.hostname(),
    op,
    startedAt: new Date().toISOString(),
    path: abs,
    token: randomHex(8),
    thread: currentThreadId(),
    ...startTicksField(),
  };
  const parts: { file: string; token: string }[] = [];
  liveTokens.add(info.token);
  const release = async () => {
    for (const p of parts.reverse()) await removeIfToken(p.file, p.token).catch(() => undefined);
    liveTokens.delete(info.token);
  };
  try {
    const idFile = await identityLockPath(real);
    if (idFile) {
      await takeLockFile(idFile, abs, info, await birthTimeOf(real));
      parts.push({ file: idFile, token: info.token });
    }
    let beside = lockPathFor(real);
    try {
      await takeLockFile(beside, abs, info);
      parts.push({ file: beside, token: info.token });
    } catch (err) {
      const code = errnoOf(err);
      // No folder: nothing can be created there, so nothing to guard (an operation that must write there fails on its own).
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (!idFile) beside = '';
      } else if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        // A folder we cannot write (the disk in it may still be writable): the identity lock guards it, or one keyed by path.
        if (idFile) beside = idFile;
        else {
          beside = await fallbackLockPath(real);
          await takeLockFile(beside, abs, info);
          parts.push({ file: beside, token: info.token });
        }
      } else throw err;
    }
    // An older vhdsnap (lock without the .lock end, named after the path given) may be working on the disk right now.
    for (const name of new Set([real, abs])) {
      const old = await readLock(oldLockPathFor(name));
      if (old && !isStale(old)) throw new RefusedError('LOCKED', lockedMessage(old, abs, oldLockPathFor(name)), { path: abs });
    }
    return { path: abs, lockFile: beside || lockPathFor(real), identityLockFile: idFile ?? undefined, info, release };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * When the file was created (ms), where the file system says; null where it
 * does not. An identity lock taken before that was taken for an earlier file
 * with the same device and inode (deleted while its lock was held: a killed
 * process, a test): it cannot be this file's, whoever still holds it.
 */
async function birthTimeOf(p: string): Promise<number | null> {
  const st = await fsp.stat(p).catch(() => null);
  return st && st.birthtimeMs > 0 ? st.birthtimeMs : null;
}

/**
 * A lock taken for an existing file is newer than the file's birth. File
 * times come from the kernel's coarse clock and are only ever rounded down
 * (FAT, HFS+), which keeps that order; the slack covers the lock time's
 * millisecond rounding. A leaked lock's inode can be reused within
 * milliseconds of its file's deletion, so the slack must stay this small.
 */
const BIRTH_SLACK_MS = 2;

/** Creates the lock file `file` for `abs` holding `info`, taking over a stale one (or, for an identity lock, one older than the file: `born`); LOCKED when it is held. */
async function takeLockFile(file: string, abs: string, info: LockInfo, born: number | null = null): Promise<void> {
  if (await tryCreate(file, info)) return;

  const cur = await lockHolder(file);
  const ofEarlierFile = cur !== null && born !== null && Date.parse(cur.startedAt) + BIRTH_SLACK_MS < born;
  if (!cur || (!isStale(cur) && !ofEarlierFile)) throw new RefusedError('LOCKED', lockedMessage(cur, abs, file), { path: abs });

  const takeover = file + TAKEOVER_SUFFIX;
  const tinfo: LockInfo = { ...info, op: `take over the stale lock of ${info.op}`, token: randomHex(8) };
  liveTokens.add(tinfo.token);
  if (!(await tryCreate(takeover, tinfo))) {
    const t = await lockHolder(takeover);
    if (t && isStale(t)) await removeIfToken(takeover, t.token);
    if (!(await tryCreate(takeover, tinfo)))
      throw new RefusedError('LOCKED', `${abs}: another process is taking over its stale lock; try again`, { path: abs });
  }
  try {
    // Under the takeover lock: remove the stale lock only if it is still the one judged stale.
    await removeIfToken(file, cur.token);
    if (await tryCreate(file, info)) return;
    throw new RefusedError('LOCKED', lockedMessage(await lockHolder(file), abs, file), { path: abs });
  } finally {
    await removeIfToken(takeover, tinfo.token).catch(() => undefined);
    liveTokens.delete(tinfo.token);
  }
}

/** Takes every lock in sorted order (so two operations never wait on each other in a cycle); all or none. */
export async function acquireLocks(disks: string[], op: string): Promise<HeldLock[]> {
  // One lock per file, not per name: a second name of a file already locked here would be refused by our own lock.
  const byFile = new Map<string, string>();
  for (const d of [...new Set(disks.map((x) => nodePath.resolve(x)))].sort()) {
    const key = (await fileKeyOrNull(d)) ?? `path:${d}`;
    if (!byFile.has(key)) byFile.set(key, d);
  }
  const paths = [...byFile.values()].sort();
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

/** One file of a folder whose name starts with LOCK_PREFIX, judged without changing it. */
export interface LockFileVerdict {
  path: string;
  bytes: number;
  /** Left by a process that is gone: recover removes it. */
  stale: boolean;
  detail: string;
  /** For a lock (not a lock temp): removal re-checks this token, never someone's newer lock. */
  token?: string;
  /** For a lock: the disk it is for, as its holder named it. */
  disk?: string;
}

/** Lock temps of older versions: `<lock>.<pid>.<8 hex>.tmp`. */
const OLD_LOCK_TEMP = /\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Judges a lock, a takeover lock or a temporary of either, in the current or
 * the old naming. Null for what is none of these (a folder, a link).
 */
export async function judgeLockFile(file: string): Promise<LockFileVerdict | null> {
  const st = await fsp.lstat(file).catch(() => null);
  if (!st || !st.isFile()) return null;
  const name = nodePath.basename(file);
  const tempPid = parseTempName(name) ?? (OLD_LOCK_TEMP.test(name) ? Number(OLD_LOCK_TEMP.exec(name)![1]) : null);
  if (tempPid !== null) {
    // A temporary's name carries its writer's pid; its content may be partial.
    const stale = !ownerAlive(tempPid, st.mtimeMs, mtimeSlack(st.mtimeMs));
    return {
      path: file,
      bytes: st.size,
      stale,
      detail: stale
        ? `a temporary lock file left by pid ${tempPid}, which is no longer running`
        : `a temporary lock file being written by pid ${tempPid}, which is running`,
    };
  }
  const info = await lockHolder(file);
  if (!info) return { path: file, bytes: st.size, stale: false, detail: 'an unreadable lock file; if no vhdsnap operation is running, delete it' };
  const stale = isStale(info);
  const what = `the lock of ${info.path} (${info.op} by pid ${info.pid} on ${info.host}`;
  return {
    path: file,
    bytes: st.size,
    stale,
    token: info.token,
    disk: info.path,
    detail: stale ? `${what}, no longer running)` : `${what}, ${info.host === os.hostname() ? 'still running' : 'another host'})`,
  };
}

/** Removes a file judged stale, re-checking a lock's token first; true when it is gone. */
export async function removeStaleLockFile(v: LockFileVerdict): Promise<boolean> {
  if (!v.stale) return false;
  if (v.token !== undefined) return removeIfToken(v.path, v.token);
  return fsp.unlink(v.path).then(
    () => true,
    () => false,
  );
}

/**
 * Slack for comparing a file's mtime with a process start: file systems with
 * 2 s timestamps (FAT) show whole seconds; others stamp to the ms or finer
 * from a clock that lags by a tick at most.
 */
export function mtimeSlack(mtimeMs: number): number {
  return mtimeMs % 1000 === 0 ? 2000 : 100;
}

export interface ClearedLock {
  lockFile: string;
  bytes: number;
  detail: string;
}

/**
 * Removes the stale lock files of a folder (holder gone), including takeover
 * locks, temporaries left by a process killed while creating a lock, and locks
 * in the old naming. Live locks and locks from other hosts are left alone.
 */
export async function clearStaleLocks(dir: string): Promise<ClearedLock[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: ClearedLock[] = [];
  for (const n of names.filter((x) => x.startsWith(LOCK_PREFIX)).sort()) {
    const v = await judgeLockFile(nodePath.join(dir, n));
    if (v && (await removeStaleLockFile(v))) out.push({ lockFile: v.path, bytes: v.bytes, detail: `removed ${v.detail}` });
  }
  return out;
}

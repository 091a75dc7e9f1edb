// The one place the core touches file handles. Positions are plain numbers
// (BigInt positions misbehave on Node 20). Tests swap the opener to inject
// I/O faults; nothing else in core opens files for random access.
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, realpath as jsRealpath, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { EnvironmentError, FormatError, IN_USE, IoError, RefusedError, fromSystemError, isSystemError, toIoError, UsageError, VhdError } from '../errors.js';
import { MAX_NAME_BYTES, truncateUtf8 } from './safe-name.js';

export type OpenMode = 'r' | 'r+' | 'wx';

export interface RandomAccessFile {
  readonly path: string;
  readonly writable: boolean;
  /** Reads up to buf.length bytes at `position`; returns the count (short only at EOF). */
  read(buf: Uint8Array, position: number): Promise<number>;
  write(buf: Uint8Array, position: number): Promise<void>;
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
  /** What fstat said when the file was opened (size; identity as in core/io/identity.ts), where the opener knows. */
  readonly opened?: { size: number; dev: bigint; ino: bigint };
}

class NodeFile implements RandomAccessFile {
  constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
    readonly writable: boolean,
    readonly opened?: { size: number; dev: bigint; ino: bigint },
  ) {}

  async read(buf: Uint8Array, position: number): Promise<number> {
    let done = 0;
    try {
      while (done < buf.length) {
        const { bytesRead } = await this.fh.read(buf, done, buf.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw toIoError(err, this.path, 'cannot read');
    }
    return done;
  }

  async write(buf: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < buf.length) {
        const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, position + done);
        if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        done += bytesWritten;
      }
    } catch (err) {
      throw toIoError(err, this.path, 'cannot write');
    }
  }

  async size(): Promise<number> {
    try {
      return (await this.fh.stat()).size;
    } catch (err) {
      throw toIoError(err, this.path, 'cannot stat');
    }
  }

  async truncate(length: number): Promise<void> {
    try {
      await this.fh.truncate(length);
    } catch (err) {
      throw toIoError(err, this.path, 'cannot truncate');
    }
  }

  async sync(): Promise<void> {
    try {
      await this.fh.sync();
    } catch (err) {
      throw toIoError(err, this.path, 'cannot fsync');
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/**
 * A read-only file read with blocking calls, for a caller that makes a few
 * small reads and closes it at once (a folder scan): thousands of tiny reads
 * cost about a quarter as much without a thread-pool round trip each. Such a
 * caller must yield to the event loop between files; long reads (data, a deep
 * check) stay on NodeFile, so cancel messages keep arriving.
 */
class BlockingFile implements RandomAccessFile {
  readonly writable = false;
  private fd: number | null;

  constructor(
    readonly path: string,
    fd: number,
    readonly opened: { size: number; dev: bigint; ino: bigint },
  ) {
    this.fd = fd;
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    if (this.fd === null) throw new IoError('EBADF', `${this.path}: read after close`, { path: this.path });
    let done = 0;
    try {
      while (done < buf.length) {
        const n = readSync(this.fd, buf, done, buf.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw toIoError(err, this.path, 'cannot read');
    }
    return done;
  }

  write(): Promise<void> {
    return Promise.reject(new UsageError('READ_ONLY', `${this.path} is open read-only`));
  }

  truncate(): Promise<void> {
    return this.write();
  }

  async size(): Promise<number> {
    if (this.fd === null) throw new IoError('EBADF', `${this.path}: stat after close`, { path: this.path });
    try {
      return fstatSync(this.fd).size;
    } catch (err) {
      throw toIoError(err, this.path, 'cannot stat');
    }
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // As NodeFile: a failed close of a read-only file loses nothing.
    }
  }
}

/** `blocking`: read-only, few small reads, closed at once (see BlockingFile); openers may ignore it. */
export interface OpenHints {
  blocking?: boolean;
}

export type FileOpener = (path: string, mode: OpenMode, hints?: OpenHints) => Promise<RandomAccessFile>;

/**
 * Existing files are opened with O_NONBLOCK: opening a FIFO (say a `*.vhd`
 * named pipe in a scanned folder) would otherwise wait forever for a writer.
 * The flag changes nothing for regular files, and anything else is refused.
 */
function openFlags(mode: OpenMode): string | number {
  if (mode === 'wx' || fsConstants.O_NONBLOCK === undefined) return mode;
  return (mode === 'r' ? fsConstants.O_RDONLY : fsConstants.O_RDWR) | fsConstants.O_NONBLOCK;
}

/** The real opener (fault-injection wrappers delegate to it). */
export const nodeOpener: FileOpener = async (path, mode, hints) => {
  if (mode === 'r' && hints?.blocking) return openBlocking(path);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, openFlags(mode));
  } catch (err) {
    throw await fsError(err, path, mode === 'wx' ? 'cannot create' : 'cannot open', { creating: mode === 'wx' });
  }
  // BigInt: identities (dev, ino) may exceed 2^53 (core/io/identity.ts).
  const st = await fh.stat({ bigint: true }).catch(async (err: unknown) => {
    await fh.close().catch(() => undefined);
    throw toIoError(err, path, 'cannot stat');
  });
  if (!st.isFile()) {
    await fh.close().catch(() => undefined);
    throw new IoError('NOT_A_FILE', `${path} is not a regular file`, { path });
  }
  return new NodeFile(path, fh, mode !== 'r', { size: Number(st.size), dev: st.dev, ino: st.ino });
};

async function openBlocking(path: string): Promise<RandomAccessFile> {
  let fd: number;
  try {
    fd = openSync(path, openFlags('r'));
  } catch (err) {
    throw await fsError(err, path, 'cannot open', { creating: false });
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new IoError('NOT_A_FILE', `${path} is not a regular file`, { path });
    return new BlockingFile(path, fd, { size: Number(st.size), dev: st.dev, ino: st.ino });
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Read-only: nothing to lose; the stat's error is the one to report.
    }
    throw err instanceof VhdError ? err : toIoError(err, path, 'cannot stat');
  }
}

let opener: FileOpener = nodeOpener;

export function openFile(path: string, mode: OpenMode, hints?: OpenHints): Promise<RandomAccessFile> {
  return opener(path, mode, hints);
}

/** Replace the opener (fault-injection tests); returns a function restoring the previous one. */
export function setFileOpener(next: FileOpener): () => void {
  const prev = opener;
  opener = next;
  return () => {
    opener = prev;
  };
}

/**
 * A read-only view of `f` that reads its first `head` bytes once and serves
 * reads inside them from memory, and stats it once: opening a VHD reads the
 * footer copy, header, BAT and locators, which in a small file all sit in
 * its first few KiB (a scan of thousands of files otherwise spends its time
 * on those small reads). For read-only opens whose caller reads the file as
 * it was when opened, as VhdFile does with its BAT.
 */
export function headCached(f: RandomAccessFile, head: number): RandomAccessFile {
  let size: Promise<number> | null = null;
  let cached: Promise<Buffer> | null = null;
  const sizeOnce = () => (size ??= f.opened ? Promise.resolve(f.opened.size) : f.size());
  const headOnce = () =>
    (cached ??= sizeOnce().then(async (n) => {
      // Unsafe: only the bytes read are ever looked at.
      const buf = Buffer.allocUnsafe(Math.min(head, n));
      return buf.subarray(0, await f.read(buf, 0));
    }));
  return {
    path: f.path,
    writable: false,
    opened: f.opened,
    read: async (buf, position) => {
      if (position + buf.length <= head) {
        const h = await headOnce();
        if (position + buf.length <= h.length) {
          buf.set(h.subarray(position, position + buf.length));
          return buf.length;
        }
      }
      return f.read(buf, position);
    },
    write: () => Promise.reject(new UsageError('READ_ONLY', `${f.path} is open read-only`)),
    size: sizeOnce,
    truncate: () => Promise.reject(new UsageError('READ_ONLY', `${f.path} is open read-only`)),
    sync: () => f.sync(),
    close: () => f.close(),
  };
}

/** Reads exactly `length` bytes or raises a typed error naming what was being read. */
export async function readExact(f: RandomAccessFile, position: number, length: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  await readFully(f, buf, position, what);
  return buf;
}

/** Fills `buf` from `position` (a caller's reused buffer: no allocation); TRUNCATED past the end of the file. */
export async function readFully(f: RandomAccessFile, buf: Uint8Array, position: number, what: string): Promise<void> {
  const n = await f.read(buf, position);
  if (n < buf.length) {
    throw new FormatError('TRUNCATED', `${f.path}: ${what} at ${position} (+${buf.length}) runs past the end of the file`, { field: what, path: f.path });
  }
}

/**
 * The canonical path of `p` (symlinks resolved). Wine's native realpath fails
 * with UNKNOWN on paths over 260 characters; Node's JS walk (lstat per
 * segment) gives the same answer there, so it is the fallback.
 */
export async function realPath(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'UNKNOWN') throw err;
    return new Promise((resolve, reject) => jsRealpath(p, (e, r) => (e ? reject(e) : resolve(r))));
  }
}

/** True when something (file, folder or dangling link) exists at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

/**
 * `bytes` random bytes as hex, for temp names and lock tokens: unique enough
 * beside the pid, and no node:crypto load (a few ms of every CLI start).
 */
export function randomHex(bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++)
    s += Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0');
  return s;
}

/**
 * Replaces `path` with `text` atomically: written under a temp name (see
 * tempSibling), fsync'd, renamed over it, then the folder fsync'd. Readers see
 * the old or the new text, never a mix.
 */
export async function replaceFileAtomically(path: string, text: string): Promise<void> {
  const tmp = tempSibling(path);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx');
    await fh.writeFile(text);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await renameFile(tmp, path);
  } catch (err) {
    // A full disk or a refused rename must not leave the temp behind (the error names the file meant, not the temp).
    await fh?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw creationError(err, path, 'cannot write');
  }
  await syncDir(nodePath.dirname(path));
}

/**
 * A failure while creating `path` (often through a temp beside it) as a typed
 * error naming `path` itself: a missing, non-folder or unwritable folder is
 * said to be its folder. Typed refusals (IN_USE, EXISTS) pass unchanged.
 */
export function creationError(err: unknown, path: string, what = 'cannot create'): VhdError {
  const raw = err instanceof IoError && isSystemError(err.cause) ? err.cause : err;
  return fromSystemError(raw, path, what, { creating: true });
}

/**
 * Fails, typed and before anything is written, when the folder `path` would
 * be created in is missing or is not a folder (`--out` into a missing folder).
 */
export async function assertFolderFor(path: string): Promise<void> {
  const dir = nodePath.dirname(nodePath.resolve(path));
  const st = await fsp.stat(dir).catch((err: unknown) => {
    throw creationError(err, path);
  });
  if (!st.isDirectory()) throw new EnvironmentError('NOT_A_FOLDER', `cannot create ${path}: ${dir} is not a folder; check the path`, 'ENOTDIR', { path });
}

/**
 * Every temp file vhdsnap makes is named here: `.<name>.<pid>-<8 hex>[.<kind>].tmp`
 * beside `path` (no second dot for a name that has one). The leading dot keeps
 * it out of folder scans, the `.tmp` end keeps it from ever ending in a disk
 * extension (a `for f in *.vhd` loop), and the pid lets `recover` remove it
 * once its writer is gone (parseTempName). The name part is cut to keep the
 * whole within 255 bytes (pid and hex keep it unique).
 */
export function tempSibling(path: string, kind?: string): string {
  const abs = nodePath.resolve(path);
  const base = nodePath.basename(abs);
  const tail = `.${process.pid}-${randomHex(4)}${kind ? `.${kind}` : ''}.tmp`;
  const name = truncateUtf8(base, MAX_NAME_BYTES - 1 - tail.length);
  return nodePath.join(nodePath.dirname(abs), `${name.startsWith('.') ? '' : '.'}${name}${tail}`);
}

const TEMP_NAME = /^\..*\.(\d+)-[0-9a-f]{8}(?:\.[a-z]+)?\.tmp$/;

/** The writer's pid of a name made by tempSibling; null for any other name. */
export function parseTempName(name: string): number | null {
  const m = TEMP_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/** Extensions that folder scans and people's scripts take for disks (case-insensitive). */
export const DISK_EXTENSIONS = ['.vhd', '.vhdx', '.avhd', '.avhdx'];

/** True when `name` ends in a disk extension: no temp or lock name may. */
export function hasDiskExtension(name: string): boolean {
  const n = name.toLowerCase();
  return DISK_EXTENSIONS.some((e) => n.endsWith(e));
}

/** Makes a hard link; the function behind it is swappable (tests fail it as a FAT or SMB folder would). */
export type Linker = (existing: string, newPath: string) => Promise<void>;

let linker: Linker = (existing, newPath) => fsp.link(existing, newPath);

/** Hard-links `existing` to `newPath` (fails with EEXIST when `newPath` exists). Raw errno errors, as fs.link. */
export function linkFile(existing: string, newPath: string): Promise<void> {
  return linker(existing, newPath);
}

/** Replace the linker (tests); returns a function restoring the previous one. */
export function setLinker(next: Linker): () => void {
  const prev = linker;
  linker = next;
  return () => {
    linker = prev;
  };
}

/**
 * The errors a folder without hard links gives (FAT32/exFAT, many SMB shares,
 * some FUSE mounts), or a link that cannot be made there (EXDEV, EMLINK):
 * the caller falls back to a way without links. Anything else is a failure.
 */
export function isNoHardLinkError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV' || code === 'EISDIR' || code === 'EMLINK' || code === 'ENOSYS';
}

/**
 * Whether `dir` can hard-link: links a tiny temp file (named as tempSibling,
 * so recover clears it after a kill) and removes both names. null when the
 * probe itself cannot run (no folder, not writable): the operation will fail
 * there on its own.
 */
export async function supportsHardLinks(dir: string): Promise<boolean | null> {
  const a = tempSibling(nodePath.join(dir, 'link-probe'));
  const b = tempSibling(nodePath.join(dir, 'link-probe'));
  try {
    await fsp.writeFile(a, '', { flag: 'wx' });
  } catch {
    return null;
  }
  try {
    await linkFile(a, b);
    return true;
  } catch (err) {
    if (isNoHardLinkError(err)) return false;
    return null;
  } finally {
    await fsp.unlink(b).catch(() => undefined);
    await fsp.unlink(a).catch(() => undefined);
  }
}

/**
 * Gives a finished, fsync'd temp file its final name without ever replacing a
 * file that exists there (a hard link fails instead). Where the folder has no
 * hard links, the name is checked and the temp renamed: the caller holds the
 * path's lock, so no other vhdsnap operation can create it in between.
 */
export async function linkIntoPlace(tmp: string, path: string): Promise<void> {
  const exists = () => new RefusedError('EXISTS', `${path} already exists; not overwriting it`, { path });
  try {
    await linkFile(tmp, path);
    await fsp.unlink(tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      await fsp.unlink(tmp).catch(() => undefined);
      throw exists();
    }
    if (!isNoHardLinkError(err)) throw toIoError(err, path, 'cannot link');
    if (await pathExists(path)) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw exists();
    }
    await renameFile(tmp, path);
  }
  await syncDir(nodePath.dirname(nodePath.resolve(path)));
}

/** fsync a directory so a rename or create inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  // Windows cannot fsync a directory (EPERM); NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems cannot fsync a folder; the rename is then as durable as they make it.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * A refused open, rename or unlink as a typed error. EBUSY, and on Windows
 * EPERM/EACCES on a file that is not read-only, mean another program holds
 * the file open (Windows will not rename over or delete such a file): that is
 * IN_USE, which the caller can fix, not an I/O failure.
 */
export async function fsError(err: unknown, path: string, what: string, opts: { creating?: boolean } = {}): Promise<VhdError> {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  let held = code === 'EBUSY';
  if (!held && process.platform === 'win32' && (code === 'EPERM' || code === 'EACCES')) {
    held = await fsp.stat(path).then(
      (st) => (st.mode & 0o200) !== 0,
      () => true, // a name we cannot even stat is held open by another program (delete pending)
    );
  }
  if (held) {
    return new RefusedError(
      IN_USE,
      `${what} ${path}: another program has it open (${code}); close it there (a virtual machine, Hyper-V Manager, a backup tool) and run the command again`,
      { path, cause: err },
    );
  }
  return fromSystemError(err, path, what, opts);
}

/**
 * On Windows a reader that has a file open for a moment (a scan, an
 * antivirus) makes a rename or delete fail: a few retries over about a
 * second ride that out before the file is reported in use.
 */
async function retryHeld(fn: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const transient = process.platform === 'win32' && (code === 'EPERM' || code === 'EACCES' || code === 'EBUSY');
      if (!transient || attempt >= 8) throw err;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

/** Renames `from` over `to`; the caller has closed its own handles on both (Windows refuses a rename over an open file). */
export async function renameFile(from: string, to: string): Promise<void> {
  try {
    await retryHeld(() => fsp.rename(from, to));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The target is the one usually held; report the source when it is the missing or held one.
    if (code === 'ENOENT' || !(await pathExists(to))) throw await fsError(err, from, 'cannot rename');
    throw await fsError(err, to, `cannot rename ${from} over`);
  }
}

/**
 * Deletes `path`, which the caller has closed: on Windows the name of a file
 * still open somewhere stays until its last handle closes. `missingOk`: a
 * file already gone is no error (a step redone after a crash).
 */
export async function removeFile(path: string, opts: { missingOk?: boolean } = {}): Promise<void> {
  try {
    await retryHeld(() => fsp.unlink(path));
  } catch (err) {
    if (opts.missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw await fsError(err, path, 'cannot delete');
  }
}

/**
 * Runs `fn` with the owner's write bit set on `path` (snapshots are kept
 * read-only), restoring the previous mode afterwards.
 */
export async function withOwnerWrite<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const mode = (await fsp.stat(path)).mode & 0o7777;
  const lifted = (mode & 0o200) === 0;
  if (lifted) await fsp.chmod(path, mode | 0o200);
  try {
    return await fn();
  } finally {
    if (lifted) await fsp.chmod(path, mode).catch(() => undefined);
  }
}

/**
 * Fails typed (NO_PERMISSION, READ_ONLY) when this user cannot write `path`,
 * without writing anything. A read-only file of this user's passes: the run
 * makes it writable (withOwnerWrite), as Windows lifts a read-only attribute.
 */
export async function assertCanWrite(path: string, what: string): Promise<void> {
  const err = await fsp.access(path, fsConstants.W_OK).then(
    () => null,
    (e: unknown) => e,
  );
  if (err === null) return;
  const code = err instanceof Error && 'code' in err ? err.code : undefined;
  if (code === 'EACCES' || code === 'EPERM') {
    if (process.platform === 'win32') return;
    const st = await fsp.stat(path).catch(() => null);
    if (st && st.uid === process.getuid?.()) return;
  }
  throw fromSystemError(err, path, what);
}

/** Refuses to create `path` over anything already there (a file, a link, a folder). */
export async function refuseExisting(path: string): Promise<void> {
  if (await pathExists(path)) {
    throw new RefusedError('EXISTS', `${path} already exists; not overwriting it`, { path });
  }
}

/** Builds `path` under a temp name (see tempSibling), fsyncs, then links it into place; removes the temp on failure. */
export async function writeAtomically(path: string, fill: (f: RandomAccessFile) => Promise<void>): Promise<void> {
  await assertFolderFor(path);
  const tmp = tempSibling(path);
  const f = await openFile(tmp, 'wx').catch((err: unknown) => {
    throw err instanceof RefusedError ? err : creationError(err, path);
  });
  try {
    await fill(f);
    await f.sync();
    await f.close();
  } catch (err) {
    await f.close();
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await linkIntoPlace(tmp, path);
}

/** Anything holding handles that `close()` releases (a file, a VhdFile, a Disk). */
export interface Closable {
  close(): Promise<void>;
}

/**
 * Opens several files at once, all or none: when one open fails, those that
 * succeeded are closed before the failure is rethrown (a `Promise.all` of
 * opens would leave them to the garbage collector, and on Windows an open
 * handle blocks every later rename or delete of its file).
 */
export async function openAll<const T extends readonly Closable[]>(opens: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(opens);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await closeAll(settled.map((r) => (r.status === 'fulfilled' ? r.value : null)));
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<Closable>).value) as unknown as T;
}

/** Closes every one (nulls skipped), even when an earlier close fails; rethrows the first failure. */
export async function closeAll(items: readonly (Closable | null | undefined)[]): Promise<void> {
  const settled = await Promise.allSettled(items.map((x) => x?.close()));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

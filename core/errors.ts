// Typed errors. Every failure the core reports carries a stable `code` (for
// JSON output, tests and UI) and, for format problems, the field at fault.
import * as nodePath from 'node:path';
import type { Finding } from './shapes.js';

export type { Finding };

export type Severity = 'error' | 'warning';

export class VhdError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly path?: string;
  constructor(code: string, message: string, opts: { field?: string; path?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.field = opts.field;
    this.path = opts.path;
  }
}

/** The bytes on disk violate the format (corrupt, truncated or crafted file). */
export class FormatError extends VhdError {}

/** A differencing disk's parent is missing, mismatched or forms a cycle. */
export class ChainError extends VhdError {}

/** The operation would endanger data (children would change, wrong target id...). */
export class RefusedError extends VhdError {}

/**
 * RefusedError code: another program has the disk open (core/inuse.ts scans
 * for it; on Windows the I/O layer maps sharing violations to it).
 */
export const IN_USE = 'IN_USE';

/** The caller asked for something invalid (bad size, bad offset, bad option). */
export class UsageError extends VhdError {}

/** The operating system failed an I/O call. */
export class IoError extends VhdError {}

/** A long operation was cancelled through its AbortSignal. */
export class CancelledError extends VhdError {
  constructor(message = 'operation cancelled') {
    super('CANCELLED', message);
  }
}

/**
 * The environment refused: permissions, a read-only or full file system, a
 * missing or looping path, too many open files. Not a fault of the disk or
 * of vhdsnap: the message names the path and what to do about it.
 */
export class EnvironmentError extends IoError {
  /** The system's own code (EACCES, ENOSPC...). */
  readonly errno: string;
  constructor(code: string, message: string, errno: string, opts: { path?: string; field?: string; cause?: unknown } = {}) {
    super(code, message, opts);
    this.errno = errno;
  }
}

/** Each system code the environment gives: our code, what it means, what to do. */
const ENVIRONMENT: Record<string, { code: string; says: string; todo: string }> = {
  EACCES: {
    code: 'NO_PERMISSION',
    says: 'permission denied',
    todo: 'check the permissions of the file and of the folders on its path, or run as a user allowed there',
  },
  EPERM: {
    code: 'NO_PERMISSION',
    says: 'operation not permitted',
    todo: 'check the permissions and attributes (immutable, read-only) of the file and of its folder',
  },
  EROFS: { code: 'READ_ONLY', says: 'the file system is read-only', todo: 'copy the disks to a writable folder, or mount this one read-write' },
  ENOENT: { code: 'NOT_FOUND', says: 'no such file or folder', todo: 'check the path' },
  ENOTDIR: { code: 'NOT_A_FOLDER', says: 'a part of the path is a file, not a folder', todo: 'check the path' },
  ELOOP: { code: 'LINK_LOOP', says: 'too many levels of symbolic links (a link loop)', todo: 'fix the symbolic links on the path' },
  EISDIR: { code: 'IS_A_FOLDER', says: 'it is a folder, not a file', todo: 'name a file, or move the folder out of the way' },
  ENAMETOOLONG: { code: 'NAME_TOO_LONG', says: 'the name is too long for the file system', todo: 'use a shorter name or path' },
  ENOSPC: {
    code: 'NO_SPACE',
    says: 'no space left on the device',
    todo: 'free some space, then run `vhdsnap recover` on the folder if an operation was interrupted',
  },
  EDQUOT: {
    code: 'NO_SPACE',
    says: 'disk quota exceeded',
    todo: 'free some space or raise the quota, then run `vhdsnap recover` on the folder if an operation was interrupted',
  },
  EMFILE: { code: 'TOO_MANY_FILES', says: 'too many open files', todo: 'close other programs or raise the open-file limit (ulimit -n)' },
  ENFILE: { code: 'TOO_MANY_FILES', says: 'too many open files in the system', todo: 'close other programs or raise the system open-file limit' },
  EBUSY: { code: 'BUSY', says: 'the file or device is busy', todo: 'close the program using it (or unmount it) and run the command again' },
};

/** Creating a file, these codes are about the folder it goes in: said so, naming it. */
const FOLDER_SAYS: Record<string, (dir: string) => string> = {
  ENOENT: (dir) => `its folder ${dir} does not exist; create it or check the path`,
  ENOTDIR: (dir) => `${dir} is not a folder; check the path`,
  EACCES: (dir) => `permission denied in its folder ${dir}; check that folder's permissions, or run as a user allowed to write there`,
  EPERM: (dir) => `not permitted in its folder ${dir}; check that folder's permissions and attributes`,
  EROFS: (dir) => `its folder ${dir} is on a read-only file system; choose a writable folder, or mount this one read-write`,
};

/** Verbs for a system call, when an error reaches the boundary without one. */
const SYSCALL_WHAT: Record<string, string> = {
  open: 'cannot open',
  stat: 'cannot read',
  lstat: 'cannot read',
  fstat: 'cannot read',
  read: 'cannot read',
  scandir: 'cannot list the folder',
  opendir: 'cannot list the folder',
  write: 'cannot write',
  mkdir: 'cannot create the folder',
  unlink: 'cannot delete',
  rmdir: 'cannot delete',
  rename: 'cannot rename',
  link: 'cannot link',
  symlink: 'cannot link',
  chmod: 'cannot change the permissions of',
  realpath: 'cannot resolve',
  statfs: 'cannot read the free space of',
  fsync: 'cannot fsync',
  ftruncate: 'cannot truncate',
  copyfile: 'cannot copy',
};

interface SystemErrorFields {
  code: string;
  path?: string;
  dest?: string;
  syscall?: string;
}

function errnoOf(err: unknown): SystemErrorFields | null {
  if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string' || !/^E[A-Z0-9]+$/.test(err.code)) return null;
  const text = (key: string): string | undefined => {
    const v: unknown = Reflect.get(err, key);
    return typeof v === 'string' ? v : undefined;
  };
  return { code: err.code, path: text('path'), dest: text('dest'), syscall: text('syscall') };
}

/** True for a raw system error (fs, net): an error `fromSystemError` turns into a typed one. */
export function isSystemError(err: unknown): boolean {
  return errnoOf(err) !== null;
}

/**
 * A system error as a typed one naming `path` (default: the path the system
 * call names) and saying what to do: EnvironmentError for what the
 * environment refused (table above), IoError IO_<errno> for anything else
 * (EIO...). `what` says what was being done (default: from the system call);
 * `creating`: the path is being created, so a missing or non-folder part is
 * its folder; `field`: the option that named the path. A typed error passes
 * through unchanged.
 */
export function fromSystemError(err: unknown, path?: string, what?: string, opts: { creating?: boolean; field?: string } = {}): VhdError {
  if (err instanceof VhdError) return err;
  const e = errnoOf(err);
  const code = e?.code ?? 'EIO';
  const where = path ?? e?.path ?? e?.dest;
  const verb = what ?? (e?.syscall ? (SYSCALL_WHAT[e.syscall] ?? `cannot ${e.syscall}`) : 'cannot use');
  const head = where !== undefined ? `${verb} ${where}` : verb;
  const env = ENVIRONMENT[code];
  if (env) {
    const folder = opts.creating && where !== undefined ? FOLDER_SAYS[code]?.(nodePath.dirname(nodePath.resolve(where))) : undefined;
    return new EnvironmentError(env.code, `${head}: ${folder ?? `${env.says}; ${env.todo}`}`, code, { path: where, field: opts.field, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new IoError(`IO_${code}`, `${head}: ${message}`, { path: where, field: opts.field, cause: err });
}

/** A failed I/O call on `path` as a typed error (see fromSystemError). */
export function toIoError(err: unknown, path: string, what: string): VhdError {
  return fromSystemError(err, path, what);
}

// "The same disk" means the same file, never the same name: a symlink, a hard
// link, a name differing only in case on NTFS/APFS, or a path through another
// folder all reach one file. Identity is the volume and the file's index on it
// (device + inode on POSIX, volume serial + file id on Windows). BigInt stats,
// because Windows file ids and some inode numbers exceed 2^53.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { toIoError } from '../errors.js';

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/** Identity of the file `path` leads to (symlinks followed). A failed stat is a typed IoError (IO_ENOENT...). */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  try {
    const st = await fsp.stat(path, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch (err) {
    throw toIoError(err, path, 'cannot stat');
  }
}

/** Identity, or null when the path does not lead to a file that can be stat'ed. */
export async function fileIdentityOrNull(path: string): Promise<FileIdentity | null> {
  return fileIdentity(path).catch(() => null);
}

/**
 * A string key for maps and sets. Some filesystems report inode 0 for every
 * file (a few network and FUSE mounts): there identity is unknown, and the
 * caller's fallback (the resolved path) is used instead.
 */
export function identityKey(id: FileIdentity, fallback: string): string {
  return id.ino === 0n ? `path:${fallback}` : `${id.dev}:${id.ino}`;
}

export function sameIdentity(a: FileIdentity | null, b: FileIdentity | null): boolean {
  return a !== null && b !== null && a.ino !== 0n && a.dev === b.dev && a.ino === b.ino;
}

/**
 * The key of the file `path` leads to, for sets, maps and "is this the same
 * disk" tests: its identity, or where the file system reports none (inode 0)
 * its real path. Throws a typed IoError when the stat fails.
 */
export async function fileKey(path: string): Promise<string> {
  const id = await fileIdentity(path);
  return identityKey(id, id.ino === 0n ? await fsp.realpath(path).catch(() => nodePath.resolve(path)) : path);
}

/** fileKey, or null when the path leads to nothing that can be stat'ed. */
export async function fileKeyOrNull(path: string): Promise<string | null> {
  return fileKey(path).catch(() => null);
}

/** Same file by identity, falling back to the real path where identity is unknown; false when either is missing. */
export async function isSameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fileKeyOrNull(a), fileKeyOrNull(b)]);
  return x !== null && x === y;
}

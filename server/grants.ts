// What the page may touch: folders the user granted (dialog, drop, recent
// list) and output files chosen in a save dialog. The page names disks only
// as {grant id, plain file name}; main turns that into a path and checks it
// stays inside the granted folder, symlinks included. "The same folder" is
// decided by identity (core/io/identity.ts: device + inode), never by
// comparing path strings: on NTFS and APFS one folder has many spellings.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { DiskRef, FolderGrant, FileGrant } from './api.js';
import { fromSystemError } from '../core/errors.js';
import { fileKeyOrNull } from '../core/io/identity.js';
import { safeFileName } from '../core/io/safe-name.js';
import { isPlainName } from './contract.js';
import { ApiFailure } from './errors.js';

export const newId = (): string => randomBytes(16).toString('hex');

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

export class Grants {
  private readonly folders = new Map<string, FolderGrant>();
  /** Grant id → the folder's file key (identity), taken when it was granted. */
  private readonly keys = new Map<string, string>();
  private readonly files = { output: new Map<string, FileGrant>(), input: new Map<string, FileGrant>() };

  /** Grants a directory (by its real path); the same folder keeps its id. */
  async grantFolder(path: string): Promise<FolderGrant> {
    if (!nodePath.isAbsolute(path)) throw new ApiFailure('BAD_PATH', `not an absolute path: ${path}`);
    let real: string;
    try {
      real = await fsp.realpath(path);
    } catch (err) {
      // Typed as the CLI reports it: NOT_FOUND, NO_PERMISSION, LINK_LOOP... naming the folder.
      throw fromSystemError(err, path, 'cannot open the folder');
    }
    const st = await fsp.stat(real);
    if (!st.isDirectory()) throw new ApiFailure('NOT_A_FOLDER', `not a folder: ${path}`);
    const key = (await fileKeyOrNull(real)) ?? `path:${real}`;
    for (const g of this.folders.values()) if (this.keys.get(g.id) === key) return g;
    const g: FolderGrant = { id: newId(), path: real, name: nodePath.basename(real) || real };
    this.folders.set(g.id, g);
    this.keys.set(g.id, key);
    return g;
  }

  /** True when `dir` is the folder of grant `g` (the same directory, however spelled). */
  private async isGrantFolder(g: FolderGrant, dir: string): Promise<boolean> {
    if (dir === g.path) return true;
    const key = await fileKeyOrNull(dir);
    return key !== null && key === this.keys.get(g.id);
  }

  folder(id: string): FolderGrant {
    const g = this.folders.get(id);
    if (!g) throw new ApiFailure('NO_GRANT', 'that folder is not open (it was closed, or never granted)');
    return g;
  }

  /** The grant whose folder is `dir` (the same directory, however spelled), if any. */
  async folderAt(dir: string): Promise<FolderGrant | null> {
    for (const g of this.folders.values()) if (g.path === dir) return g;
    for (const g of this.folders.values()) if (await this.isGrantFolder(g, dir)) return g;
    return null;
  }

  listFolders(): FolderGrant[] {
    return [...this.folders.values()];
  }

  closeFolder(id: string): void {
    this.folder(id);
    this.folders.delete(id);
    this.keys.delete(id);
  }

  /** The path of a disk inside a granted folder; refuses anything that would leave it. */
  async resolveDisk(ref: DiskRef): Promise<string> {
    if (!isPlainName(ref.file)) throw new ApiFailure('BAD_PATH', `not a plain file name: ${JSON.stringify(ref.file)}`);
    const g = this.folder(ref.folder);
    const p = nodePath.join(g.path, ref.file);
    if (nodePath.dirname(p) !== g.path) throw new ApiFailure('BAD_PATH', `${ref.file} is not inside ${g.name}`);
    // A symlink in the folder must not lead out of it.
    let real: string | null;
    try {
      real = await fsp.realpath(p);
    } catch {
      real = null; // missing: core reports it with its own code
    }
    if (real !== null && !(await this.isGrantFolder(g, nodePath.dirname(real)))) throw new ApiFailure('BAD_PATH', `${ref.file} links outside ${g.name}`);
    return p;
  }

  /** Grants a file path chosen by the user: a save dialog's output (flatten), or an open dialog's input (write). */
  grantFile(kind: 'output' | 'input', path: string): FileGrant {
    if (!nodePath.isAbsolute(path)) throw new ApiFailure('BAD_PATH', `not an absolute path: ${path}`);
    const g: FileGrant = { id: newId(), path, name: nodePath.basename(path) };
    this.files[kind].set(g.id, g);
    return g;
  }

  /** The path of a file granted as `kind` in this session. */
  file(kind: 'output' | 'input', id: string): string {
    const g = this.files[kind].get(id);
    if (!g) throw new ApiFailure('NO_GRANT', `that ${kind} file was not chosen in this session`);
    return g.path;
  }
}

/** A path for a new file named like `suggested` in `dir` that does not exist yet ("x.vhd", "x-1.vhd", ...). */
export async function freeName(dir: string, suggested: string): Promise<string> {
  if (!isPlainName(suggested)) throw new ApiFailure('BAD_PATH', `not a plain file name: ${JSON.stringify(suggested)}`);
  const ext = nodePath.extname(suggested);
  const stem = suggested.slice(0, suggested.length - ext.length);
  for (let i = 0; i < 1000; i++) {
    // Valid on Windows and within 255 bytes however long or odd the disk's name was (core/io/safe-name.ts).
    const p = nodePath.join(dir, safeFileName(stem, `${i === 0 ? '' : `-${i}`}${ext}`));
    if (!(await exists(p))) return p;
  }
  throw new ApiFailure('NO_NAME', `no free file name like ${suggested} in ${dir}`);
}

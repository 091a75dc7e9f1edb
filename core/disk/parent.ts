// Finding a differencing disk's parent. Candidates come, in order, from an
// explicit path, W2ru relative to the child, W2ku, MacX, the deprecated
// Wi2r/Wi2k, and finally the parent name beside the child. A candidate is the
// parent only if its footer id equals the child's parent id: a locator
// pointing at some other file never links it into the chain.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { ChainError, IoError, VhdError, type Finding } from '../errors.js';
import { dateToVhdTime, uuidEqual, uuidToString } from '../format/bytes.js';
import { decodeLocatorPayload, isEmptyLocator, locatorSpaceBytes } from '../format/locator.js';
import { readExact } from '../io/file.js';
import { fileKeyOrNull } from '../io/identity.js';
import { VhdFile, type VhdFileOptions } from './vhd-file.js';

/** Locator payloads longer than this are not paths any tool wrote. */
const MAX_LOCATOR_BYTES = 64 * 1024;
const MAX_PATH_CHARS = 4096;
const SOURCE_ORDER = ['W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k'];

export interface LocatorInfo {
  platform: string;
  /** Decoded payload as stored (Windows path or URL); null when unreadable. */
  path: string | null;
}

export interface ParentCandidate {
  source: 'explicit' | 'W2ru' | 'W2ku' | 'MacX' | 'Wi2r' | 'Wi2k' | 'name';
  path: string;
}

/** How each kind of candidate reads in a message: people do not know locator codes. */
const SOURCE_WORDS: Record<ParentCandidate['source'], string> = {
  explicit: 'the path given',
  W2ru: 'the relative path',
  W2ku: 'the absolute path',
  MacX: 'the macOS path',
  Wi2r: 'the old relative path',
  Wi2k: 'the old absolute path',
  name: 'the name beside it',
};

export interface Rejection {
  path: string;
  source: string;
  reason: string;
  code: string;
}

/** I/O codes that only mean "no usable file there" (a locator may name anything). */
const NOT_THERE = new Set(['NOT_FOUND', 'NOT_A_FOLDER', 'NO_PERMISSION', 'IS_A_FOLDER', 'LINK_LOOP', 'NAME_TOO_LONG', 'IO_ENXIO', 'IO_ENODEV', 'NOT_A_FILE']);

/** True for an I/O error that is a real failure (EIO, ENOSPC, EMFILE...), which must be reported, never skipped. */
export function isIoFailure(err: unknown): boolean {
  return err instanceof IoError && !NOT_THERE.has(err.code);
}

/** Reads and decodes every non-empty locator of a differencing file, bounds-checked. */
export async function readLocators(child: VhdFile): Promise<LocatorInfo[]> {
  const out: LocatorInfo[] = [];
  for (const l of child.header?.locators ?? []) {
    if (isEmptyLocator(l)) continue;
    const space = locatorSpaceBytes(l);
    const fits = space !== null && l.dataLength <= space && l.dataLength <= MAX_LOCATOR_BYTES && l.dataOffset + BigInt(l.dataLength) <= BigInt(child.fileSize);
    let path: string | null = null;
    if (fits && l.dataLength > 0) {
      try {
        path = decodeLocatorPayload(l.code, await readExact(child.file, Number(l.dataOffset), l.dataLength, 'parent locator'));
      } catch (err) {
        if (!(err instanceof VhdError) || isIoFailure(err)) throw err;
      }
    }
    out.push({ platform: l.code, path });
  }
  return out;
}

/**
 * Turns a stored locator payload into a local path to try, or null when it
 * cannot name a file here. `p` is this platform's path module (tests pass
 * path.win32 or path.posix): a chain written on one OS opens on the other.
 */
export function locatorToLocalPath(platform: string, stored: string, childDir: string, p: nodePath.PlatformPath = nodePath): string | null {
  if (stored.length === 0 || stored.length > MAX_PATH_CHARS || stored.includes('\0')) return null;
  const win = p.sep === '\\';
  switch (platform) {
    case 'W2ru':
    case 'Wi2r': {
      const rel = win ? stored : stored.replace(/\\/g, '/');
      return p.resolve(childDir, rel);
    }
    case 'W2ku':
    case 'Wi2k': {
      if (win) return stored;
      if (/^[A-Za-z]:[\\/]/.test(stored)) return null; // a drive letter names nothing here
      return stored.replace(/\\/g, '/');
    }
    case 'MacX': {
      if (win) return null;
      try {
        const u = new URL(stored);
        if (u.protocol !== 'file:') return null;
        return decodeURIComponent(u.pathname);
      } catch {
        return null;
      }
    }
    default:
      return null;
  }
}

/** The last path segment of a parent name, which may be a full Windows path. */
export function parentNameFile(name: string): string | null {
  const last = name.split(/[\\/]/).pop() ?? '';
  if (last === '' || last === '.' || last === '..' || last.length > 255) return null;
  return last;
}

export async function parentCandidates(child: VhdFile, explicit?: string): Promise<ParentCandidate[]> {
  const dir = nodePath.dirname(nodePath.resolve(child.path));
  const out: ParentCandidate[] = [];
  if (explicit) out.push({ source: 'explicit', path: nodePath.resolve(explicit) });
  const locators = await readLocators(child);
  for (const code of SOURCE_ORDER) {
    for (const l of locators) {
      if (l.platform !== code || l.path === null) continue;
      const p = locatorToLocalPath(code, l.path, dir);
      if (p) out.push({ source: code as ParentCandidate['source'], path: p });
    }
  }
  const name = parentNameFile(child.header?.parentName ?? '');
  if (name) out.push({ source: 'name', path: nodePath.join(dir, name) });
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.path) ? false : (seen.add(c.path), true)));
}

export interface ResolvedParent {
  file: VhdFile;
  source: ParentCandidate['source'];
  warnings: Finding[];
}

/**
 * Opens the parent of `child`. Throws ChainError PARENT_NOT_FOUND when no
 * candidate exists, PARENT_ID_MISMATCH when candidates exist but none has
 * the expected id, PARENT_SIZE_MISMATCH when the parent's size differs.
 */
export async function resolveParent(child: VhdFile, opts: VhdFileOptions & { explicit?: string; ignoreIdMismatch?: boolean } = {}): Promise<ResolvedParent> {
  const header = child.header!;
  const want = header.parentUniqueId;
  const rejections: Rejection[] = [];
  const candidates = await parentCandidates(child, opts.explicit);
  // "Is it the child itself" by file, not by name: a symlink, a hard link or another case of the name reach it too.
  const self = await fileKeyOrNull(child.path);
  for (const c of candidates) {
    let st;
    try {
      st = await fsp.stat(c.path);
    } catch {
      rejections.push({ ...c, code: 'MISSING', reason: 'no such file' });
      continue;
    }
    if (!st.isFile()) {
      rejections.push({ ...c, code: 'NOT_A_FILE', reason: 'not a regular file' });
      continue;
    }
    if (nodePath.resolve(c.path) === nodePath.resolve(child.path) || (self !== null && (await fileKeyOrNull(c.path)) === self)) {
      rejections.push({ ...c, code: 'SELF', reason: 'names the child itself' });
      continue;
    }
    let parent: VhdFile;
    try {
      parent = await VhdFile.open(c.path, { writable: opts.writable, sync: opts.sync, readAhead: opts.readAhead });
    } catch (err) {
      if (!(err instanceof VhdError)) throw err;
      // A read failing is not "not the parent": going on could settle on another copy elsewhere.
      if (isIoFailure(err)) throw err;
      rejections.push({ ...c, code: 'NOT_A_VHD', reason: `not a readable VHD (${err.code})` });
      continue;
    }
    const idOk = uuidEqual(parent.footer.uniqueId, want);
    if (!idOk && !(opts.ignoreIdMismatch && c.source === 'explicit')) {
      rejections.push({ ...c, code: 'ID_MISMATCH', reason: `its id ${parent.uuid} is not the expected ${uuidToString(want)}` });
      await parent.close();
      continue;
    }
    const warnings: Finding[] = [];
    if (!idOk) {
      warnings.push({
        code: 'PARENT_ID_MISMATCH_IGNORED',
        message: `parent id mismatch ignored on request: ${parent.uuid} is not ${uuidToString(want)}; data may be corrupt`,
      });
    }
    if (parent.virtualSize !== child.virtualSize) {
      await parent.close();
      throw new ChainError(
        'PARENT_SIZE_MISMATCH',
        `${child.path}: parent ${c.path} has virtual size ${parent.virtualSize}, the child ${child.virtualSize} (Windows error 0xC03A0017)`,
        { path: child.path, field: 'currentSize' },
      );
    }
    const mtime = dateToVhdTime(st.mtime);
    if (mtime !== header.parentTimestamp) {
      warnings.push({
        code: 'PARENT_TIMESTAMP_MISMATCH',
        message: `parent ${nodePath.basename(c.path)} was modified after the child was linked to it (recorded ${header.parentTimestamp}, now ${mtime}; Windows 0xC03A000F) — harmless after a copy`,
      });
    }
    return { file: parent, source: c.source, warnings };
  }
  if (rejections.some((r) => r.code === 'SELF') && uuidEqual(want, child.footer.uniqueId)) {
    throw new ChainError('CHAIN_CYCLE', `${child.path}: the disk names itself as its parent`, { path: child.path, field: 'parentUniqueId' });
  }
  const mismatch = rejections.filter((r) => r.code === 'ID_MISMATCH');
  const detail = rejections.map((r) => `${SOURCE_WORDS[r.source as ParentCandidate['source']] ?? r.source} ${r.path}: ${r.reason}`).join('; ');
  if (mismatch.length > 0) {
    throw new ChainError('PARENT_ID_MISMATCH', `${child.path}: no candidate parent has id ${uuidToString(want)} (Windows 0xC03A000E): ${detail}`, {
      path: child.path,
      field: 'parentUniqueId',
    });
  }
  throw new ChainError('PARENT_NOT_FOUND', `${child.path}: parent "${header.parentName}" (id ${uuidToString(want)}) not found${detail ? `: ${detail}` : ''}`, {
    path: child.path,
    field: 'parentLocators',
  });
}

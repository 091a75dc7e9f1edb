// Finding a differencing VHDX file's parent: relative_path (from the child's
// folder), then absolute_win32_path, then volume_path, then the relative
// path's file name beside the child. A candidate is the parent only if its
// data write GUID is the child's parent_linkage, as Hyper-V requires.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { ChainError, VhdError, type Finding } from '../errors.js';
import { parseGuid, guidToString } from '../format/vhdx/guid.js';
import { locatorValue } from '../format/vhdx/parent-locator.js';
import { fileKeyOrNull } from '../io/identity.js';
import { isIoFailure, locatorToLocalPath, parentNameFile, type Rejection } from './parent.js';
import { VhdxLayer } from './vhdx-layer.js';
import type { VhdxFile } from './vhdx-file.js';

export interface VhdxParentCandidate {
  source: 'explicit' | 'relative_path' | 'absolute_win32_path' | 'volume_path' | 'name';
  path: string;
}

/** Where to look, in order, deduplicated; `p` is this platform's path module (tests pass path.win32). */
export function vhdxParentCandidates(child: VhdxFile, explicit?: string, p: nodePath.PlatformPath = nodePath): VhdxParentCandidate[] {
  const dir = p.dirname(p.resolve(child.path));
  const out: VhdxParentCandidate[] = [];
  if (explicit) out.push({ source: 'explicit', path: p.resolve(explicit) });
  const l = child.parentLocator;
  const rel = l ? locatorValue(l, 'relative_path') : undefined;
  const abs = l ? locatorValue(l, 'absolute_win32_path') : undefined;
  const vol = l ? locatorValue(l, 'volume_path') : undefined;
  const add = (source: VhdxParentCandidate['source'], path: string | null) => path && out.push({ source, path });
  if (rel) add('relative_path', locatorToLocalPath('W2ru', rel, dir, p));
  if (abs) add('absolute_win32_path', locatorToLocalPath('W2ku', abs, dir, p));
  // \\?\Volume{…}\dir\file names a file only on Windows.
  if (vol && p.sep === '\\') add('volume_path', vol);
  const name = rel ? parentNameFile(rel) : null;
  if (name) add('name', p.join(dir, name));
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.path) ? false : (seen.add(c.path), true)));
}

/** The parent's data write GUID a differencing file names (lowercase, no braces); null when missing or malformed. */
export function vhdxParentId(child: VhdxFile): string | null {
  const v = child.parentLinkage;
  const g = v ? parseGuid(v) : null;
  return g ? guidToString(g) : null;
}

export interface ResolvedVhdxParent {
  layer: VhdxLayer;
  source: VhdxParentCandidate['source'];
  warnings: Finding[];
}

export async function resolveVhdxParent(child: VhdxFile, opts: { explicit?: string; ignoreIdMismatch?: boolean } = {}): Promise<ResolvedVhdxParent> {
  const want = vhdxParentId(child);
  const rejections: Rejection[] = [];
  const self = await fileKeyOrNull(child.path);
  for (const c of vhdxParentCandidates(child, opts.explicit)) {
    const st = await fsp.stat(c.path).catch(() => null);
    if (!st) {
      rejections.push({ ...c, code: 'MISSING', reason: 'no such file' });
      continue;
    }
    if (!st.isFile()) {
      rejections.push({ ...c, code: 'NOT_A_FILE', reason: 'not a regular file' });
      continue;
    }
    if (self !== null && (await fileKeyOrNull(c.path)) === self) {
      rejections.push({ ...c, code: 'SELF', reason: 'names the child itself' });
      continue;
    }
    let parent: VhdxLayer;
    try {
      parent = await VhdxLayer.open(c.path);
    } catch (err) {
      if (!(err instanceof VhdError) || isIoFailure(err)) throw err;
      // A chain is one format throughout, as in Hyper-V: a VHD is not a VHDX's parent.
      rejections.push({ ...c, code: 'NOT_A_VHDX', reason: `not a readable VHDX (${err.code})` });
      continue;
    }
    const idOk = want !== null && parent.uuid === want;
    if (!idOk && !(opts.ignoreIdMismatch && c.source === 'explicit')) {
      rejections.push({ ...c, code: 'ID_MISMATCH', reason: `its data write GUID ${parent.uuid} is not the parent_linkage ${want ?? '(none)'}` });
      await parent.close();
      continue;
    }
    const f = parent.file;
    if (f.virtualSize !== child.virtualSize || f.logicalSectorSize !== child.logicalSectorSize) {
      await parent.close();
      throw new ChainError(
        'PARENT_SIZE_MISMATCH',
        `${child.path}: parent ${c.path} is ${f.virtualSize} bytes in ${f.logicalSectorSize}-byte sectors, the child ${child.virtualSize} in ${child.logicalSectorSize}`,
        { path: child.path, field: 'virtualDiskSize' },
      );
    }
    const warnings: Finding[] = idOk
      ? []
      : [
          {
            code: 'PARENT_ID_MISMATCH_IGNORED',
            message: `parent linkage mismatch ignored on request: ${parent.uuid} is not ${want ?? '(none)'}; data may be corrupt`,
          },
        ];
    return { layer: parent, source: c.source, warnings };
  }
  const detail = rejections.map((r) => `${r.source} ${r.path}: ${r.reason}`).join('; ');
  if (rejections.some((r) => r.code === 'ID_MISMATCH')) {
    throw new ChainError('PARENT_ID_MISMATCH', `${child.path}: no candidate parent has data write GUID ${want} (its parent_linkage): ${detail}`, {
      path: child.path,
      field: 'parentLocator.parent_linkage',
    });
  }
  throw new ChainError('PARENT_NOT_FOUND', `${child.path}: parent not found${detail ? `: ${detail}` : ''}`, { path: child.path, field: 'parentLocator' });
}

// Snapshot names and descriptions: a small JSON file per folder, keyed by
// disk id (names follow a disk through renames), written atomically. It also
// records the children vhdsnap made of a disk in this folder that live in
// another folder (`children`, keyed by the parent's id): a scan of this folder
// alone cannot see them, and every operation that changes the parent must.
import { constants as fsc, promises as fsp } from 'node:fs';
import { RefusedError, toIoError } from '../errors.js';
import * as nodePath from 'node:path';
import { replaceFileAtomically } from '../io/file.js';

export const SIDECAR_NAME = '.vhdsnap.json';
const MAX_SIDECAR_BYTES = 4 * 1024 * 1024;

export interface DiskLabel {
  name?: string;
  description?: string;
  /** File name when the label was set: a hint for people reading the JSON, and half of a VHDX label's second key. */
  file?: string;
  /**
   * A VHDX file's virtual disk id (page 83 data) when the label was set. A
   * VHDX is keyed by its data write GUID, which Hyper-V (and any writer)
   * replaces on every first write: the label is then found again by this id
   * together with the file name (checkpoints of one disk may share the id).
   */
  diskId?: string;
}

/** What finds a disk's label: its id, and for a VHDX its virtual disk id and file name. */
export interface LabelKey {
  uuid: string;
  diskId?: string | null;
  file: string;
}

/** A child made in another folder: its absolute path and its id (a hint; findChildren checks the file itself). */
export interface ChildRecord {
  path: string;
  id: string;
}

export interface Sidecar {
  version: 1;
  disks: Record<string, DiskLabel>;
  /** Children elsewhere, by parent id. Absent in sidecars of older versions. */
  children?: Record<string, ChildRecord[]>;
  /**
   * Files of this folder vhdsnap made the active disk of their tree (the path
   * a VM uses), by file name, with when that was decided: the latest decision
   * among a tree's leaves wins (core/library/active.ts). By name, not id: an
   * in-place snapshot, a revert or a switch keeps the path and changes the id.
   */
  active?: Record<string, string>;
}

/** Bounds on what is read back (hostile or runaway sidecars cost bounded work). */
const MAX_CHILD_PARENTS = 10000;
const MAX_CHILDREN_PER_PARENT = 1000;

function readChildren(raw: unknown): Record<string, ChildRecord[]> | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: Record<string, ChildRecord[]> = {};
  for (const [id, list] of Object.entries(raw).slice(0, MAX_CHILD_PARENTS)) {
    if (!Array.isArray(list)) continue;
    const records: ChildRecord[] = [];
    for (const c of list.slice(0, MAX_CHILDREN_PER_PARENT)) {
      const r = c as Partial<ChildRecord> | null;
      if (r && typeof r.path === 'string' && nodePath.isAbsolute(r.path) && typeof r.id === 'string') records.push({ path: r.path, id: r.id });
    }
    if (records.length > 0) out[id] = records;
  }
  return out;
}

function readActive(raw: unknown): Record<string, string> | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: Record<string, string> = {};
  for (const [file, at] of Object.entries(raw).slice(0, MAX_CHILD_PARENTS)) {
    // Only plain file names of this folder: a hostile sidecar cannot point elsewhere.
    if (typeof at === 'string' && file !== '' && nodePath.basename(file) === file && !Number.isNaN(Date.parse(at))) out[file] = at;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export async function readSidecar(dir: string): Promise<Sidecar> {
  const empty: Sidecar = { version: 1, disks: {} };
  try {
    const p = nodePath.join(dir, SIDECAR_NAME);
    const st = await fsp.stat(p);
    if (!st.isFile() || st.size > MAX_SIDECAR_BYTES) return empty;
    const parsed = JSON.parse(await fsp.readFile(p, 'utf8')) as Partial<Sidecar>;
    if (!parsed || typeof parsed !== 'object' || typeof parsed.disks !== 'object' || parsed.disks === null) return empty;
    const disks: Record<string, DiskLabel> = {};
    for (const [id, v] of Object.entries(parsed.disks)) {
      if (!v || typeof v !== 'object') continue;
      const label: DiskLabel = {};
      if (typeof v.name === 'string') label.name = v.name;
      if (typeof v.description === 'string') label.description = v.description;
      if (typeof v.file === 'string') label.file = v.file;
      if (typeof v.diskId === 'string') label.diskId = v.diskId;
      disks[id] = label;
    }
    const children = readChildren((parsed as { children?: unknown }).children);
    const active = readActive((parsed as { active?: unknown }).active);
    const out: Sidecar = children && Object.keys(children).length > 0 ? { version: 1, disks, children } : { version: 1, disks };
    if (active) out.active = active;
    return out;
  } catch {
    return empty; // a missing or damaged sidecar only loses labels, never disk data
  }
}

export async function writeSidecar(dir: string, s: Sidecar): Promise<void> {
  await replaceFileAtomically(nodePath.join(dir, SIDECAR_NAME), JSON.stringify(s, null, 2) + '\n');
}

/**
 * The label of the disk `key` names, and the id it is stored under: its own
 * id, or for a VHDX written since it was labelled, the entry with its virtual
 * disk id and file name (the only one: two such entries name no disk for sure).
 */
export function findLabel(s: Sidecar, key: LabelKey): { id: string; label: DiskLabel } | null {
  const own = s.disks[key.uuid];
  if (own) return { id: key.uuid, label: own };
  if (!key.diskId) return null;
  const found = Object.entries(s.disks).filter(([, l]) => l.diskId === key.diskId && l.file === key.file);
  return found.length === 1 ? { id: found[0][0], label: found[0][1] } : null;
}

/** Sets a disk's name and description: undefined keeps a field, empty text clears it. A label found by its VHDX second key moves to the current id. */
export async function setLabel(
  diskPath: string,
  uuid: string,
  label: { name?: string; description?: string },
  diskId: string | null = null,
): Promise<DiskLabel> {
  const dir = nodePath.dirname(nodePath.resolve(diskPath));
  const file = nodePath.basename(diskPath);
  const s = await readSidecar(dir);
  const found = findLabel(s, { uuid, diskId, file });
  if (found) delete s.disks[found.id];
  const next: DiskLabel = { ...found?.label, file };
  if (diskId) next.diskId = diskId;
  for (const k of ['name', 'description'] as const) {
    const v = label[k];
    if (v === '') delete next[k];
    else if (v !== undefined) next[k] = v;
  }
  if (next.name !== undefined || next.description !== undefined) s.disks[uuid] = next;
  await writeSidecar(dir, s);
  return next;
}

export async function getLabel(diskPath: string, uuid: string, diskId: string | null = null): Promise<DiskLabel | null> {
  const s = await readSidecar(nodePath.dirname(nodePath.resolve(diskPath)));
  return findLabel(s, { uuid, diskId, file: nodePath.basename(diskPath) })?.label ?? null;
}

/** The real path of `p` where it resolves, else the absolute path. */
async function realOr(p: string): Promise<string> {
  const abs = nodePath.resolve(p);
  return fsp.realpath(abs).catch(() => abs);
}

/** The folder whose sidecar records the children elsewhere of the disk `parentPath`: the folder of its real file. */
export async function childRecordFolder(parentPath: string): Promise<string> {
  return nodePath.dirname(await realOr(parentPath));
}

/**
 * Records that `childPath` (id `childId`) is a child of the disk `parentPath`
 * (id `parentId`) when it lives outside the parent's folder, in the sidecar
 * of that folder; a child beside its parent is found by a scan of the folder.
 * Called before the child takes its name or its link (a record of a child
 * that never came to be is ignored by findChildren). Records of this parent
 * whose file is gone are pruned here.
 */
export async function recordChild(parentPath: string, parentId: string, childPath: string, childId: string): Promise<void> {
  const dir = await childRecordFolder(parentPath);
  const child = nodePath.resolve(childPath);
  const childDir = await realOr(nodePath.dirname(child));
  if (childDir === dir || (await sameFolder(childDir, dir))) return;
  const s = await readSidecar(dir);
  const kept: ChildRecord[] = [];
  for (const r of s.children?.[parentId] ?? []) {
    if (r.path === child) continue;
    if (
      await fsp.stat(r.path).then(
        () => true,
        () => false,
      )
    )
      kept.push(r);
  }
  kept.push({ path: child, id: childId });
  s.children = { ...s.children, [parentId]: kept.slice(-MAX_CHILDREN_PER_PARENT) };
  try {
    await writeSidecar(dir, s);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw toIoError(err, nodePath.join(dir, SIDECAR_NAME), 'cannot record a child in');
    // A read-only parent (a golden image on a read-only share): no command of ours can change it, so nothing needs the record.
    if (!(await writable(await realOr(parentPath)))) return;
    throw new RefusedError('CANNOT_RECORD_CHILD', unrecordableMessage(child, parentPath, dir, code), { path: dir });
  }
}

function unrecordableMessage(child: string, parent: string, dir: string, code: string): string {
  return `cannot record ${child} as a child of ${parent} in ${nodePath.join(dir, SIDECAR_NAME)} (${code}): without that record, commands that change the parent would not see this child. Make ${dir} writable, or put the child beside its parent.`;
}

async function writable(p: string): Promise<boolean> {
  return fsp.access(p, fsc.W_OK).then(
    () => true,
    () => false,
  );
}

/**
 * The refusal a plan makes for a child it would put outside the parent's
 * folder when the record cannot be written there (the folder is not writable)
 * while the parent itself is; null when the child can be recorded or needs no record.
 */
export async function unrecordableChild(parentPath: string, childPath: string): Promise<{ code: string; message: string } | null> {
  const dir = await childRecordFolder(parentPath);
  const child = nodePath.resolve(childPath);
  const childDir = await realOr(nodePath.dirname(child));
  if (childDir === dir || (await sameFolder(childDir, dir))) return null;
  if ((await writable(dir)) || !(await writable(await realOr(parentPath)))) return null;
  return { code: 'CANNOT_RECORD_CHILD', message: unrecordableMessage(child, parentPath, dir, 'EACCES') };
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fsp.stat(a, { bigint: true }).catch(() => null), fsp.stat(b, { bigint: true }).catch(() => null)]);
  return x !== null && y !== null && x.ino !== 0n && x.dev === y.dev && x.ino === y.ino;
}

/** The children elsewhere recorded for the disk `parentPath` (id `parentId`), in its folder's and its real folder's sidecars. Unchecked. */
export async function recordedChildren(parentPath: string, parentId: string): Promise<ChildRecord[]> {
  const dirs = new Set([nodePath.dirname(nodePath.resolve(parentPath)), await childRecordFolder(parentPath)]);
  const out = new Map<string, ChildRecord>();
  for (const dir of dirs) for (const r of (await readSidecar(dir)).children?.[parentId] ?? []) out.set(`${r.path}\0${r.id}`, r);
  return [...out.values()];
}

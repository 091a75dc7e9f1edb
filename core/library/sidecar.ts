// Snapshot names and descriptions: a small JSON file per folder, keyed by
// disk id (names follow a disk through renames), written atomically.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { replaceFileAtomically } from '../io/file.js';

export const SIDECAR_NAME = '.vhdsnap.json';
const MAX_SIDECAR_BYTES = 4 * 1024 * 1024;

export interface DiskLabel {
  name?: string;
  description?: string;
  /** File name when the label was set: a hint for people reading the JSON. */
  file?: string;
}

export interface Sidecar {
  version: 1;
  disks: Record<string, DiskLabel>;
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
      disks[id] = label;
    }
    return { version: 1, disks };
  } catch {
    return empty; // a missing or damaged sidecar only loses labels, never disk data
  }
}

export async function writeSidecar(dir: string, s: Sidecar): Promise<void> {
  await replaceFileAtomically(nodePath.join(dir, SIDECAR_NAME), JSON.stringify(s, null, 2) + '\n');
}

/** Sets a disk's name and description: undefined keeps a field, empty text clears it. */
export async function setLabel(diskPath: string, uuid: string, label: { name?: string; description?: string }): Promise<DiskLabel> {
  const dir = nodePath.dirname(nodePath.resolve(diskPath));
  const s = await readSidecar(dir);
  const next: DiskLabel = { ...s.disks[uuid], file: nodePath.basename(diskPath) };
  for (const key of ['name', 'description'] as const) {
    const v = label[key];
    if (v === '') delete next[key];
    else if (v !== undefined) next[key] = v;
  }
  if (next.name === undefined && next.description === undefined) delete s.disks[uuid];
  else s.disks[uuid] = next;
  await writeSidecar(dir, s);
  return next;
}

export async function getLabel(diskPath: string, uuid: string): Promise<DiskLabel | null> {
  const s = await readSidecar(nodePath.dirname(nodePath.resolve(diskPath)));
  return s.disks[uuid] ?? null;
}

// Taking a snapshot. In place: the disk's current content becomes a new
// read-only snapshot file beside it and the original path becomes an empty
// differencing child of it, so whatever uses that path keeps working.
//
// Order (no instant where the original path is missing): create the child
// under a temporary name, pointing at the snapshot name; hard-link the disk
// to the snapshot name; rename the child over the original path.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError } from '../errors.js';
import { syncDir } from '../io/file.js';
import { openDisk } from '../disk/chain.js';
import { findChildren } from '../library/scan.js';
import { setLabel } from '../library/sidecar.js';
import { createDifferencing } from './create.js';

export interface SnapshotOptions {
  /** Create the child here instead of snapshotting in place (the disk stays as the snapshot). */
  out?: string;
  name?: string;
  description?: string;
  /** For tests and the UI: the timestamp used in the generated snapshot file name. */
  now?: Date;
}

export interface SnapshotResult {
  /** Path holding the preserved content. */
  snapshot: string;
  /** Path of the new empty child (the disk to use from now on). */
  active: string;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

export async function snapshotName(diskPath: string, now = new Date()): Promise<string> {
  const dir = nodePath.dirname(diskPath);
  const ext = nodePath.extname(diskPath) || '.vhd';
  const stem = nodePath.basename(diskPath, nodePath.extname(diskPath));
  const base = `${stem}-snap-${stamp(now)}`;
  for (let i = 1; ; i++) {
    const candidate = nodePath.join(dir, `${base}${i === 1 ? '' : `-${i}`}${ext}`);
    if (!(await exists(candidate))) return candidate;
  }
}

export async function snapshot(diskPath: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  const path = nodePath.resolve(diskPath);
  // The whole chain must open cleanly: snapshotting a broken disk only hides the damage.
  const disk = await openDisk(path);
  const uuid = disk.top.uuid;
  await disk.close();

  if (opts.out) {
    const out = nodePath.resolve(opts.out);
    if (await exists(out)) throw new RefusedError('EXISTS', `${out} already exists; not overwriting it`, { path: out });
    await createDifferencing(out, path);
    await fsp.chmod(path, 0o444).catch(() => undefined);
    if (opts.name !== undefined || opts.description !== undefined) await setLabel(path, uuid, opts);
    return { snapshot: path, active: out };
  }

  const children = await findChildren(path);
  if (children.length > 0) {
    throw new RefusedError(
      'HAS_CHILDREN',
      `${path} already has children (${children.map((c) => nodePath.basename(c)).join(', ')}); an in-place snapshot would change what they see. Use --out <child.vhd> to branch from it instead.`,
      { path },
    );
  }
  const snap = await snapshotName(path, opts.now);
  const dir = nodePath.dirname(path);
  const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.snapshot.tmp`);
  await fsp.unlink(tmp).catch(() => undefined);
  await createDifferencing(tmp, path, { locatorTarget: snap });
  try {
    try {
      await fsp.link(path, snap);
    } catch {
      // No hard links here (FAT, some network shares): fall back to a rename; the
      // next rename restores the path at once.
      await fsp.rename(path, snap);
    }
    await fsp.rename(tmp, path);
    await syncDir(dir);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsp.chmod(snap, 0o444).catch(() => undefined);
  if (opts.name !== undefined || opts.description !== undefined) await setLabel(snap, uuid, opts);
  // Sanity: the new child must open through its chain.
  const check = await openDisk(path);
  await check.close();
  return { snapshot: snap, active: path };
}

/** Used by `write`: refuse to write into a disk that other disks depend on. */
export async function assertNoChildren(path: string): Promise<void> {
  const children = await findChildren(path);
  if (children.length > 0) {
    throw new RefusedError(
      'HAS_CHILDREN',
      `${path} is the parent of ${children.map((c) => nodePath.basename(c)).join(', ')}; writing into it would change what they show. Write into the newest child instead.`,
      { path },
    );
  }
}


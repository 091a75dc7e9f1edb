// A folder (or several) scanned into a forest of snapshot trees, linked by
// parent id. A parent may have several children; a child whose parent is
// missing, mismatched or part of a cycle is listed as an orphan with the reason.
import { AsyncLocalStorage } from 'node:async_hooks';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { ChainError, VhdError } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { isIoFailure, parentCandidates, resolveParent } from '../disk/parent.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { resolveVhdxParent, vhdxParentId } from '../disk/vhdx-parent.js';
import { diskFormat } from '../disk/sniff.js';
import { scanVhdx } from './vhdx-entry.js';
import { VhdFile } from '../disk/vhd-file.js';
import { fileKey, fileKeyOrNull, identityKey } from '../io/identity.js';
import { childRecordFolder, findLabel, readSidecar, recordedChildren, type ChildRecord } from './sidecar.js';
import type { DiskEntry, Orphan, TreeNode, Unreadable } from '../shapes.js';
import { markTrees } from './active.js';

export type { DiskEntry, Orphan, TreeNode, Unreadable };

const VHD_EXT = /\.(vhd|avhd|vhdx|avhdx)$/i;
/** A folder holding more than this many VHDs is scanned only up to it (bounded work on hostile input). */
const MAX_FILES = 10000;

export interface Forest {
  roots: TreeNode[];
  orphans: Orphan[];
  unreadable: Unreadable[];
}

export async function listVhdFiles(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir);
  return names
    .filter((n) => VHD_EXT.test(n) && !n.startsWith('.'))
    .sort()
    .slice(0, MAX_FILES)
    .map((n) => nodePath.join(dir, n));
}

export function describeFile(f: VhdFile, label: { name?: string; description?: string } | null): DiskEntry {
  let allocated: number | null = null;
  if (f.bat) {
    allocated = 0;
    for (const e of f.bat) if (e !== 0xffffffff) allocated++;
  }
  return {
    path: f.path,
    uuid: f.uuid,
    type: f.type,
    virtualSize: f.virtualSize,
    fileSize: f.fileSize,
    blockSize: f.bat ? f.blockSize : null,
    allocatedBlocks: allocated,
    timestamp: new Date((f.footer.timestamp + 946684800) * 1000).toISOString(),
    creatorApp: f.footer.creatorApp.replace(/\0/g, ' ').trimEnd(),
    parentUuid: f.type === 'differencing' ? uuidToString(f.header!.parentUniqueId) : null,
    parentName: f.type === 'differencing' ? f.header!.parentName : null,
    name: label?.name ?? null,
    description: label?.description ?? null,
  };
}

// Made on first sort: building a collator costs ~6 ms, paid by every CLI start if done at load.
let collator: Intl.Collator | undefined;

/** Files read at once while scanning: their reads overlap (a scan is mostly waiting on small reads otherwise). */
const SCAN_CONCURRENCY = 16;

/** A small disk's footer copy, header, BAT and locators all lie in its first few KiB: one read (see headCached). */
const SCAN_READ_AHEAD = 16 * 1024;

/** What a scan needs of one file, read with the file open once and closed again. */
interface Scanned {
  path: string;
  key: string;
  /** The entry without its label (labels come from the sidecar, by id). */
  entry?: DiskEntry;
  /** Differencing disks: where resolveParent (resolveVhdxParent) would look, in its order. */
  candidates?: { path: string }[];
  /** A VHDX file's virtual disk id: with the file name, what finds its label once a write changed its id. */
  diskId?: string | null;
  error?: VhdError;
}

/** Files scanned since the event loop last ran: the reads below block, so a scan lets it in every few files. */
let sinceYield = 0;
const YIELD_EVERY = 32;

/**
 * A VHD opened for what a scan reads of it (footers, header, locators): its
 * head in one read, its trailing footer in another, with blocking reads
 * (the event loop is let in every few files).
 */
async function openForScan(p: string): Promise<VhdFile> {
  if (++sinceYield % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
  return VhdFile.open(p, { readAhead: SCAN_READ_AHEAD, blocking: true });
}

/** The file key (core/io/identity.ts) of a file opened by openForScan: the open's fstat; fileKey's own stat where that is unknown (inode 0). */
async function openedKey(f: VhdFile | VhdxFile, p: string): Promise<string> {
  const id = f.file.opened;
  return id && id.ino !== 0n ? identityKey(id, p) : ((await fileKeyOrNull(p)) ?? `path:${p}`);
}

async function scanOne(p: string): Promise<Scanned> {
  let f: VhdFile;
  try {
    f = await openForScan(p);
  } catch (err) {
    if (!(err instanceof VhdError)) throw err;
    // Not a VHD but a VHDX: read as one (its own errors are then the file's).
    const error = err.code === 'VHDX_READ_ONLY' ? await scanVhdx(p).catch((e: unknown) => (e instanceof VhdError ? e : Promise.reject(e))) : err;
    if (!(error instanceof VhdError)) return { path: p, ...error };
    return { path: p, key: (await fileKeyOrNull(p)) ?? `path:${p}`, error };
  }
  try {
    const key = await openedKey(f, p);
    const entry = describeFile(f, null);
    // Reading the locators cannot fail the scan here: resolveParent reads them again and reports what it finds.
    const candidates = f.type === 'differencing' ? await parentCandidates(f).catch(unlessIoFailure(undefined)) : undefined;
    return { path: p, key, entry, candidates };
  } finally {
    await f.close();
  }
}

/**
 * The parent of a differencing disk when resolveParent would find it among
 * the files this scan already read: the first candidate that is a scanned
 * VHD, not the child itself, with the expected id and size. Undefined
 * whenever anything is less plain (a candidate outside the scan, unreadable,
 * of another size, or no match): then resolveParent itself decides, with
 * its own errors, on the files as they are.
 */
async function parentInScan(child: Scanned, scanned: (p: string) => Promise<Scanned> | undefined): Promise<Scanned | undefined> {
  if (!child.candidates || !child.entry) return undefined;
  for (const c of child.candidates) {
    const pending = scanned(nodePath.resolve(c.path));
    if (!pending) return undefined;
    const s = await pending;
    if (nodePath.resolve(c.path) === child.path || s.key === child.key) continue;
    if (!s.entry) return undefined;
    if (s.entry.uuid !== child.entry.parentUuid) continue;
    return s.entry.virtualSize === child.entry.virtualSize ? s : undefined;
  }
  return undefined;
}

/** A catch handler: `value` for a file that is damaged or gone, but an I/O failure (EIO, a full disk) goes on up: skipping a disk we failed to read could hide a child or a parent. */
export function unlessIoFailure<T>(value: T): (err: unknown) => T {
  return (err) => {
    if (isIoFailure(err)) throw err;
    return value;
  };
}

/** Scans folders and/or files into a forest. Files named directly also pull in their ancestors. */
export async function scanLibrary(inputs: string[], opts: { failOnIo?: boolean } = {}): Promise<Forest> {
  // For a decision (which disk is active): a disk that failed to read (EIO, not a damaged file) must fail the caller, not drop out of its tree.
  const unreadableBecause = (err: unknown): void => {
    if (opts.failOnIo && isIoFailure(err)) throw err;
  };
  const paths: string[] = [];
  for (const input of inputs) {
    const st = await fsp.stat(input);
    if (st.isDirectory()) paths.push(...(await listVhdFiles(input)));
    else paths.push(input);
  }
  // By file (core/io/identity.ts), so a disk reached by two names (a symlink, a hard link, a locator
  // spelling its name in another case on NTFS/APFS) is one node, listed under the first name seen.
  const entries = new Map<string, DiskEntry>();
  const unreadable: Unreadable[] = [];
  const labels = new Map<string, Promise<Awaited<ReturnType<typeof readSidecar>>>>();
  // One read per folder, however many of its files ask.
  const sidecarIn = (dir: string) => {
    if (!labels.has(dir)) labels.set(dir, readSidecar(dir));
    return labels.get(dir)!;
  };
  const sidecarOf = (p: string) => sidecarIn(nodePath.dirname(p));
  const orphans: Orphan[] = [];
  const parentOf = new Map<string, string>(); // child key -> parent key
  const orphaned = new Set<string>();

  const queue = [...new Set(paths.map((p) => nodePath.resolve(p)))];
  // Every named file is read ahead, a few at a time, in order; files found later (parents elsewhere, recorded children) on demand.
  const initial = new Set(queue);
  const reads = new Map<string, Promise<Scanned>>();
  const scan = (p: string): Promise<Scanned> => {
    let r = reads.get(p);
    if (!r) {
      r = scanOne(p);
      reads.set(p, r);
      // Errors surface where the result is awaited (a failed read ahead is no unhandled rejection).
      r.catch(() => undefined);
    }
    return r;
  };
  let next = 0;
  const startNext = (): void => {
    while (next < queue.length && initial.has(queue[next]) && reads.has(queue[next])) next++;
    if (next >= queue.length || !initial.has(queue[next])) return;
    void scan(queue[next++]).then(startNext, startNext);
  };
  for (let i = 0; i < SCAN_CONCURRENCY; i++) startNext();
  const scanned = (p: string): Promise<Scanned> | undefined => (initial.has(p) ? scan(p) : undefined);

  const explicit = new Set<string>();
  for (const p of queue) explicit.add((await scan(p)).key);
  for (let i = 0; i < queue.length; i++) {
    const p = queue[i];
    const s = await scan(p);
    const key = s.key;
    if (entries.has(key)) continue;
    if (s.error || !s.entry) {
      const err = s.error!;
      unreadableBecause(err);
      unreadable.push({ path: p, code: err.code, reason: err.message });
      continue;
    }
    const sidecar = await sidecarOf(p);
    const label = findLabel(sidecar, { uuid: s.entry.uuid, diskId: s.diskId, file: nodePath.basename(p) })?.label ?? null;
    const entry: DiskEntry = { ...s.entry, name: label?.name ?? null, description: label?.description ?? null };
    if (!explicit.has(key)) entry.external = true;
    entries.set(key, entry);
    // Its children vhdsnap made in other folders (recorded beside it) are part of its tree, listed as external.
    for (const c of await locateRecords(sidecar.children?.[entry.uuid] ?? [])) {
      if (!queue.includes(c) && (await isChildOf(c, entry.uuid, key))) queue.push(c);
    }
    if (entry.type !== 'differencing') continue;
    const found = await parentInScan(s, scanned);
    if (found) {
      // A named file: already in the queue.
      parentOf.set(key, found.key);
      continue;
    }
    let f: VhdFile | VhdxFile;
    try {
      f = entry.format === 'vhdx' ? await VhdxFile.open(p) : await VhdFile.open(p);
    } catch (err) {
      // Changed since it was read: as unreadable now as it would have been then.
      if (!(err instanceof VhdError)) throw err;
      unreadableBecause(err);
      entries.delete(key);
      unreadable.push({ path: p, code: err.code, reason: err.message });
      continue;
    }
    try {
      const parentPath = f instanceof VhdxFile ? (await resolveVhdxParent(f)).layer : (await resolveParent(f)).file;
      const pp = nodePath.resolve(parentPath.path);
      await parentPath.close();
      const pk = (await fileKeyOrNull(pp)) ?? `path:${pp}`;
      parentOf.set(key, pk);
      if (!entries.has(pk)) queue.push(pp);
    } catch (err) {
      if (!(err instanceof ChainError || err instanceof VhdError)) throw err;
      unreadableBecause(err);
      orphans.push({ path: p, parentUuid: entry.parentUuid!, parentName: entry.parentName!, code: err.code, reason: err.message });
      orphaned.add(key);
    } finally {
      await f.close();
    }
  }

  const nodes = new Map<string, TreeNode>();
  for (const [p, e] of entries) nodes.set(p, { ...e, active: false, state: 'snapshot', children: [] });
  const roots: TreeNode[] = [];
  for (const [p, node] of nodes) {
    const pp = parentOf.get(p);
    if (pp && nodes.has(pp)) nodes.get(pp)!.children.push(node);
    else if (node.type !== 'differencing') roots.push(node);
  }
  // Anything not reachable from a root sits on a cycle.
  const reached = new Set<TreeNode>();
  const walk = (n: TreeNode) => {
    reached.add(n);
    n.children.forEach(walk);
  };
  roots.forEach(walk);
  for (const [k, node] of nodes) {
    if (reached.has(node) || orphaned.has(k) || node.type !== 'differencing') continue;
    // Up its parents: to an orphan (its chain is broken higher up), or back to a disk already passed (a real cycle).
    const passed = new Set([k]);
    let up = parentOf.get(k);
    while (up !== undefined && !passed.has(up) && !orphaned.has(up)) {
      passed.add(up);
      up = parentOf.get(up);
    }
    const broken = up !== undefined && orphaned.has(up) ? (nodes.get(up)?.path ?? up) : null;
    orphans.push({
      path: node.path,
      parentUuid: node.parentUuid!,
      parentName: node.parentName!,
      ...(broken !== null
        ? { code: 'ANCESTOR_ORPHANED', reason: `${node.path}: its chain is broken further up: ${broken}, an ancestor of it, cannot find its own parent` }
        : { code: 'CHAIN_CYCLE', reason: `${node.path}: its parent chain loops back on itself` }),
    });
  }
  // The order localeCompare gives, from one collator (localeCompare builds its own on every call: slow for thousands).
  collator ??= new Intl.Collator();
  const { compare } = collator;
  const byPath = (a: TreeNode, b: TreeNode) => compare(a.path, b.path);
  for (const n of nodes.values()) n.children.sort(byPath);
  roots.sort(byPath);
  await markTrees(roots, sidecarIn);
  return { roots, orphans, unreadable };
}

/** The id of the disk at `p`, or null where none can be read. */
async function idAt(p: string): Promise<string | null> {
  const f = await VhdFile.open(p).catch(unlessIoFailure(null));
  if (!f) return null;
  const id = f.uuid;
  await f.close();
  return id;
}

/**
 * Where recorded children are now. A record names the child's path and id;
 * vhdsnap itself may since have given that file another name in the same
 * folder (an in-place snapshot keeps the content under the snapshot's name,
 * revert --keep under the kept name), so where the path no longer holds that
 * id, the folder is searched for it. A record whose id is nowhere is stale.
 */
async function locateRecords(records: ChildRecord[]): Promise<string[]> {
  const out = new Set<string>();
  const byDir = new Map<string, Map<string, string[]>>(); // folder -> id -> paths, read once per folder
  for (const r of records) {
    const p = nodePath.resolve(r.path);
    if ((await idAt(p)) === r.id) {
      out.add(p);
      continue;
    }
    const dir = nodePath.dirname(p);
    if (!byDir.has(dir)) {
      const ids = new Map<string, string[]>();
      for (const q of await listVhdFiles(dir).catch(() => [] as string[])) {
        const id = await idAt(q);
        if (id !== null) ids.set(id, [...(ids.get(id) ?? []), q]);
      }
      byDir.set(dir, ids);
    }
    for (const q of byDir.get(dir)!.get(r.id) ?? []) out.add(q);
  }
  return [...out];
}

/** True when `p` is a readable differencing disk pointing at the disk with id `parentId` whose file key is `parentKey`. */
async function isChildOf(p: string, parentId: string, parentKey: string): Promise<boolean> {
  const f = await VhdFile.open(p).catch(unlessIoFailure(null));
  if (!f) return false;
  try {
    if (f.type !== 'differencing' || uuidToString(f.header!.parentUniqueId) !== parentId) return false;
    const parent = await resolveParent(f).catch(unlessIoFailure(null));
    if (!parent) return false;
    const k = await fileKeyOrNull(parent.file.path);
    await parent.file.close();
    return k === parentKey;
  } finally {
    await f.close();
  }
}

/** The further folders findChildren searches during one operation (JobContext.childFolders). */
const childSearch = new AsyncLocalStorage<string[]>();

/** Runs `fn` with `folders` searched for children too, by every findChildren inside it (and only inside it). */
export function withChildFolders<T>(folders: string[] | undefined, fn: () => Promise<T>): Promise<T> {
  if (!folders || folders.length === 0) return fn();
  return childSearch.run([...new Set(folders.map((f) => nodePath.resolve(f)))], fn);
}

/**
 * Differencing disks whose parent resolves to `parentPath` (same id and same
 * file): those in `dir` (default: the parent's folder, and its real folder
 * when it is reached through a symlink, and the folders of withChildFolders)
 * plus the children elsewhere recorded in the sidecar (core/library/sidecar.ts)
 * that still exist and still point at it. Children another program made in
 * other folders cannot be found.
 */
export async function findChildren(parentPath: string, dir?: string): Promise<string[]> {
  const also = dir === undefined ? (childSearch.getStore() ?? []) : [];
  // By file, not by name: a child may reach its parent through a symlink, a hard link or another case of its name.
  const target = await fileKey(parentPath);
  // A chain is one format throughout: a VHDX parent has VHDX children, named by its data write GUID.
  const vhdx = (await diskFormat(parentPath)) === 'vhdx';
  let parentId: string;
  {
    const pf = vhdx ? await VhdxFile.open(parentPath) : await VhdFile.open(parentPath);
    parentId = pf instanceof VhdxFile ? pf.dataWriteGuid : pf.uuid;
    await pf.close();
  }
  const dirs = dir !== undefined ? [dir] : [...new Set([nodePath.dirname(nodePath.resolve(parentPath)), await childRecordFolder(parentPath), ...also])];
  const listed: string[] = [];
  for (const d of dirs) listed.push(...(await listVhdFiles(d)));
  const recorded = (await locateRecords(await recordedChildren(parentPath, parentId))).filter((p) => !listed.includes(p));
  const out: string[] = [];
  const seen = new Set<string>(); // a child with two names is one child
  for (const p of [...listed, ...recorded]) {
    // Each file read as a scan reads it (two small reads): only one naming the parent's id is followed up its locators.
    let f: VhdFile | VhdxFile;
    try {
      f = vhdx ? await VhdxFile.open(p, { blocking: true }) : await openForScan(p);
    } catch (err) {
      // Skipping a disk we failed to read could miss a child and let a writer change its view.
      // A recorded child that is gone is a stale record, not a child.
      if (isIoFailure(err)) throw err;
      continue;
    }
    try {
      const k = await openedKey(f, p);
      if (k === target || seen.has(k)) continue;
      seen.add(k);
      const link = await parentLink(f, parentId);
      // Same parent id but unresolvable: count it, so writers refuse rather than risk it.
      if (link && (link.resolved === null || (await fileKeyOrNull(link.resolved)) === target)) out.push(p);
    } finally {
      await f.close();
    }
  }
  return out;
}

/**
 * Null when `f` is no differencing disk naming `parentId`;
 * else the file its parent resolves to (null: it does not resolve).
 */
async function parentLink(f: VhdFile | VhdxFile, parentId: string): Promise<{ resolved: string | null } | null> {
  const unresolved = (err: unknown) => {
    if (isIoFailure(err)) throw err;
    return null;
  };
  if (f instanceof VhdxFile) {
    if (!f.hasParent || vhdxParentId(f) !== parentId) return null;
    const parent = await resolveVhdxParent(f).catch(unresolved);
    if (!parent) return { resolved: null };
    await parent.layer.close();
    return { resolved: parent.layer.path };
  }
  if (f.type !== 'differencing' || uuidToString(f.header!.parentUniqueId) !== parentId) return null;
  const parent = await resolveParent(f).catch(unresolved);
  if (!parent) return { resolved: null };
  await parent.file.close();
  return { resolved: parent.file.path };
}

/** The scanned tree holding `diskPath`, found by file (a symlink or second name leads to the same node). */
export interface TreeView {
  root: TreeNode;
  node: TreeNode;
  /** The tree's active disk. */
  active: TreeNode;
}

async function realOf(p: string): Promise<string> {
  const abs = nodePath.resolve(p);
  return fsp.realpath(abs).catch(() => abs);
}

function find(root: TreeNode, want: (n: TreeNode) => boolean): TreeNode | null {
  if (want(root)) return root;
  for (const c of root.children) {
    const hit = find(c, want);
    if (hit) return hit;
  }
  return null;
}

/**
 * The tree of `diskPath`, scanned from its folder (and its base's folder when
 * that is another): the leaves the active disk is chosen among are those a
 * scan of those folders sees (plus the children elsewhere vhdsnap recorded).
 * Null for a disk in no tree (an orphan).
 */
export async function treeOf(diskPath: string): Promise<TreeView | null> {
  const real = await realOf(diskPath);
  const look = async (dirs: string[]): Promise<TreeView | null> => {
    const forest = await scanLibrary([...new Set(dirs)], { failOnIo: true });
    for (const root of forest.roots) {
      const reals = new Map<TreeNode, string>();
      const collect = async (n: TreeNode) => {
        reals.set(n, await realOf(n.path));
        for (const c of n.children) await collect(c);
      };
      await collect(root);
      const node = find(root, (n) => reals.get(n) === real);
      if (node) return { root, node, active: find(root, (n) => n.active)! };
    }
    return null;
  };
  const first = await look([nodePath.dirname(real)]);
  if (!first) return null;
  const baseDir = nodePath.dirname(first.root.path);
  if (baseDir === nodePath.dirname(real)) return first;
  return (await look([nodePath.dirname(real), baseDir])) ?? first;
}

/** True when `diskPath` is its tree's active disk. */
export async function isActiveDisk(diskPath: string): Promise<boolean> {
  const t = await treeOf(diskPath);
  return t !== null && t.node === t.active;
}

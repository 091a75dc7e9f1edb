// What the library pane shows: a granted folder scanned into its snapshot
// forest (every disk named by a DiskRef the page can send back), and one
// disk's details with a map of which blocks this file stores itself.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { diskFormat } from '../core/disk/sniff.js';
import { VhdFile } from '../core/disk/vhd-file.js';
import { VhdError } from '../core/errors.js';
import { countSet, isFull } from '../core/format/bitmap.js';
import { SECTOR } from '../core/format/bytes.js';
import { scanLibrary, type TreeNode } from '../core/library/scan.js';
import { vhdxAllocation } from '../core/library/vhdx-entry.js';
import { getInfo } from '../core/ops/info.js';
import { warnIfMoving } from '../core/inuse.js';
import { jobsWaitingIn } from '../core/ops/recover.js';
import type { DiskDetails, DiskNode, DiskRef, FolderGrant, FolderView } from './api.js';
import type { Grants } from './grants.js';

/**
 * Most cells in an allocation map; larger disks share a cell between blocks.
 * High enough that the map is per block for disks up to 128 GiB of 2 MiB
 * blocks: the page groups it into a readable grid and shades each cell by the
 * fraction present, which only per-block entries give exactly.
 */
export const MAX_MAP_CELLS = 65536;
/** Fixed disks have no blocks: they are drawn in 2 MiB units, all present. */
const FIXED_UNIT = 2 * 1024 * 1024;

/** A DiskRef for `path`: in this folder, or another open one (disks found through a locator). */
async function refFor(path: string, folder: FolderGrant, grants: Grants): Promise<DiskRef> {
  const dir = nodePath.dirname(path);
  const g = dir === folder.path ? folder : await grants.folderAt(dir);
  // Outside every granted folder: the empty id is no grant, so the page cannot act on it.
  return { folder: g ? g.id : '', file: nodePath.basename(path) };
}

export async function scanFolder(folder: FolderGrant, grants: Grants): Promise<FolderView> {
  const forest = await scanLibrary([folder.path]);
  const toNode = async (n: TreeNode): Promise<DiskNode> => {
    const { children, ...entry } = n;
    return { ...entry, ref: await refFor(n.path, folder, grants), isLeaf: children.length === 0, children: await Promise.all(children.map(toNode)) };
  };
  return {
    folder,
    roots: await Promise.all(forest.roots.map(toNode)),
    orphans: await Promise.all(forest.orphans.map(async (o) => ({ ...o, ref: await refFor(o.path, folder, grants) }))),
    unreadable: await Promise.all(forest.unreadable.map(async (u) => ({ ...u, ref: await refFor(u.path, folder, grants) }))),
    pending: await Promise.all((await jobsWaitingIn(folder.path)).map(async (w) => ({ ...w, ref: await refFor(w.journal, folder, grants) }))),
  };
}

export interface AllocationSummary {
  /** Per block: 0 unallocated, 1 some sectors present, 2 all sectors present. */
  blocks: Uint8Array;
  /** Bytes stored in this file alone (present sectors × 512). */
  uniqueBytes: number;
}

/** Reads the BAT and every allocated block's bitmap of one file (no parents). */
export async function allocationOf(path: string): Promise<AllocationSummary> {
  if ((await diskFormat(path)) === 'vhdx') {
    const a = await vhdxAllocation(path);
    return { blocks: a.blocks, uniqueBytes: a.storedBytes };
  }
  const f = await VhdFile.open(path);
  try {
    if (!f.bat) {
      const units = Math.ceil(f.virtualSize / FIXED_UNIT);
      return { blocks: new Uint8Array(units).fill(2), uniqueBytes: f.virtualSize };
    }
    const blocks = new Uint8Array(f.bat.length);
    let sectors = 0;
    // In file order, with reads in flight ahead (VhdFile.bitmaps): a folder's costs read every disk's bitmaps.
    // Blocks past the virtual size hold nothing readable and are skipped, as before.
    const inUse = f.physicalOrder().filter((b) => b * f.sectorsPerBlock < f.totalSectors);
    for await (const [b, bm] of f.bitmaps(inUse)) {
      // The last block may extend past the virtual size: only its real sectors count.
      const inBlock = Math.min(f.sectorsPerBlock, f.totalSectors - b * f.sectorsPerBlock);
      const n = countSet(bm, inBlock);
      sectors += n;
      blocks[b] = n === 0 ? 0 : isFull(bm, inBlock) ? 2 : 1;
    }
    return { blocks, uniqueBytes: sectors * SECTOR };
  } finally {
    await f.close();
  }
}

/** Disks read at once for a folder's costs: enough to overlap the reads, few enough to leave the window's other calls room. */
const COST_READS_AT_ONCE = 4;

/** A file's state: identity (device, inode) and what any write changes (size, modification time). */
export async function fileState(path: string): Promise<string> {
  const st = await fsp.stat(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/**
 * Figures read from files, by path, each kept with the state of its file
 * when it was read: a file with the same identity, size and modification
 * time holds the same blocks, so a rescan after a job reads again only the
 * disks the job wrote. The oldest entry goes past `max`.
 */
export class FileFigureCache {
  private readonly entries = new Map<string, { state: string; value: number }>();
  constructor(
    private readonly read: (path: string) => Promise<number>,
    private readonly max = 20_000,
  ) {}

  async get(path: string): Promise<number> {
    const state = await fileState(path);
    const hit = this.entries.get(path);
    if (hit && hit.state === state) return hit.value;
    const value = await this.read(path);
    this.entries.delete(path);
    this.entries.set(path, { state, value });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Each disk's cost: far more paths than a folder of 2,000 disks. */
const costCache = new FileFigureCache(async (path) => (await allocationOf(path)).uniqueBytes);

/** What each disk stores itself (allocationOf's uniqueBytes, the details pane's figure), in order; null where a path is missing or unreadable. */
export async function diskCosts(paths: (string | null)[]): Promise<(number | null)[]> {
  const out: (number | null)[] = paths.map(() => null);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const p = paths[i];
      if (p === null) continue;
      try {
        out[i] = await costCache.get(p);
      } catch (err) {
        // A damaged or vanished disk shows no cost; anything else is a bug to surface.
        if (!(err instanceof VhdError) && !(err instanceof Error && 'code' in err)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(COST_READS_AT_ONCE, paths.length) }, worker));
  return out;
}

/** Buckets per-block states into at most `maxCells` cells: a cell is 0 or 2 only when all its blocks are. */
export function bucketMap(blocks: Uint8Array, maxCells = MAX_MAP_CELLS): { cells: number[]; blocksPerCell: number } {
  const blocksPerCell = Math.max(1, Math.ceil(blocks.length / maxCells));
  const cells: number[] = [];
  for (let at = 0; at < blocks.length; at += blocksPerCell) {
    let none = true;
    let full = true;
    for (let i = at; i < Math.min(at + blocksPerCell, blocks.length); i++) {
      if (blocks[i] !== 0) none = false;
      if (blocks[i] !== 2) full = false;
    }
    cells.push(none ? 0 : full ? 2 : 1);
  }
  return { cells, blocksPerCell };
}

export async function diskDetails(ref: DiskRef, path: string): Promise<DiskDetails> {
  // A disk another program has open (a running VM): the details are a snapshot of a moving target.
  const [info] = await warnIfMoving([await getInfo(path)], [path]);
  let alloc: AllocationSummary;
  try {
    alloc = await allocationOf(path);
  } catch (err) {
    // A damaged block table still leaves the rest worth showing; the warning says why the map is empty.
    if (!(err instanceof VhdError)) throw err;
    info.warnings.push({ code: err.code, message: `no allocation map: ${err.message}` });
    return { ref, info, uniqueBytes: 0, allocationMap: [], blocksPerCell: 1 };
  }
  const { cells, blocksPerCell } = bucketMap(alloc.blocks);
  return { ref, info, uniqueBytes: alloc.uniqueBytes, allocationMap: cells, blocksPerCell };
}

// Merging an AVHDX child into its VHDX parent, by rewrite: the merged disk
// (the parent's layers with the child's sectors over them) is written as a
// new file under a temporary name beside the disk that keeps the result, in
// the parent's shape (fixed, dynamic or differencing with the parent's own
// locator; its metadata region verbatim: disk id, block and sector sizes) and
// with a new data write GUID (its content is not the parent's any more).
// Once it is complete and fsync'd it replaces the parent and the child goes;
// when the child is its tree's active disk (the path the VM uses) it replaces
// the child instead and the parent goes, so that path shows the same content.
//
// Crash safety: nothing of the chain is written before the rename. The
// journal says which temporary file is the run's: while it may be incomplete
// ('copy') recovery deletes it and both disks are as before; once it is
// complete ('swap', the point of no return) recovery renames it into place if
// that has not happened and removes the disk that goes.
//
// A child that has children of its own (a snapshot) is merged into its
// parent's path, and each of its children is then relinked to the merged disk
// there (core/ops/relink-vhdx.ts: the locator through the grandchild's log,
// its content and id kept) before the child goes; recovery past the swap
// does the same, so a kill leaves the chain whole either way.
//
// --into an older ancestor merges every layer between in one rewrite: the
// merged disk is that ancestor's data with each layer's sectors over it, in
// its shape, and every layer between goes.
//
// Refused: a parent (or with --into, any layer that receives data or goes)
// with other children (their parent_linkage names a data write GUID that
// changes or a file that goes), no room for the new file.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { CancelledError, RefusedError } from '../errors.js';
import { isAllZero } from '../format/bytes.js';
import { PayloadState, SECTOR_BITMAP_BLOCK_SIZE } from '../format/vhdx/bat.js';
import { guidFromString, guidToString, newGuid } from '../format/vhdx/guid.js';
import { diskIdOrNull, removeDiskWithId } from '../disk/ids.js';
import { openReadableDisk } from '../disk/chain.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { VhdxLayer } from '../disk/vhdx-layer.js';
import { closeAll, openAll, openFile, pathExists, renameFile, syncDir, tempSibling, type RandomAccessFile } from '../io/file.js';
import { cancelledMessage, freeSpaceAt, ProgressReporter, type JobContext, type Plan } from '../job.js';
import { journalHeader, journalPath, journalSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { findChildren } from '../library/scan.js';
import { readSidecar, writeSidecar } from '../library/sidecar.js';
import { journalKind, type RecoveryOutcome } from '../operation.js';
import { sizeText } from '../size.js';
import { rewriteLayout, VhdxBlockPlacer } from './compact-vhdx.js';
import { relinkVhdx } from './relink-vhdx.js';
import { otherChildren, segmentOf } from './merge.js';

/** Bytes of a block read from each file at a time (blocks are up to 256 MiB). */
const STEP = 8 * 1024 * 1024;

export const vhdxMergeJournalSchema = journalSchema('merge', {
  format: z.literal('vhdx'),
  /** copy: the temporary file may be incomplete; swap: it is complete and fsync'd (the point of no return). */
  phase: z.enum(['copy', 'swap']),
  child: z.string(),
  parent: z.string(),
  /** The path that ends up holding the merged disk (the parent's, or the active child's). */
  target: z.string(),
  /** The path that goes (the other one). */
  removed: z.string(),
  tmp: z.string(),
  /** The merged file's data write GUID: how recovery knows the temporary file is complete and its own. */
  newId: z.string(),
  /** The id whose label the merged disk keeps (the target's), and the one that goes. */
  keptId: z.string(),
  removedId: z.string(),
  /** With --into: the other layers that go (ancestors between), by path and id. Absent in older journals (none). */
  alsoRemoved: z.optional(z.array(z.object({ path: z.string(), id: z.string() }))),
  /** The child's children: relinked to the merged disk after the swap, before the child goes. Absent in older journals (none). */
  grandchildren: z.optional(z.array(z.string())),
});
export type VhdxMergeJournal = z.infer<typeof vhdxMergeJournalSchema>;

/** What the runner needs of a VHDX merge plan beyond merge's own fields (MergePlan.vhdx). */
export interface VhdxMergeShape {
  target: string;
  removed: string;
  active: boolean;
}

const isStored = (state: number) => state === PayloadState.FullyPresent || state === PayloadState.PartiallyPresent;

function refusal(code: string, message: string): Plan['refusals'][number] {
  return { code, message };
}

/** The VHDX files of `childPath`'s chain, child first (the chain opened to check its links, then closed). */
async function chainOf(childPath: string): Promise<string[]> {
  const disk = await openReadableDisk(childPath);
  try {
    return disk.layers.filter((l) => l instanceof VhdxLayer).map((l) => nodePath.resolve(l.path));
  } finally {
    await disk.close();
  }
}

/** The most the merged file can take: every block any layer defines, in the bottom layer's blocks, and a sector bitmap for each chunk of them. */
function mergedSizeBound(layers: VhdxFile[], dataStart: number): { blocks: number; bytes: number } {
  const p = layers[layers.length - 1];
  const chunks = new Set<number>();
  let blocks = 0;
  for (let b = 0; b < p.blockCount; b++) {
    let used = p.leaveBlocksAllocated || isStored(p.blockState(b));
    for (const c of layers.slice(0, -1)) {
      const first = Math.floor((b * p.blockSize) / c.blockSize);
      const last = Math.floor((Math.min((b + 1) * p.blockSize, p.virtualSize) - 1) / c.blockSize);
      for (let k = first; !used && k <= last; k++) used = c.blockState(k) !== PayloadState.NotPresent;
    }
    if (!used) continue;
    blocks++;
    if (p.hasParent) chunks.add(Math.floor(b / p.chunkRatio));
  }
  return { blocks, bytes: dataStart + blocks * p.blockSize + chunks.size * SECTOR_BITMAP_BLOCK_SIZE };
}

export interface VhdxMergePlanFields {
  summary: string;
  changes: Plan['changes'];
  bytesToCopy: number;
  worstCaseGrowth: number;
  freeSpace: number | null;
  refusals: Plan['refusals'];
  cautions?: string[];
  child: string;
  /** The layer that receives the data: the parent, or with --into that ancestor. */
  parent: string;
  /** The chain from the child up to `parent`, both included. */
  segment: string[];
  /** The child's children (a snapshot's), relinked to the merged disk. */
  grandchildren: string[];
  vhdx: VhdxMergeShape;
}

/** The plan of merging the AVHDX `childPath` into its parent (or its ancestor `into`); `active`: the child is its tree's active disk. */
export async function planVhdxMerge(childPath: string, active: boolean, into?: string): Promise<VhdxMergePlanFields> {
  const chain = await chainOf(childPath);
  const child = chain[0];
  const segment = into !== undefined ? await segmentOf(chain, into, childPath) : chain.slice(0, 2);
  const parent = segment.length > 1 ? segment[segment.length - 1] : null;
  const base = { bytesToCopy: 0, worstCaseGrowth: 0, freeSpace: null, child, parent: parent ?? '', segment, changes: [], grandchildren: [] };
  if (parent === null) {
    return {
      ...base,
      summary: `${nodePath.basename(child)} is a VHDX with no parent to merge into`,
      refusals: [refusal('NOT_DIFFERENCING', `${child} is not a differencing disk`)],
      vhdx: { target: child, removed: child, active },
    };
  }
  const below = chain[segment.length] ?? null;
  const refusals: Plan['refusals'] = [];
  const files = await openAll(segment.map((f) => VhdxFile.open(f)));
  try {
    const p = files[files.length - 1];
    for (const f of files.slice(0, -1)) {
      if (f.logicalSectorSize !== p.logicalSectorSize || f.virtualSize !== p.virtualSize) {
        refusals.push(
          refusal(
            'SHAPE_MISMATCH',
            `${nodePath.basename(f.path)} (${f.virtualSize} bytes, ${f.logicalSectorSize}-byte sectors) does not have the size and sector size of ${nodePath.basename(p.path)} (${p.virtualSize}, ${p.logicalSectorSize})`,
          ),
        );
        break;
      }
    }
    // Every layer that receives data or goes may have no child outside the segment.
    for (let i = 1; i < segment.length; i++) {
      const others = await otherChildren(segment[i], segment[i - 1]);
      if (others.length === 0) continue;
      const layer = nodePath.basename(segment[i]);
      refusals.push(
        refusal(
          'PARENT_HAS_OTHER_CHILDREN',
          i === segment.length - 1
            ? `${layer} is also the parent of ${others.join(', ')}; the merge rewrites ${layer} with a new data write GUID, which they would no longer match`
            : `${layer} is also the parent of ${others.join(', ')}; merging through it removes it, and they would lose their parent`,
        ),
      );
    }
    const grandchildren = (await findChildren(child)).map((g) => nodePath.resolve(g));
    const bound = mergedSizeBound(files, rewriteLayout(p, await p.readMetadataRegion()).dataStart);
    const target = active ? child : parent;
    const removed = segment.filter((f) => f !== target);
    const freeSpace = await freeSpaceAt(nodePath.dirname(target));
    if (freeSpace !== null && bound.bytes > freeSpace) {
      refusals.push(
        refusal(
          'NO_SPACE',
          `the merge writes a new copy of ${nodePath.basename(parent)} of up to ${sizeText(bound.bytes)} but only ${sizeText(freeSpace)} is free`,
        ),
      );
    }
    const [cn, pn] = [nodePath.basename(child), nodePath.basename(parent)];
    const folded = segment.slice(0, -1).map((f) => nodePath.basename(f));
    const foldedText = folded.length === 1 ? `the data of ${cn}` : `the data of ${folded.reverse().join(', ')}`;
    const shape = p.leaveBlocksAllocated ? 'fixed VHDX' : p.hasParent ? `differencing VHDX over ${nodePath.basename(below ?? '')}` : 'dynamic VHDX';
    const goes = removed.map((f) => nodePath.basename(f)).join(' and ');
    const where = active
      ? `then put it at ${cn}'s path (the active disk, the path your VM uses) and delete ${goes}`
      : `then rename it over ${pn} and delete ${goes}`;
    const pending = files.filter((f) => f.logEntriesReplayed > 0).map((f) => nodePath.basename(f.path));
    const cautions =
      pending.length > 0 ? [`${pending.join(' and ')} was not closed cleanly: the merged copy holds the content with its pending log entries applied`] : [];
    // The active path keeps its name: a merged base lands under the child's .avhdx name.
    if (active && !p.hasParent && /\.avhdx$/i.test(child))
      cautions.push(`${cn} will hold a disk with no parent under its .avhdx name; Hyper-V expects an .avhdx file to be a differencing disk`);
    return {
      ...base,
      summary: `rewrite ${pn} with ${foldedText} folded in, as a new ${shape} beside it (up to ${sizeText(bound.bytes)} of free space needed until the old file goes), ${where}`,
      changes: [
        {
          path: target,
          action: 'modify',
          detail: active
            ? `replaced by the merged disk, in ${pn}'s shape with ${cn}'s content, so the VM's path shows the same content`
            : `replaced by a rewritten copy holding ${cn}'s content (same disk id, sizes and parent; a new data write GUID)`,
        },
        ...grandchildren.map((g) => ({
          path: g,
          action: 'modify' as const,
          detail: `will point at ${nodePath.basename(target)} as its parent (its locator, written through its log; its data stays)`,
        })),
        ...removed.map((f) => ({ path: f, action: 'delete' as const })),
      ],
      bytesToCopy: bound.blocks * p.blockSize,
      worstCaseGrowth: bound.bytes,
      freeSpace,
      refusals,
      ...(cautions.length > 0 ? { cautions } : {}),
      grandchildren,
      vhdx: { target, removed: removed[0], active },
    };
  } finally {
    await closeAll(files);
  }
}

/** Sets bit `s` of a VHDX sector bitmap (least significant bit first). */
function setBit(bm: Uint8Array, s: number): void {
  bm[s >>> 3] |= 1 << (s & 7);
}

/**
 * Writes the merged disk (`layers`, top first, each over the next) into the
 * empty file `out` with data write GUID `id`: in the last layer's shape and
 * metadata, or in `shape`'s with `metadata` (a fold keeps the child's).
 */
export async function writeMergedVhdx(
  layers: VhdxFile[],
  out: RandomAccessFile,
  id: Uint8Array,
  ctx: JobContext,
  as: { shape: VhdxFile; metadata: Uint8Array } | null = null,
): Promise<number> {
  const p = as?.shape ?? layers[layers.length - 1];
  const placer = new VhdxBlockPlacer(out, rewriteLayout(p, as?.metadata ?? (await p.readMetadataRegion()), id));
  const lss = p.logicalSectorSize;
  const progress = new ProgressReporter(ctx, 'merge', p.virtualSize);
  // Buffers for the top layer's step and for each layer below it, reused for every step.
  const scratch = [0, 1].map(() => ({ data: Buffer.alloc(STEP), present: new Uint8Array(STEP / lss) }));
  for (let b = 0; b < p.blockCount; b++) {
    const bytes = p.bytesInBlock(b);
    const at = placer.offsetFor(b);
    const bm = new Uint8Array(p.blockSize / lss / 8);
    let defined = 0;
    let data = false;
    for (let s = 0; s < bytes; s += STEP) {
      // Nothing of the chain was written: dropping the copy (the caller does) is the whole rollback.
      if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('merge'));
      const n = Math.min(STEP, bytes - s);
      const pos = b * p.blockSize + s;
      const top = await layers[0].readOwn(pos, n, scratch[0]);
      // Each layer's sectors over those below; a sector no layer defines stays undefined (over the layer below them all).
      for (const lower of layers.slice(1)) {
        if (top.present.every((x) => x)) break;
        const under = await lower.readOwn(pos, n, scratch[1]);
        // Runs of sectors the layers above leave undefined and this one defines, each copied in one call.
        const sectors = n / lss;
        for (let k = 0; k < sectors;) {
          if (top.present[k] || !under.present[k]) {
            k++;
            continue;
          }
          let j = k + 1;
          while (j < sectors && !top.present[j] && under.present[j]) j++;
          under.data.copy(top.data, k * lss, k * lss, j * lss);
          top.present.fill(1, k, j);
          k = j;
        }
      }
      for (let k = 0; k < n / lss; k++) {
        if (!top.present[k]) continue;
        setBit(bm, s / lss + k);
        defined++;
      }
      if (isAllZero(top.data)) continue;
      data = true;
      await out.write(top.data, at + s);
    }
    progress.update(b * p.blockSize + bytes);
    if (p.leaveBlocksAllocated) await placer.keep(b, PayloadState.FullyPresent, null);
    else if (!p.hasParent) {
      // A base disk's block of zeros reads the same not present (it wrote nothing).
      if (data) await placer.keep(b, PayloadState.FullyPresent, null);
    } else if (defined === bytes / lss) await placer.keep(b, PayloadState.FullyPresent, null);
    else if (defined > 0) await placer.keep(b, PayloadState.PartiallyPresent, bm);
  }
  return placer.finish();
}

/** Runs a planned VHDX merge under its journal. */
export async function vhdxMergePlanned(plan: VhdxMergePlanFields, ctx: JobContext): Promise<{ merged: string; removed: string[]; relinked: string[] }> {
  if (ctx.signal?.aborted) throw new CancelledError(cancelledMessage('merge'));
  const { target } = plan.vhdx;
  const files = await openAll(plan.segment.map((f) => VhdxFile.open(f)));
  const ids = new Map(files.map((f) => [nodePath.resolve(f.path), f.dataWriteGuid]));
  const removed = plan.segment.filter((f) => f !== target);
  const id = newGuid();
  const jpath = journalPath(target);
  const j: VhdxMergeJournal = {
    ...journalHeader('merge', 'copy'),
    format: 'vhdx',
    child: plan.child,
    parent: plan.parent,
    target,
    removed: removed[0],
    tmp: tempSibling(target, 'merge'),
    newId: guidToString(id),
    keptId: ids.get(target)!,
    removedId: ids.get(removed[0])!,
    ...(removed.length > 1 ? { alsoRemoved: removed.slice(1).map((f) => ({ path: f, id: ids.get(f)! })) } : {}),
    grandchildren: plan.grandchildren,
  };
  try {
    return await withActiveJournal(jpath, async () => {
      await writeJournal(jpath, j);
      const before = await Promise.all(plan.segment.map((f) => fsp.stat(f)));
      let out: RandomAccessFile | null = null;
      try {
        out = await openFile(j.tmp, 'wx');
        await writeMergedVhdx(files, out, guidFromString(j.newId), ctx);
        // A merged leaf is writable, whatever the parent (a read-only snapshot) was; a merged snapshot (with children) is not.
        const mode = before[plan.segment.indexOf(target)].mode & 0o7777;
        await fsp.chmod(j.tmp, plan.grandchildren.length > 0 ? mode & ~0o222 : mode | 0o200);
        await out.sync();
        await out.close();
        out = null;
        // Something wrote into the chain while we copied: the copy would lose that write.
        const after = await Promise.all(plan.segment.map((f) => fsp.stat(f)));
        if (after.some((st, i) => st.size !== before[i].size || st.mtimeMs !== before[i].mtimeMs || st.ino !== before[i].ino)) {
          throw new RefusedError('CHANGED', `${plan.child} or ${plan.parent} changed while they were being merged; nothing was replaced`, { path: plan.child });
        }
      } catch (err) {
        await out?.close();
        await fsp.unlink(j.tmp).catch(() => undefined);
        await removeJournal(jpath);
        throw err;
      }
      // Windows refuses to rename over a file that is still open, ours included.
      await closeAll(files);
      j.phase = 'swap';
      await writeJournal(jpath, j);
      new ProgressReporter(ctx, 'merge', 1).finishing();
      try {
        await renameFile(j.tmp, target);
      } catch (err) {
        // Another program holds the disk: nothing was replaced, so drop the copy rather than leave the swap to a later recover.
        if (err instanceof RefusedError && err.code === 'IN_USE') {
          await fsp.unlink(j.tmp).catch(() => undefined);
          await removeJournal(jpath);
        }
        throw err;
      }
      await finishSwap(jpath, j);
      return { merged: target, removed, relinked: plan.grandchildren };
    });
  } finally {
    await closeAll(files);
  }
}

/** After the rename: the child's children are relinked, the disk that goes is removed, the label follows the merged disk, the journal goes. Idempotent. */
async function finishSwap(jpath: string, j: VhdxMergeJournal): Promise<void> {
  await syncDir(nodePath.dirname(j.target));
  // Linked to the child (the kept or the removed id, as the result took the child's path or the parent's),
  // or on a second run already to the merged disk.
  for (const g of j.grandchildren ?? []) await relinkVhdx(g, j.target, { expectedParents: [j.keptId, j.removedId] });
  // By id, not by name: a file put at that path since (another disk) is not ours to remove.
  const goes = [{ path: j.removed, id: j.removedId }, ...(j.alsoRemoved ?? [])];
  for (const r of goes) await removeDiskWithId(r.path, r.id, 'this merge removes');
  const dir = nodePath.dirname(j.target);
  const s = await readSidecar(dir);
  const label = s.disks[j.keptId];
  if (label || goes.some((r) => s.disks[r.id])) {
    if (label) s.disks[j.newId] = { ...label, file: nodePath.basename(j.target) };
    delete s.disks[j.keptId];
    for (const r of goes) delete s.disks[r.id];
    await writeSidecar(dir, s);
  }
  await removeJournal(jpath);
}

/** Recovery: an incomplete copy goes (nothing else was written); a complete one is put in place and the merge finished. */
export async function recoverVhdxMerge(jpath: string, j: VhdxMergeJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (j.phase === 'copy') return discard(jpath, j);
    if ((await pathExists(j.tmp)) && (await diskIdOrNull(j.tmp)) === j.newId) {
      // Only over the disk the merge replaces (or none): another file put at the path since stays.
      if ((await pathExists(j.target)) && (await diskIdOrNull(j.target)) !== j.keptId)
        return {
          action: 'left',
          detail: `${j.target} is no longer the disk this merge replaces; the merged copy ${j.tmp} and the journal are left for a person`,
        };
      await renameFile(j.tmp, j.target);
    } else if ((await diskIdOrNull(j.target)) !== j.newId) {
      return { action: 'left', detail: `${j.target} does not hold the merged disk and its copy ${j.tmp} is missing; the journal is left for a person` };
    }
    await finishSwap(jpath, j);
    const goes = [j.removed, ...(j.alsoRemoved ?? []).map((r) => r.path)].join(' and ');
    return {
      action: 'completed',
      detail: `merged ${j.child} into ${j.parent}: ${j.target} holds the merged disk, ${goes} ${j.alsoRemoved?.length ? 'are' : 'is'} removed`,
    };
  });
}

async function discard(jpath: string, j: VhdxMergeJournal): Promise<RecoveryOutcome> {
  await fsp.unlink(j.tmp).catch(() => undefined);
  await removeJournal(jpath);
  return {
    action: 'discarded',
    detail: `the merge of ${j.child} into ${j.parent} was interrupted before the swap; both are unchanged and the partial copy was removed`,
  };
}

/** Rollback before the swap: the chain was never written, the copy goes. */
export async function rollbackVhdxMerge(jpath: string, j: VhdxMergeJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, () => discard(jpath, j));
}

export const vhdxMergeJournal = journalKind(vhdxMergeJournalSchema, recoverVhdxMerge, { rollback: rollbackVhdxMerge, pastNoReturn: (j) => j.phase === 'swap' });

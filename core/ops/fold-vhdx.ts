// Deleting a VHDX snapshot that has several children (delete's "vhdx-fold"):
// each child is rewritten beside itself as the child over the snapshot — its
// own sectors over the snapshot's, in its own shape and metadata (block and
// sector sizes, virtual disk id), its data write GUID kept (what it shows is
// unchanged, so its own children stay linked), its locator now naming the
// snapshot's parent — and renamed over itself; then the snapshot goes.
//
// Crash safety: a child is either the old file (linked to the snapshot,
// which is still there) or the new one (linked to the snapshot's parent);
// both show the same content. The journal lists the children; recovery
// folds every child still linked to the snapshot (again from the start: its
// copy may be incomplete) and then removes the snapshot. Before the first
// rename nothing of the tree was written: Cancel or a rollback drops the copy.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { CancelledError, RefusedError } from '../errors.js';
import { PARENT_LOCATOR_ITEM } from '../format/vhdx/items.js';
import { guidFromString } from '../format/vhdx/guid.js';
import { replaceSystemItem } from '../format/vhdx/metadata.js';
import { encodeParentLocator } from '../format/vhdx/parent-locator.js';
import { closeAll, openAll, openFile, removeFile, renameFile, syncDir, tempSibling, type RandomAccessFile } from '../io/file.js';
import { diskIds, removeDiskWithId } from '../disk/ids.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { cancelledMessage, type JobContext } from '../job.js';
import { journalHeader, journalPath, journalSchema, removeJournal, writeJournal } from '../journal.js';
import { vhdxLocatorTo } from './create.js';
import { writeMergedVhdx } from './merge-vhdx.js';

export const vhdxFoldJournalSchema = journalSchema('delete', {
  strategy: z.literal('vhdx-fold'),
  phase: z.enum(['fold', 'remove']),
  snapshot: z.string(),
  snapshotUuid: z.string(),
  /** The snapshot's parent, which every child links to once folded. */
  parent: z.string(),
  parentUuid: z.string(),
  /** Each child with its data write GUID (kept by the fold) and the temporary name its copy is written under. */
  children: z.array(z.object({ path: z.string(), id: z.string(), tmp: z.string() })),
});
export type VhdxFoldJournal = z.infer<typeof vhdxFoldJournalSchema>;

/** The journal a fold of `children` into the snapshot's parent starts with. */
export async function startVhdxFold(snapshot: string, children: string[], parent: string): Promise<{ jpath: string; j: VhdxFoldJournal }> {
  const [s, p] = await Promise.all([diskIds(snapshot), diskIds(parent)]);
  const j: VhdxFoldJournal = {
    ...journalHeader('delete', 'fold'),
    strategy: 'vhdx-fold',
    snapshot,
    snapshotUuid: s.uuid,
    parent,
    parentUuid: p.uuid,
    children: await Promise.all(children.map(async (c) => ({ path: c, id: (await diskIds(c)).uuid, tmp: tempSibling(c, 'fold') }))),
  };
  return { jpath: journalPath(snapshot), j };
}

/** True once the child at `c.path` is the folded one (it links the snapshot's parent); false while it is the old one. */
async function folded(c: VhdxFoldJournal['children'][number], j: VhdxFoldJournal): Promise<boolean> {
  const ids = await diskIds(c.path);
  if (ids.uuid !== c.id)
    throw new RefusedError('CHANGED', `${c.path} is no longer the disk this delete folds into (its id is ${ids.uuid}); the journal is left for a person`, {
      path: c.path,
    });
  if (ids.parentId === j.parentUuid) return true;
  if (ids.parentId === j.snapshotUuid) return false;
  throw new RefusedError('CHANGED', `${c.path} no longer links ${j.snapshot}; the journal is left for a person`, { path: c.path });
}

/** Writes the child over the snapshot under its temporary name, complete and fsync'd. */
async function foldCopy(c: VhdxFoldJournal['children'][number], j: VhdxFoldJournal, ctx: JobContext): Promise<void> {
  await removeFile(c.tmp, { missingOk: true });
  const [child, snap] = await openAll([VhdxFile.open(c.path), VhdxFile.open(j.snapshot)]);
  let out: RandomAccessFile | null = null;
  try {
    const locator = encodeParentLocator(vhdxLocatorTo(c.path, j.parent, guidFromString(j.parentUuid)));
    const metadata = replaceSystemItem(await child.readMetadataRegion(), PARENT_LOCATOR_ITEM, locator);
    if (!metadata) throw new RefusedError('VHDX_METADATA_FULL', `${c.path}: its metadata region has no room for the new parent locator`, { path: c.path });
    const mode = (await fsp.stat(c.path)).mode & 0o7777;
    out = await openFile(c.tmp, 'wx');
    await writeMergedVhdx([child, snap], out, guidFromString(c.id), ctx, { shape: child, metadata });
    await fsp.chmod(c.tmp, mode);
    await out.sync();
  } catch (err) {
    await out?.close();
    out = null;
    await fsp.unlink(c.tmp).catch(() => undefined);
    throw err;
  } finally {
    await out?.close();
    await closeAll([child, snap]);
  }
}

/**
 * Folds every child not folded yet, then removes the snapshot file: the run
 * and recovery alike (under the journal, which the caller removes). Cancel is
 * honoured until the first child is renamed (then the tree was never
 * written: everything is dropped); after that it finishes.
 */
export async function runVhdxFold(jpath: string, j: VhdxFoldJournal, ctx: JobContext = {}): Promise<void> {
  if (j.phase === 'fold') {
    const done = await Promise.all(j.children.map((c) => folded(c, j)));
    let renamed = done.some((d) => d);
    for (const [i, c] of j.children.entries()) {
      if (done[i]) continue;
      try {
        await foldCopy(c, j, renamed ? { ...ctx, signal: undefined } : ctx);
      } catch (err) {
        if (err instanceof CancelledError && !renamed) {
          await discardVhdxFold(jpath, j);
          throw new CancelledError(cancelledMessage('delete'));
        }
        throw err;
      }
      // The old child is checked once more right before it is replaced.
      if (await folded(c, j)) throw new RefusedError('CHANGED', `${c.path} changed while it was being folded into`, { path: c.path });
      try {
        await renameFile(c.tmp, c.path);
      } catch (err) {
        // Another program holds the first child (Windows): nothing was replaced, so all of it goes rather than wait for a recover.
        if (!renamed && err instanceof RefusedError && err.code === 'IN_USE') await discardVhdxFold(jpath, j);
        throw err;
      }
      await syncDir(nodePath.dirname(c.path));
      renamed = true;
    }
    j.phase = 'remove';
    await writeJournal(jpath, j);
  }
  await removeDiskWithId(j.snapshot, j.snapshotUuid, 'this delete removes');
}

/** Before any child was replaced: nothing of the tree was written, the copies go. */
export async function discardVhdxFold(jpath: string, j: VhdxFoldJournal): Promise<void> {
  for (const c of j.children) await fsp.unlink(c.tmp).catch(() => undefined);
  await removeJournal(jpath);
}

/** Rollback is possible while no child was replaced (the point of no return is the first rename). */
export async function vhdxFoldPastNoReturn(j: VhdxFoldJournal): Promise<boolean> {
  if (j.phase !== 'fold') return true;
  for (const c of j.children) if ((await diskIds(c.path).catch(() => null))?.parentId === j.parentUuid) return true;
  return false;
}

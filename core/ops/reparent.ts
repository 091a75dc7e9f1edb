// Reconnecting a moved or broken chain: point a differencing disk at a parent
// file, after verifying its id (unless explicitly overridden) and size.
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, offset, removeJournal, writeJournal } from '../journal.js';
import { defineOperation, diskPath, journalKind, type RecoveryOutcome } from '../operation.js';
import { MAX_CHAIN_DEPTH, openReadableDisk } from '../disk/chain.js';
import { diskFormat } from '../disk/sniff.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { VhdxLayer } from '../disk/vhdx-layer.js';
import { vhdxParentId } from '../disk/vhdx-parent.js';
import { listVhdFiles, scanLibrary, type TreeNode } from '../library/scan.js';
import { VhdFile } from '../disk/vhd-file.js';
import { IoError, VhdError } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { freeSpaceAt, throwIfCancelled, type JobContext, type Plan } from '../job.js';
import { applyRelink, prepareRelink } from './relink.js';
import { relinkVhdx } from './relink-vhdx.js';
import { isSameFile } from '../io/identity.js';
import { openFile, readExact, withOwnerWrite } from '../io/file.js';
import { treeEffect } from '../library/effect.js';

export const reparentJournalSchema = journalSchema('reparent', {
  child: z.string(),
  parent: z.string(),
  headerOffset: offset,
  header: z.string(),
  /** The header before the write (base64): what a rollback writes back. Absent in older journals. */
  oldHeader: z.optional(z.string()),
});
export type ReparentJournal = z.infer<typeof reparentJournalSchema>;

export interface ReparentResult {
  child: string;
  parent: string;
  warnings: string[];
}

/**
 * Files from `child` down to its deepest descendant in its folder (1: no
 * children). Only counted when the folder holds more than `room` disks:
 * with fewer no subtree can be taller than the room left under the new parent.
 */
async function subtreeHeight(child: string, room: number): Promise<number> {
  const dir = nodePath.dirname(child);
  if ((await listVhdFiles(dir)).length <= room) return 1;
  const forest = await scanLibrary([dir]);
  const height = (n: TreeNode): number => 1 + Math.max(0, ...n.children.map(height));
  const stack = [...forest.roots];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (await isSameFile(n.path, child)) return height(n);
    stack.push(...n.children);
  }
  return 1;
}

/** What the checks need of the child, either format: null when it has no parent (no differencing disk). */
interface ChildLink {
  format: 'vhd' | 'vhdx';
  virtualSize: number;
  /** The id it links its parent by (VHD parent unique id; VHDX parent_linkage). */
  expected: string;
  /** VHDX: its logical sector size, which its parent's must match. */
  sectorSize?: number;
}

async function childLink(child: string): Promise<{ link: ChildLink | null; type: string }> {
  if ((await diskFormat(child)) === 'vhdx') {
    const x = await VhdxFile.open(child);
    await x.close();
    const linkage = x.hasParent ? vhdxParentId(x) : null;
    return {
      type: x.type,
      link: x.hasParent ? { format: 'vhdx', virtualSize: x.virtualSize, expected: linkage ?? '(none)', sectorSize: x.logicalSectorSize } : null,
    };
  }
  const f = await VhdFile.open(child);
  await f.close();
  return {
    type: f.type,
    link: f.type === 'differencing' && f.header ? { format: 'vhd', virtualSize: f.virtualSize, expected: uuidToString(f.header.parentUniqueId) } : null,
  };
}

/** What reparent would do, with the checks it makes before writing (id, size, self, a whole parent chain). */
export async function planReparent(childPath: string, parentPath: string, opts: { ignoreIdMismatch?: boolean } = {}): Promise<Plan> {
  const child = nodePath.resolve(childPath);
  const parent = nodePath.resolve(parentPath);
  const refusals: Plan['refusals'] = [];
  let note = '';
  const { link, type } = await childLink(child);
  if (!link) refusals.push({ code: 'NOT_DIFFERENCING', message: `${child} is a ${type} disk; only differencing disks have a parent` });
  else if (child === parent || (await isSameFile(child, parent)))
    refusals.push({ code: 'SELF_PARENT', message: `${child} cannot be its own parent (${parent} is the same file)` });
  else {
    try {
      const d = await openReadableDisk(parent);
      const p = d.top;
      const ancestors = d.layers.map((l) => l.path);
      await d.close();
      // A chain is one format throughout, as in Hyper-V.
      if (p.format !== link.format)
        refusals.push({
          code: 'FORMAT_MISMATCH',
          message: `${nodePath.basename(parent)} is a ${p.format.toUpperCase()} disk and ${nodePath.basename(child)} a ${link.format.toUpperCase()} one: a chain is one format throughout`,
        });
      // The new parent's chain must not pass through the child: that would make the chain a loop.
      for (const a of ancestors) {
        if (await isSameFile(a, child)) {
          refusals.push({
            code: 'CHAIN_CYCLE',
            message: `${nodePath.basename(parent)} descends from ${nodePath.basename(child)} (its chain passes through ${nodePath.basename(a)}); making it the parent would loop the chain`,
          });
          break;
        }
      }
      const height = await subtreeHeight(child, MAX_CHAIN_DEPTH - ancestors.length);
      if (ancestors.length + height > MAX_CHAIN_DEPTH)
        refusals.push({
          code: 'CHAIN_TOO_DEEP',
          message: `${nodePath.basename(parent)} is ${ancestors.length} files deep and ${nodePath.basename(child)} ${height > 1 ? `with its descendants is ${height} more` : 'would be one more'}: past the ${MAX_CHAIN_DEPTH} files a chain may be, so ${height > 1 ? 'the deepest of them' : nodePath.basename(child)} could not be read`,
        });
      if (p.virtualSize !== link.virtualSize)
        refusals.push({ code: 'PARENT_SIZE_MISMATCH', message: `${parent} has virtual size ${p.virtualSize} but ${child} has ${link.virtualSize}` });
      if (p instanceof VhdxLayer && link.sectorSize !== undefined && p.file.logicalSectorSize !== link.sectorSize)
        refusals.push({
          code: 'PARENT_SECTOR_MISMATCH',
          message: `${parent} has ${p.file.logicalSectorSize}-byte logical sectors but ${child} has ${link.sectorSize}-byte ones`,
        });
      if (p.uuid !== link.expected) {
        if (opts.ignoreIdMismatch)
          note = ` — WARNING: ids differ (expected ${link.expected}, found ${p.uuid}); the child's content is only right if this really is the disk it was made from`;
        else
          refusals.push({
            code: 'PARENT_ID_MISMATCH',
            message: `${parent} has id ${p.uuid} but ${nodePath.basename(child)} expects ${link.expected}; it is not this disk's parent (--ignore-id-mismatch overrides, at the risk of corrupt data)`,
          });
      }
    } catch (err) {
      // A new parent that cannot be read at all (missing, no permission, not a file) is unreadable input, not a refusal.
      if (!(err instanceof VhdError) || err instanceof IoError) throw err;
      refusals.push({ code: err.code, message: `${parent} cannot be used as a parent: ${err.message}` });
    }
  }
  const vhdx = link?.format === 'vhdx';
  return {
    operation: 'reparent',
    summary: `point ${nodePath.basename(child)} at ${nodePath.basename(parent)} as its parent${note}`,
    changes: [
      {
        path: child,
        action: 'modify',
        detail: vhdx
          ? 'parent locator (parent_linkage and paths), written through the file’s log; its data is not written'
          : 'parent id, timestamp, name and locators (new locators appended; the header rewritten last)',
      },
    ],
    effect: treeEffect({ moved: [{ path: child, place: { under: parent } }], changed: [child] }),
    bytesToCopy: 0,
    worstCaseGrowth: 4 * 1024,
    freeSpace: await freeSpaceAt(nodePath.dirname(child)),
    refusals,
  };
}

/**
 * Relinks as planned. The plan (made by the runner under the locks) has
 * already opened the new parent's whole chain and refused a broken one, a
 * cycle, another size or id; prepareRelink checks the files once more right
 * before it writes.
 */
async function reparent(childPath: string, parentPath: string, opts: { ignoreIdMismatch?: boolean } & JobContext = {}): Promise<ReparentResult> {
  // One header write (VHD) or log entry (VHDX): cancel is honoured until it starts.
  throwIfCancelled(opts);
  if ((await diskFormat(childPath)) === 'vhdx') {
    // The VHDX log is the journal: a kill leaves the old locator or the new one (relink-vhdx.ts).
    const { warnings } = await relinkVhdx(childPath, parentPath, opts);
    const check = await openReadableDisk(childPath);
    await check.close();
    return { child: nodePath.resolve(childPath), parent: nodePath.resolve(parentPath), warnings };
  }
  const jpath = journalPath(childPath);
  const prepared = await prepareRelink(childPath, parentPath, opts);
  const j: ReparentJournal = {
    ...journalHeader('reparent', 'apply'),
    child: prepared.child,
    parent: nodePath.resolve(parentPath),
    headerOffset: prepared.headerOffset,
    header: Buffer.from(prepared.header).toString('base64'),
    oldHeader: Buffer.from(await readBytes(prepared.child, prepared.headerOffset, prepared.header.length)).toString('base64'),
  };
  await writeJournal(jpath, j);
  await applyRelink(prepared);
  await removeJournal(jpath);
  const check = await openReadableDisk(childPath);
  await check.close();
  return { child: prepared.child, parent: j.parent, warnings: prepared.warnings };
}

/** The header was prepared and journaled before it was written: recovery writes it again (idempotent). */
async function recoverReparent(jpath: string, j: ReparentJournal): Promise<RecoveryOutcome> {
  await applyRelink({ child: j.child, headerOffset: j.headerOffset, header: new Uint8Array(Buffer.from(j.header, 'base64')) });
  await removeJournal(jpath);
  return { action: 'completed', detail: `${j.child} now points at ${j.parent}` };
}

async function readBytes(path: string, at: number, length: number): Promise<Uint8Array> {
  const f = await openFile(path, 'r');
  try {
    return await readExact(f, at, length, 'header');
  } finally {
    await f.close();
  }
}

/** Rollback: the old header goes back (the same one write, idempotent). */
async function rollbackReparent(jpath: string, j: ReparentJournal): Promise<RecoveryOutcome> {
  await withOwnerWrite(j.child, async () => {
    const f = await openFile(j.child, 'r+');
    try {
      await f.write(new Uint8Array(Buffer.from(j.oldHeader!, 'base64')), j.headerOffset);
      await f.sync();
    } finally {
      await f.close();
    }
  });
  await removeJournal(jpath);
  return { action: 'discarded', detail: `reparent of ${j.child} rolled back; it points at its old parent again` };
}

export const reparentOperation = defineOperation({
  op: 'reparent',
  request: z.object({ disk: diskPath, parent: diskPath, ignoreIdMismatch: z.optional(z.boolean()) }),
  files: { disk: 'disk', parent: 'disk' },
  access: 'writes',
  touched: (r) => [r.disk, r.parent],
  plan: (r) => planReparent(r.disk, r.parent, r),
  run: (r, ctx) => reparent(r.disk, r.parent, { ignoreIdMismatch: r.ignoreIdMismatch, signal: ctx.signal }),
  cli: {
    args: '<child> <new-parent>',
    about: 'Points a child at another parent file (after a move or rename).',
    positional: ['disk', 'parent'],
    options: { 'ignore-id-mismatch': { field: 'ignoreIdMismatch', kind: 'bool', help: 'accept a new parent whose id differs from the one recorded' } },
    print: (r) => `${r.child} now uses ${r.parent} as its parent`,
    warnings: (r) => r.warnings,
  },
  journal: journalKind(reparentJournalSchema, recoverReparent, { rollback: rollbackReparent, pastNoReturn: (j) => j.oldHeader === undefined }),
});

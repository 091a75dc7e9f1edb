// Taking a snapshot. In place: the disk's current content becomes a new
// read-only snapshot file beside it and the original path becomes an empty
// differencing child of it, so whatever uses that path keeps working.
//
// Order (no instant where the original path is missing): create the child
// under a temporary name, pointing at the snapshot name; hard-link the disk
// to the snapshot name; rename the child over the original path.
//
// Where the folder has no hard links (FAT32/exFAT, many SMB shares) the disk
// is renamed to the snapshot name instead, and the child renamed to the path
// right after. The journal first records that way (`via: 'rename'`, phase
// `swap`), so after a crash between the two renames `recover` puts the disk
// back at its path: the path is missing only for that moment, never lost.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError, toIoError } from '../errors.js';
import { MAX_DYNAMIC_SIZE } from '../format/footer.js';
import {
  assertFolderFor,
  creationError,
  isNoHardLinkError,
  linkFile,
  linkIntoPlace,
  pathExists,
  renameFile,
  supportsHardLinks,
  syncDir,
  tempSibling,
} from '../io/file.js';
import { isSameFile } from '../io/identity.js';
import { safeExtension, safeFileName } from '../io/safe-name.js';
import { MAX_CHAIN_DEPTH, openReadableDisk } from '../disk/chain.js';
import type { ChainLayer } from '../disk/layer.js';
import { readLayout } from '../disk/layout.js';
import { diskIds } from '../disk/ids.js';
import { VhdFile } from '../disk/vhd-file.js';
import { VhdxLayer } from '../disk/vhdx-layer.js';
import { readVhdxLayout } from '../disk/vhdx-layout.js';
import { MAX_VIRTUAL_SIZE } from '../format/vhdx/items.js';
import { assertNoRefusals, throwIfCancelled, type JobContext, type Plan } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, descriptionText, diskPath, journalKind, nameText, type RecoveryOutcome } from '../operation.js';
import { findChildren, isActiveDisk } from '../library/scan.js';
import { recordChild, setLabel, unrecordableChild } from '../library/sidecar.js';
import { displayNameOf, recordActive } from '../library/active.js';
import { printable } from '../printable.js';
import { createDifferencing } from './create.js';
import { treeEffect } from '../library/effect.js';

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

/** Local date and time as YYYYMMDD-HHMMSS, for generated file names. */
function fileStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * `<stem>-<tag>-<time><ext>` beside the disk, numbered when that name is
 * taken; valid on Windows and within 255 bytes whatever the disk is called
 * (core/io/safe-name.ts: the stem is cleaned and shortened, never the stamp).
 */
export async function datedSibling(diskPath: string, tag: string, now = new Date()): Promise<string> {
  const dir = nodePath.dirname(diskPath);
  const ext = safeExtension(nodePath.extname(diskPath));
  const stem = nodePath.basename(diskPath, nodePath.extname(diskPath));
  for (let i = 1; ; i++) {
    const candidate = nodePath.join(dir, safeFileName(stem, `-${tag}-${fileStamp(now)}${i === 1 ? '' : `-${i}`}${ext}`));
    if (!(await pathExists(candidate))) return candidate;
  }
}

export function snapshotName(diskPath: string, now = new Date()): Promise<string> {
  return datedSibling(diskPath, 'snap', now);
}

/** An in-place snapshot's plan also says how the snapshot name is given: a hard link, or a rename where the folder has none (null: not probed). */
export interface SnapshotPlan extends Plan {
  via: 'link' | 'rename' | null;
  /** The disk named, and the file that will hold the preserved content (the same path with --out). */
  disk: string;
  snapshot: string;
  /** The new empty child: the disk to use from now on. */
  active: string;
  /** --out was given: the child is made there and the disk stays as the snapshot. */
  branch: boolean;
  /** Id of the disk (the snapshot keeps it), read when the plan opened the chain. */
  uuid: string;
  /**
   * --out of the tree's active disk: the disk becomes a read-only snapshot, so
   * the new child becomes the active disk (core/library/active.ts); --out of
   * anything else makes a saved state.
   */
  activeMoves: boolean;
}

/**
 * Why no differencing child can be made on top of `parent`, the top of a
 * chain of `depth` files: a child has the parent's size, and a differencing
 * disk cannot address more than 2040 GiB (its BAT holds u32 sector numbers);
 * the child would make the chain one file deeper than openDisk follows.
 * Checked in the plans of every operation that makes a child (snapshot,
 * revert), before anything is written.
 */
export function newChildRefusals(parent: string, virtualSize: number, depth: number, format: 'vhd' | 'vhdx' = 'vhd'): Plan['refusals'] {
  const refusals: Plan['refusals'] = [];
  const name = nodePath.basename(parent);
  const [max, what] = format === 'vhdx' ? [MAX_VIRTUAL_SIZE, '64 TiB, the VHDX maximum'] : [MAX_DYNAMIC_SIZE, '2040 GiB, the VHD maximum'];
  if (virtualSize > max)
    refusals.push({
      code: 'CHILD_TOO_LARGE',
      message: `${name} is ${virtualSize} bytes; a differencing child takes its parent's size and cannot exceed ${max} bytes (${what}), so no snapshot of it can be made`,
    });
  if (depth >= MAX_CHAIN_DEPTH)
    refusals.push({
      code: 'CHAIN_TOO_DEEP',
      message: `${name} is already ${depth} files deep, the most a chain may be (${MAX_CHAIN_DEPTH}); a child would make it unreadable. Merge or flatten part of the chain first.`,
    });
  return refusals;
}

/**
 * Why a disk is too damaged to snapshot: what writing into it would hit (a
 * damaged trailing footer, BAT entries past the end, overlaps...). The new
 * child would hide the damage under a disk that cannot be exported.
 */
export async function damageRefusals(f: VhdFile | ChainLayer): Promise<Plan['refusals']> {
  const name = nodePath.basename(f.path);
  let errors;
  if (f instanceof VhdxLayer) errors = (await readVhdxLayout(f.file.file, { full: true })).findings.errors;
  else {
    const v = f as VhdFile;
    if (v.footerSource === 'copy') return [{ code: 'NEEDS_REPAIR', message: `${name} has a damaged trailing footer; run \`vhdsnap repair\` first` }];
    errors = (await readLayout(v.file)).findings.errors;
  }
  if (errors.length === 0) return [];
  const listed = errors
    .slice(0, 3)
    .map((e) => `${e.code}: ${e.message}`)
    .join('; ');
  return [
    {
      code: 'DAMAGED',
      message: `${name} is damaged (${listed}${errors.length > 3 ? '; …' : ''}); \`vhdsnap check\` lists the errors and \`vhdsnap repair\` fixes what it can`,
    },
  ];
}

/**
 * What a snapshot will do. The whole chain must open cleanly (snapshotting a
 * broken disk only hides the damage); in place, the disk must have no
 * children. The snapshot's file name is chosen here, so the plan shows the
 * name the run creates.
 */
export async function planSnapshot(diskPath: string, opts: { out?: string; now?: Date; snapshotFile?: string; name?: string } = {}): Promise<SnapshotPlan> {
  const out = opts.out === undefined ? null : nodePath.resolve(opts.out);
  // In place through a symlink: the file it leads to is snapshotted (a link of the symlink itself would hold no data), so the symlink then leads to the new child.
  const disk = out === null ? await fsp.realpath(nodePath.resolve(diskPath)).catch(() => nodePath.resolve(diskPath)) : nodePath.resolve(diskPath);
  const refusals: Plan['refusals'] = [];
  const d = await openReadableDisk(disk);
  const uuid = d.top.uuid;
  try {
    refusals.push(...newChildRefusals(disk, d.virtualSize, d.layers.length, d.format), ...(await damageRefusals(d.top)));
  } finally {
    await d.close();
  }
  // A chain is one format throughout (as in Hyper-V): the child of a VHDX is a VHDX, and its name says so.
  if (out !== null && d.format === 'vhdx' && !/\.a?vhdx$/i.test(out))
    refusals.push({ code: 'FORMAT_MISMATCH', message: `${nodePath.basename(disk)} is a VHDX: its child must be a VHDX too; name it .avhdx or .vhdx` });
  // --out into a missing folder (or through a file) fails here, in the dry run as in the run, before any write.
  if (out !== null) await assertFolderFor(out);
  if (out !== null && (await pathExists(out))) refusals.push({ code: 'EXISTS', message: `${out} already exists; not overwriting it` });
  const unrecordable = out !== null ? await unrecordableChild(disk, out) : null;
  if (unrecordable) refusals.push(unrecordable);
  if (out === null) {
    const children = await findChildren(disk);
    if (children.length > 0) {
      refusals.push({
        code: 'HAS_CHILDREN',
        message: `${disk} already has children (${children.join(', ')}); an in-place snapshot would change what they see. Use --out <child.vhd> to branch from it instead.`,
      });
    }
  }
  // A name a plan made earlier (the app's, pinned): the same file, or a refusal if it has been taken since.
  const pinned = out === null && opts.snapshotFile !== undefined ? nodePath.join(nodePath.dirname(disk), opts.snapshotFile) : null;
  if (pinned !== null && (await pathExists(pinned))) refusals.push({ code: 'EXISTS', message: `${pinned} already exists; not overwriting it` });
  const snap = out !== null ? disk : (pinned ?? (await snapshotName(disk, opts.now)));
  const activeMoves = out !== null && (await isActiveDisk(disk));
  const active = out ?? disk;
  // A probe link of a tiny temp file in the disk's folder (not needed just to know the paths to lock, nor for --out).
  const links = out !== null ? null : await supportsHardLinks(nodePath.dirname(disk));
  const via = links === null ? null : links ? 'link' : 'rename';
  const snapDetail =
    via === 'rename'
      ? 'read-only snapshot holding the current content: this folder has no hard links, so the disk is renamed to this name and the new child takes its path right after (journaled: after a crash, recover puts the disk back or finishes)'
      : 'read-only snapshot holding the current content (same file, second name by hard link)';
  // The snapshot keeps the disk's id, so its label: the name given now, else the one it has.
  const label = opts.name?.trim() || (await displayNameOf(disk, uuid));
  const named = label && label !== nodePath.basename(disk) ? `the snapshot ‘${printable(label)}’ (${nodePath.basename(snap)})` : nodePath.basename(snap);
  return {
    operation: 'snapshot',
    summary:
      out !== null
        ? `keep ${label !== nodePath.basename(disk) ? `‘${printable(label)}’ (${nodePath.basename(disk)})` : nodePath.basename(disk)} as the snapshot and create ${nodePath.basename(active)} on top of it${activeMoves ? `, the active disk from now on` : ', as a saved state'}`
        : `preserve the current content of ${nodePath.basename(disk)} as ${named}; ${nodePath.basename(disk)} becomes an empty child of it`,
    changes:
      out !== null
        ? [{ path: active, action: 'create', detail: 'empty differencing child' }]
        : [
            { path: snap, action: 'create', detail: snapDetail },
            { path: disk, action: 'modify', detail: 'becomes an empty differencing child of the snapshot' },
          ],
    // In place, the snapshot appears between the disk and its parent and the disk stays the current state; --out adds a child.
    effect:
      out !== null
        ? treeEffect({ created: [{ path: active, place: { under: disk } }], ...(activeMoves ? { active } : {}) })
        : treeEffect({ created: [{ path: snap, place: { above: disk } }], active: disk }),
    bytesToCopy: 0,
    worstCaseGrowth: 64 * 1024,
    freeSpace: null,
    refusals,
    via,
    disk,
    snapshot: snap,
    active,
    branch: out !== null,
    uuid,
    activeMoves,
  };
}

/** Plans and snapshots (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function snapshot(diskPath: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  const plan = await planSnapshot(diskPath, opts);
  assertNoRefusals(plan, plan.branch ? plan.active : plan.disk);
  return snapshotPlanned(plan, opts);
}

async function snapshotPlanned(plan: SnapshotPlan, label: { name?: string; description?: string }, ctx: JobContext = {}): Promise<SnapshotResult> {
  // Quick and journaled: cancel is honoured until the first write.
  throwIfCancelled(ctx);
  const { disk: path, snapshot: snap, uuid } = plan;

  if (plan.branch) {
    const out = plan.active;
    if (await pathExists(out)) throw new RefusedError('EXISTS', `${out} already exists; not overwriting it`, { path: out });
    // Built under a temp name (with our pid, so recover can clear it after a kill) and
    // linked into place: a crash never leaves a half-written child at `out`.
    const tmp = tempSibling(out);
    await createDifferencing(tmp, path).catch((err: unknown) => {
      throw creationError(err, out);
    });
    try {
      // Recorded beside the parent before the child takes its name: a child in another folder is then never invisible to the parent's writers.
      const childId = (await diskIds(tmp)).uuid;
      await recordChild(path, uuid, out, childId);
    } catch (err) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw err;
    }
    await linkIntoPlace(tmp, out);
    await fsp.chmod(path, 0o444).catch(() => undefined);
    if (label.name !== undefined || label.description !== undefined) await setLabel(path, uuid, label, (await diskIds(path)).virtualDiskId);
    if (plan.activeMoves) await recordActive(out);
    return { snapshot: path, active: out };
  }

  const dir = nodePath.dirname(path);
  const tmp = tempSibling(path, 'snapshot');
  // Journal first: a kill before the final rename is rolled back, after it finished (recoverSnapshot).
  const jpath = journalPath(path);
  const j: SnapshotJournal = {
    ...journalHeader('snapshot', 'create'),
    via: 'link',
    disk: path,
    snapshot: snap,
    temp: tmp,
    uuid,
    name: label.name,
    description: label.description,
  };
  await writeJournal(jpath, j);
  await withActiveJournal(jpath, async () => {
    await createDifferencing(tmp, path, { locatorTarget: snap });
    try {
      try {
        await linkFile(path, snap);
      } catch (err) {
        if (!isNoHardLinkError(err)) throw toIoError(err, snap, 'cannot link');
        // No hard links here: the journal says so before the disk leaves its path.
        // A rename replaces what is there (a link refuses): the name must still be free.
        if (await pathExists(snap)) throw new RefusedError('EXISTS', `${snap} appeared while the snapshot was being made; not overwriting it`, { path: snap });
        j.via = 'rename';
        j.phase = 'swap';
        await writeJournal(jpath, j);
        await renameFile(path, snap);
      }
      await renameFile(tmp, path);
      await syncDir(dir);
    } catch (err) {
      await rollBack(j);
      await removeJournal(jpath);
      throw err;
    }
    await finish(j);
  });
  await removeJournal(jpath);
  // Sanity: the new child must open through its chain.
  const check = await openReadableDisk(path);
  await check.close();
  return { snapshot: snap, active: path };
}

export const snapshotJournalSchema = journalSchema('snapshot', {
  /** create: the child is being written (the disk has not moved); swap: the disk may be under the snapshot name. */
  phase: z.enum(['create', 'swap']),
  /** How the snapshot name is given: a hard link (the path never goes missing) or, without links, a rename. Absent in older journals: link. */
  via: z.optional(z.enum(['link', 'rename'])),
  disk: z.string(),
  snapshot: z.string(),
  temp: z.string(),
  /** Id of the disk, which the snapshot file keeps. */
  uuid: z.string(),
  name: z.optional(z.string()),
  description: z.optional(z.string()),
});
export type SnapshotJournal = z.infer<typeof snapshotJournalSchema>;

/**
 * Undoes everything before the final rename: the disk keeps its path and
 * content, the temp child and the snapshot name go. Phase `create` never
 * moved the disk, so only the temp goes.
 */
async function rollBack(j: SnapshotJournal): Promise<void> {
  // Journals older than `via` may have renamed in phase create.
  if ((j.phase === 'swap' || j.via === undefined) && !(await pathExists(j.disk)) && (await pathExists(j.snapshot))) {
    // Renamed without links, not yet replaced: the disk goes back (its id checked, not assumed).
    const ours = (await diskIds(j.snapshot)).uuid === j.uuid;
    if (!ours)
      throw new RefusedError(
        'ID_CHANGED',
        `${j.snapshot} is not the disk ${j.disk} was (id ${j.uuid}); not moving it back — inspect the folder, the journal is kept`,
        { path: j.snapshot },
      );
    await renameFile(j.snapshot, j.disk);
  } else if (j.via !== 'rename' && (await isSameFile(j.disk, j.snapshot))) await fsp.unlink(j.snapshot);
  await fsp.unlink(j.temp).catch(() => undefined);
  await syncDir(nodePath.dirname(j.disk));
}

async function finish(j: SnapshotJournal): Promise<void> {
  await fsp.chmod(j.snapshot, 0o444).catch(() => undefined);
  if (j.name !== undefined || j.description !== undefined)
    await setLabel(j.snapshot, j.uuid, { name: j.name, description: j.description }, (await diskIds(j.snapshot)).virtualDiskId);
}

/** True when the disk's path already holds the new differencing child of the snapshot (ids checked, not assumed): the point of no return. */
async function childTookPath(j: SnapshotJournal): Promise<boolean> {
  if ((await pathExists(j.temp)) || !(await pathExists(j.disk)) || !(await pathExists(j.snapshot)) || (await isSameFile(j.disk, j.snapshot))) return false;
  const [d, s] = [await diskIds(j.disk), await diskIds(j.snapshot)];
  return s.uuid === j.uuid && d.parentId === j.uuid;
}

/** Recovery of an interrupted in-place snapshot: finished when the child already took the disk's path, else rolled back. */
export async function recoverSnapshot(jpath: string, j: SnapshotJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    const renamed = await childTookPath(j);
    if (renamed) await finish(j);
    else await rollBack(j);
    await removeJournal(jpath);
    return renamed
      ? { action: 'completed' as const, detail: `${j.snapshot} holds the snapshot; ${j.disk} is its child` }
      : { action: 'discarded' as const, detail: `snapshot of ${j.disk} rolled back; the disk is unchanged` };
  });
}

/** A plain file name of a disk (no folder part, no way out of the disk's folder). */
const snapshotFileName = z
  .string()
  .check(
    z.refine(
      (s) => s.length > 0 && s.length <= 255 && !/[\\/\0]/.test(s) && s !== '.' && s !== '..' && /\.(vhd|a?vhdx)$/i.test(s),
      'must be a file name ending in .vhd, .vhdx or .avhdx, without a folder',
    ),
  );

export const snapshotOperation = defineOperation({
  op: 'snapshot',
  request: z.object({
    disk: diskPath,
    out: z.optional(diskPath),
    name: z.optional(nameText),
    description: z.optional(descriptionText),
    /** In place: the snapshot's file name beside the disk (default generated); how a run keeps the name its plan showed. */
    snapshotFile: z.optional(snapshotFileName),
  }),
  files: { disk: 'disk', out: 'output' },
  access: 'writes',
  touched: (r) => [r.disk, ...(r.out ? [r.out] : [])],
  plan: async (r) => {
    const plan = await planSnapshot(r.disk, { out: r.out, snapshotFile: r.snapshotFile, name: r.name });
    // The preview calls an in-place snapshot by the name the person gave it (with --out the name goes to the disk named, not the new child).
    const name = r.name?.trim();
    if (name && plan.effect && !plan.branch) plan.effect.created = plan.effect.created.map((c) => ({ ...c, name }));
    return plan;
  },
  pins: (plan) => (plan.branch ? {} : { snapshotFile: nodePath.basename(plan.snapshot) }),
  run: (r, ctx) => snapshotPlanned(ctx.plan, r, ctx),
  // In place, its journaled steps link the disk to the snapshot name and rename a new child over the disk's name: the old file is not written.
  replaces: (plan) => (plan.branch ? [] : [plan.disk]),
  // Recovery already rolls back whenever the child has not taken the disk's path; from then (the point of no return) it finishes.
  journal: journalKind(snapshotJournalSchema, recoverSnapshot, {
    rollback: recoverSnapshot,
    pastNoReturn: childTookPath,
    forward: async (j) => ((await childTookPath(j)) ? 'finish' : 'roll back'),
  }),
  cli: {
    args: '<disk>',
    about: "Preserves the disk's current content as a read-only snapshot; the disk keeps its path and becomes an empty child of it.",
    positional: ['disk'],
    options: {
      out: { field: 'out', kind: 'text', value: '<child.vhd>', help: 'keep the disk as the snapshot and create this new child on top of it' },
      name: { field: 'name', kind: 'text', value: '<text>', help: 'name of the snapshot' },
      description: { field: 'description', kind: 'text', value: '<text>', help: 'description text' },
    },
    print: (r) => `snapshot: ${r.snapshot}\nactive:   ${r.active}`,
  },
});

// Switching to a saved state: the tree's active path (core/library/active.ts)
// then shows the chosen saved state, and what it showed before is kept as a
// saved state under a generated name (`<stem>-state-<time>.vhd`, named
// "State before switch to ‘…’, 3 Dec 14:05" in the sidecar). Nothing is lost:
// the saved state's file takes the active path (its old name goes away, its
// id and label go with it), the old file keeps its content under the kept name.
//
// Order (no instant where the active path is missing or half-changed):
// journal (phase "link"); a second name for the active file (hard link, or a
// complete copy where links are unsupported); journal phase "swap"; rename
// the saved state over the active path; fsync; bookkeeping. Recovery rolls an
// unfinished "link" back (the kept name goes, the path never changed) and a
// "swap" forward (the kept name is complete by then).
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { CancelledError, RefusedError } from '../errors.js';
import { openReadableDisk } from '../disk/chain.js';
import { diskIdOrNull, diskIds } from '../disk/ids.js';
import { pathExists, renameFile, supportsHardLinks, syncDir } from '../io/file.js';
import { assertNoRefusals, cancelledMessage, freeSpaceAt, throwIfCancelled, type JobContext, type Plan } from '../job.js';
import { journalHeader, journalPath, journalSchema, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskPath, journalKind, plannedAt, plannedTime, type RecoveryOutcome } from '../operation.js';
import { displayNameOf, isSavedStateName, recordActive, savedStateName } from '../library/active.js';
import { treeOf } from '../library/scan.js';
import { readSidecar, writeSidecar } from '../library/sidecar.js';
import { keepCopy, keptName } from './revert.js';
import { treeEffect } from '../library/effect.js';
import { sizeText } from '../words.js';

export interface SwitchOptions {
  /** For tests: the time in the kept file's name and label. */
  now?: Date;
}

export interface SwitchPlan extends Plan {
  /** The saved state to show (the file that a symlink leads to). */
  state: string;
  /** The tree's active path (null when refused before it was known). */
  active: string | null;
  /** Where the active path's current content will be kept. */
  kept: string | null;
  /** The name the kept state gets. */
  keptLabel: string | null;
  /** The time the kept state's file name and label carry (ISO; pinned, so the run makes these names). */
  plannedAt: string;
}

export interface SwitchResult {
  /** The active path: it now shows `state`'s content. */
  active: string;
  /** The saved state's former path (gone: its file is now at `active`). */
  state: string;
  /** Where the previous content of `active` is kept, and its name. */
  kept: string;
  keptLabel: string;
}

export const switchJournalSchema = journalSchema('switch', {
  phase: z.enum(['link', 'swap']),
  active: z.string(),
  /** Id of the file at `active` before the switch: it is what `kept` must hold. */
  oldUuid: z.string(),
  state: z.string(),
  stateUuid: z.string(),
  kept: z.string(),
  keptLabel: z.string(),
});
export type SwitchJournal = z.infer<typeof switchJournalSchema>;

export async function planSwitch(statePath: string, opts: SwitchOptions = {}): Promise<SwitchPlan> {
  const state = await fsp.realpath(nodePath.resolve(statePath)).catch(() => nodePath.resolve(statePath));
  // The saved state's chain must open: switching to a broken disk would hand the VM a disk that cannot be read.
  const d = await openReadableDisk(state);
  const stateUuid = d.top.uuid;
  await d.close();
  const refusals: Plan['refusals'] = [];
  const name = nodePath.basename(state);
  const tree = await treeOf(state);
  let active: string | null = null;
  if (!tree) refusals.push({ code: 'NOT_IN_TREE', message: `${name} is in no snapshot tree of its folder` });
  else if (tree.node.children.length > 0)
    refusals.push({
      code: 'HAS_CHILDREN',
      message: `${name} is a snapshot (it has children), not a saved state; revert the active disk to it instead`,
    });
  else if (tree.node === tree.active) refusals.push({ code: 'ALREADY_ACTIVE', message: `${name} is already the active disk of its tree` });
  else {
    active = await fsp.realpath(tree.active.path).catch(() => nodePath.resolve(tree.active.path));
    // A rename cannot cross folders (nor volumes): the saved state must sit beside the active disk.
    if (nodePath.dirname(active) !== nodePath.dirname(state))
      refusals.push({
        code: 'OTHER_FOLDER',
        message: `${name} is in ${nodePath.dirname(state)}, the active disk ${nodePath.basename(active)} in ${nodePath.dirname(active)}; a switch renames within one folder — make ${name} the active disk instead (set-active)`,
      });
  }
  const now = opts.now ?? new Date();
  const kept = active ? await keptName(active, now) : null;
  const stateName = await displayNameOf(state, stateUuid);
  const keptLabel = active ? savedStateName('switch', stateName, now) : null;
  let growth = 0;
  if (active) {
    // Without hard links the kept state is a complete copy of the active file.
    const links = await supportsHardLinks(nodePath.dirname(active));
    growth = links === false ? (await fsp.stat(active)).size : 4096;
  }
  const freeSpace = active ? await freeSpaceAt(nodePath.dirname(active)) : null;
  if (freeSpace !== null && growth > freeSpace)
    refusals.push({ code: 'NO_SPACE', message: `switching needs ${sizeText(growth)} but only ${sizeText(freeSpace)} is free` });
  const changes: Plan['changes'] =
    active && kept
      ? [
          { path: kept, action: 'create', detail: `what ${nodePath.basename(active)} shows now, kept as the saved state “${keptLabel}”` },
          { path: active, action: 'modify', detail: `shows the saved state ‘${stateName}’ (its file is renamed here)` },
          { path: state, action: 'rename', detail: `renamed to ${nodePath.basename(active)}` },
        ]
      : [];
  return {
    operation: 'switch',
    summary: active
      ? `make ${nodePath.basename(active)} show the saved state ‘${stateName}’, keeping what it shows now as ${nodePath.basename(kept!)}`
      : `cannot switch to ${name}`,
    keepLose: active
      ? `Nothing is lost: your current disk ${nodePath.basename(active)} will show ‘${stateName}’, and what it shows now is kept as the saved state ‘${keptLabel}’.`
      : undefined,
    changes,
    // The active path takes the saved state's place (and content); what it showed stays where it was, as the kept state.
    effect:
      active && kept
        ? treeEffect({
            removed: [state],
            moved: [{ path: active, place: { beside: state } }],
            changed: [active],
            created: [{ path: kept, place: { beside: active }, name: keptLabel ?? undefined }],
            active,
          })
        : undefined,
    bytesToCopy: 0,
    worstCaseGrowth: growth,
    freeSpace,
    refusals,
    state,
    active,
    kept,
    keptLabel,
    plannedAt: now.toISOString(),
  };
}

/** Plans and switches (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function switchTo(statePath: string, opts: SwitchOptions = {}, ctx: JobContext = {}): Promise<SwitchResult> {
  const plan = await planSwitch(statePath, opts);
  assertNoRefusals(plan, plan.state);
  return switchPlanned(plan, ctx);
}

async function switchPlanned(plan: SwitchPlan, ctx: JobContext): Promise<SwitchResult> {
  const active = plan.active!;
  // VHD unique ids or VHDX data write GUIDs (core/disk/ids.ts): what the sidecar keys labels by.
  const [a, s] = [await diskIds(active), await diskIds(plan.state)];
  const j: SwitchJournal = {
    ...journalHeader('switch', 'link'),
    active,
    oldUuid: a.uuid,
    state: plan.state,
    stateUuid: s.uuid,
    kept: plan.kept!,
    keptLabel: plan.keptLabel!,
  };
  throwIfCancelled(ctx);
  const jpath = journalPath(active);
  await writeJournal(jpath, j);
  return withActiveJournal(jpath, async () => {
    try {
      // The name was free when planned; a link never replaces a file that appeared since.
      if (await pathExists(j.kept))
        throw new RefusedError('EXISTS', `${j.kept} appeared while the switch was being made; not overwriting it`, { path: j.kept });
      await keepCopy(j.active, j.kept, ctx);
    } catch (err) {
      // The active path was never touched: undo the kept name and report.
      await rollBack(j);
      await removeJournal(jpath);
      throw err instanceof CancelledError ? new CancelledError(cancelledMessage('switch')) : err;
    }
    j.phase = 'swap';
    await writeJournal(jpath, j);
    return finish(jpath, j);
  });
}

/** Phase "link" undone: the kept name goes where it holds the active file's id (ours, never a file that appeared). */
async function rollBack(j: SwitchJournal): Promise<void> {
  if ((await pathExists(j.kept)) && (await diskIdOrNull(j.kept)) === j.oldUuid && (await diskIdOrNull(j.active)) === j.oldUuid) await fsp.unlink(j.kept);
  await syncDir(nodePath.dirname(j.active));
}

/** Phase "swap": rename the saved state over the active path, then the bookkeeping. Idempotent. */
async function finish(jpath: string, j: SwitchJournal): Promise<SwitchResult> {
  const dir = nodePath.dirname(j.active);
  if (await pathExists(j.state)) {
    const [cur, kept, st] = [await diskIdOrNull(j.active), await diskIdOrNull(j.kept), await diskIdOrNull(j.state)];
    if (cur !== j.oldUuid || kept !== j.oldUuid || st !== j.stateUuid)
      throw new RefusedError(
        'ID_CHANGED',
        `${j.active}, ${j.kept} or ${j.state} no longer holds the planned disk; switch left them and its journal for inspection`,
        { path: j.active },
      );
    await renameFile(j.state, j.active);
  }
  await syncDir(dir);
  await relabel(j);
  // The path stays the tree's active disk: pinned, so the kept state never wins a derivation.
  await recordActive(j.active);
  await removeJournal(jpath);
  return { active: j.active, state: j.state, kept: j.kept, keptLabel: j.keptLabel };
}

/** Labels follow the ids: the saved state's to the active path, the old content's to the kept name (named automatically when it had none). */
async function relabel(j: SwitchJournal): Promise<void> {
  const dir = nodePath.dirname(j.active);
  const s = await readSidecar(dir);
  const st = s.disks[j.stateUuid];
  if (st) {
    // A name vhdsnap gave it ("State before revert to …") no longer says what the active disk is; a person's name stays.
    const { name, ...rest } = st;
    s.disks[j.stateUuid] = { ...rest, ...(name !== undefined && !isSavedStateName(name) ? { name } : {}), file: nodePath.basename(j.active) };
  }
  const old = s.disks[j.oldUuid];
  s.disks[j.oldUuid] = { ...old, name: old?.name ?? j.keptLabel, file: nodePath.basename(j.kept) };
  await writeSidecar(dir, s);
}

/** Recovery: an unfinished "link" is rolled back, a "swap" finished. */
export async function recoverSwitch(jpath: string, j: SwitchJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    if (j.phase === 'link') {
      await rollBack(j);
      await removeJournal(jpath);
      return { action: 'discarded', detail: `rolled back an unfinished switch of ${j.active} to ${j.state}; both are unchanged` };
    }
    if (!(await pathExists(j.state)) && (await diskIdOrNull(j.active)) !== j.stateUuid)
      return { action: 'left', detail: `${j.active} is neither its old state nor ${j.state}; journal left in place for inspection` };
    try {
      const r = await finish(jpath, j);
      return { action: 'completed', detail: `switched ${r.active} to ${r.state} (previous state kept as ${r.kept})` };
    } catch (err) {
      if (err instanceof RefusedError) return { action: 'left', detail: `${err.message}; journal left in place` };
      throw err;
    }
  });
}

export const switchOperation = defineOperation({
  op: 'switch',
  // at: the plan's time (pinned), which the kept state's file name and label carry.
  request: z.object({ disk: diskPath, at: z.optional(plannedAt) }),
  files: { disk: 'disk' },
  access: 'writes',
  touched: (r) => [r.disk],
  plan: (r) => planSwitch(r.disk, { now: plannedTime(r.at) }),
  pins: (plan) => (plan.kept ? { at: plan.plannedAt } : {}),
  run: (_r, ctx) => switchPlanned(ctx.plan, ctx),
  // Neither file is written: the active path gets the saved state's file by a rename, the old file a second name.
  replaces: (plan) => [plan.state, ...(plan.active ? [plan.active] : [])],
  journal: journalKind(switchJournalSchema, recoverSwitch),
  cli: {
    args: '<saved-state>',
    about: "Makes the tree's active disk show a saved state; what it showed is kept as a saved state.",
    positional: ['disk'],
    print: (r) => `${r.active} now shows the saved state ${nodePath.basename(r.state)}\nprevious state kept as ${r.kept} ("${r.keptLabel}")`,
  },
});

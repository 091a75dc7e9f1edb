// No merge takes the active path away (core/library/active.ts). Merging the
// tree's active disk into its parent would leave its content at the parent's
// path and delete the path the VM uses; instead it has the outcome of
// deleting that parent snapshot (delete.ts: merge-child for a base, fold
// otherwise), so the merged disk stays at the active path, with the same
// content. Merge's own refusals still apply (a damaged or saved-state parent,
// a parent with other children). merge --into from the active disk would
// remove the path too, and is refused. Kept apart from merge.ts (its copy loop is its own): the
// registry lists merge through routeActiveMerge, which also sends a VHDX child to merge-vhdx.ts
// (which keeps the active path itself).
import * as nodePath from 'node:path';
import { VhdFile } from '../disk/vhd-file.js';
import { diskIds } from '../disk/ids.js';
import { diskFormat } from '../disk/sniff.js';
import { throwIfCancelled, type Plan } from '../job.js';
import type { JournalBase } from '../journal.js';
import type { JournalKind } from '../operation.js';
import { isActiveDisk, unlessIoFailure } from '../library/scan.js';
import { mergeSentence } from '../library/keep-lose.js';
import { deletePlanned, planDelete } from './delete.js';
import { mergeOperation, type MergePlan } from './merge.js';
import { planVhdxMerge, vhdxMergeJournal, vhdxMergePlanned } from './merge-vhdx.js';

/** A disk's id in either format (core/disk/ids.ts). */
const idOf = async (p: string): Promise<string> => (await diskIds(p)).uuid;

type MergeDescriptor = typeof mergeOperation;
type MergeRequest = Parameters<MergeDescriptor['plan']>[0];

async function isDifferencing(p: string): Promise<boolean> {
  const f = await VhdFile.open(p).catch(unlessIoFailure(null));
  if (!f) return false;
  const yes = f.type === 'differencing';
  await f.close();
  return yes;
}

async function planRouted(d: MergeDescriptor, r: MergeRequest): Promise<MergePlan> {
  if ((await diskFormat(r.disk)) === 'vhdx') {
    const active = await isActiveDisk(r.disk).catch(unlessIoFailure(false));
    const v = await planVhdxMerge(r.disk, active, r.into);
    const plan: MergePlan = { operation: 'merge', ...v };
    if (plan.refusals.length === 0 && !active && plan.segment.length === 2)
      plan.keepLose = await mergeSentence(plan.child, await idOf(plan.child), plan.parent, await idOf(plan.parent));
    return plan;
  }
  const active = (await isDifferencing(r.disk)) && (await isActiveDisk(r.disk));
  if (active && r.into === undefined) {
    const plan = await d.plan(r);
    if (!plan.parent) return plan;
    const del = await planDelete(plan.parent);
    if (plan.refusals.length > 0 || del.refusals.length > 0) {
      // Refused either way: merge's plan stands (routing never makes a merge less careful), with delete's reasons added.
      const seen = new Set(plan.refusals.map((x) => x.code));
      plan.refusals.push(...del.refusals.filter((x) => !seen.has(x.code)));
      plan.cautions = [
        ...(plan.cautions ?? []),
        `${nodePath.basename(plan.child)} is the active disk: once nothing is refused, this merge runs as the delete of ${nodePath.basename(plan.parent)}, so ${nodePath.basename(plan.child)} keeps its path`,
      ];
      return plan;
    }
    return {
      ...del,
      operation: 'merge',
      summary: `merge ${nodePath.basename(plan.child)} with its parent ${nodePath.basename(plan.parent)} so that ${nodePath.basename(plan.child)}, the active disk, keeps its path: ${del.summary}`,
      child: plan.child,
      parent: plan.parent,
      grandchildren: plan.grandchildren,
      segment: plan.segment,
      viaDelete: del,
    };
  }
  const plan: MergePlan = await d.plan(r);
  if (active) {
    const refusal: Plan['refusals'][number] = {
      code: 'ACTIVE_DISK',
      message: `${nodePath.basename(plan.child)} is the active disk of its tree (the path your VM uses); merge --into would remove that path. Delete the snapshots between it and ${nodePath.basename(r.into!)} instead (vhdsnap delete), which keeps it at its path.`,
    };
    plan.refusals.push(refusal);
  }
  if (plan.refusals.length === 0 && plan.parent && plan.segment.length === 2) {
    plan.keepLose = await mergeSentence(plan.child, await idOf(plan.child), plan.parent, await idOf(plan.parent));
  }
  return plan;
}

/** Merge's journal kind and the VHDX merge's, told apart by the VHDX journal's `format` field. */
function eitherJournal(vhd: JournalKind, vhdx: JournalKind): JournalKind {
  const pick = (raw: JournalBase) => ((raw as { format?: unknown }).format === 'vhdx' ? vhdx : vhd);
  return {
    recover: (path, raw) => pick(raw).recover(path, raw),
    rollback: (path, raw) => pick(raw).rollback(path, raw),
    pastNoReturn: (raw) => pick(raw).pastNoReturn(raw),
    forward: (raw) => pick(raw).forward(raw),
    nested: (path, raw) => pick(raw).nested(path, raw),
  };
}

/** The merge descriptor with the active disk's merge routed to delete (registry.ts lists merge through this). */
export function routeActiveMerge(d: MergeDescriptor): MergeDescriptor {
  return {
    ...d,
    plan: (r) => planRouted(d, r),
    // A VHDX merge puts a new file at the path that keeps the merged disk.
    replaces: (plan) => (plan.vhdx ? [plan.vhdx.target] : []),
    journal: eitherJournal(d.journal!, vhdxMergeJournal),
    run: async (r, ctx) => {
      if (ctx.plan.vhdx) {
        throwIfCancelled(ctx);
        const step = await vhdxMergePlanned({ ...ctx.plan, vhdx: ctx.plan.vhdx }, ctx);
        return { ...step, steps: [step] };
      }
      const via = ctx.plan.viaDelete;
      if (!via) return d.run(r, ctx);
      throwIfCancelled(ctx);
      const res = await deletePlanned(via, ctx);
      // In merge's terms: the merged disk is the active path; the parent snapshot is what went.
      const step = { merged: nodePath.resolve(r.disk), removed: [res.removed], relinked: [] };
      return { ...step, steps: [step] };
    },
  };
}

// Making a leaf its tree's active disk (core/library/active.ts): the person
// says which path the VM uses. Only the folder's sidecar is written, never a
// disk; the leaf that was active becomes a saved state.
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { diskIds } from '../disk/ids.js';
import type { Plan } from '../job.js';
import { recordActive } from '../library/active.js';
import { treeOf } from '../library/scan.js';
import { SIDECAR_NAME } from '../library/sidecar.js';
import { defineOperation, diskPath, writesOneDisk } from '../operation.js';
import { treeEffect } from '../library/effect.js';

export interface SetActivePlan extends Plan {
  path: string;
  /** The tree's active disk before (null when refused). */
  previous: string | null;
}

export interface SetActiveResult {
  active: string;
  /** The disk that was active before (now a saved state), or null when it already was this one. */
  previous: string | null;
}

async function planSetActive(disk: string): Promise<SetActivePlan> {
  const path = nodePath.resolve(disk);
  // A disk that does not open (VHD or VHDX) is no disk to give a VM.
  await diskIds(path);
  const name = nodePath.basename(path);
  const refusals: Plan['refusals'] = [];
  const tree = await treeOf(path);
  let previous: string | null = null;
  if (!tree) refusals.push({ code: 'NOT_IN_TREE', message: `${name} is in no snapshot tree of its folder (its chain is broken)` });
  else if (tree.node.children.length > 0)
    refusals.push({
      code: 'HAS_CHILDREN',
      message: `${name} is a snapshot (it has children): a VM writing it would change what they show; make one of its leaves active, or revert to it`,
    });
  else if (tree.node !== tree.active) previous = tree.active.path;
  return {
    operation: 'set-active',
    summary: previous ? `make ${name} the active disk of its tree (instead of ${nodePath.basename(previous)})` : `${name} is the active disk of its tree`,
    // The disk is locked (one job per disk), never written: the choice goes into the sidecar.
    changes:
      refusals.length === 0
        ? [{ path, action: 'modify', detail: `recorded as the active disk in ${SIDECAR_NAME} beside it (the disk file is not written)` }]
        : [],
    // Only the Now marker moves: no disk's content changes.
    effect: refusals.length === 0 ? treeEffect({ active: path }) : undefined,
    bytesToCopy: 0,
    worstCaseGrowth: 4096,
    freeSpace: null,
    refusals,
    path,
    previous,
  };
}

export const setActiveOperation = defineOperation({
  op: 'set-active',
  request: z.object({ disk: diskPath }),
  ...writesOneDisk,
  // Only the sidecar changes: a VM may keep either disk open meanwhile.
  guarded: () => [],
  plan: (r) => planSetActive(r.disk),
  run: async (_r, ctx): Promise<SetActiveResult> => {
    await recordActive(ctx.plan.path);
    return { active: ctx.plan.path, previous: ctx.plan.previous };
  },
  cli: {
    args: '<disk>',
    about: "Makes a leaf its tree's active disk (the path your VM uses); the one before becomes a saved state.",
    positional: ['disk'],
    print: (r) => `${r.active} is the active disk${r.previous ? ` (${r.previous} is now a saved state)` : ''}`,
  },
});

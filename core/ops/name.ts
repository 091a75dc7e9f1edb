// Naming a disk: its name and description live in the folder's sidecar
// (core/library/sidecar.ts), keyed by the disk's id (and for a VHDX its
// virtual disk id, which outlives writes); the disk is not written.
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { diskIds } from '../disk/ids.js';
import type { Plan } from '../job.js';
import { SIDECAR_NAME, setLabel } from '../library/sidecar.js';
import { defineOperation, descriptionText, diskPath, nameText, writesOneDisk } from '../operation.js';

export interface NameResult {
  path: string;
  uuid: string;
  name: string | null;
  description: string | null;
}

/** The disk's ids are read once, by the plan: the label is keyed by them. */
export interface NamePlan extends Plan {
  path: string;
  uuid: string;
  virtualDiskId: string | null;
}

async function planName(disk: string, label: { name?: string; description?: string }): Promise<NamePlan> {
  const path = nodePath.resolve(disk);
  const { uuid, virtualDiskId } = await diskIds(path);
  const file = nodePath.basename(path);
  const summary =
    label.name === '' ? `clear the name of ${file}` : label.name !== undefined ? `name ${file} ‘${label.name}’` : `set the description of ${file}`;
  return {
    operation: 'name',
    summary,
    // The disk is locked (one job per disk), never written: the label goes into the sidecar.
    changes: [{ path, action: 'modify', detail: `name and description, kept in ${SIDECAR_NAME} beside it (the disk file is not written)` }],
    bytesToCopy: 0,
    worstCaseGrowth: 4096,
    freeSpace: null,
    refusals: [],
    path,
    uuid,
    virtualDiskId,
  };
}

async function name({ path, uuid, virtualDiskId }: NamePlan, label: { name?: string; description?: string }): Promise<NameResult> {
  const next = await setLabel(path, uuid, label, virtualDiskId);
  return { path, uuid, name: next.name ?? null, description: next.description ?? null };
}

/** Undefined keeps a field, empty text clears it. */
export const nameOperation = defineOperation({
  op: 'name',
  request: z.object({ disk: diskPath, name: z.optional(nameText), description: z.optional(descriptionText) }),
  ...writesOneDisk,
  // Only the sidecar changes: a VM may keep the disk open while it is named.
  guarded: () => [],
  plan: (r) => planName(r.disk, r),
  run: (r, ctx) => name(ctx.plan, r),
  cli: {
    args: '<file> <text>',
    about: "Sets a disk's name (and description); empty text clears it.",
    positional: ['disk', 'name'],
    options: { description: { field: 'description', kind: 'text', value: '<text>', help: 'description text' } },
    print: (r) => `${r.path}: ${r.name === null ? 'no name' : `named "${r.name}"`}${r.description === null ? '' : `, description "${r.description}"`}`,
  },
});

// The actions the UI offers, their labels, and which apply to which disk.
import type { DiskNode, DiskRef, OperationArgs } from '../../../server/api';

/** UI actions: the job operations, and rename for core's name operation (setLabel: a dialog of its own, not a job). */
export type ActionName = Exclude<OperationArgs['op'], 'name'> | 'rename';

export interface ActionInfo {
  label: string;
  /** Toolbar button text (the toolbar must fit one line). */
  short: string;
  /** Shown in the tooltip. */
  hint: string;
  /** Changes files: goes through a plan and a confirmation first. */
  destructive: boolean;
  /** Only in the disk's context menu: a rare action that would crowd the toolbar out of its width. */
  menuOnly?: boolean;
}

export const ACTIONS: Record<ActionName, ActionInfo> = {
  snapshot: { label: 'Take snapshot', short: 'Snapshot', hint: 'Freeze the current state; new writes go to an empty child', destructive: true },
  revert: { label: 'Revert…', short: 'Revert…', hint: 'Go back to a snapshot', destructive: true },
  delete: { label: 'Delete snapshot', short: 'Delete', hint: 'Remove this snapshot, folding its content into its children', destructive: true },
  merge: { label: 'Merge into parent…', short: 'Merge…', hint: 'Fold this disk into its parent (or an older snapshot)', destructive: true },
  flatten: { label: 'Flatten to file…', short: 'Flatten…', hint: 'Write the whole chain to one new file', destructive: true },
  check: { label: 'Check…', short: 'Check…', hint: 'Verify this disk and its chain', destructive: false },
  repair: { label: 'Repair', short: 'Repair', hint: 'Fix the repairable problems check found', destructive: true },
  reparent: { label: 'Reconnect…', short: 'Reconnect…', hint: 'Point this disk at its parent again', destructive: true },
  compact: { label: 'Compact', short: 'Compact', hint: 'Drop empty blocks and shrink the file', destructive: true },
  resize: { label: 'Grow…', short: 'Grow…', hint: 'Make the virtual disk larger', destructive: true },
  write: { label: 'Write image…', short: 'Write…', hint: 'Copy a raw image file into this disk at an offset', destructive: true, menuOnly: true },
  rename: { label: 'Rename / describe…', short: 'Rename…', hint: 'Set the name and description shown here', destructive: false },
};

/** The UI action for an operation a job ran. */
export const actionFor = (op: OperationArgs['op']): ActionName => (op === 'name' ? 'rename' : op);

/** Toolbar and context-menu order (the toolbar leaves out menuOnly actions). */
export const ACTION_ORDER: ActionName[] = [
  'snapshot',
  'revert',
  'delete',
  'merge',
  'flatten',
  'check',
  'repair',
  'reparent',
  'compact',
  'resize',
  'write',
  'rename',
];

export function refKey(ref: DiskRef): string {
  return `${ref.folder}\u0000${ref.file}`;
}

/** Shown as the node's title: the sidecar name, else the file name. */
export function displayName(node: { name: string | null; ref: DiskRef }): string {
  return node.name?.trim() || node.ref.file;
}

/** Leaves (current states) at or below a node, depth first. */
export function leavesOf(node: DiskNode): DiskNode[] {
  if (node.children.length === 0) return [node];
  return node.children.flatMap(leavesOf);
}

/** Whether an action makes sense for this disk (the plan still has the last word). */
export function applies(action: ActionName, node: DiskNode): boolean {
  const differencing = node.type === 'differencing';
  switch (action) {
    case 'snapshot':
    case 'resize':
    case 'write':
      // Only the current state may change; snapshots below others are read-only.
      return node.children.length === 0;
    case 'revert':
      // A leaf goes back to its parent; an inner snapshot is a revert target for its leaves.
      return node.children.length > 0 || differencing;
    case 'delete':
      return node.children.length > 0 || differencing;
    case 'merge':
    case 'reparent':
      return differencing;
    case 'compact':
      return node.type !== 'fixed';
    case 'flatten':
    case 'check':
    case 'repair':
    case 'rename':
      return true;
  }
}

const isDiskRef = (v: unknown): v is DiskRef => typeof v === 'object' && v !== null && 'folder' in v && 'file' in v;

/**
 * The disks a job's arguments name: the ones it holds while it runs. Every
 * disk field of an operation's arguments is a DiskRef (server/api.ts FileArg),
 * so these are found by shape, for every operation alike.
 */
export function argRefs(args: OperationArgs): DiskRef[] {
  return Object.values(args).filter(isDiskRef);
}

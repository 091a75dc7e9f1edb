// Disk references and names as the UI shows them (the actions themselves: renderer/src/actions/).
import { printable } from '../../../core/printable';
import type { DiskNode, DiskRef, OperationArgs } from '../../../server/api';

export function refKey(ref: DiskRef): string {
  return `${ref.folder}\u0000${ref.file}`;
}

/** Shown as the node's title: the sidecar name, else the file name (made printable: core/printable.ts). */
export function displayName(node: { name: string | null; ref: DiskRef }): string {
  return printable(node.name?.trim() || node.ref.file);
}

/** Leaves (current states) at or below a node, depth first. */
export function leavesOf(node: DiskNode): DiskNode[] {
  if (node.children.length === 0) return [node];
  return node.children.flatMap(leavesOf);
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

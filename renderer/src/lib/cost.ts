// What a disk costs: the bytes it stores itself (main's allocation read, the
// details pane's "Unique to this disk"), and what removing it would give back.
// That second figure is the plan's own (Plan.frees: the files the run removes
// less the blocks the disks taking their data must add), so the Cost column
// and the delete or merge dialog never disagree. It is asked on demand
// (stores/costs.ts): a plan reads the disks' bitmaps, too much for every row.
import type { DiskNode, OperationArgs } from '../../../server/api';
import { exactBytes, formatBytes } from './format';

/** What removing a disk frees: asked ('pending'), the plan's figure, or why nothing can be freed. */
export type FreeFigure = 'pending' | { bytes: number; how: 'delete' | 'merge' } | { refused: string };

/** The plan that removes this disk's file (delete of a snapshot, merge of a leaf into its parent), or why there is none. */
export function freeRequest(node: DiskNode): Extract<OperationArgs, { op: 'delete' | 'merge' }> | string {
  if (node.children.length > 0) return { op: 'delete', disk: node.ref };
  if (node.type !== 'differencing') return 'it is a disk of its own: there is nothing to merge it into';
  return { op: 'merge', disk: node.ref };
}

/** The Cost cell's tooltip: what the disk holds alone, and what removing it would free (once its plan has said). */
export function costSentence(node: DiskNode, costOf: (n: DiskNode) => number | null, free: FreeFigure | undefined): string {
  const own = costOf(node);
  const first =
    own === null
      ? 'Not known yet: reading which sectors this disk stores itself…'
      : `Stores ${formatBytes(own)} of its own (data no other disk of the chain holds for it).`;
  if (free === undefined || free === 'pending') return `${first} What removing it would free: asking its plan…`;
  if ('refused' in free) return `${first} Nothing is freed by removing it: ${free.refused}.`;
  const verb =
    free.how === 'delete' ? 'Deleting this snapshot' : node.active ? 'Merging it with its parent (which keeps it at its path)' : 'Merging it into its parent';
  // Negative: the data copied into several children takes more than the file gave back.
  if (free.bytes < 0) return `${first} ${verb} frees nothing: the folder grows by ${formatBytes(-free.bytes)} (${exactBytes(-free.bytes)}), as its plan says.`;
  return `${first} ${verb} frees ${formatBytes(free.bytes)} (${exactBytes(free.bytes)}), as its plan says.`;
}

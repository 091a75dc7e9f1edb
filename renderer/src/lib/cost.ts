// What a disk costs: the bytes it stores itself (main's allocation read, the
// details pane's "Unique to this disk"), and what removing it would give back.
// Removing a disk deletes its file but moves its own data into the disk that
// takes over (the parent for a merge, each child for a delete's fold), so it
// frees at least the file less what moves, and at most the whole file when the
// receivers already hold those sectors themselves.
import type { DiskNode } from '../../../server/api';
import { formatBytes } from './format';

export interface Reclaim {
  /** The operation that removes a file here: delete (a snapshot) or merge (a leaf into its parent). */
  how: 'delete' | 'merge';
  /** Bytes freed at least and at most. */
  least: number;
  most: number;
}

/** What deleting (a snapshot) or merging (a leaf) frees, or why nothing can; null while a needed cost is unknown. */
export function reclaimOf(node: DiskNode, costOf: (n: DiskNode) => number | null): Reclaim | string | null {
  const own = costOf(node);
  if (node.children.length > 0) {
    if (node.type === 'differencing') {
      // Fold: the file goes, and its data is copied into each child where the child holds none of its own.
      if (own === null) return null;
      return { how: 'delete', least: Math.max(0, node.fileSize - own * node.children.length), most: node.fileSize };
    }
    if (node.children.length > 1) return `it is the base of ${node.children.length} branches: deleting it is refused (flatten them instead)`;
    // A base with one child: the child is merged into it and its file goes.
    const child = node.children[0];
    const moved = costOf(child);
    if (moved === null) return null;
    return { how: 'delete', least: Math.max(0, child.fileSize - moved), most: child.fileSize };
  }
  if (node.type !== 'differencing') return 'it is a disk of its own: there is nothing to merge it into';
  if (node.active) return 'it is the active disk: merging it into its parent removes the parent snapshot instead (see that row)';
  if (own === null) return null;
  return { how: 'merge', least: Math.max(0, node.fileSize - own), most: node.fileSize };
}

/** The Cost cell's tooltip: what the disk holds alone, and what removing it would free. */
export function costSentence(node: DiskNode, costOf: (n: DiskNode) => number | null): string {
  const own = costOf(node);
  if (own === null) return 'Not known yet: reading which sectors this disk stores itself…';
  const first = `Stores ${formatBytes(own)} of its own (data no other disk of the chain holds for it).`;
  const r = reclaimOf(node, costOf);
  if (r === null) return first;
  if (typeof r === 'string') return `${first} Nothing is freed by removing it: ${r}.`;
  const verb = r.how === 'delete' ? 'Deleting this snapshot' : 'Merging it into its parent';
  const amount = r.least === r.most ? `about ${formatBytes(r.most)}` : `between ${formatBytes(r.least)} and ${formatBytes(r.most)}`;
  return `${first} ${verb} frees ${amount}: a file goes, and the data it holds alone moves into the disk that takes over (the plan says exactly).`;
}

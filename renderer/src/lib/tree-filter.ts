// The name filter for the drawn views (graph, timeline): which disks stay and
// which of them only lead to a match, as the tree view's rows do (tree-rows.ts).
import type { DiskNode } from '../../../server/api';
import { matchesQuery } from './tree-rows';

/** A disk the filter keeps: a match, or an ancestor of one (drawn muted so the chain reads). */
export type Kept = 'match' | 'path';

/** What a filter keeps, or null when there is no filter (everything shows). */
export function filterMarks(roots: readonly DiskNode[], query: string, nameOf: (node: DiskNode) => string): Map<DiskNode, Kept> | null {
  if (query.trim() === '') return null;
  const out = new Map<DiskNode, Kept>();
  const mark = (n: DiskNode): boolean => {
    let below = false;
    for (const c of n.children) below = mark(c) || below;
    if (matchesQuery(n, query, nameOf)) out.set(n, 'match');
    else if (below) out.set(n, 'path');
    return out.has(n);
  };
  roots.forEach(mark);
  return out;
}

// The rows of a folder's indented tree: depth first, siblings in the chosen
// order (a sort never moves a disk away from its parent, so the tree still
// reads as chains), a name filter that keeps the ancestors of each match so
// its chain stays visible, and collapsed nodes' children left out.
import type { DiskNode } from '../../../server/api';
import { refKey } from './operations';

export type SortKey = 'name' | 'created' | 'cost';
export interface TreeSort {
  key: SortKey;
  dir: 'asc' | 'desc';
}

export interface TreeRowData {
  key: string;
  node: DiskNode;
  depth: number;
  parentKey: string | null;
  posinset: number;
  setsize: number;
  /** False for an ancestor shown only because a disk below it matches the filter. */
  match: boolean;
}

export interface RowOptions {
  collapsed: Readonly<Record<string, true>>;
  sort: TreeSort | null;
  /** Filter text; empty shows every disk. */
  query: string;
  nameOf: (node: DiskNode) => string;
  /** Bytes unique to the disk, null while unknown. */
  costOf: (node: DiskNode) => number | null;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Siblings in the chosen order; a stable sort, so equal ones keep the scan's order. Unknown costs and times go last either way. */
export function sortSiblings(nodes: readonly DiskNode[], sort: TreeSort | null, o: Pick<RowOptions, 'nameOf' | 'costOf'>): DiskNode[] {
  if (!sort) return [...nodes];
  const sign = sort.dir === 'asc' ? 1 : -1;
  const value = (n: DiskNode): number | null => {
    if (sort.key === 'cost') return o.costOf(n);
    if (sort.key === 'created') {
      const t = Date.parse(n.timestamp);
      return Number.isFinite(t) ? t : null;
    }
    return null;
  };
  return [...nodes].sort((a, b) => {
    if (sort.key === 'name') return sign * collator.compare(o.nameOf(a), o.nameOf(b));
    const va = value(a);
    const vb = value(b);
    if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
    return sign * (va - vb);
  });
}

/** Whether the disk's shown name or its file name contains the query (case and accents aside). */
export function matchesQuery(node: DiskNode, query: string, nameOf: (node: DiskNode) => string): boolean {
  const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const q = fold(query.trim());
  return q === '' || fold(nameOf(node)).includes(q) || fold(node.ref.file).includes(q);
}

export function buildRows(roots: readonly DiskNode[], o: RowOptions): TreeRowData[] {
  const filtering = o.query.trim() !== '';
  // Per node: whether it or a disk below it matches (only while filtering).
  const keep = new Map<DiskNode, boolean>();
  const mark = (n: DiskNode): boolean => {
    let any = matchesQuery(n, o.query, o.nameOf);
    for (const c of n.children) any = mark(c) || any;
    keep.set(n, any);
    return any;
  };
  if (filtering) roots.forEach(mark);
  const out: TreeRowData[] = [];
  const walk = (nodes: readonly DiskNode[], depth: number, parentKey: string | null) => {
    const shown = sortSiblings(
      nodes.filter((n) => !filtering || keep.get(n)),
      o.sort,
      o,
    );
    shown.forEach((node, i) => {
      const key = refKey(node.ref);
      const match = !filtering || matchesQuery(node, o.query, o.nameOf);
      out.push({ key, node, depth, parentKey, posinset: i + 1, setsize: shown.length, match });
      // A filter opens the way to its matches whatever was collapsed.
      const open = filtering ? node.children.some((c) => keep.get(c)) : !o.collapsed[key];
      if (open) walk(node.children, depth + 1, key);
    });
  };
  walk(roots, 0, null);
  return out;
}

/**
 * A chain this long (in files) gets a warning with a way to consolidate it.
 * Why 16: a read of a sector the top file does not hold goes down the chain
 * file by file (each one's block table, then its sector bitmap) until one
 * holds it, and every file of the chain stays open while the disk is in use.
 * Each level adds a lookup (and an open file) to every read the levels
 * above do not hold. 16 is a judgement, not a measurement: well past the
 * 2-3 snapshots VMware advises for performance, half the 32 it supports in
 * a chain, so the warning comes before a chain is a problem, not after.
 * It is far from core's hard limit (MAX_CHAIN_DEPTH, 256), where reading stops.
 */
export const DEEP_CHAIN = 16;

/** Leaves whose chain is at least `atLeast` files long (a base alone is 1), deepest first. */
export function deepestChains(roots: readonly DiskNode[], atLeast: number): { leaf: DiskNode; depth: number }[] {
  const out: { leaf: DiskNode; depth: number }[] = [];
  const walk = (n: DiskNode, depth: number) => {
    if (n.children.length === 0 && depth >= atLeast) out.push({ leaf: n, depth });
    for (const c of n.children) walk(c, depth + 1);
  };
  roots.forEach((r) => walk(r, 1));
  return out.sort((a, b) => b.depth - a.depth);
}

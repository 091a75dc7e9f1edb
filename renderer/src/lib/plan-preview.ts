// The tree as it will be after a plan runs: the folder's tree as it is now
// with the plan's effect (core Plan.effect, worked out by core) applied. The
// preview in every plan dialog draws it; nothing here plans anything.
import type { DiskNode, Plan } from '../../../server/api';
import { displayName } from './operations';

type TreeEffect = NonNullable<Plan['effect']>;
type TreePlace = TreeEffect['moved'][number]['place'];

export type PreviewStatus = 'same' | 'removed' | 'changed' | 'new';

export interface PreviewNode {
  /** Unique in the preview (a path that goes and continues elsewhere has its ghost under a second key). */
  key: string;
  path: string;
  label: string;
  status: PreviewStatus;
  /** Hangs from another disk than now. */
  moved: boolean;
  /** The tree's active disk afterwards (the Now marker). */
  active: boolean;
  children: PreviewNode[];
}

interface Work {
  key: string;
  path: string;
  label: string;
  status: PreviewStatus;
  moved: boolean;
  children: Work[];
  parent: Work | null;
}

/** The last part of a path, either separator (the page has no path module). */
export const baseName = (p: string): string => p.split(/[\\/]/).pop() ?? p;

const contains = (n: DiskNode, paths: Set<string>): boolean => paths.has(n.path) || n.children.some((c) => contains(c, paths));

function activeIn(n: DiskNode): string | null {
  if (n.active) return n.path;
  for (const c of n.children) {
    const a = activeIn(c);
    if (a) return a;
  }
  return null;
}

/**
 * The trees the effect touches, as they will be. `roots` are the folder's
 * trees now; trees the effect names no disk of are left out, and a new disk
 * with no place (flatten's output) becomes a tree of its own.
 */
export function afterTree(roots: readonly DiskNode[], effect: TreeEffect): PreviewNode[] {
  const named = new Set([
    ...effect.removed,
    ...effect.changed,
    ...effect.moved.map((m) => m.path),
    ...(effect.active ? [effect.active] : []),
    ...[...effect.created, ...effect.moved].flatMap((c) => (c.place ? Object.values(c.place) : [])),
  ]);
  const touched = roots.filter((r) => contains(r, named));
  const byPath = new Map<string, Work>();
  /** Each disk's parent now: places are read against the tree as it is before the plan. */
  const parentNow = new Map<string, string | null>();
  const build = (n: DiskNode, parent: Work | null): Work => {
    const w: Work = { key: n.path, path: n.path, label: displayName(n), status: 'same', moved: false, children: [], parent };
    byPath.set(n.path, w);
    parentNow.set(n.path, parent?.path ?? null);
    w.children = n.children.map((c) => build(c, w));
    return w;
  };
  const tops: Work[] = touched.map((r) => build(r, null));
  const removed = new Set(effect.removed);
  const continues = new Set([...effect.moved.map((m) => m.path), ...effect.created.map((c) => c.path)]);

  /** Takes a disk out of its place (a parent's children, or the trees), returning where it was. */
  const detach = (w: Work): number => {
    const list = w.parent ? w.parent.children : tops;
    const at = list.indexOf(w);
    if (at >= 0) list.splice(at, 1);
    w.parent = null;
    return at;
  };
  const attach = (w: Work, parent: Work | null, at?: number) => {
    w.parent = parent;
    const list = parent ? parent.children : tops;
    list.splice(at ?? list.length, 0, w);
  };
  /** A disk that stays: the disk itself, or (removed) the nearest ancestor that stays. */
  const staying = (path: string | null | undefined): Work | null => {
    for (let p = path ?? null; p !== null; p = parentNow.get(p) ?? null) {
      const w = byPath.get(p);
      if (w && !(removed.has(p) && !continues.has(p))) return w;
    }
    return null;
  };
  const parentFor = (place: TreePlace | undefined): Work | null => {
    if (!place) return null;
    if ('under' in place) return staying(place.under);
    if ('beside' in place) return staying(parentNow.get(place.beside));
    return staying(parentNow.get(place.above));
  };
  // Resolved before anything moves: places name disks as they are now.
  const movedTo = effect.moved.map((m) => ({ w: byPath.get(m.path), parent: parentFor(m.place) }));
  const createdAt = effect.created.map((c) => ({ c, parent: parentFor(c.place) }));

  // Removed disks stay in view as ghosts where they were; their children hang from their parent.
  for (const path of effect.removed) {
    const w = byPath.get(path);
    if (!w) continue;
    if (continues.has(path)) {
      // The path goes on elsewhere; what it held now is lost: a ghost (no children) stands where it was.
      const ghost: Work = { ...w, key: `${path}\u0000before`, status: 'removed', children: [], parent: null };
      const list = w.parent ? w.parent.children : tops;
      attach(ghost, w.parent, list.indexOf(w));
      continue;
    }
    w.status = 'removed';
    const at = (w.parent ? w.parent.children : tops).indexOf(w) + 1;
    const kids = w.children;
    w.children = [];
    kids.forEach((k, i) => attach(k, w.parent, at + i));
  }

  for (const { w, parent } of movedTo) {
    if (!w || w.parent === parent) continue;
    detach(w);
    attach(w, parent);
    w.moved = true;
  }

  for (const { c, parent } of createdAt) {
    const w: Work = { key: `${c.path}\u0000new`, path: c.path, label: c.name ?? baseName(c.path), status: 'new', moved: false, children: [], parent: null };
    if (c.place && 'above' in c.place) {
      // Between a disk and its parent: the new disk takes the disk's place, the disk hangs from it.
      const below = byPath.get(c.place.above);
      if (below) {
        const at = detach(below);
        attach(w, parent, at);
        attach(below, w);
        continue;
      }
    }
    attach(w, parent);
  }

  for (const path of effect.changed) {
    const w = byPath.get(path);
    if (w && w.status === 'same') w.status = 'changed';
  }

  const active = new Set(effect.active ? [effect.active] : touched.map(activeIn).filter((a): a is string => a !== null && !removed.has(a)));
  // A new standalone disk is a tree of its own, and so its active disk.
  for (const { c } of createdAt) if (!c.place) active.add(c.path);
  const out = (w: Work): PreviewNode => ({
    key: w.key,
    path: w.path,
    label: w.label,
    status: w.status,
    moved: w.moved,
    active: w.status !== 'removed' && active.has(w.path),
    children: w.children.map(out),
  });
  return tops.map(out);
}

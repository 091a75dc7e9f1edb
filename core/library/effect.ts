// What a plan does to the tree (Plan.effect), for the app's before/after
// preview. Most operations only change, create or remove the files their plan
// lists, and get their effect from that list here, once (the runner fills it
// in); operations that move disks in the tree or decide the active disk
// (snapshot, delete, revert, switch, set-active, reparent) say it themselves.
import * as nodePath from 'node:path';
import type { Plan, TreeEffect } from '../shapes.js';

export type { TreeEffect };

/** An effect with the parts given, the rest empty (paths made absolute, as the tree's are). */
export function treeEffect(e: Partial<TreeEffect>): TreeEffect {
  const abs = (p: string) => nodePath.resolve(p);
  const place = <P extends Record<string, string>>(pl: P): P => Object.fromEntries(Object.entries(pl).map(([k, v]) => [k, abs(v)])) as P;
  return {
    removed: (e.removed ?? []).map(abs),
    changed: (e.changed ?? []).map(abs),
    created: (e.created ?? []).map((c) => ({ path: abs(c.path), ...(c.place ? { place: place(c.place) } : {}), ...(c.name ? { name: c.name } : {}) })),
    moved: (e.moved ?? []).map((m) => ({ path: abs(m.path), place: place(m.place) })),
    ...(e.active !== undefined ? { active: abs(e.active) } : {}),
  };
}

/** The effect a plan's list of changes implies: a modified file changes, a deleted one goes, a created one is a new standalone disk. */
export function effectOfChanges(plan: Pick<Plan, 'changes'>): TreeEffect {
  const of = (a: Plan['changes'][number]['action']) => plan.changes.filter((c) => c.action === a).map((c) => c.path);
  return treeEffect({ removed: of('delete'), changed: of('modify'), created: of('create').map((path) => ({ path })) });
}

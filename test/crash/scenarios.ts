// Starting folders for crash cases: random snapshot trees (test/support/tree.ts)
// whose every disk is checked against the reference model before use, so the
// "before" state the harness compares with is independent of the code under test.
import { utimes } from 'node:fs/promises';
import { stampChildren } from '../../core/ops/relink.js';
import { junkClearSectors } from '../support/junk.js';
import { buildTree, readThrough, type TreeSpec } from '../support/tree.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Small, with a tail that is not a whole block, so 50 kills per case stay fast. */
export const SIZE = 3 * MiB + 5 * 512;

export interface TreeSetup extends Partial<TreeSpec> {
  parents: (number | null)[];
  seed: number;
  /** Layers that get junk in their clear-bit sectors (legal, and must never show through). */
  junk?: number[];
  /** Runs after the tree is built and checked. */
  then?: (dir: string, paths: string[]) => Promise<void>;
}

export function treeSetup(t: TreeSetup): (dir: string) => Promise<void> {
  return async (dir) => {
    const { model, paths, rng } = await buildTree(dir, t.seed, { size: SIZE, blockSize: 512 * KiB, writesPerLayer: 10, ...t });
    for (const i of t.junk ?? []) {
      if ((await junkClearSectors(paths[i], rng)) === 0) throw new Error(`setup: d${i} has no clear-bit sectors to fill with junk`);
    }
    for (let i = 0; i < paths.length; i++) {
      if (!(await readThrough(paths[i])).equals(model.view(i))) throw new Error(`setup: d${i} does not read as the reference model says`);
    }
    await settleTimes(paths, t.parents);
    await t.then?.(dir, paths);
  };
}

/** A fixed modification time long past (VHD timestamps count whole seconds). */
const SETTLED = new Date('2026-01-01T00:00:00Z');

/**
 * Every disk gets a modification time long past, its children's parent
 * timestamps made to match. Else an operation that writes a disk restamps its
 * children only when the write fell in another second than the set-up did, and
 * the dry run and the kills would count different steps.
 */
async function settleTimes(paths: string[], parents: (number | null)[]): Promise<void> {
  for (let i = 0; i < paths.length; i++) {
    if (parents[i] !== null && parents[i]! >= i) throw new Error('setup: a parent must come before its children');
    await utimes(paths[i], SETTLED, SETTLED);
    await stampChildren(paths[i]);
  }
}

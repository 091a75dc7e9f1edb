// Starting folders for crash cases: random snapshot trees (test/support/tree.ts)
// whose every disk is checked against the reference model before use, so the
// "before" state the harness compares with is independent of the code under test.
import { utimes } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { stampChildren } from '../../core/ops/relink.js';
import { junkClearSectors } from '../support/junk.js';
import { DiskModel, Rng } from '../support/model.js';
import { buildTree, readThrough, type TreeSpec } from '../support/tree.js';
import { linkTo, makeVhdx, type BuiltVhdx } from '../support/vhdx-build.js';

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

export interface VhdxTreeSetup {
  parents: (number | null)[];
  seed: number;
  /** Runs after the tree is built and checked. */
  then?: (dir: string, paths: string[]) => Promise<void>;
}

/**
 * A VHDX snapshot tree: d<i>.vhdx for a base, d<i>.avhdx for a child (linked
 * by its parent's data write GUID and relative path), 4 MiB in 1 MiB blocks,
 * each layer with a few sector-aligned writes; every disk is checked against
 * the reference model before use.
 */
export function vhdxTreeSetup(t: VhdxTreeSetup): (dir: string) => Promise<void> {
  return async (dir) => {
    const size = 4 * MiB;
    const rng = new Rng(t.seed);
    const model = new DiskModel(size);
    const built: BuiltVhdx[] = [];
    const paths: string[] = [];
    for (const [i, parent] of t.parents.entries()) {
      if (parent !== null && parent >= i) throw new Error('setup: a parent must come before its children');
      const name = `d${i}.${parent === null ? 'vhdx' : 'avhdx'}`;
      const layer = parent === null ? model.addBase() : model.addChild(parent);
      const writes = Array.from({ length: 6 }, () => {
        const n = (1 + rng.int(120)) * 512;
        return { offset: rng.int((size - n) / 512) * 512, data: rng.bytes(n) };
      });
      for (const w of writes) model.write(layer, w.offset, w.data);
      const locator = parent === null ? undefined : linkTo(built[parent], `.\\${nodePath.basename(paths[parent])}`);
      paths.push(nodePath.join(dir, name));
      built.push(await makeVhdx(paths[i], { kind: parent === null ? 'dynamic' : 'differencing', virtualSize: size, writes, locator }));
    }
    for (let i = 0; i < paths.length; i++) {
      if (!(await readThrough(paths[i])).equals(model.view(i))) throw new Error(`setup: d${i} does not read as the reference model says`);
    }
    await t.then?.(dir, paths);
  };
}

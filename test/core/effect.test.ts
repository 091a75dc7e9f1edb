// Plan.effect (core/library/effect.ts and the operations that say their own):
// for each operation the app previews, the tree the page draws from the plan
// (renderer/src/lib/plan-preview.ts) is the tree a scan finds after the run:
// the same disks under the same parents, the Now marker on the same disk.
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordActive } from '../../core/library/active.js';
import { scanLibrary, type TreeNode } from '../../core/library/scan.js';
import { planOperation, runOperation } from '../../core/operations.js';
import type { RequestOf, OperationName } from '../../core/registry.js';
import { afterTree, type PreviewNode } from '../../renderer/src/lib/plan-preview.js';
import type { DiskNode } from '../../server/api.js';
import type { Plan } from '../../core/shapes.js';
import { buildTree } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const SPEC = { size: 2 * 1024 * 1024, blockSize: 64 * 1024, writesPerLayer: 4 };
const tmp = useTmpDir('vhdsnap-effect-');

const asDiskNode = (n: TreeNode): DiskNode => ({
  ...n,
  ref: { folder: 'f', file: nodePath.basename(n.path) },
  isLeaf: n.children.length === 0,
  children: n.children.map(asDiskNode),
});

/** A disk's file name, the time in a kept state's name left out (revert and switch choose it again when they run). */
const file = (p: string) => nodePath.basename(p).replace(/-state-\d{8}-\d{6}(-\d+)?/, '-state-*');

/** "file < parent", "*" on the active disk: the shape of a forest, sorted. */
function shapeOfScan(roots: TreeNode[]): string[] {
  const out: string[] = [];
  const walk = (n: TreeNode, parent: string) => {
    out.push(`${file(n.path)} < ${parent}${n.active ? ' *' : ''}`);
    n.children.forEach((c) => walk(c, file(n.path)));
  };
  roots.forEach((r) => walk(r, '-'));
  return out.sort();
}

/** The same shape from the preview, ghosts left out (they are what goes). */
function shapeOfPreview(roots: PreviewNode[]): string[] {
  const out: string[] = [];
  const walk = (n: PreviewNode, parent: string) => {
    if (n.status === 'removed') return;
    out.push(`${file(n.path)} < ${parent}${n.active ? ' *' : ''}`);
    n.children.forEach((c) => walk(c, file(n.path)));
  };
  roots.forEach((r) => walk(r, '-'));
  return out.sort();
}

/** Plans `req` on the folder, previews it, runs it (held to the plan by its pins) and compares; returns the effect. */
async function previewMatchesRun<K extends OperationName>(req: RequestOf<K>) {
  const before = (await scanLibrary([tmp.dir])).roots;
  const plan: Plan = await planOperation(req);
  expect(plan.refusals).toEqual([]);
  expect(plan.effect).toBeDefined();
  const preview = afterTree(before.map(asDiskNode), plan.effect!);
  await runOperation({ ...req, ...plan.pins } as RequestOf<K>);
  const after = (await scanLibrary([tmp.dir])).roots;
  // The preview shows the trees the plan touches: compare those.
  const shown = new Set(shapeOfPreview(preview).map((l) => l.split(' ')[0]));
  expect(shapeOfPreview(preview)).toEqual(shapeOfScan(after).filter((l) => shown.has(l.split(' ')[0])));
  return { effect: plan.effect!, preview };
}

/** d0 → d1 → d2 (d2 the active disk: the newest leaf). */
const chain = async () => (await buildTree(tmp.dir, 7, { parents: [null, 0, 1], ...SPEC })).paths;

describe('the preview is the tree the run leaves', () => {
  it('snapshot in place: a new snapshot above the disk, which stays active, named as asked', async () => {
    const paths = await chain();
    const { effect, preview } = await previewMatchesRun({ op: 'snapshot', disk: paths[2], name: 'Before upgrade' });
    expect(effect.created).toHaveLength(1);
    expect(effect.created[0]).toMatchObject({ place: { above: paths[2] }, name: 'Before upgrade' });
    expect(effect.active).toBe(paths[2]);
    expect(preview[0].children[0].children[0]).toMatchObject({ status: 'new', label: 'Before upgrade' });
  });

  it('snapshot --out of the active disk: the new child becomes active', async () => {
    const paths = await chain();
    const { effect } = await previewMatchesRun({ op: 'snapshot', disk: paths[2], out: tmp.file('next.vhd') });
    expect(effect.active).toBe(tmp.file('next.vhd'));
  });

  it('delete of a snapshot (fold) and of a base with one child (merge-child)', async () => {
    const paths = await chain();
    const { effect } = await previewMatchesRun({ op: 'delete', disk: paths[1] });
    expect(effect).toMatchObject({ removed: [paths[1]], changed: [paths[2]] });
    const second = await previewMatchesRun({ op: 'delete', disk: paths[0] });
    expect(second.effect).toMatchObject({ removed: [paths[0]], changed: [paths[2]] });
  });

  it('delete of a saved state (remove): only that leaf goes, Now stays', async () => {
    const { paths } = await buildTree(tmp.dir, 88, { ...SPEC, parents: [null, 0, 0] });
    await recordActive(paths[1]);
    const { effect } = await previewMatchesRun({ op: 'delete', disk: paths[2] });
    expect(effect).toMatchObject({ removed: [paths[2]], changed: [] });
  });

  it('merge of a snapshot into its parent, and of the active disk (run as the delete of its parent)', async () => {
    const paths = await chain();
    const { effect } = await previewMatchesRun({ op: 'merge', disk: paths[1] });
    expect(effect).toMatchObject({ removed: [paths[1]], changed: [paths[0], paths[2]] });
    const active = await previewMatchesRun({ op: 'merge', disk: paths[2] });
    // The active path stays: its parent is what goes.
    expect(active.effect).toMatchObject({ removed: [paths[0]], changed: [paths[2]] });
  });

  it('revert, keeping the current state and not', async () => {
    const paths = await chain();
    const kept = await previewMatchesRun({ op: 'revert', disk: paths[2], keep: true });
    expect(kept.effect.moved).toEqual([{ path: paths[2], place: { under: paths[1] } }]);
    expect(kept.effect.created[0].name).toMatch(/^State before revert/);
    const lost = await previewMatchesRun({ op: 'revert', disk: paths[2], to: paths[0] });
    expect(lost.effect.removed).toEqual([paths[2]]);
  });

  it('switch to a saved state, and make another saved state active', async () => {
    const { paths } = await buildTree(tmp.dir, 9, { parents: [null, 0, 0], ...SPEC });
    const before = (await scanLibrary([tmp.dir])).roots;
    const saved = before[0].children.find((c) => !c.active)!.path;
    const { effect } = await previewMatchesRun({ op: 'switch', disk: saved });
    expect(effect.removed).toEqual([saved]);
    const other = (await scanLibrary([tmp.dir])).roots[0].children.find((c) => !c.active)!.path;
    const setActive = await previewMatchesRun({ op: 'set-active', disk: other });
    expect(setActive.effect).toEqual({ removed: [], changed: [], created: [], moved: [], active: other });
    expect(paths).toHaveLength(3);
  });

  it('flatten: a standalone new disk', async () => {
    const paths = await chain();
    const { effect, preview } = await previewMatchesRun({ op: 'flatten', disk: paths[2], out: tmp.file('flat.vhd') });
    expect(effect.created).toEqual([{ path: tmp.file('flat.vhd') }]);
    expect(preview).toHaveLength(1);
    expect(preview[0]).toMatchObject({ status: 'new', children: [] });
  });
});

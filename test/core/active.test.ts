// The active disk of each tree (core/library/active.ts): derived for folders
// other tools made, recorded when vhdsnap decides (snapshot, --out, revert
// --keep, switch, set-active), exactly one per tree; and no writing operation
// takes the active path away or changes what it shows (but revert and switch).
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseActive, isGeneratedName, savedStateName, shortStamp } from '../../core/library/active.js';
import { readSidecar } from '../../core/library/sidecar.js';
import { scanLibrary, type TreeNode } from '../../core/library/scan.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { findJournals } from '../../core/journal.js';
import { buildTree, readThrough } from '../support/tree.js';
import { folderState } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SPEC = { size: 2 * MiB, blockSize: 64 * KiB };

const tmp = useTmpDir('vhdsnap-active-');

function all(n: TreeNode): TreeNode[] {
  return [n, ...n.children.flatMap(all)];
}

/** Per tree: the file of its active disk, and its states by file. */
async function states(dir: string): Promise<{ active: string[]; state: Record<string, string> }> {
  const forest = await scanLibrary([dir]);
  const active: string[] = [];
  const state: Record<string, string> = {};
  for (const root of forest.roots) {
    const nodes = all(root);
    const a = nodes.filter((n) => n.active);
    // Exactly one per tree, whatever else holds.
    expect(a, `tree of ${root.path}`).toHaveLength(1);
    expect(a[0].state).toBe('active');
    active.push(nodePath.basename(a[0].path));
    for (const n of nodes) state[nodePath.basename(n.path)] = n.state;
  }
  return { active, state };
}

/** Sets mtimes so that derivation ties are decided by them, newest last. */
async function ageInOrder(paths: string[]): Promise<void> {
  const t0 = Date.now() / 1000 - 3600;
  for (let i = 0; i < paths.length; i++) await fsp.utimes(paths[i], t0 + i * 60, t0 + i * 60);
}

describe('the rules', () => {
  it('generated names are the snapshot and state names vhdsnap gives', () => {
    expect(isGeneratedName('/x/vm-snap-20261203-140501.vhd')).toBe(true);
    expect(isGeneratedName('vm-state-20261203-140501-2.vhd')).toBe(true);
    expect(isGeneratedName('vm.vhd')).toBe(false);
    expect(isGeneratedName('vm-state-of-the-art.vhd')).toBe(false);
    expect(isGeneratedName('snap-a.vhd')).toBe(false);
  });

  it('the latest record wins; without records a name not generated; ties to the newest file, then the path', () => {
    const leaf = (path: string, recordedAt: string | null, mtimeMs: number) => ({ path, recordedAt, mtimeMs });
    expect(chooseActive([leaf('a.vhd', null, 5), leaf('b.vhd', '2026-01-01T00:00:00Z', 1), leaf('c.vhd', '2026-02-01T00:00:00Z', 0)])).toBe(2);
    expect(chooseActive([leaf('a-state-20260101-000000.vhd', null, 9), leaf('vm.vhd', null, 1)])).toBe(1);
    expect(chooseActive([leaf('a.vhd', null, 1), leaf('b.vhd', null, 3), leaf('c.vhd', null, 2)])).toBe(1);
    expect(chooseActive([leaf('b.vhd', null, 1), leaf('a.vhd', null, 1)])).toBe(1);
    expect(chooseActive([leaf('x-snap-20260101-000000.vhd', null, 1), leaf('x-state-20260101-000000.vhd', null, 2)])).toBe(1);
  });

  it('saved states are named for what happened', () => {
    const at = new Date(2026, 11, 3, 14, 5);
    expect(shortStamp(at)).toBe('3 Dec 14:05');
    expect(savedStateName('revert', 'Before upgrade', at)).toBe('State before revert to ‘Before upgrade’, 3 Dec 14:05');
    // Never nested: a target with such a name is called by its time.
    expect(savedStateName('switch', 'State before revert to ‘Before upgrade’, 3 Dec 14:05', at)).toBe(
      'State before switch to the saved state of 3 Dec 14:05, 3 Dec 14:05',
    );
  });
});

describe('derived for folders other tools made', () => {
  it('linear: the leaf; branched: the leaf whose name is not generated, even when a generated one is newer', async () => {
    const { paths } = await buildTree(tmp.dir, 1, { parents: [null, 0, 1], ...SPEC });
    expect(await states(tmp.dir)).toEqual({ active: ['d2.vhd'], state: { 'd0.vhd': 'snapshot', 'd1.vhd': 'snapshot', 'd2.vhd': 'active' } });
    const kept = tmp.file('d2-state-20260101-120000.vhd');
    await createDifferencing(kept, paths[1]);
    await ageInOrder([paths[2], kept]);
    expect((await states(tmp.dir)).active).toEqual(['d2.vhd']);
    expect((await states(tmp.dir)).state[nodePath.basename(kept)]).toBe('saved');
    // Nothing was written to decide it.
    expect(existsSync(tmp.file('.vhdsnap.json'))).toBe(false);
  });

  it('two leaves with plain names: the newest file is active, the other a saved state; one per tree with two trees', async () => {
    const { paths } = await buildTree(tmp.dir, 2, { parents: [null, 0, 0], ...SPEC });
    await createDynamic(tmp.file('lone.vhd'), MiB);
    await ageInOrder([paths[2], paths[1]]);
    expect(await states(tmp.dir)).toEqual({
      active: ['d1.vhd', 'lone.vhd'],
      state: { 'd0.vhd': 'snapshot', 'd1.vhd': 'active', 'd2.vhd': 'saved', 'lone.vhd': 'active' },
    });
    await ageInOrder([paths[1], paths[2]]);
    expect((await states(tmp.dir)).active).toEqual(['d2.vhd', 'lone.vhd']);
  });
});

describe('recorded when vhdsnap decides', () => {
  it('snapshot in place keeps the path active; its snapshot is a snapshot', async () => {
    const { paths } = await buildTree(tmp.dir, 4, { parents: [null, 0], ...SPEC });
    const r = await runOperation({ op: 'snapshot', disk: paths[1], name: 'Before upgrade' });
    const s = await states(tmp.dir);
    expect(s.active).toEqual(['d1.vhd']);
    expect(s.state[nodePath.basename(r.snapshot)]).toBe('snapshot');
  });

  it('snapshot --out of the active disk makes the child active; --out of a snapshot makes a saved state', async () => {
    const { paths } = await buildTree(tmp.dir, 5, { parents: [null, 0], ...SPEC });
    const plan = await planOperation({ op: 'snapshot', disk: paths[1], out: tmp.file('next.vhd') });
    expect(plan.activeMoves).toBe(true);
    await runOperation({ op: 'snapshot', disk: paths[1], out: tmp.file('next.vhd') });
    // Active because it was recorded, even with the oldest file of the folder.
    await ageInOrder([tmp.file('next.vhd'), paths[0]]);
    expect((await states(tmp.dir)).active).toEqual(['next.vhd']);
    expect(Object.keys((await readSidecar(tmp.dir)).active ?? {})).toEqual(['next.vhd']);
    // From d0 (a snapshot with a child): a branch, a saved state; next.vhd stays active even when the branch is newer.
    await runOperation({ op: 'snapshot', disk: paths[0], out: tmp.file('branch.vhd') });
    await ageInOrder([tmp.file('next.vhd'), tmp.file('branch.vhd')]);
    const s = await states(tmp.dir);
    expect(s.active).toEqual(['next.vhd']);
    expect(s.state['branch.vhd']).toBe('saved');
  });

  it('revert --keep: the path stays active, the kept state is saved and named for the revert', async () => {
    const { model, paths } = await buildTree(tmp.dir, 6, { parents: [null, 0, 1], ...SPEC });
    await runOperation({ op: 'name', disk: paths[1], name: 'Before upgrade' });
    const r = await runOperation({ op: 'revert', disk: paths[2], keep: true });
    // The kept state is the newest file; the record still says d2.
    await ageInOrder([paths[2], r.kept!]);
    const s = await states(tmp.dir);
    expect(s.active).toEqual(['d2.vhd']);
    expect(s.state[nodePath.basename(r.kept!)]).toBe('saved');
    const forest = await scanLibrary([tmp.dir]);
    const kept = all(forest.roots[0]).find((n) => n.path === r.kept)!;
    expect(kept.name).toMatch(/^State before revert to ‘Before upgrade’, \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$/);
    expect((await readThrough(r.kept!)).equals(model.view(2))).toBe(true);
  });

  it('set-active moves the marker (only the sidecar is written); a snapshot cannot be made active', async () => {
    const { paths } = await buildTree(tmp.dir, 7, { parents: [null, 0, 0], ...SPEC });
    await ageInOrder([paths[1], paths[2]]);
    expect((await states(tmp.dir)).active).toEqual(['d2.vhd']);
    const before = folderState(tmp.dir);
    const r = await runOperation({ op: 'set-active', disk: paths[1] });
    expect(r).toEqual({ active: paths[1], previous: paths[2] });
    expect((await states(tmp.dir)).active).toEqual(['d1.vhd']);
    // Only the sidecar is new: every disk file is byte for byte as it was.
    const after = folderState(tmp.dir);
    for (const f of ['d0.vhd', 'd1.vhd', 'd2.vhd']) expect(after[f], f).toEqual(before[f]);
    const refused = await planOperation({ op: 'set-active', disk: paths[0] });
    expect(refused.refusals.map((x) => x.code)).toEqual(['HAS_CHILDREN']);
  });
});

describe('switch', () => {
  it('the active path shows the saved state; what it showed is kept as a named saved state; nothing else changes', async () => {
    const { model, paths } = await buildTree(tmp.dir, 8, { parents: [null, 0, 1, 1], ...SPEC });
    await runOperation({ op: 'set-active', disk: paths[2] });
    await runOperation({ op: 'name', disk: paths[3], name: 'Experiment' });
    const before = folderState(tmp.dir);
    const plan = await planOperation({ op: 'switch', disk: paths[3] });
    expect(plan.refusals).toEqual([]);
    expect(plan.active).toBe(paths[2]);
    expect(plan.keepLose).toMatch(/^Nothing is lost: your current disk d2\.vhd will show ‘Experiment’/);
    expect(folderState(tmp.dir)).toEqual(before); // the plan writes nothing
    const r = await runOperation({ op: 'switch', disk: paths[3] });
    expect(r.active).toBe(paths[2]);
    expect(r.kept).toMatch(/d2-state-\d{8}-\d{6}\.vhd$/);
    expect((await readThrough(paths[2])).equals(model.view(3))).toBe(true);
    expect((await readThrough(r.kept)).equals(model.view(2))).toBe(true);
    expect(existsSync(paths[3])).toBe(false);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect(await findJournals(tmp.dir)).toEqual([]);
    const s = await states(tmp.dir);
    expect(s.active).toEqual(['d2.vhd']);
    expect(s.state[nodePath.basename(r.kept)]).toBe('saved');
    const nodes = all((await scanLibrary([tmp.dir])).roots[0]);
    // The label follows the state's file to the active path; the kept one is named for the switch.
    expect(nodes.find((n) => n.path === paths[2])!.name).toBe('Experiment');
    expect(nodes.find((n) => n.path === r.kept)!.name).toMatch(/^State before switch to ‘Experiment’, /);
    // And back: switching to the kept state restores the first content at the active path; the name vhdsnap gave that state does not follow it there.
    await runOperation({ op: 'switch', disk: r.kept });
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    expect(all((await scanLibrary([tmp.dir])).roots[0]).find((n) => n.path === paths[2])!.name).toBeNull();
  });

  it('refuses before any write: the active disk itself, a snapshot; the dry run names why', async () => {
    const { paths } = await buildTree(tmp.dir, 9, { parents: [null, 0, 0], ...SPEC });
    await runOperation({ op: 'set-active', disk: paths[1] });
    const before = folderState(tmp.dir);
    for (const [disk, code] of [
      [paths[1], 'ALREADY_ACTIVE'],
      [paths[0], 'HAS_CHILDREN'],
    ] as const) {
      expect((await planOperation({ op: 'switch', disk })).refusals.map((x) => x.code)).toEqual([code]);
      await expect(runOperation({ op: 'switch', disk })).rejects.toMatchObject({ code });
    }
    expect(folderState(tmp.dir)).toEqual(before);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('.') && n !== '.vhdsnap.json')).toEqual([]);
  });

  it('a switch interrupted after its kept name was made is rolled back by recover; after the swap it is finished', async () => {
    const { model, paths } = await buildTree(tmp.dir, 10, { parents: [null, 0, 0], ...SPEC });
    await runOperation({ op: 'set-active', disk: paths[1] });
    const plan = await planOperation({ op: 'switch', disk: paths[2] });
    // Phase "link" as a kill would leave it: journal + kept name, nothing renamed.
    const { journalHeader, journalPath, writeJournal } = await import('../../core/journal.js');
    const { keepCopy } = await import('../../core/ops/revert.js');
    const j = {
      ...journalHeader('switch', 'link'),
      active: paths[1],
      oldUuid: (await scanLibrary([tmp.dir])).roots[0].children.find((c) => c.path === paths[1])!.uuid,
      state: paths[2],
      stateUuid: (await scanLibrary([tmp.dir])).roots[0].children.find((c) => c.path === paths[2])!.uuid,
      kept: plan.kept!,
      keptLabel: plan.keptLabel!,
    };
    await writeJournal(journalPath(paths[1]), { ...j, pid: 999999 });
    await keepCopy(paths[1], plan.kept!);
    const rec = await recover(tmp.dir);
    expect(rec.map((x) => [x.op, x.action])).toEqual([['switch', 'discarded']]);
    expect(existsSync(plan.kept!)).toBe(false);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    // Phase "swap": finished forward.
    await writeJournal(journalPath(paths[1]), { ...j, phase: 'swap', pid: 999999 });
    await keepCopy(paths[1], plan.kept!);
    const rec2 = await recover(tmp.dir);
    expect(rec2.map((x) => [x.op, x.action])).toEqual([['switch', 'completed']]);
    expect((await readThrough(paths[1])).equals(model.view(2))).toBe(true);
    expect((await readThrough(plan.kept!)).equals(model.view(1))).toBe(true);
    expect(existsSync(paths[2])).toBe(false);
    expect(await findJournals(tmp.dir)).toEqual([]);
  });
});

describe('no operation takes the active path away', () => {
  it('merge of the active disk into a base: the merged disk is at the active path with the same content; the plan names the snapshot that goes', async () => {
    const { model, paths } = await buildTree(tmp.dir, 11, { parents: [null, 0], ...SPEC });
    await runOperation({ op: 'name', disk: paths[0], name: 'Clean install' });
    const plan = await planOperation({ op: 'merge', disk: paths[1] });
    expect(plan.refusals).toEqual([]);
    expect(plan.keepLose).toBe('The snapshot ‘Clean install’ will no longer exist; your current disk d1.vhd keeps all its data.');
    const r = await runOperation({ op: 'merge', disk: paths[1] });
    expect(r.merged).toBe(paths[1]);
    expect(existsSync(paths[0])).toBe(false);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect((await states(tmp.dir)).active).toEqual(['d1.vhd']);
  });

  it('merge of the active disk into an inner snapshot (fold), delete of a snapshot, then delete of a snapshot above it: the active path reads the same throughout', async () => {
    const { model, paths } = await buildTree(tmp.dir, 12, { parents: [null, 0, 1, 2, 1], ...SPEC });
    await runOperation({ op: 'set-active', disk: paths[3] });
    const same = async () => expect((await readThrough(paths[3])).equals(model.view(3))).toBe(true);
    const m = await planOperation({ op: 'merge', disk: paths[3] });
    expect(m.keepLose).toMatch(/^The snapshot ‘d2\.vhd’ will no longer exist; your current disk d3\.vhd keeps all its data/);
    await runOperation({ op: 'merge', disk: paths[3] });
    await same();
    expect(existsSync(paths[2])).toBe(false);
    const d = await planOperation({ op: 'delete', disk: paths[1] });
    expect(d.keepLose).toBe('The snapshot ‘d1.vhd’ will no longer exist; your current disk d3.vhd keeps all its data, and so does every other disk below it.');
    await runOperation({ op: 'delete', disk: paths[1] });
    await same();
    expect((await readThrough(paths[4])).equals(model.view(4))).toBe(true);
    expect((await states(tmp.dir)).active).toEqual(['d3.vhd']);
  });

  it('merge of a saved state is an ordinary merge (its parent takes its content); the plan says what goes', async () => {
    const { model, paths } = await buildTree(tmp.dir, 13, { parents: [null, 0, 1, 0], ...SPEC });
    await runOperation({ op: 'set-active', disk: paths[3] });
    const plan = await planOperation({ op: 'merge', disk: paths[2] });
    expect(plan.keepLose).toMatch(/^The snapshot ‘d1\.vhd’ as it was will no longer exist: d1\.vhd will show what the saved state ‘d2\.vhd’ shows/);
    const r = await runOperation({ op: 'merge', disk: paths[2] });
    expect(r.merged).toBe(paths[1]);
    expect((await readThrough(paths[1])).equals(model.view(2))).toBe(true);
    expect((await readThrough(paths[3])).equals(model.view(3))).toBe(true);
  });
});

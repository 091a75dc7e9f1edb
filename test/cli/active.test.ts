// The active disk through the CLI: one "← now" per tree in `vhdsnap tree`,
// `active` and `state` in --json, `switch` (dry run, run, refusals), and a
// merge of the active disk that keeps its path and what it shows.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { folderState } from '../support/compare.js';
import { cli } from '../support/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SPEC = { size: 2 * MiB + 3 * 512, blockSize: 64 * KiB, writesPerLayer: 6 };

interface JsonNode {
  path: string;
  active: boolean;
  state: string;
  name: string | null;
  children: JsonNode[];
}
const flat = (n: JsonNode): JsonNode[] => [n, ...n.children.flatMap(flat)];

describe('the active disk in the CLI', () => {
  const tmp = useTmpDir();

  it('tree: one ← now per tree (revert --keep leaves a saved state); --json says active and state', async () => {
    const { paths } = await buildTree(tmp.dir, 901, { parents: [null, 0, 1], ...SPEC });
    const r = await cli('revert', paths[2], '--keep', '--json');
    expect(r.code, r.err).toBe(0);
    const kept = JSON.parse(r.out).kept as string;
    const t = await cli('tree', tmp.dir);
    expect(t.code, t.err).toBe(0);
    const lines = t.out.trim().split('\n');
    expect(lines.filter((l) => l.includes('← now'))).toHaveLength(1);
    expect(lines.find((l) => l.includes('← now'))).toMatch(/^\s+\S+ d2\.vhd /);
    expect(lines.find((l) => l.includes(path.basename(kept)))).toMatch(/State before revert to ‘d1\.vhd’, .*\(saved state\)$/);
    const j = JSON.parse((await cli('tree', tmp.dir, '--json')).out) as { roots: JsonNode[] };
    const nodes = flat(j.roots[0]);
    expect(nodes.filter((n) => n.active).map((n) => path.basename(n.path))).toEqual(['d2.vhd']);
    expect(Object.fromEntries(nodes.map((n) => [path.basename(n.path), n.state]))).toEqual({
      'd0.vhd': 'snapshot',
      'd1.vhd': 'snapshot',
      'd2.vhd': 'active',
      [path.basename(kept)]: 'saved',
    });
  });

  it('switch: the dry run writes nothing and says what is kept; the run swaps; refusals exit 1 before any write', async () => {
    const { model, paths } = await buildTree(tmp.dir, 902, { parents: [null, 0, 0], ...SPEC });
    expect((await cli('set-active', paths[1])).code).toBe(0);
    const before = folderState(tmp.dir);
    const dry = await cli('switch', paths[2], '--dry-run');
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toMatch(/Nothing is lost: your current disk d1\.vhd will show ‘d2\.vhd’/);
    expect(dry.out).toContain('(dry run: nothing was written)');
    expect(folderState(tmp.dir)).toEqual(before);
    for (const [disk, code] of [
      [paths[1], 'ALREADY_ACTIVE'],
      [paths[0], 'HAS_CHILDREN'],
    ] as const) {
      const x = await cli('switch', disk);
      expect(x.code).toBe(1);
      expect(x.err).toContain(code);
      expect(folderState(tmp.dir)).toEqual(before);
    }
    const run = await cli('switch', paths[2], '--json');
    expect(run.code, run.err).toBe(0);
    const res = JSON.parse(run.out) as { active: string; kept: string; keptLabel: string };
    expect(res.active).toBe(paths[1]);
    expect((await readThrough(paths[1])).equals(model.view(2))).toBe(true);
    expect((await readThrough(res.kept)).equals(model.view(1))).toBe(true);
    expect(existsSync(paths[2])).toBe(false);
    const t = await cli('tree', tmp.dir);
    expect(t.out.split('\n').filter((l) => l.includes('← now'))).toEqual([expect.stringContaining('d1.vhd')]);
    expect(t.out).toContain(`${path.basename(res.kept)} "${res.keptLabel}"`);
  });

  it('merge of the active disk: its path still exists and shows the same content; the dry run names the snapshot that goes', async () => {
    const { model, paths } = await buildTree(tmp.dir, 903, { parents: [null, 0, 1], ...SPEC });
    expect((await cli('name', paths[1], 'Before upgrade')).code).toBe(0);
    const dry = await cli('merge', paths[2], '--dry-run');
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain('The snapshot ‘Before upgrade’ will no longer exist; your current disk d2.vhd keeps all its data.');
    const r = await cli('merge', paths[2], '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ merged: paths[2], removed: [paths[1]] });
    expect(existsSync(paths[2])).toBe(true);
    expect(existsSync(paths[1])).toBe(false);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    expect((await readThrough(paths[0])).equals(model.view(0))).toBe(true);
    const t = await cli('tree', tmp.dir);
    expect(t.out.split('\n').filter((l) => l.includes('← now'))).toEqual([expect.stringContaining('d2.vhd')]);
  });

  it('set-active: the marker moves, no disk is written; a snapshot is refused', async () => {
    const { paths } = await buildTree(tmp.dir, 904, { parents: [null, 0, 0], ...SPEC });
    const before = folderState(tmp.dir);
    const r = await cli('set-active', paths[1]);
    expect(r.code, r.err).toBe(0);
    const after = folderState(tmp.dir);
    for (const f of ['d0.vhd', 'd1.vhd', 'd2.vhd']) expect(after[f]).toBe(before[f]);
    expect((await cli('tree', tmp.dir)).out.split('\n').filter((l) => l.includes('← now'))).toEqual([expect.stringContaining('d1.vhd')]);
    const x = await cli('set-active', paths[0]);
    expect(x.code).toBe(1);
    expect(x.err).toContain('HAS_CHILDREN');
  });
});

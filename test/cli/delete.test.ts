// `vhdsnap delete`: dry run prints the plan and changes nothing, the real run
// keeps every remaining disk's content, refusals exit 1 with the reason.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { sha } from '../support/compare.js';
import { cli } from '../support/cli.js';

describe('vhdsnap delete', () => {
  const tmp = useTmpDir();

  it('--dry-run --json prints the plan with its strategy and changes no byte', async () => {
    const { paths } = await buildTree(tmp.dir, 51, { parents: [null, 0, 1], size: 2 * 1024 * 1024, blockSize: 64 * 1024 });
    const before = paths.map(sha);
    const r = await cli('delete', paths[1], '--dry-run', '--json');
    expect(r.code, r.err).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan).toMatchObject({ operation: 'delete', strategy: 'fold', refusals: [] });
    expect(plan.changes.map((c: { path: string; action: string }) => [c.path, c.action])).toEqual([
      [paths[2], 'modify'],
      [paths[1], 'delete'],
    ]);
    expect(paths.map(sha)).toEqual(before);
    const human = await cli('delete', paths[1], '--dry-run');
    expect(human.out).toContain('fold');
  });

  it('deletes a snapshot, prints JSON, and the leaf reads as before', async () => {
    const { model, paths } = await buildTree(tmp.dir, 52, { parents: [null, 0, 1], size: 2 * 1024 * 1024, blockSize: 64 * 1024 });
    const r = await cli('delete', paths[1], '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ strategy: 'fold', removed: paths[1], changed: [paths[2]] });
    expect(existsSync(paths[1])).toBe(false);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
  });

  it('refuses to delete the current state with exit 1 and the reason', async () => {
    const { paths } = await buildTree(tmp.dir, 53, { parents: [null, 0], size: 1024 * 1024, blockSize: 64 * 1024, writesPerLayer: 2 });
    const r = await cli('delete', paths[1]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not a snapshot.*NOT_A_SNAPSHOT/);
    const dry = await cli('delete', paths[1], '--dry-run');
    expect(dry.code).toBe(1);
  });
});

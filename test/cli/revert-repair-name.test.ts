// `vhdsnap revert`, `repair` and `name` through runCli: --json shapes, dry
// runs that change no byte, exit codes 0/1/2, content checked against the
// reference model, labels shown by info and tree.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSidecar } from '../../core/library/sidecar.js';
import { flipByte } from '../support/corrupt.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { folderState } from '../support/compare.js';
import { cli } from '../support/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 2 * MiB + 3 * 512;

describe('vhdsnap revert', () => {
  const tmp = useTmpDir();

  it('--dry-run (human and --json) prints the plan and changes no byte', async () => {
    const { paths } = await buildTree(tmp.dir, 101, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 5 });
    const before = folderState(tmp.dir);
    const r = await cli('revert', paths[2], '--keep', '--dry-run', '--json');
    expect(r.code, r.err).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan).toMatchObject({ operation: 'revert', snapshot: paths[1], refusals: [] });
    expect(plan.kept).toMatch(/d2-state-\d{8}-\d{6}\.vhd$/);
    expect(plan.changes.map((c: { path: string; action: string }) => [c.path, c.action])).toEqual([
      [plan.kept, 'create'],
      [paths[2], 'modify'],
    ]);
    const human = await cli('revert', paths[2], '--dry-run');
    expect(human.code).toBe(0);
    expect(human.out).toContain('Revert d2.vhd to the snapshot d1.vhd');
    expect(human.out).toContain('nothing was written');
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('reverts to the parent (--json); the path reads like the parent, the others are unchanged', async () => {
    const { model, paths } = await buildTree(tmp.dir, 102, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
    const before = folderState(tmp.dir);
    const r = await cli('revert', paths[2], '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ active: paths[2], snapshot: paths[1], kept: null, discarded: true });
    expect((await readThrough(paths[2])).equals(model.view(1))).toBe(true);
    const after = folderState(tmp.dir);
    expect(after['d0.vhd']).toBe(before['d0.vhd']);
    expect(after['d1.vhd']).toBe(before['d1.vhd']);
    expect(Object.keys(after)).toEqual(['d0.vhd', 'd1.vhd', 'd2.vhd']);
    const check = await cli('check', paths[2], '--deep');
    expect(check.code, check.out).toBe(0);
  });

  it('--keep --to a grand-ancestor (human output); the kept state reads as before', async () => {
    const { model, paths } = await buildTree(tmp.dir, 103, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
    const r = await cli('revert', paths[2], '--to', paths[0], '--keep');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`reverted ${paths[2]} to ${paths[0]}`);
    const kept = /previous state kept as (.+)\n/.exec(r.out)![1];
    expect(existsSync(kept)).toBe(true);
    expect((await readThrough(paths[2])).equals(model.view(0))).toBe(true);
    expect((await readThrough(kept)).equals(model.view(2))).toBe(true);
  });

  it('refusals exit 1 with the code; dry runs of refused reverts exit 1 and change nothing', async () => {
    const { paths } = await buildTree(tmp.dir, 104, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 2 });
    const before = folderState(tmp.dir);
    const snap = await cli('revert', paths[1]);
    expect(snap.code).toBe(1);
    expect(snap.err).toMatch(/\[HAS_CHILDREN\]/);
    const base = await cli('revert', paths[0], '--json');
    expect(base.code).toBe(1);
    expect(base.err).toMatch(/HAS_CHILDREN/);
    const dry = await cli('revert', paths[1], '--dry-run', '--json');
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.out).refusals.map((x: { code: string }) => x.code)).toEqual(['HAS_CHILDREN']);
    const self = await cli('revert', paths[2], '--to', paths[2]);
    expect(self.code).toBe(1);
    expect(self.err).toMatch(/\[SAME_DISK\]/);
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('usage errors and unreadable input exit 2', async () => {
    const { paths } = await buildTree(tmp.dir, 105, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 1 });
    const before = folderState(tmp.dir);
    expect((await cli('revert')).code).toBe(2);
    expect((await cli('revert', paths[1], '--bogus')).code).toBe(2);
    expect((await cli('revert', paths[1], '--to', path.join(tmp.dir, 'missing.vhd'))).code).toBe(2);
    expect((await cli('revert', path.join(tmp.dir, 'missing.vhd'))).code).toBe(2);
    expect(folderState(tmp.dir)).toEqual(before);
  });
});

describe('vhdsnap repair', () => {
  const tmp = useTmpDir();

  it('--dry-run --json plans the fix without writing; the real run restores the file byte for byte (exit 0)', async () => {
    const { model, paths } = await buildTree(tmp.dir, 111, { parents: [null], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
    const f = paths[0];
    const original = readFileSync(f);
    await flipByte(f, statSync(f).size - 512 + 66);
    const damaged = folderState(tmp.dir);
    const check = await cli('check', f);
    expect(check.code).toBe(1);

    const dry = await cli('repair', f, '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    const plan = JSON.parse(dry.out);
    expect(plan).toMatchObject({ operation: 'repair', fixes: [{ code: 'FOOTER_CHECKSUM' }], remaining: [] });
    expect(plan.changes).toHaveLength(1);
    const human = await cli('repair', f, '--dry-run');
    expect(human.code).toBe(0);
    expect(human.out).toContain('FOOTER_CHECKSUM');
    expect(folderState(tmp.dir)).toEqual(damaged);

    const r = await cli('repair', f, '--json');
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out);
    expect(res.path).toBe(f);
    expect(res.fixed.map((x: { code: string }) => x.code)).toEqual(['FOOTER_CHECKSUM']);
    expect(res.remaining).toEqual([]);
    expect(readFileSync(f).equals(original)).toBe(true);
    expect((await readThrough(f)).equals(model.view(0))).toBe(true);
    expect((await cli('check', f, '--deep')).code).toBe(0);
  });

  it('exits 1 when errors remain, and reports them with their codes; a dry run exits 1 too and writes nothing', async () => {
    const { paths } = await buildTree(tmp.dir, 112, { parents: [null], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 2 });
    const f = paths[0];
    await flipByte(f, statSync(f).size - 512 + 2);
    await flipByte(f, 3);
    const before = folderState(tmp.dir);
    const dry = await cli('repair', f, '--dry-run', '--json');
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.out).fixes).toEqual([]);
    const r = await cli('repair', f, '--json');
    expect(r.code).toBe(1);
    const res = JSON.parse(r.out);
    expect(res.fixed).toEqual([]);
    expect(res.remaining.map((x: { code: string }) => x.code)).toContain('FOOTER_COOKIE');
    const human = await cli('repair', f);
    expect(human.code).toBe(1);
    expect(human.out).toMatch(/remains FOOTER_COOKIE/);
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a healthy file: nothing to do, exit 0; a missing file or bad flag: exit 2', async () => {
    const { paths } = await buildTree(tmp.dir, 113, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 2 });
    const before = folderState(tmp.dir);
    const r = await cli('repair', paths[1], '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ fixed: [], remaining: [] });
    expect(folderState(tmp.dir)).toEqual(before);
    expect((await cli('repair', path.join(tmp.dir, 'nope.vhd'))).code).toBe(2);
    expect((await cli('repair', paths[1], '--force')).code).toBe(2);
    expect((await cli('repair')).code).toBe(2);
  });
});

describe('vhdsnap name', () => {
  const tmp = useTmpDir();

  it('sets a name and description shown by info and tree (human and --json); empty text clears', async () => {
    const { paths } = await buildTree(tmp.dir, 121, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 1 });
    const vhdBytes = [readFileSync(paths[0]), readFileSync(paths[1])];
    const r = await cli('name', paths[0], 'before upgrade', '--description', 'clean install', '--json');
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out);
    expect(res).toMatchObject({ path: paths[0], name: 'before upgrade', description: 'clean install' });

    const info = JSON.parse((await cli('info', paths[0], '--json')).out);
    expect(info).toMatchObject({ uuid: res.uuid, name: 'before upgrade', description: 'clean install' });
    const infoHuman = (await cli('info', paths[0])).out;
    expect(infoHuman).toContain('"before upgrade"');
    expect(infoHuman).toContain('clean install');
    const tree = JSON.parse((await cli('tree', tmp.dir, '--json')).out);
    expect(tree.roots[0]).toMatchObject({ path: paths[0], name: 'before upgrade', description: 'clean install' });
    expect(tree.roots[0].children[0]).toMatchObject({ path: paths[1], name: null });
    const treeHuman = (await cli('tree', tmp.dir)).out;
    expect(treeHuman).toContain('d0.vhd "before upgrade" (clean install)');
    // The sidecar holds the label under the disk's id; the disks are untouched.
    expect((await readSidecar(tmp.dir)).disks[res.uuid]).toMatchObject({ name: 'before upgrade', description: 'clean install', file: 'd0.vhd' });
    expect(readFileSync(paths[0]).equals(vhdBytes[0])).toBe(true);
    expect(readFileSync(paths[1]).equals(vhdBytes[1])).toBe(true);

    // Renaming keeps the description; empty text clears the name.
    const human = await cli('name', paths[0], 'v2');
    expect(human.code).toBe(0);
    expect(human.out).toContain('named "v2"');
    expect(JSON.parse((await cli('info', paths[0], '--json')).out)).toMatchObject({ name: 'v2', description: 'clean install' });
    expect((await cli('name', paths[0], '', '--json')).code).toBe(0);
    expect(JSON.parse((await cli('info', paths[0], '--json')).out)).toMatchObject({ name: null, description: 'clean install' });
    expect((await cli('name', paths[0], '', '--description', '')).code).toBe(0);
    expect(JSON.parse((await cli('info', paths[0], '--json')).out)).toMatchObject({ name: null, description: null });
    expect((await readSidecar(tmp.dir)).disks[res.uuid]).toBeUndefined();
  });

  it('exit 2 for a missing argument, a non-VHD file or a missing file', async () => {
    const junk = path.join(tmp.dir, 'junk.vhd');
    writeFileSync(junk, Buffer.alloc(4096, 1));
    expect((await cli('name', junk)).code).toBe(2);
    expect((await cli('name', junk, 'x')).code).toBe(2);
    expect((await cli('name', path.join(tmp.dir, 'missing.vhd'), 'x')).code).toBe(2);
    expect(existsSync(path.join(tmp.dir, '.vhdsnap.json'))).toBe(false);
  });
});

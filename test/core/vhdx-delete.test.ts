// Delete on VHDX trees: a saved state (a leaf that is not the active disk) is
// removed as for VHD, the remaining disks read as the raw model says and
// check clean; a snapshot with one child takes that child in (the VHDX merge
// by rewrite, the result at the child's path); the active disk, a snapshot
// with several children (folding into each is VHD only) and a file another
// program holds are refused, every file left as it was.
import { existsSync, promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RefusedError } from '../../core/errors.js';
import { openWritableVhdxDisk } from '../../core/disk/chain.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { readSidecar, setLabel } from '../../core/library/sidecar.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { expectCheckClean } from '../support/check.js';
import { useHolders } from '../support/holders.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { linkTo, makeVhdx, makeVhdxTree, type BuiltVhdx } from '../support/vhdx-build.js';
import { recordActive } from '../../core/library/active.js';

const MiB = 1024 * 1024;

async function idOf(p: string): Promise<string> {
  const f = await VhdxFile.open(p);
  await f.close();
  return f.dataWriteGuid;
}

async function bytesOf(paths: string[]): Promise<Buffer[]> {
  return Promise.all(paths.map((p) => fsp.readFile(p)));
}

describe('delete on VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-delete-');
  const holders = useHolders();

  it('removes a saved state: its file and label go, the base and the active disk read as the model and check clean', async () => {
    const t = await makeVhdxTree(tmp.dir, new Rng(901));
    const id = await idOf(t.saved);
    await setLabel(t.saved, id, { name: 'old try' });
    await setLabel(t.now, await idOf(t.now), { name: 'current' });
    const size = (await fsp.stat(t.saved)).size;
    const plan = await planOperation({ op: 'delete', disk: t.saved });
    expect(plan.refusals).toEqual([]);
    expect(plan).toMatchObject({ strategy: 'remove', frees: size, bytesToCopy: 0, changes: [{ path: t.saved, action: 'delete' }] });
    expect(plan.keepLose).toMatch(/saved state ‘old try’ will no longer exist.*now\.avhdx/);
    const r = await runOperation({ op: 'delete', disk: t.saved });
    expect(r).toEqual({ strategy: 'remove', removed: t.saved, changed: [] });
    expect(existsSync(t.saved)).toBe(false);
    expect((await readThrough(t.now)).equals(t.model.view(1))).toBe(true);
    expect((await readThrough(t.base)).equals(t.model.view(0))).toBe(true);
    await expectCheckClean([t.now]);
    const s = await readSidecar(tmp.dir);
    expect(s.disks[id]).toBeUndefined();
    expect(Object.values(s.disks).map((l) => l.name)).toEqual(['current']);
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual(['.vhdsnap.json', 'base.vhdx', 'now.avhdx']);
  });

  it('deletes a snapshot with one child by merging the child into it: the child path keeps its content, down to a base', async () => {
    const t = await makeVhdxTree(tmp.dir, new Rng(905));
    await runOperation({ op: 'delete', disk: t.saved });
    // A snapshot of the active disk: now.avhdx becomes a snapshot, leaf.avhdx (over it) the active disk.
    const leaf = tmp.file('leaf.avhdx');
    await runOperation({ op: 'snapshot', disk: t.now, out: leaf });
    const layer = t.model.addChild(1);
    const w = { offset: 1_000_000 * 3 + 512, data: new Rng(906).bytes(70_000) };
    const d = await openWritableVhdxDisk(leaf);
    await d.write(w.offset, w.data);
    await d.close();
    t.model.write(layer, w.offset, w.data);
    const baseBytes = await fsp.readFile(t.base);

    const plan = await planOperation({ op: 'delete', disk: t.now });
    expect(plan.refusals).toEqual([]);
    expect(plan).toMatchObject({
      strategy: 'rewrite',
      changes: [
        { path: leaf, action: 'modify' },
        { path: t.now, action: 'delete' },
      ],
    });
    expect(plan.summary).toMatch(/^delete the snapshot .*rewrite now\.avhdx/i);
    expect(await runOperation({ op: 'delete', disk: t.now })).toEqual({ strategy: 'rewrite', removed: t.now, changed: [leaf] });
    expect(existsSync(t.now)).toBe(false);
    expect((await readThrough(leaf)).equals(t.model.view(layer))).toBe(true);
    expect((await fsp.readFile(t.base)).equals(baseBytes)).toBe(true);
    await expectCheckClean([leaf]);

    // Then the base, whose only child is leaf.avhdx: the leaf path holds the whole disk, with no parent.
    const base = await planOperation({ op: 'delete', disk: t.base });
    expect(base.cautions?.join(' ')).toMatch(/no parent/);
    expect(await runOperation({ op: 'delete', disk: t.base })).toMatchObject({ strategy: 'rewrite', removed: t.base });
    expect(existsSync(t.base)).toBe(false);
    expect((await readThrough(leaf)).equals(t.model.view(layer))).toBe(true);
    expect((await fsp.readdir(tmp.dir)).filter((n) => !n.startsWith('.'))).toEqual(['leaf.avhdx']);
    await expectCheckClean([leaf]);
  });

  it('deletes a snapshot with two children by folding it into each: same content, id, disk id and block size, now over its parent; a grandchild stays linked', async () => {
    const rng = new Rng(906);
    const size = 8 * MiB;
    const model = new DiskModel(size);
    const writes = (layer: number, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const len = (1 + rng.int(400)) * 512;
        const w = { offset: rng.int((size - len) / 512) * 512, data: i === n - 1 ? Buffer.alloc(len) : rng.bytes(len) };
        model.write(layer, w.offset, w.data);
        return w;
      });
    const made: Record<string, BuiltVhdx> = {};
    const layer: Record<string, number> = {};
    const add = async (name: string, parent: string | null, blockSize: number) => {
      layer[name] = parent === null ? model.addBase() : model.addChild(layer[parent]);
      made[name] = await makeVhdx(tmp.file(name), {
        kind: parent === null ? 'dynamic' : 'differencing',
        virtualSize: size,
        blockSize,
        writes: writes(layer[name], 6),
        locator: parent === null ? undefined : linkTo(made[parent], `.\\${parent}`),
      });
    };
    await add('base.vhdx', null, 2 * MiB);
    await add('mid.avhdx', 'base.vhdx', 2 * MiB);
    await add('c1.avhdx', 'mid.avhdx', 2 * MiB);
    await add('c2.avhdx', 'mid.avhdx', MiB);
    await add('g1.avhdx', 'c1.avhdx', 2 * MiB);
    await recordActive(tmp.file('g1.avhdx'));
    await setLabel(tmp.file('mid.avhdx'), await idOf(tmp.file('mid.avhdx')), { name: 'middle' });
    const before = await Promise.all(
      ['c1.avhdx', 'c2.avhdx'].map(async (n) => {
        const f = await VhdxFile.open(tmp.file(n));
        await f.close();
        return f;
      }),
    );
    const plan = await planOperation({ op: 'delete', disk: tmp.file('mid.avhdx') });
    expect(plan.refusals).toEqual([]);
    expect(plan).toMatchObject({ strategy: 'vhdx-fold' });
    expect(plan.summary).toMatch(/rewrite each of its 2 children .*now over base\.vhdx\), then delete mid\.avhdx/);
    expect(plan.keepLose).toMatch(/middle/);
    const r = await runOperation({ op: 'delete', disk: tmp.file('mid.avhdx') });
    expect(r).toMatchObject({ strategy: 'fold', removed: tmp.file('mid.avhdx') });
    expect((await fsp.readdir(tmp.dir)).filter((n) => !n.startsWith('.')).sort()).toEqual(['base.vhdx', 'c1.avhdx', 'c2.avhdx', 'g1.avhdx']);
    const baseId = await idOf(tmp.file('base.vhdx'));
    for (const [i, n] of ['c1.avhdx', 'c2.avhdx'].entries()) {
      const f = await VhdxFile.open(tmp.file(n));
      await f.close();
      expect([f.dataWriteGuid, f.diskId, f.blockSize, f.logicalSectorSize]).toEqual([
        before[i].dataWriteGuid,
        before[i].diskId,
        before[i].blockSize,
        before[i].logicalSectorSize,
      ]);
      expect(f.parentLinkage).toBe(`{${baseId}}`);
      expect((await readThrough(tmp.file(n))).equals(model.view(layer[n])), n).toBe(true);
    }
    expect((await readThrough(tmp.file('g1.avhdx'))).equals(model.view(layer['g1.avhdx']))).toBe(true);
    await expectCheckClean([tmp.file('g1.avhdx'), tmp.file('c2.avhdx')]);
    expect(Object.values((await readSidecar(tmp.dir)).disks).map((l) => l.name)).not.toContain('middle');
  });

  it('refuses the active disk (NOT_A_SNAPSHOT) and a base with several children (BASE_WITH_SEVERAL_CHILDREN, naming them), writing nothing', async () => {
    const t = await makeVhdxTree(tmp.dir, new Rng(902));
    const all = [t.base, t.now, t.saved];
    const before = await bytesOf(all);
    const active = await planOperation({ op: 'delete', disk: t.now });
    expect(active.refusals.map((x) => x.code)).toEqual(['NOT_A_SNAPSHOT']);
    expect(active.refusals[0].message).toMatch(/active disk/);
    const base = await planOperation({ op: 'delete', disk: t.base });
    expect(base.refusals.map((x) => x.code)).toEqual(['BASE_WITH_SEVERAL_CHILDREN']);
    expect(base.refusals[0].message).toMatch(/flatten them instead/);
    expect(base.refusals[0].message).toContain(t.now);
    expect(base.refusals[0].message).toContain(t.saved);
    for (const disk of [t.now, t.base]) {
      const err = await runOperation({ op: 'delete', disk }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RefusedError);
    }
    const after = await bytesOf(all);
    all.forEach((p, i) => expect(after[i].equals(before[i]), p).toBe(true));
  });

  it('refuses a saved state another program holds open (IN_USE), in the plan and the run', async () => {
    const t = await makeVhdxTree(tmp.dir, new Rng(903));
    const before = await fsp.readFile(t.saved);
    const h = await holders.node(t.saved);
    const plan = await planOperation({ op: 'delete', disk: t.saved });
    expect(plan.refusals.map((x) => x.code)).toContain('IN_USE');
    const err = await runOperation({ op: 'delete', disk: t.saved }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as RefusedError).code).toBe('IN_USE');
    expect((err as RefusedError).message).toContain(String(h.pid));
    expect((await fsp.readFile(t.saved)).equals(before)).toBe(true);
  });
});

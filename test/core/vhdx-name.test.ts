// Names of VHDX disks: `name` labels a VHDX as a VHD, and the label outlives
// writes, which give a VHDX a new data write GUID (its id): it is found again
// by the file's virtual disk id (page 83) and name, in the tree and in info,
// and the next label change moves it to the current id. Checkpoints sharing
// one virtual disk id keep their own labels.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { newGuid } from '../../core/format/vhdx/guid.js';
import { scanLibrary, type TreeNode } from '../../core/library/scan.js';
import { readSidecar } from '../../core/library/sidecar.js';
import { getInfo } from '../../core/ops/info.js';
import { runOperation } from '../../core/operations.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { linkTo, makeVhdx } from '../support/vhdx-build.js';

const MiB = 1024 * 1024;

async function ids(p: string): Promise<{ id: string; diskId: string | null }> {
  const f = await VhdxFile.open(p);
  await f.close();
  return { id: f.dataWriteGuid, diskId: f.diskId };
}

/** Name of every disk of the folder's tree, by file name. */
async function treeNames(dir: string): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const walk = (n: TreeNode) => {
    out[nodePath.basename(n.path)] = n.name;
    n.children.forEach(walk);
  };
  (await scanLibrary([dir])).roots.forEach(walk);
  return out;
}

describe('name on VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-name-');

  it('labels a VHDX; the label outlives a write that changes its id and moves to the new id on the next change', async () => {
    const rng = new Rng(4401);
    const base = await makeVhdx(tmp.file('base.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: 0, data: rng.bytes(MiB) }] });
    // Two checkpoints of one disk with the same virtual disk id, as Hyper-V may leave them.
    const shared = newGuid();
    for (const n of ['now.avhdx', 'tried.avhdx'])
      await makeVhdx(tmp.file(n), { kind: 'differencing', virtualSize: 4 * MiB, locator: linkTo(base), page83: shared });
    const r = await runOperation({ op: 'name', disk: tmp.file('now.avhdx'), name: 'current work', description: 'after the update' });
    const before = await ids(tmp.file('now.avhdx'));
    expect(r).toMatchObject({ uuid: before.id, name: 'current work', description: 'after the update' });
    await runOperation({ op: 'name', disk: tmp.file('tried.avhdx'), name: 'tried' });
    expect(await treeNames(tmp.dir)).toEqual({ 'base.vhdx': null, 'now.avhdx': 'current work', 'tried.avhdx': 'tried' });

    const data = rng.bytes(8192);
    await fsp.writeFile(tmp.file('in.bin'), data);
    await runOperation({ op: 'write', disk: tmp.file('now.avhdx'), input: tmp.file('in.bin'), offset: 3 * MiB });
    const after = await ids(tmp.file('now.avhdx'));
    expect(after.id).not.toBe(before.id);
    expect(after.diskId).toBe(before.diskId);
    expect((await readThrough(tmp.file('now.avhdx'))).subarray(3 * MiB, 3 * MiB + 8192).equals(data)).toBe(true);
    // Found again through the virtual disk id and the file name, not taken by the sibling sharing that id.
    expect(await treeNames(tmp.dir)).toEqual({ 'base.vhdx': null, 'now.avhdx': 'current work', 'tried.avhdx': 'tried' });
    expect(await getInfo(tmp.file('now.avhdx'))).toMatchObject({ name: 'current work', description: 'after the update' });
    expect(Object.keys((await readSidecar(tmp.dir)).disks)).toContain(before.id);

    // A change of description re-keys the label: one entry, under the id the file has now.
    await runOperation({ op: 'name', disk: tmp.file('now.avhdx'), description: 'after the update and a fix' });
    const s = await readSidecar(tmp.dir);
    expect(s.disks[before.id]).toBeUndefined();
    expect(s.disks[after.id]).toEqual({ file: 'now.avhdx', diskId: after.diskId, name: 'current work', description: 'after the update and a fix' });
    expect(
      Object.values(s.disks)
        .map((l) => l.name)
        .sort(),
    ).toEqual(['current work', 'tried']);
  });

  it('a snapshot named at creation keeps its name, and clearing it removes the entry', async () => {
    const rng = new Rng(4402);
    await makeVhdx(tmp.file('d.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: 4096, data: rng.bytes(4096) }] });
    const snap = (await runOperation({ op: 'snapshot', disk: tmp.file('d.vhdx'), name: 'before upgrade' })) as { snapshot: string };
    const { id, diskId } = await ids(snap.snapshot);
    expect((await readSidecar(tmp.dir)).disks[id]).toMatchObject({ name: 'before upgrade', diskId });
    expect(await treeNames(tmp.dir)).toMatchObject({ 'd.vhdx': null });
    expect(Object.values(await treeNames(tmp.dir))).toContain('before upgrade');
    await runOperation({ op: 'name', disk: snap.snapshot, name: '' });
    expect((await readSidecar(tmp.dir)).disks).toEqual({});
  });
});

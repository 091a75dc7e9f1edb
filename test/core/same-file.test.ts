// "The same disk" is the same file (core/io/identity.ts), never the same
// path string. NTFS and APFS are case-insensitive: `D0.VHD` in a child's
// locator and `d0.vhd` in the folder listing are one file, and realpath does
// not make the two strings equal. No case-insensitive file system is
// available here, so "two names, one file" is emulated with hard links (which
// realpath cannot unify either) and symlinks.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RefusedError, VhdError } from '../../core/errors.js';
import { findChildren, scanLibrary } from '../../core/library/scan.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { planReparent } from '../../core/ops/reparent.js';
import { planRevert, revert } from '../../core/ops/revert.js';
import { runOperation } from '../../core/operations.js';
import { Grants } from '../../server/grants.js';
import { parentOf, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-samefile-');
const SIZE = 4 * 1024 * 1024;

/** d0.vhd with a second name D0.VHD (as NTFS would show one file), and a child linked through the upper-case name. */
async function caseChain(): Promise<{ base: string; upper: string; child: string }> {
  const base = tmp.file('d0.vhd');
  const upper = tmp.file('D0.VHD');
  const child = tmp.file('child.vhd');
  await createDynamic(base, SIZE, { blockSize: 512 * 1024 });
  await fsp.link(base, upper);
  await createDifferencing(child, upper);
  return { base, upper, child };
}

describe('parents and children by file identity', () => {
  it('findChildren finds a child that names its parent in another case', async () => {
    const { base, child } = await caseChain();
    expect(await parentOf(child)).toBe(path.resolve(tmp.file('D0.VHD')));
    expect(await findChildren(base)).toEqual([path.resolve(child)]);
  });

  it('so writing into that parent is refused (it would change what the child shows)', async () => {
    const { base } = await caseChain();
    const input = tmp.file('data.bin');
    await fsp.writeFile(input, Buffer.alloc(512, 7));
    const err = await runOperation({ op: 'write', disk: base, input, offset: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as VhdError).code).toBe('HAS_CHILDREN');
  });

  it('the library shows one disk per file, the child under it, no orphan', async () => {
    const { child } = await caseChain();
    const forest = await scanLibrary([tmp.dir]);
    expect(forest.roots).toHaveLength(1);
    expect(forest.orphans).toEqual([]);
    expect(forest.roots[0].children.map((c) => c.path)).toEqual([path.resolve(child)]);
  });

  it('a disk given itself (by another name) as its parent is refused as SELF_PARENT', async () => {
    const { child } = await caseChain();
    const alias = tmp.file('CHILD.VHD');
    await fsp.link(child, alias);
    const plan = await planReparent(child, alias);
    expect(plan.refusals.map((r) => r.code)).toContain('SELF_PARENT');
    const sym = tmp.file('child-link.vhd');
    await fsp.symlink(child, sym);
    expect((await planReparent(child, sym)).refusals.map((r) => r.code)).toContain('SELF_PARENT');
  });

  it('revert --to a snapshot named in another case is that snapshot', async () => {
    const { base, upper, child } = await caseChain();
    const plan = await planRevert(child, { to: base });
    expect(plan.refusals).toEqual([]);
    const r = await revert(child, { to: base });
    expect(r.snapshot).toBe(path.resolve(upper));
    expect((await readThrough(child)).equals(await readThrough(base))).toBe(true);
  });
});

describe("the app's folder grants by identity", () => {
  it('a folder spelled another way (through a symlink) is the same grant, and its disks stay inside it', async () => {
    const lib = tmp.file('lib');
    await fsp.mkdir(lib);
    await createDynamic(path.join(lib, 'a.vhd'), SIZE, { blockSize: 512 * 1024 });
    await fsp.symlink(lib, tmp.file('Lib'));
    const g = new Grants();
    const a = await g.grantFolder(lib);
    expect(await g.grantFolder(tmp.file('Lib'))).toBe(a);
    expect(await g.folderAt(tmp.file('Lib'))).toBe(a);
    expect(await g.folderAt(tmp.dir)).toBeNull();
    expect(await g.resolveDisk({ folder: a.id, file: 'a.vhd' })).toBe(path.join(a.path, 'a.vhd'));
  });
});

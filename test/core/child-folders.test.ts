// Children another program made in another folder: found when that folder is
// searched too (JobContext.childFolders; the app passes every open folder),
// and then protected like any child. Without it they cannot be found — the
// plan says so.
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findChildren, withChildFolders } from '../../core/library/scan.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { sha } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-child-folders-');

/** A/base ← A/s1, and A/base ← B/vm2 made without vhdsnap's record (as another tool would). */
async function twoFolders() {
  mkdirSync(tmp.file('A'));
  mkdirSync(tmp.file('B'));
  const base = tmp.file('A', 'base.vhd');
  await createDynamic(base, 8 * 2 ** 20);
  await createDifferencing(tmp.file('A', 's1.vhd'), base);
  await createDifferencing(tmp.file('B', 'vm2.vhd'), base);
  return { base, s1: tmp.file('A', 's1.vhd'), vm2: tmp.file('B', 'vm2.vhd'), B: tmp.file('B') };
}

describe('children in the folders the caller searches too', () => {
  it('findChildren sees the child in B only inside withChildFolders([B])', async () => {
    const { base, s1, vm2, B } = await twoFolders();
    expect(await findChildren(base)).toEqual([s1]);
    expect((await withChildFolders([B], () => findChildren(base))).sort()).toEqual([s1, vm2].sort());
    // Only inside: the scope ends with the call.
    expect(await findChildren(base)).toEqual([s1]);
  });

  it('merge of A/s1 into base: refused when B is searched (base has another child), and B/vm2 keeps its view', async () => {
    const { s1, vm2, B } = await twoFolders();
    const blind = await planOperation({ op: 'merge', disk: s1 });
    expect(blind.refusals).toEqual([]);
    expect(blind.cautions?.join(' ')).toMatch(/other folders by other programs cannot be found/);
    const seen = await planOperation({ op: 'merge', disk: s1 }, { childFolders: [B] });
    expect(seen.refusals.map((r) => r.code)).toContain('PARENT_HAS_OTHER_CHILDREN');
    const before = [sha(s1), sha(vm2)];
    await expect(runOperation({ op: 'merge', disk: s1 }, { childFolders: [B] })).rejects.toMatchObject({ code: 'PARENT_HAS_OTHER_CHILDREN' });
    expect([sha(s1), sha(vm2)]).toEqual(before);
  });
});

// Why a disk is an orphan, in the scan (tree, the app's orphan list): a
// missing parent, a parent that is itself an orphan (the chain is broken
// higher up), and only for a real loop "its parent chain loops back".
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scanLibrary } from '../../core/library/scan.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { decodeHeader, encodeHeader } from '../../core/format/header.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-orphans-');
const HEADER_AT = 512; // a dynamic or differencing disk made by vhdsnap: its header follows the footer copy

async function chain(): Promise<string[]> {
  const paths = ['base', 'a', 'b', 'c'].map((n) => tmp.file(`${n}.vhd`));
  await createDynamic(paths[0], 4 * 2 ** 20);
  for (let i = 1; i < paths.length; i++) await createDifferencing(paths[i], paths[i - 1]);
  return paths;
}

const reasons = async () => Object.fromEntries((await scanLibrary([tmp.dir])).orphans.map((o) => [o.path.split('/').pop(), [o.code, o.reason]]));

describe('orphan reasons', () => {
  it('a missing parent, then descendants whose chain is broken further up (not a loop)', async () => {
    const [base, a] = await chain();
    await fsp.rm(base);
    const r = await reasons();
    expect(r['a.vhd'][0]).toBe('PARENT_NOT_FOUND');
    for (const n of ['b.vhd', 'c.vhd']) {
      expect(r[n][0]).toBe('ANCESTOR_ORPHANED');
      expect(r[n][1]).toContain(`${a}, an ancestor of it, cannot find its own parent`);
      expect(r[n][1]).not.toMatch(/loops back/);
    }
  });

  // a's header names c (by id and name; its locators still point at base, whose id no longer matches, so c is found by name).
  it('a real loop (a names c as its parent, c descends from a) is a cycle', async () => {
    const [, a, , c] = await chain();
    const cf = await VhdFile.open(c);
    const cId = cf.footer.uniqueId;
    await cf.close();
    const fh = await fsp.open(a, 'r+');
    try {
      const raw = Buffer.alloc(1024);
      await fh.read(raw, 0, 1024, HEADER_AT);
      const h = decodeHeader(raw);
      const edited = encodeHeader({ ...h, parentUniqueId: cId, parentName: 'c.vhd' });
      await fh.write(edited, 0, edited.length, HEADER_AT);
    } finally {
      await fh.close();
    }
    const r = await reasons();
    for (const n of ['a.vhd', 'b.vhd', 'c.vhd']) expect(r[n]?.[0], n).toBe('CHAIN_CYCLE');
  });
});

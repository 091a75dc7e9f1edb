// A folder scan (tree, the app's library) does bounded work per file: each
// disk is opened once, read in a couple of small reads (its first KiB and its
// footer), never through its BAT-addressed blocks, and no more in a larger
// folder. So does the search for a disk's children (findChildren: delete,
// compact, every writer's plan). Counts, not timings.
import { afterEach, describe, expect, it } from 'vitest';
import * as nodePath from 'node:path';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { findChildren, scanLibrary, type TreeNode } from '../../core/library/scan.js';
import { SIDECAR_NAME } from '../../core/library/sidecar.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { countIo, type IoCounter } from '../support/io-count.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-scan-per-file-');
let counter: IoCounter | null = null;
afterEach(() => {
  counter?.restore();
  counter = null;
});

const MiB = 1024 * 1024;

/** `chains` chains of `depth` 8 MiB disks in a new folder, each file with a few sectors written. */
async function folder(name: string, chains: number, depth: number): Promise<{ dir: string; files: string[] }> {
  const dir = tmp.file(name);
  mkdirSync(dir);
  const files: string[] = [];
  for (let c = 0; c < chains; c++) {
    let prev: string | null = null;
    for (let i = 0; i < depth; i++) {
      const p = nodePath.join(dir, `c${c}-${i}.vhd`);
      if (prev === null) await createDynamic(p, 8 * MiB);
      else await createDifferencing(p, prev);
      const f = await VhdFile.open(p, { writable: true, sync: false });
      await f.writeSectors(16 * i, Buffer.alloc(8 * 512, i + 1));
      await f.close();
      files.push(p);
      prev = p;
    }
  }
  return { dir, files };
}

function count(nodes: TreeNode[]): number {
  return nodes.reduce((n, x) => n + 1 + count(x.children), 0);
}

async function scanCounted(dir: string) {
  counter = countIo();
  const forest = await scanLibrary([dir]);
  const c = counter;
  counter = null;
  c.restore();
  return { forest, c };
}

describe('scanLibrary: per-file work is bounded', () => {
  it('opens each disk once, in at most two reads of a few KiB, however many disks the folder holds', async () => {
    const small = await folder('small', 2, 3);
    const large = await folder('large', 12, 5);
    writeFileSync(nodePath.join(large.dir, SIDECAR_NAME), JSON.stringify({ version: 1, disks: {} }));
    const a = await scanCounted(small.dir);
    const b = await scanCounted(large.dir);
    // The whole forest is found: every chain a root with its line of children, no orphan.
    expect(b.forest.roots).toHaveLength(12);
    expect(count(b.forest.roots)).toBe(60);
    expect(b.forest.orphans).toEqual([]);
    expect(b.forest.unreadable).toEqual([]);
    for (const p of large.files) expect(b.c.of(p).opens, p).toBe(1);
    // The head (footer copy, header, BAT, locators in one read) and the trailing footer.
    expect(b.c.max(large.files, 'reads')).toBeLessThanOrEqual(2);
    expect(b.c.max(large.files, 'bytes')).toBeLessThanOrEqual(16 * 1024 + 512);
    // Not more per file in the larger folder.
    expect(b.c.max(large.files, 'reads')).toBe(a.c.max(small.files, 'reads'));
    expect(b.c.max(large.files, 'opens')).toBe(a.c.max(small.files, 'opens'));
  });
});

async function childrenCounted(parent: string) {
  counter = countIo();
  const children = await findChildren(parent);
  const c = counter;
  counter = null;
  c.restore();
  return { children, c };
}

describe('findChildren: per-file work is bounded', () => {
  it('reads each other disk of the folder once, in at most two small reads, and finds children by the file their parent resolves to', async () => {
    const small = await folder('small', 2, 3);
    const large = await folder('large', 12, 5);
    // A copy of the first base (same id, another file) with a child of its own: that child names the base's id but is not its child.
    const base = large.files[0];
    const copy = nodePath.join(large.dir, 'copy-of-base.vhd');
    copyFileSync(base, copy);
    const decoy = nodePath.join(large.dir, 'decoy.vhd');
    await createDifferencing(decoy, copy);
    const a = await childrenCounted(small.files[0]);
    const b = await childrenCounted(base);
    expect(a.children).toEqual([small.files[1]]);
    expect(b.children).toEqual([large.files[1]]);
    // Every disk that is neither the parent nor a disk naming its id: one open, the head and the trailing footer.
    const others = large.files.filter((p) => p !== base && p !== large.files[1]);
    for (const p of others) expect(b.c.of(p).opens, p).toBe(1);
    expect(b.c.max(others, 'reads')).toBeLessThanOrEqual(2);
    expect(b.c.max(others, 'bytes')).toBeLessThanOrEqual(16 * 1024 + 512);
    // Not more per file in the larger folder.
    const smallOthers = small.files.filter((p) => p !== small.files[0] && p !== small.files[1]);
    expect(b.c.max(others, 'reads')).toBe(a.c.max(smallOthers, 'reads'));
    expect(b.c.max(others, 'opens')).toBe(a.c.max(smallOthers, 'opens'));
    // The decoy was followed up its locators (it names the id) and rejected by identity.
    expect(b.c.of(copy).opens).toBeGreaterThan(0);
  });
});

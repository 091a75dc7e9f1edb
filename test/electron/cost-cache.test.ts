// Main's cache of each disk's cost: read once per file state. A disk a job
// wrote (new size or modification time) or replaced (a new file at the path)
// is read again; an unchanged one costs a stat. diskCosts answers from it.
import { renameSync, utimesSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDynamic } from '../../core/ops/create';
import { diskCosts, FileFigureCache } from '../../server/library';
import { useTmpDir } from '../support/tmp';

const tmp = useTmpDir('vhdsnap-cost-cache-');

describe('FileFigureCache', () => {
  it('reads a file once while it is unchanged, again after a write, a new time or a replacement', async () => {
    const reads: string[] = [];
    const cache = new FileFigureCache(async (p) => {
      reads.push(p);
      return reads.length;
    });
    const a = tmp.file('a.bin');
    writeFileSync(a, 'one');
    expect(await cache.get(a)).toBe(1);
    expect(await cache.get(a)).toBe(1);
    expect(reads).toHaveLength(1);
    // A write that changes the size.
    writeFileSync(a, 'three');
    expect(await cache.get(a)).toBe(2);
    // Same size, another modification time (a write in place).
    utimesSync(a, new Date(2020, 0, 1), new Date(2020, 0, 1));
    expect(await cache.get(a)).toBe(3);
    expect(await cache.get(a)).toBe(3);
    // Another file moved to the path, same size and time: a new inode.
    const b = tmp.file('b.bin');
    writeFileSync(b, 'three');
    utimesSync(b, new Date(2020, 0, 1), new Date(2020, 0, 1));
    renameSync(b, a);
    expect(await cache.get(a)).toBe(4);
    expect(reads).toHaveLength(4);
  });

  it('keeps at most its limit, dropping the oldest', async () => {
    let n = 0;
    const cache = new FileFigureCache(async () => ++n, 2);
    for (const f of ['x', 'y', 'z']) writeFileSync(tmp.file(f), f);
    await cache.get(tmp.file('x'));
    await cache.get(tmp.file('y'));
    await cache.get(tmp.file('z'));
    expect(cache.size).toBe(2);
    // y and z are kept; x was dropped and is read again.
    expect(await cache.get(tmp.file('z'))).toBe(3);
    expect(await cache.get(tmp.file('x'))).toBe(4);
  });
});

describe('diskCosts through the cache', () => {
  it('gives the new figure once a disk is written', async () => {
    const a = tmp.file('d.vhd');
    await createDynamic(a, 8 * 1024 * 1024);
    expect(await diskCosts([a])).toEqual([0]);
    const d = await openDisk(a, { writable: true, sync: false });
    await d.write(0, new Uint8Array(512).fill(1));
    await d.close();
    // A dynamic base stores whole blocks: one 2 MiB block now.
    expect(await diskCosts([a])).toEqual([2 * 1024 * 1024]);
  });
});

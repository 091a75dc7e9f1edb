// check --deep of a chain does each file's work once: the counts of opens
// and reads per file do not grow with the chain's depth (they did when each
// file's check opened the whole chain above it again: quadratic in depth).
import { afterEach, describe, expect, it } from 'vitest';
import * as nodePath from 'node:path';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { checkPaths } from '../../core/ops/check.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { countIo, type IoCounter } from '../support/io-count.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-check-linear-');
let counter: IoCounter | null = null;
afterEach(() => {
  counter?.restore();
  counter = null;
});

/** A chain of `depth` 4 MiB files, each writing the same few sectors (so every file has the same work). */
async function chain(depth: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < depth; i++) {
    const p = tmp.file(`c${depth}-${i}.vhd`);
    if (i === 0) await createDynamic(p, 4 * 1024 * 1024);
    else await createDifferencing(p, paths[i - 1]);
    const f = await VhdFile.open(p, { writable: true, sync: false });
    await f.writeSectors(8 + i, Buffer.alloc(4 * 512, i + 1));
    await f.close();
    paths.push(p);
  }
  return paths;
}

async function checkCounted(paths: string[]) {
  counter = countIo();
  const reports = await checkPaths([paths[paths.length - 1]], { deep: true });
  const c = counter;
  counter = null;
  c.restore();
  return { reports, c };
}

describe('check --deep of a chain: per-file work independent of depth', () => {
  it('each file is opened and read as often in a 24-deep chain as in a 3-deep one', async () => {
    const short = await chain(3);
    const long = await chain(24);
    const a = await checkCounted(short);
    const b = await checkCounted(long);
    // Every file is reported once, leaf first, and all are clean.
    expect(b.reports.map((r) => nodePath.basename(r.path))).toEqual(long.map((p) => nodePath.basename(p)).reverse());
    for (const r of [...a.reports, ...b.reports]) expect(r.errors, r.path).toEqual([]);
    // Each file is opened at most twice (its structure and deep scan, then as a VHD by its child's parent lookup).
    expect(b.c.max(long, 'opens')).toBeLessThanOrEqual(2);
    expect(b.c.max(long, 'opens')).toBe(a.c.max(short, 'opens'));
    expect(b.c.max(long, 'reads')).toBe(a.c.max(short, 'reads'));
    // The base, which every file's own chain contains, is not read more in the longer chain.
    expect(b.c.of(long[0]).reads).toBe(a.c.of(short[0]).reads);
    // Nothing outside the chain was opened.
    expect([...b.c.files.keys()].sort()).toEqual(long.map((p) => nodePath.resolve(p)).sort());
  });
});

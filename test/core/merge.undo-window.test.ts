// The merge's undo record (core/disk/undo.ts) is written a window at a time:
// what a window of child blocks overwrites in the parent is saved, with one
// fsync, before any of it is staged. These tests count fsyncs (never timings)
// and check that a rollback in the middle of a window, with regions split
// into several records, gives the parent back byte for byte.
import { readdirSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { journalPath } from '../../core/journal.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { merge } from '../../core/ops/merge.js';
import { countIo, type IoCounter } from '../support/io-count.js';
import { DiskModel, Rng } from '../support/model.js';
import { sha } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';

const MiB = 1024 * 1024;

/** Writes every byte of the disk at `p` with seeded noise, in `chunk`-sized writes, mirrored into the model's layer. */
async function fill(p: string, size: number, chunk: number, rng: Rng, model: DiskModel, layer: number): Promise<void> {
  const disk = await openDisk(p, { writable: true, sync: false });
  try {
    for (let at = 0; at < size; at += chunk) {
      const data = rng.bytes(chunk);
      await disk.write(at, data);
      model.write(layer, at, data);
    }
  } finally {
    await disk.close();
  }
}

describe('merge: the undo record a window at a time', () => {
  const tmp = useTmpDir();
  let counter: IoCounter | null = null;
  afterEach(() => {
    counter?.restore();
    counter = null;
  });

  it('saves what 24 MiB of child data overwrite in a parent storing all of it with one fsync of the record after its start, not one per 4 MiB batch', async () => {
    const size = 24 * MiB;
    const rng = new Rng(71);
    const model = new DiskModel(size);
    const parent = tmp.file('p.vhd');
    const child = tmp.file('c.vhd');
    await createDynamic(parent, size);
    model.addBase();
    await fill(parent, size, 2 * MiB, rng, model, 0);
    await createDifferencing(child, parent);
    model.addChild();
    await fill(child, size, 2 * MiB, rng, model, 1);
    counter = countIo();
    await merge(child);
    const undo = [...counter.files.keys()].filter((p) => p.endsWith('.undo.tmp'));
    expect(undo).toHaveLength(1);
    // One fsync when the record is begun (footer, BAT, batmap), one for the only window.
    expect(counter.of(undo[0]).syncs).toBe(2);
    counter.restore();
    counter = null;
    expect(Buffer.compare(await readThrough(parent), model.view(1))).toBe(0);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  for (const kind of ['fixed', 'dynamic'] as const) {
    it(`cancelled after its first batch, with 8 MiB runs over a ${kind} parent (regions saved as several records): the parent is back byte for byte`, async () => {
      const size = 24 * MiB;
      const rng = new Rng(kind === 'fixed' ? 72 : 73);
      const model = new DiskModel(size);
      const parent = tmp.file('p.vhd');
      const child = tmp.file('c.vhd');
      if (kind === 'fixed') await createFixed(parent, size);
      else await createDynamic(parent, size, { blockSize: 8 * MiB });
      model.addBase();
      await fill(parent, size, 4 * MiB, rng, model, 0);
      // 8 MiB child blocks: each full block is one run, longer than one undo record holds.
      await createDifferencing(child, parent, { blockSize: 8 * MiB });
      model.addChild();
      await fill(child, size, 4 * MiB, rng, model, 1);
      const before = [sha(parent), sha(child)];
      const ac = new AbortController();
      let reports = 0;
      await expect(
        merge(child, {
          signal: ac.signal,
          progressEvery: 0,
          onProgress: (p) => {
            // The first report comes after the first batch is staged into the parent.
            if (!p.finishing && reports++ === 0) ac.abort();
          },
        }),
      ).rejects.toThrow(/merge cancelled.*as before/);
      expect(reports).toBeGreaterThan(0);
      expect([sha(parent), sha(child)]).toEqual(before);
      expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp') || n === nodePath.basename(journalPath(parent)))).toEqual([]);
      expect(Buffer.compare(await readThrough(child), model.view(1))).toBe(0);
      expect(Buffer.compare(await readThrough(parent), model.view(0))).toBe(0);
    });
  }
});

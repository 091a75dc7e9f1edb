// Compact: random dynamic and differencing disks (4 KiB / 512 KiB / 2 MiB
// blocks) compared with the reference model at every layer after compaction;
// the file shrinks by exactly the blocks an independent raw-file scan calls
// empty; blocks with set bits over zero data stay; blktap batmaps stay true;
// refusals; cancel and failures leave the original byte-identical; recovery.
import { promises as fsp, readFileSync, readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { CancelledError, RefusedError, VhdError } from '../../core/errors.js';
import { setFileOpener } from '../../core/io/file.js';
import { journalPath, writeJournal } from '../../core/journal.js';
import { checkPaths } from '../../core/ops/check.js';
import { compact, planCompact, type CompactJournal } from '../../core/ops/compact.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { junkClearSectors, junkDynamicClearSectors } from '../support/junk.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { plainFile } from '../support/plain-file.js';
import { makeTap } from '../support/tap.js';
import { assertSame, sha } from '../support/compare.js';
import { expectCheckClean } from '../support/check.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Independent of the code under test: reads the raw file with plain fs and
 * the spec's layout to list allocated blocks and the ones compaction may drop.
 */
function rawScan(p: string): { allocated: number[]; droppable: number[]; blockBytes: number } {
  const b = readFileSync(p);
  const foot = b.subarray(b.length - 512);
  const type = foot.readUInt32BE(60);
  const size = Number(foot.readBigUInt64BE(48));
  const hdr = Number(foot.readBigUInt64BE(16));
  const table = Number(b.readBigUInt64BE(hdr + 16));
  const blockSize = b.readUInt32BE(hdr + 32);
  const spb = blockSize / 512;
  const bmBytes = Math.ceil(spb / 8 / 512) * 512;
  const entries = Math.ceil(size / blockSize);
  const allocated: number[] = [];
  const droppable: number[] = [];
  for (let i = 0; i < entries; i++) {
    const e = b.readUInt32BE(table + i * 4);
    if (e === 0xffffffff) continue;
    allocated.push(i);
    const at = e * 512;
    const sectors = Math.min(spb, size / 512 - i * spb);
    const bit = (s: number) => (b[at + (s >> 3)] & (0x80 >> (s & 7))) !== 0;
    if (type === 3) {
      // The spec's rule: a clear bit reads as zeros, whatever the data area holds there.
      let any = false;
      for (let s = 0; s < sectors && !any; s++) any = bit(s) && b.subarray(at + bmBytes + s * 512, at + bmBytes + (s + 1) * 512).some((x) => x !== 0);
      if (!any) droppable.push(i);
    } else {
      let any = false;
      for (let s = 0; s < sectors && !any; s++) any = (b[at + (s >> 3)] & (0x80 >> (s & 7))) !== 0;
      if (!any) droppable.push(i);
    }
  }
  return { allocated, droppable, blockBytes: bmBytes + blockSize };
}

/** Random unaligned writes (a fifth zeros) plus whole blocks of zeros, mirrored into the model. */
async function scribble(p: string, model: DiskModel, layer: number, rng: Rng, blockSize: number, writes: number): Promise<void> {
  const disk = await openDisk(p, { writable: true, sync: false });
  try {
    for (let w = 0; w < writes; w++) {
      const len = rng.chance(0.15) ? blockSize + rng.int(blockSize) : rng.range(1, 40000);
      const off = rng.int(model.size - len);
      const data = rng.chance(0.2) ? Buffer.alloc(len) : rng.bytes(len);
      await disk.write(off, data);
      model.write(layer, off, data);
    }
    // Whole blocks written as zeros: allocated but empty in a dynamic disk; in a child they hide the parent.
    for (let k = 0; k < 3; k++) {
      const blk = rng.int(Math.floor(model.size / blockSize));
      const zeros = Buffer.alloc(blockSize);
      await disk.write(blk * blockSize, zeros);
      model.write(layer, blk * blockSize, zeros);
    }
  } finally {
    await disk.close();
  }
}

/** Clears every bitmap bit of some allocated child blocks: they then show the parent again (junk data stays). */
async function emptyBlocks(child: string, model: DiskModel, layer: number, parentLayer: number, rng: Rng, count: number, blockSize: number): Promise<number[]> {
  const f = await VhdFile.open(child);
  const chosen: number[] = [];
  const spots: { at: number; len: number; block: number }[] = [];
  // The model: those blocks of the child show what the parent shows.
  try {
    const allocated: number[] = [];
    for (let b = 0; b < f.blockCount; b++) if (f.blockOffset(b) !== null) allocated.push(b);
    while (chosen.length < Math.min(count, allocated.length)) {
      const b = rng.pick(allocated);
      if (!chosen.includes(b)) chosen.push(b);
    }
    for (const b of chosen) spots.push({ at: f.blockOffset(b)!, len: f.bitmapSize, block: b });
  } finally {
    await f.close();
  }
  const fh = await fsp.open(child, 'r+');
  try {
    for (const s of spots) {
      await fh.write(Buffer.alloc(s.len), 0, s.len, s.at);
      const off = s.block * blockSize;
      const len = Math.min(blockSize, model.size - off);
      model.write(layer, off, Buffer.from(model.read(parentLayer, off, len)));
    }
  } finally {
    await fh.close();
  }
  return chosen;
}

const codes = (fs_: { code: string }[]) => fs_.map((f) => f.code);
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.'));

describe('compact', () => {
  const tmp = useTmpDir('vhdsnap-compact-');

  for (const [seed, blockSize, junk] of [
    [31, 4 * KiB, false],
    [32, 512 * KiB, false],
    [33, 2 * MiB, false],
    [34, 4 * KiB, true],
    [35, 512 * KiB, true],
    [36, 2 * MiB, true],
  ] as const) {
    it(`compacts a dynamic disk with ${blockSize / KiB} KiB blocks${junk ? ', junk under clear bits' : ''} (seed ${seed})`, async () => {
      const size = 12 * MiB + 3 * 512;
      const rng = new Rng(seed);
      const model = new DiskModel(size);
      const p = tmp.file('d.vhd');
      await createDynamic(p, size, { blockSize });
      model.addBase();
      await scribble(p, model, 0, rng, blockSize, 18);
      // Junk under clear bits (over zeros, so the model holds): such sectors read as zeros, so they never keep a block.
      if (junk) {
        expect(await junkDynamicClearSectors(p, rng)).toBeGreaterThan(0);
        expect(codes((await checkPaths([p], { deep: true }))[0].warnings)).toEqual(['DATA_UNDER_CLEAR_BITS']);
      }
      await fsp.chmod(p, 0o640);
      const before = rawScan(p);
      expect(before.droppable.length, 'the disk has zero blocks to drop').toBeGreaterThan(0);
      const sizeBefore = statSync(p).size;
      const uuid = await idOf(p);

      const plan = await planCompact(p);
      expect(plan.refusals).toEqual([]);
      expect(plan.blocksBefore).toBe(before.allocated.length);

      const r = await compact(p);
      expect(r).toEqual({
        path: p,
        blocksBefore: before.allocated.length,
        blocksAfter: before.allocated.length - before.droppable.length,
        bytesBefore: sizeBefore,
        bytesAfter: sizeBefore - before.droppable.length * before.blockBytes,
      });
      expect(statSync(p).size).toBe(r.bytesAfter);
      expect(statSync(p).mode & 0o777).toBe(0o640);
      const after = rawScan(p);
      expect(after.allocated).toEqual(before.allocated.filter((b) => !before.droppable.includes(b)));
      expect(after.droppable).toEqual([]);
      assertSame(await readThrough(p), model.view(0), 'after compact');
      const f = await VhdFile.open(p);
      expect(f.uuid).toBe(uuid);
      await f.close();
      await expectCheckClean([p]);
      // The copy stores zeros under clear bits: no reader can see the junk any more.
      expect((await checkPaths([p], { deep: true }))[0].warnings).toEqual([]);
      expect(leftovers(tmp.dir)).toEqual([]);

      // A second run has nothing left to drop and changes no byte.
      const again = sha(p);
      const r2 = await compact(p);
      expect(r2.blocksAfter).toBe(r2.blocksBefore);
      expect(sha(p)).toBe(again);
    });

    it(`compacts the leaf of a depth-3 chain with ${blockSize / KiB} KiB blocks: set bits over zeros stay, junk is harmless (seed ${seed + 10})`, async () => {
      const size = 10 * MiB + 7 * 512;
      const rng = new Rng(seed + 10);
      const model = new DiskModel(size);
      const paths = [tmp.file('base.vhd'), tmp.file('mid.vhd'), tmp.file('leaf.vhd')];
      await createDynamic(paths[0], size, { blockSize });
      model.addBase();
      await scribble(paths[0], model, 0, rng, blockSize, 16);
      await createDifferencing(paths[1], paths[0]);
      model.addChild();
      await scribble(paths[1], model, 1, rng, blockSize, 12);
      await createDifferencing(paths[2], paths[1]);
      model.addChild();
      await scribble(paths[2], model, 2, rng, blockSize, 14);
      const emptied = await emptyBlocks(paths[2], model, 2, 1, rng, 3, blockSize);
      // One more whole block of zeros over the parent's data, outside the emptied ones.
      let zb = 0;
      while (emptied.includes(zb)) zb++;
      const leaf = await openDisk(paths[2], { writable: true });
      await leaf.write(zb * blockSize, Buffer.alloc(blockSize));
      await leaf.close();
      model.write(2, zb * blockSize, Buffer.alloc(blockSize));
      expect(await junkClearSectors(paths[2], rng)).toBeGreaterThan(0);
      // Sanity of the set-up: the crafted chain still reads as the model.
      assertSame(await readThrough(paths[2]), model.view(2), 'before compact');

      const before = rawScan(paths[2]);
      expect([...before.droppable].sort((a, b) => a - b)).toEqual([...emptied].sort((a, b) => a - b));
      // Blocks with bits set over zero data must survive (they hide the parent's data).
      const zeroButSet: number[] = [];
      const lf = await VhdFile.open(paths[2]);
      for (const b of before.allocated) {
        if (before.droppable.includes(b)) continue;
        const d = Buffer.alloc(blockSize);
        const n = Math.min(lf.sectorsPerBlock, lf.totalSectors - b * lf.sectorsPerBlock);
        await lf.readOwn(b, 0, n, d, 0);
        if (d.subarray(0, n * 512).every((x) => x === 0)) zeroButSet.push(b);
      }
      await lf.close();
      expect(zeroButSet.length, 'some child blocks have set bits over all-zero data').toBeGreaterThan(0);
      const sizeBefore = statSync(paths[2]).size;
      const parentsBefore = [sha(paths[0]), sha(paths[1])];

      const r = await compact(paths[2]);
      expect(r.blocksBefore).toBe(before.allocated.length);
      expect(r.blocksAfter).toBe(before.allocated.length - emptied.length);
      expect(r.bytesAfter).toBe(sizeBefore - emptied.length * before.blockBytes);
      expect(statSync(paths[2]).size).toBe(r.bytesAfter);
      const after = rawScan(paths[2]);
      for (const b of zeroButSet) expect(after.allocated).toContain(b);
      for (const b of emptied) expect(after.allocated).not.toContain(b);

      expect([sha(paths[0]), sha(paths[1])]).toEqual(parentsBefore);
      for (let i = 0; i < 3; i++) assertSame(await readThrough(paths[i]), model.view(i), `layer ${i} after compact`);
      await expectCheckClean([paths[2]]);
      const reports = await checkPaths([paths[2]]);
      expect(reports.map((x) => x.ok)).toEqual([true, true, true]);
    });
  }

  it('keeps a blktap batmap true: dropped blocks lose their bit, the checksum matches', async () => {
    const size = 8 * MiB;
    const blockSize = 512 * KiB;
    const p = tmp.file('tap.vhd');
    await createDynamic(p, size, { blockSize });
    await makeTap(p);
    const rng = new Rng(41);
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, rng, blockSize, 10);
    const f0 = await VhdFile.open(p);
    expect(f0.batmap, 'the crafted file has a batmap').not.toBeNull();
    await f0.close();
    const before = rawScan(p);
    expect(before.droppable.length).toBeGreaterThan(0);

    const r = await compact(p);
    expect(r.blocksAfter).toBe(before.allocated.length - before.droppable.length);
    const f = await VhdFile.open(p);
    try {
      expect(f.batmap).not.toBeNull();
      expect(f.notes.map((n) => n.code)).not.toContain('BATMAP_CHECKSUM');
      for (let b = 0; b < f.blockCount; b++) {
        const bit = (f.batmap!.map[b >>> 3] & (0x80 >>> (b & 7))) !== 0;
        // Dynamic blocks written by us have full bitmaps: the bit is set exactly for kept blocks.
        expect(bit, `batmap bit ${b}`).toBe(f.blockOffset(b) !== null);
      }
    } finally {
      await f.close();
    }
    assertSame(await readThrough(p), model.view(0), 'tap disk after compact');
    await expectCheckClean([p]);
  });

  it('refuses a fixed disk and a disk with children, naming them', async () => {
    const fixed = tmp.file('f.vhd');
    await createFixed(fixed, 2 * MiB);
    await expect(compact(fixed)).rejects.toMatchObject({ code: 'FIXED_DISK' });
    const plan = await planCompact(fixed);
    expect(plan.refusals.map((x) => x.code)).toEqual(['FIXED_DISK']);

    const base = tmp.file('base.vhd');
    await createDynamic(base, 4 * MiB);
    const d = await openDisk(base, { writable: true });
    await d.write(0, Buffer.alloc(2 * MiB));
    await d.close();
    await createDifferencing(tmp.file('kid.vhd'), base);
    const hash = sha(base);
    const err = await compact(base).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as VhdError).code).toBe('HAS_CHILDREN');
    expect((err as VhdError).message).toContain('kid.vhd');
    expect(sha(base)).toBe(hash);
  });

  it('cancel leaves the original byte-identical and no temporary file or journal behind', async () => {
    const p = tmp.file('c.vhd');
    const size = 8 * MiB;
    await createDynamic(p, size, { blockSize: 4 * KiB });
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, new Rng(51), 4 * KiB, 30);
    const hash = sha(p);
    const ac = new AbortController();
    let progressSeen = 0;
    const err = await compact(p, {
      signal: ac.signal,
      onProgress: () => {
        progressSeen++;
        ac.abort();
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(progressSeen).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(CancelledError);
    expect(sha(p)).toBe(hash);
    expect(leftovers(tmp.dir)).toEqual([]);
  });

  it('an I/O failure while writing the copy leaves the original untouched', async () => {
    const p = tmp.file('e.vhd');
    const size = 6 * MiB;
    await createDynamic(p, size, { blockSize: 512 * KiB });
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, new Rng(61), 512 * KiB, 12);
    const hash = sha(p);
    let writes = 0;
    const restore = setFileOpener(async (path, mode) => {
      const f = await plainFile(path, mode);
      if (!path.endsWith('.tmp')) return f;
      return {
        ...f,
        path: f.path,
        writable: f.writable,
        write: async (buf: Uint8Array, at: number) => {
          if (++writes === 3) throw Object.assign(new Error('injected'), { code: 'EIO' });
          return f.write(buf, at);
        },
      };
    });
    try {
      await expect(compact(p)).rejects.toThrow(/injected/);
    } finally {
      restore();
    }
    expect(sha(p)).toBe(hash);
    expect(leftovers(tmp.dir)).toEqual([]);
    assertSame(await readThrough(p), model.view(0), 'after failed compact');
  });

  it('recover drops an unfinished copy and finishes a complete one', async () => {
    const p = tmp.file('r.vhd');
    const size = 6 * MiB;
    await createDynamic(p, size, { blockSize: 512 * KiB });
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, new Rng(71), 512 * KiB, 12);
    const f = await VhdFile.open(p);
    const uuid = f.uuid;
    await f.close();
    const hash = sha(p);
    const j: CompactJournal = {
      version: 1,
      op: 'compact',
      phase: 'copy',
      pid: 999999999,
      startedAt: new Date().toISOString(),
      path: p,
      uuid,
      tmp: tmp.file('.r.vhd.0000.compact.tmp'),
    };
    // Crash during the copy: a half-written temporary file.
    await fsp.writeFile(j.tmp, Buffer.alloc(4096, 7));
    await writeJournal(journalPath(p), j);
    const r1 = await recover(tmp.dir);
    expect(r1.map((x) => [x.op, x.action])).toEqual([['compact', 'discarded']]);
    expect(sha(p)).toBe(hash);
    expect(leftovers(tmp.dir)).toEqual([]);

    // Crash after the copy was complete, before the rename: recovery renames it.
    const copy = tmp.file('copy-src.vhd');
    await fsp.copyFile(p, copy);
    const expectDropped = rawScan(copy).droppable.length;
    expect(expectDropped).toBeGreaterThan(0);
    await compact(copy);
    await fsp.rename(copy, j.tmp);
    expect(await idOf(j.tmp)).toBe(uuid);
    await writeJournal(journalPath(p), { ...j, phase: 'rename' });
    const r2 = await recover(tmp.dir);
    expect(r2.map((x) => [x.op, x.action])).toEqual([['compact', 'completed']]);
    expect(rawScan(p).droppable).toEqual([]);
    assertSame(await readThrough(p), model.view(0), 'after recovered compact');
    await expectCheckClean([p]);
    expect(leftovers(tmp.dir)).toEqual([]);
  });
});

async function idOf(p: string): Promise<string> {
  const f = await VhdFile.open(p);
  const id = f.uuid;
  await f.close();
  return id;
}

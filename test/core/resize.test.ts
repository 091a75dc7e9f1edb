// Resize (grow): fixed and dynamic disks (differencing refused), with and without a
// BAT too small for the new size; old content identical, new area zero (even
// over junk left past the old end), check ok, QEMU reads grown disks as we
// do; refusals; and a crash injected at every write/fsync of the run, each
// followed by recover, must leave the disk exactly before or after.
import { execFile, spawnSync } from 'node:child_process';
import { promises as fsp, readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { chsForSize } from '../../core/format/geometry.js';
import { setFileOpener } from '../../core/io/file.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { planResize, resize } from '../../core/ops/resize.js';
import { exportRaw } from '../../core/ops/transfer.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { plainFile } from '../support/plain-file.js';
import { makeTap } from '../support/tap.js';
import { assertSame, sha } from '../support/compare.js';
import { expectCheckClean } from '../support/check.js';

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const HAVE_QEMU_IMG = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAVE_QEMU_IMG) console.log('resize: qemu-img is not on PATH; the QEMU comparison is skipped');

/** The old content followed by zeros up to the new size. */
function grown(old: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  old.copy(out);
  return out;
}

async function scribble(p: string, model: DiskModel, layer: number, rng: Rng, writes: number): Promise<void> {
  const disk = await openDisk(p, { writable: true, sync: false });
  try {
    for (let w = 0; w < writes; w++) {
      const len = rng.range(1, 300000);
      const off = rng.int(model.size - len);
      const data = rng.bytes(len);
      await disk.write(off, data);
      model.write(layer, off, data);
    }
    // The very last sector too: the block holding the old end is the delicate one.
    const tail = rng.bytes(512);
    await disk.write(model.size - 512, tail);
    model.write(layer, model.size - 512, tail);
  } finally {
    await disk.close();
  }
}

/** Junk in the last block past the old end (invisible now, visible after a careless grow). */
async function junkPastEnd(p: string, rng: Rng): Promise<number> {
  const f = await VhdFile.open(p);
  const last = f.blockCount - 1;
  const at = f.blockOffset(last);
  const first = f.totalSectors - last * f.sectorsPerBlock;
  const bmAt = at;
  const dataAt = at === null ? 0 : at + f.bitmapSize + first * 512;
  const n = f.sectorsPerBlock - first;
  const bitmapSize = f.bitmapSize;
  const type = f.type;
  await f.close();
  if (at === null || n <= 0) throw new Error('set-up: the last block must be allocated and partial');
  const fh = await fsp.open(p, 'r+');
  try {
    await fh.write(rng.bytes(n * 512), 0, n * 512, dataAt);
    if (type === 'differencing') {
      // Set every bit (those past the end included) as some writers do.
      await fh.write(Buffer.alloc(bitmapSize, 0xff), 0, bitmapSize, bmAt!);
    }
  } finally {
    await fh.close();
  }
  return n;
}

async function footerOf(p: string) {
  const f = await VhdFile.open(p);
  try {
    return { footer: f.footer, maxTableEntries: f.header?.maxTableEntries ?? null, tableOffset: f.header ? Number(f.header.tableOffset) : null };
  } finally {
    await f.close();
  }
}

async function qemuRaw(vhd: string, raw: string): Promise<Buffer> {
  await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
  return fsp.readFile(raw);
}

describe('resize', () => {
  const tmp = useTmpDir('vhdsnap-resize-');

  it('grows a fixed disk: content kept, new area zero, footer moved, CHS recomputed', async () => {
    const size = 3 * MiB + 3 * 512;
    const p = tmp.file('f.vhd');
    await createFixed(p, size);
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, new Rng(81), 6);
    const newSize = 7 * MiB + 512;
    const r = await resize(p, newSize);
    expect(r).toEqual({ path: p, oldSize: size, newSize });
    expect((await fsp.stat(p)).size).toBe(newSize + 512);
    const { footer } = await footerOf(p);
    expect(Number(footer.currentSize)).toBe(newSize);
    expect(footer.geometry).toEqual(chsForSize(newSize));
    assertSame(await readThrough(p), grown(model.view(0), newSize), 'grown fixed');
    await expectCheckClean([p]);
  });

  for (const c of [
    { name: 'in place (the BAT has room)', blockSize: 2 * MiB, size: 6 * MiB + 5 * 512, newSize: 20 * MiB, relocate: false },
    { name: 'into a larger BAT at the end of the file', blockSize: 4 * KiB, size: 6 * MiB + 5 * 512, newSize: 9 * MiB + 1024, relocate: true },
  ]) {
    it(`grows a dynamic disk ${c.name}; junk past the old end does not show`, async () => {
      const p = tmp.file('d.vhd');
      await createDynamic(p, c.size, { blockSize: c.blockSize });
      const model = new DiskModel(c.size);
      model.addBase();
      const rng = new Rng(c.relocate ? 91 : 92);
      await scribble(p, model, 0, rng, 10);
      expect(await junkPastEnd(p, rng)).toBeGreaterThan(0);
      const before = await footerOf(p);
      const plan = await planResize(p, c.newSize);
      expect(plan.refusals).toEqual([]);
      expect(plan.relocateBatTo).toBe(c.relocate ? Math.ceil(c.newSize / c.blockSize) : null);

      await resize(p, c.newSize);
      const after = await footerOf(p);
      expect(Number(after.footer.currentSize)).toBe(c.newSize);
      expect(after.footer.geometry).toEqual(chsForSize(c.newSize));
      expect(after.footer.uniqueId).toEqual(before.footer.uniqueId);
      // The footer copy at 0 is identical to the trailing one.
      const raw = readFileSync(p);
      expect(raw.subarray(0, 512).equals(raw.subarray(raw.length - 512))).toBe(true);
      if (c.relocate) {
        expect(after.maxTableEntries).toBe(Math.ceil(c.newSize / c.blockSize));
        expect(after.tableOffset).not.toBe(before.tableOffset);
      } else {
        expect(after.tableOffset).toBe(before.tableOffset);
      }
      assertSame(await readThrough(p), grown(model.view(0), c.newSize), 'grown dynamic');
      await expectCheckClean([p]);

      // The grown disk takes writes in the new area like any other.
      const late = new Rng(7).bytes(3 * c.blockSize + 100);
      const d = await openDisk(p, { writable: true });
      await d.write(c.newSize - late.length, late);
      await d.close();
      const want = grown(model.view(0), c.newSize);
      late.copy(want, c.newSize - late.length);
      assertSame(await readThrough(p), want, 'after writing into the new area');
      await expectCheckClean([p]);
    });
  }

  it('refuses to grow a differencing disk (its size must match its parent) and changes no byte', async () => {
    const size = 4 * MiB;
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await createDynamic(base, size, { blockSize: 512 * KiB });
    await createDifferencing(child, base);
    const before = [sha(base), sha(child)];
    const plan = await planResize(child, 8 * MiB);
    expect(plan.refusals.map((r) => r.code)).toContain('DIFFERENCING_DISK');
    await expect(resize(child, 8 * MiB)).rejects.toMatchObject({ code: 'DIFFERENCING_DISK' });
    expect([sha(base), sha(child)]).toEqual(before);
  });

  it('relocates a blktap batmap with the BAT and keeps it true', async () => {
    const size = 8 * MiB;
    const p = tmp.file('tap.vhd');
    await createDynamic(p, size, { blockSize: 4 * KiB });
    await makeTap(p);
    const model = new DiskModel(size);
    model.addBase();
    await scribble(p, model, 0, new Rng(111), 6);
    const newSize = 12 * MiB;
    const plan = await planResize(p, newSize);
    expect(plan.relocateBatTo).toBe(newSize / (4 * KiB));
    await resize(p, newSize);
    const f = await VhdFile.open(p);
    try {
      expect(f.batmap).not.toBeNull();
      expect(f.batmap!.headerOffset).toBe(Number(f.header!.tableOffset) + f.header!.maxTableEntries * 4);
      expect(f.notes.map((n) => n.code)).not.toContain('BATMAP_CHECKSUM');
      for (let b = 0; b < f.blockCount; b++) {
        expect((f.batmap!.map[b >>> 3] & (0x80 >>> (b & 7))) !== 0, `batmap bit ${b}`).toBe(f.blockOffset(b) !== null);
      }
    } finally {
      await f.close();
    }
    assertSame(await readThrough(p), grown(model.view(0), newSize), 'grown tap disk');
    await expectCheckClean([p]);
  });

  it.skipIf(!HAVE_QEMU_IMG)('qemu-img reads grown dynamic and fixed disks exactly as our export does', async () => {
    for (const kind of ['dynamic', 'fixed'] as const) {
      const size = 5 * MiB + 512;
      const p = tmp.file(`q-${kind}.vhd`);
      if (kind === 'fixed') await createFixed(p, size);
      else await createDynamic(p, size, { blockSize: 512 * KiB });
      const model = new DiskModel(size);
      model.addBase();
      await scribble(p, model, 0, new Rng(kind === 'fixed' ? 121 : 122), 6);
      // 200 MiB: the dynamic disk's BAT (11 entries, one sector = 128) must move.
      const newSize = 200 * MiB + 3 * 512;
      await resize(p, newSize);
      const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'vpc', p]);
      expect(JSON.parse(stdout)['virtual-size']).toBe(newSize);
      const ours = tmp.file(`q-${kind}.ours.raw`);
      await exportRaw(p, ours);
      const oursBytes = await fsp.readFile(ours);
      assertSame(oursBytes, grown(model.view(0), newSize), `${kind}: our export`);
      assertSame(await qemuRaw(p, tmp.file(`q-${kind}.qemu.raw`)), oursBytes, `${kind}: qemu-img convert vs our export`);
    }
  });

  it('refuses to shrink, refuses a disk with children, does nothing for the same size', async () => {
    const p = tmp.file('s.vhd');
    await createDynamic(p, 8 * MiB);
    const hash = sha(p);
    await expect(resize(p, 4 * MiB)).rejects.toMatchObject({ code: 'SHRINK_NOT_SUPPORTED' });
    expect((await planResize(p, 4 * MiB)).refusals.map((r) => r.code)).toEqual(['SHRINK_NOT_SUPPORTED']);
    expect(sha(p)).toBe(hash);
    expect(await resize(p, 8 * MiB)).toEqual({ path: p, oldSize: 8 * MiB, newSize: 8 * MiB });
    expect(sha(p)).toBe(hash);
    await expect(resize(p, 8 * MiB + 100)).rejects.toMatchObject({ code: 'BAD_SIZE' });

    await createDifferencing(tmp.file('kid.vhd'), p);
    const err = await resize(p, 16 * MiB).then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('HAS_CHILDREN');
    expect(err?.message).toContain('kid.vhd');
    expect(sha(p)).toBe(hash);
  });

  // A crash at every write and fsync of a run: afterwards recover must leave the old or the new disk, nothing else.
  for (const c of [
    { kind: 'fixed', blockSize: 0, size: 2 * MiB + 512, newSize: 3 * MiB },
    { kind: 'dynamic', blockSize: 2 * MiB, size: 5 * MiB + 512, newSize: 9 * MiB },
    { kind: 'dynamic', blockSize: 4 * KiB, size: 3 * MiB + 512, newSize: 5 * MiB },
  ] as const) {
    it(`recovers a ${c.kind} resize (${c.blockSize || 'no'} blocks) crashed at any write or fsync to exactly before or after`, async () => {
      const master = tmp.file('master.vhd');
      const model = new DiskModel(c.size);
      model.addBase();
      const rng = new Rng(131);
      if (c.kind === 'fixed') await createFixed(master, c.size);
      else await createDynamic(master, c.size, { blockSize: c.blockSize });
      await scribble(master, model, 0, rng, 5);
      if (c.kind !== 'fixed') await junkPastEnd(master, rng);
      const oldView = model.view(0);
      const newView = grown(oldView, c.newSize);
      const content = readThrough;

      const outcomes = { before: 0, after: 0 };
      for (let k = 1; ; k++) {
        const p = tmp.file('disk.vhd');
        await fsp.rm(p, { force: true });
        await fsp.copyFile(master, p);
        let ops = 0;
        let crashed = false;
        const restore = setFileOpener(async (path, mode) => {
          const f = await plainFile(path, mode);
          if (path !== p || mode === 'r') return f;
          const tick = () => {
            if (++ops === k) {
              crashed = true;
              throw Object.assign(new Error('injected crash'), { code: 'EIO' });
            }
          };
          return {
            ...f,
            path: f.path,
            writable: f.writable,
            write: async (b: Uint8Array, at: number) => (tick(), f.write(b, at)),
            sync: async () => (tick(), f.sync()),
          };
        });
        try {
          await resize(p, c.newSize);
        } catch (err) {
          if (!crashed) throw err;
        } finally {
          restore();
        }
        if (!crashed) break; // k passed the number of writes and fsyncs of a whole run
        await recover(tmp.dir);
        expect(readdirSync(tmp.dir).filter((n) => n.startsWith('.vhdsnap-journal'))).toEqual([]);
        const size = Number((await footerOf(p)).footer.currentSize);
        if (size === c.size) {
          assertSame(await content(p), oldView, `crash at op ${k}: before`);
          outcomes.before++;
        } else {
          expect(size, `crash at op ${k}`).toBe(c.newSize);
          assertSame(await content(p), newView, `crash at op ${k}: after`);
          outcomes.after++;
        }
        await expectCheckClean([p]);
      }
      expect(outcomes.before).toBeGreaterThan(0);
      expect(outcomes.after).toBeGreaterThan(0);
    });
  }
});

// Opening single files: footer fallback, legacy footers, hostile fields.
import { openSync, writeSync, closeSync, readFileSync, writeFileSync, statSync, truncateSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { FLUSH_AHEAD_BYTES, VhdFile } from '../../core/disk/vhd-file.js';
import { FormatError, RefusedError, VhdError } from '../../core/errors.js';
import { checksum, putU32 } from '../../core/format/bytes.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { countSet, testBit } from '../../core/format/bitmap.js';
import { setFileOpener } from '../../core/io/file.js';
import { expectCheckClean } from '../support/check.js';
import { assertSame } from '../support/compare.js';
import { plainFile } from '../support/plain-file.js';
import { useTmpDir } from '../support/tmp.js';

function patch(path: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

/** Sets a u32 in the dynamic header (at 512) and fixes its checksum, so only that field is wrong. */
function patchHeaderU32(path: string, field: number, value: number): void {
  const buf = readFileSync(path);
  const h = buf.subarray(512, 1536);
  putU32(h, field, value);
  putU32(h, 36, checksum(h, 36));
  writeFileSync(path, buf);
}

describe('VhdFile.open', () => {
  const tmp = useTmpDir();

  it('falls back to the footer copy when the trailing footer is damaged, reports it, and refuses writes', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    const size = statSync(p).size;
    patch(p, size - 512, Buffer.from('garbage!'));
    const f = await VhdFile.open(p);
    expect(f.footerSource).toBe('copy');
    expect(f.notes.map((n) => n.code)).toContain('FOOTER_FROM_COPY');
    await f.close();
    const disk = await openDisk(p, { writable: true });
    await expect(disk.write(0, Buffer.alloc(512, 1))).rejects.toBeInstanceOf(RefusedError);
    await disk.close();
  });

  it('reads a fixed disk with the old 511-byte footer', async () => {
    const p = tmp.file('f.vhd');
    await createFixed(p, 1 << 20);
    patch(p, 4096, Buffer.alloc(512, 0x5a));
    const raw = readFileSync(p);
    expect(raw[raw.length - 1]).toBe(0); // the byte old writers did not write is reserved (zero)
    truncateSync(p, raw.length - 1);
    const disk = await openDisk(p);
    expect(disk.top.notes.map((n) => n.code)).toContain('FOOTER_LEGACY_511');
    expect((await disk.read(4096, 512)).every((b) => b === 0x5a)).toBe(true);
    await disk.close();
  });

  it('rejects a non-VHD file with a typed error naming the field', async () => {
    const p = tmp.file('x.vhd');
    writeFileSync(p, Buffer.alloc(4096, 0x41));
    const err = await VhdFile.open(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as VhdError).code).toBe('FOOTER_COOKIE');
    expect((err as VhdError).field).toBe('cookie');
  });

  it('rejects a tiny file', async () => {
    const p = tmp.file('tiny.vhd');
    writeFileSync(p, Buffer.alloc(100));
    await expect(VhdFile.open(p)).rejects.toMatchObject({ code: 'FILE_TOO_SMALL' });
  });

  it('does not allocate from a crafted entry count or block size', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    patchHeaderU32(p, 28, 0xffffffff); // max table entries: the BAT would not fit the file
    await expect(VhdFile.open(p)).rejects.toMatchObject({ code: 'HEADER_TABLE_OFFSET', field: 'tableOffset' });
    const q = tmp.file('e.vhd');
    await createDynamic(q, 4 << 20);
    patchHeaderU32(q, 32, 0x80000000); // 2 GiB blocks
    await expect(VhdFile.open(q)).rejects.toMatchObject({ code: 'HEADER_BLOCK_SIZE', field: 'blockSize' });
  });

  it('raises a typed error, not garbage, when a BAT entry points past the end', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    const w = await openDisk(p, { writable: true, sync: false });
    await w.write(0, Buffer.alloc(4096, 3));
    await w.close();
    const bat = Buffer.alloc(4);
    bat.writeUInt32BE(0x00ffffff);
    patch(p, 1536, bat);
    const disk = await openDisk(p);
    await expect(disk.read(0, 4096)).rejects.toMatchObject({ code: 'BAT_ENTRY_PAST_EOF', field: 'bat[0]' });
    await disk.close();
  });
});

describe('VhdFile staged writes (stageRuns / commit)', () => {
  const tmp = useTmpDir();
  const KiB = 1024;
  const SIZE = 4 << 20;

  /** A differencing child over a dynamic base holding 0x11 everywhere it was written. */
  async function pair(blockSize = 512 * KiB): Promise<{ base: string; child: string }> {
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await createDynamic(base, SIZE, { blockSize });
    const w = await openDisk(base, { writable: true });
    await w.write(0, Buffer.alloc(SIZE, 0x11));
    await w.close();
    await createDifferencing(child, base);
    return { base, child };
  }

  /** Files opened for writing fail their n-th call of `method` with EIO; counts the calls. */
  function failNth(method: 'write' | 'sync', n: number): { restore: () => void; calls: () => number } {
    let calls = 0;
    const restore = setFileOpener(async (path, mode) => {
      const f = await plainFile(path, mode);
      if (mode === 'r') return f;
      const fail = () => Promise.reject(Object.assign(new Error(`injected ${method} EIO`), { code: 'EIO' }));
      if (method === 'sync') return { ...f, sync: () => (++calls === n ? fail() : f.sync()) };
      return { ...f, write: (buf: Uint8Array, at: number) => (++calls === n ? fail() : f.write(buf, at)) };
    });
    return { restore, calls: () => calls };
  }

  async function readAll(path: string): Promise<Buffer> {
    const d = await openDisk(path);
    try {
      return Buffer.from(await d.read(0, d.virtualSize));
    } finally {
      await d.close();
    }
  }

  it('staged new blocks read back at once but reach other readers only at commit, bit-exact', async () => {
    const { child } = await pair();
    const f = await VhdFile.open(child, { writable: true });
    // Sector 3 of block 0 (a new block), sectors 1020..1027 straddling blocks 0 and 1.
    await f.stageRuns([
      { sector: 3, data: Buffer.alloc(512, 0xa1) },
      { sector: 1020, data: Buffer.alloc(8 * 512, 0xb2) },
    ]);
    // A second stage adds sectors to a block the first one allocated: written in place.
    await f.stageRuns([{ sector: 5, data: Buffer.alloc(1024, 0xc3) }]);
    expect(testBit(await f.readBitmap(0), 5)).toBe(true);
    assertSame(await readAll(child), Buffer.alloc(SIZE, 0x11), 'another reader before the commit');
    await f.commit();
    await f.close();
    const expected = Buffer.alloc(SIZE, 0x11);
    expected.fill(0xa1, 3 * 512, 4 * 512);
    expected.fill(0xc3, 5 * 512, 7 * 512);
    expected.fill(0xb2, 1020 * 512, 1028 * 512);
    assertSame(await readAll(child), expected, 'after the commit');
    const g = await VhdFile.open(child);
    const bm0 = await g.readBitmap(0);
    expect([...Array(8).keys()].filter((s) => testBit(bm0, s))).toEqual([3, 5, 6]);
    expect(countSet(bm0, g.sectorsInBlock(0))).toBe(3 + 4); // 3, 5, 6 and 1020..1023
    expect(countSet(await g.readBitmap(1), g.sectorsInBlock(1))).toBe(4);
    expect(g.blockOffset(2)).toBeNull();
    await g.close();
    await expectCheckClean([child]);
  });

  it('a failed stage is never committed: later stages and commit refuse, and the file keeps its old content', async () => {
    const { child } = await pair();
    const before = await readAll(child);
    const faults = failNth('write', 4);
    try {
      const f = await VhdFile.open(child, { writable: true });
      await f.stageRuns([{ sector: 0, data: Buffer.alloc(512, 1) }]); // footer, then the new block's bitmap and data: writes 1-3
      await expect(f.stageRuns([{ sector: 2048, data: Buffer.alloc(512, 2) }])).rejects.toThrow(/injected/);
      await expect(f.stageRuns([{ sector: 4096, data: Buffer.alloc(512, 3) }])).rejects.toThrow(/injected/);
      await expect(f.commit()).rejects.toThrow(/injected/);
      await f.close();
    } finally {
      faults.restore();
    }
    assertSame(await readAll(child), before, 'after the failed stage');
    await expectCheckClean([child]);
  });

  /** An empty dynamic disk big enough to stage FLUSH_AHEAD_BYTES at once. */
  async function roomy(): Promise<string> {
    const file = tmp.file('roomy.vhd');
    await createDynamic(file, 2 * FLUSH_AHEAD_BYTES);
    return file;
  }

  it('a failed background flush is reported by commit (fsync errors are reported only once)', async () => {
    const file = await roomy();
    const faults = failNth('sync', 1);
    try {
      const f = await VhdFile.open(file, { writable: true });
      await f.stageRuns([{ sector: 0, data: Buffer.alloc(FLUSH_AHEAD_BYTES, 1) }]); // starts the flush that fails
      await expect(f.commit()).rejects.toThrow(/injected sync/);
      await f.close();
    } finally {
      faults.restore();
    }
    expect(faults.calls()).toBe(1); // the metadata was never written after the failed flush
    assertSame(await readAll(file), Buffer.alloc(2 * FLUSH_AHEAD_BYTES), 'after the failed flush');
  });

  it('fsyncs: writeRuns two (data, then metadata); stages one more per FLUSH_AHEAD_BYTES, started ahead of the commit', async () => {
    const { child } = await pair();
    const file = await roomy();
    let syncs = 0;
    const restore = setFileOpener(async (path, mode) => {
      const f = await plainFile(path, mode);
      return { ...f, sync: async () => (syncs++, f.sync()) };
    });
    try {
      const f = await VhdFile.open(child, { writable: true });
      await f.writeRuns([{ sector: 0, data: Buffer.alloc(512, 1) }]);
      expect(syncs).toBe(2);
      // Small stages start no flush of their own: the commit's two are all.
      await f.stageRuns([{ sector: 1024, data: Buffer.alloc(512, 2) }]);
      await f.stageRuns([{ sector: 2048, data: Buffer.alloc(512, 3) }]);
      await f.commit();
      expect(syncs).toBe(2 + 2);
      await f.commit(); // nothing staged: nothing to do
      expect(syncs).toBe(4);
      await f.close();
      // Half the threshold twice: the second stage starts one flush; a third half waits for the commit.
      const g = await VhdFile.open(file, { writable: true });
      const half = FLUSH_AHEAD_BYTES / 2;
      await g.stageRuns([{ sector: 0, data: Buffer.alloc(half, 4) }]);
      expect(syncs).toBe(4);
      await g.stageRuns([{ sector: half / 512, data: Buffer.alloc(half, 5) }]);
      await g.stageRuns([{ sector: (2 * half) / 512, data: Buffer.alloc(half, 6) }]);
      await g.commit();
      expect(syncs).toBe(4 + 1 + 2);
      await g.close();
      const expected = Buffer.alloc(2 * FLUSH_AHEAD_BYTES);
      expected
        .fill(4, 0, half)
        .fill(5, half, 2 * half)
        .fill(6, 2 * half, 3 * half);
      assertSame(await readAll(file), expected, 'after the staged halves');
    } finally {
      restore();
    }
  });

  it('bitmaps() yields in the order asked, and a caller stopping early leaves no stray rejection', async () => {
    const { child } = await pair(256 * KiB);
    const w = await openDisk(child, { writable: true });
    for (const b of [5, 1, 9]) await w.write(b * 256 * KiB + 512, Buffer.alloc(512, b));
    await w.close();
    const f = await VhdFile.open(child);
    const order = f.physicalOrder();
    expect(order).toEqual([5, 1, 9]); // allocation order is file order
    const seen: number[] = [];
    for await (const [b, bm] of f.bitmaps(order)) {
      seen.push(b);
      expect(countSet(bm, f.sectorsInBlock(b))).toBe(1);
    }
    expect(seen).toEqual([5, 1, 9]);
    await f.close();
    // Block 9's entry pointed past the end: reading it fails, but stopping after block 5 must not.
    const bat = Buffer.alloc(4);
    bat.writeUInt32BE(0x00ffffff);
    const g = await VhdFile.open(child);
    patch(child, Number(g.header!.tableOffset) + 9 * 4, bat);
    await g.close();
    const h = await VhdFile.open(child);
    for await (const [b] of h.bitmaps([5, 1, 9])) if (b === 5) break;
    await expect(
      (async () => {
        for await (const _ of h.bitmaps([5, 1, 9])) void _;
      })(),
    ).rejects.toMatchObject({ code: 'BAT_ENTRY_PAST_EOF' });
    await h.close();
  });
});

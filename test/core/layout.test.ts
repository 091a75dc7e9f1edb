// The layout reader (core/disk/layout.ts): well-formed fixed, dynamic,
// differencing and blktap files give no findings; each single fault gives
// exactly its code and field, and undoing the fault makes it go away (so the
// finding comes from the fault, not from the file); crafted sizes never size
// an allocation beyond the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { readLayout, type Layout } from '../../core/disk/layout.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { batBytes } from '../../core/format/bat.js';
import { BATMAP_CHECKSUM_OFFSET } from '../../core/format/batmap.js';
import { putU32, putU64 } from '../../core/format/bytes.js';
import { decodeFooter, FOOTER_SIZE, withFooterChecksum } from '../../core/format/footer.js';
import { decodeHeader, HEADER_SIZE, withHeaderChecksum } from '../../core/format/header.js';
import { openFile, type RandomAccessFile } from '../../core/io/file.js';
import { checkStructure } from '../../core/ops/check.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { makeTap } from '../support/tap.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 2 * MiB;
const BLOCK = 256 * KiB;

const tmp = useTmpDir('vhdsnap-layout-');

async function layoutOf(p: string): Promise<Layout> {
  const f = await openFile(p, 'r');
  try {
    return await readLayout(f);
  } finally {
    await f.close();
  }
}

const found = (l: Layout) => l.findings.list().map((x) => ({ code: x.code, field: x.field, severity: x.severity }));

/** Where the pieces of a dynamic or differencing file sit, from its own fields. */
function where(b: Buffer): { footerAt: number; headerAt: number; tableAt: number; entries: number } {
  const footerAt = b.length - FOOTER_SIZE;
  const headerAt = Number(decodeFooter(b.subarray(footerAt)).dataOffset);
  const h = decodeHeader(b.subarray(headerAt, headerAt + HEADER_SIZE));
  return { footerAt, headerAt, tableAt: Number(h.tableOffset), entries: h.maxTableEntries };
}

/** Writes `data` at `at` and returns what was there, to undo the edit. */
function patch(p: string, at: number, data: Uint8Array): Buffer {
  const b = readFileSync(p);
  const before = Buffer.from(b.subarray(at, at + data.length));
  b.set(data, at);
  writeFileSync(p, b);
  return before;
}

/** The dynamic header of `p`, edited by `edit` and resealed; returns the file as it was. */
function editHeader(p: string, edit: (raw: Buffer) => void): Buffer {
  const b = readFileSync(p);
  const { headerAt } = where(b);
  const raw = Buffer.from(b.subarray(headerAt, headerAt + HEADER_SIZE));
  edit(raw);
  patch(p, headerAt, withHeaderChecksum(raw));
  return b;
}

async function dynamicWithBlock0(p: string): Promise<void> {
  await createDynamic(p, SIZE, { blockSize: BLOCK });
  const d = await openDisk(p, { writable: true, sync: false });
  await d.write(4096, Buffer.alloc(8192, 0x5a));
  await d.close();
}

/** The fault gives exactly this one finding; undone, the file is clean again. */
async function expectOnly(p: string, at: number, data: Uint8Array, want: { code: string; field: string; severity: 'error' | 'warning' }): Promise<Layout> {
  expect(found(await layoutOf(p)), 'before the fault').toEqual([]);
  const before = patch(p, at, data);
  const l = await layoutOf(p);
  expect(found(l)).toEqual([want]);
  // check reports the same finding (it reads through the same reader).
  const c = await checkStructure(p);
  expect((want.severity === 'error' ? c.findings.errors : c.findings.warnings).map((x) => [x.code, x.field])).toEqual([[want.code, want.field]]);
  patch(p, at, before);
  expect(found(await layoutOf(p)), 'after undoing the fault').toEqual([]);
  return l;
}

describe('layout reader: well-formed files', () => {
  it('fixed disk: no findings, no header or BAT', async () => {
    const p = tmp.file('f.vhd');
    await createFixed(p, SIZE);
    const l = await layoutOf(p);
    expect(found(l)).toEqual([]);
    expect(l).toMatchObject({ type: 'fixed', footerSource: 'trailing', header: null, bat: null, fatal: null, usable: true, footerOffset: SIZE });
  });

  it('dynamic disk with data: no findings, the BAT points at the written block', async () => {
    const p = tmp.file('d.vhd');
    await dynamicWithBlock0(p);
    const l = await layoutOf(p);
    expect(found(l)).toEqual([]);
    expect(l).toMatchObject({ type: 'dynamic', footerSource: 'trailing', fatal: null, usable: true, needed: SIZE / BLOCK });
    expect(l.header!.blockSize).toBe(BLOCK);
    expect([...l.bat!].filter((e) => e !== 0xffffffff)).toHaveLength(1);
    expect(l.overlapping.size).toBe(0);
  });

  it('differencing disk with data: no findings, its locators decoded to the parent', async () => {
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await dynamicWithBlock0(base);
    await createDifferencing(child, base);
    const d = await openDisk(child, { writable: true, sync: false });
    await d.write(SIZE - 512, Buffer.alloc(512, 1));
    await d.close();
    const l = await layoutOf(child);
    expect(found(l)).toEqual([]);
    expect(l.type).toBe('differencing');
    const byCode = Object.fromEntries(l.locators.map((x) => [x.entry.code, x.text]));
    expect(byCode.W2ru).toBe('.\\base.vhd');
    expect(byCode.W2ku).toMatch(/base\.vhd$/);
    expect(l.locators.every((x) => x.complete)).toBe(true);
  });

  it('blktap disk: no findings, the batmap read', async () => {
    const p = tmp.file('tap.vhd');
    await createDynamic(p, SIZE, { blockSize: BLOCK });
    await makeTap(p);
    const l = await layoutOf(p);
    expect(found(l)).toEqual([]);
    expect(l.batmap!.map.length).toBe(512);
  });
});

describe('layout reader: one fault, one finding', () => {
  it('block overlapping the BAT: BAT_ENTRY_IN_METADATA at bat[0]', async () => {
    const p = tmp.file('a.vhd');
    await dynamicWithBlock0(p);
    const { tableAt } = where(readFileSync(p));
    const e = Buffer.alloc(4);
    e.writeUInt32BE(tableAt / 512);
    const l = await expectOnly(p, tableAt, e, { code: 'BAT_ENTRY_IN_METADATA', field: 'bat[0]', severity: 'error' });
    expect([...l.overlapping]).toEqual([0]);
    expect(l.fatal).toBeNull(); // opening still works: reads check each block's bounds as they go
  });

  it('BAT entry past the end of the file: BAT_ENTRY_PAST_EOF at bat[0]', async () => {
    const p = tmp.file('b.vhd');
    await dynamicWithBlock0(p);
    const b = readFileSync(p);
    const { tableAt } = where(b);
    const e = Buffer.alloc(4);
    e.writeUInt32BE(b.length / 512 + 16);
    await expectOnly(p, tableAt, e, { code: 'BAT_ENTRY_PAST_EOF', field: 'bat[0]', severity: 'error' });
  });

  it('bad header checksum: HEADER_CHECKSUM at checksum, and what opening throws', async () => {
    const p = tmp.file('c.vhd');
    await dynamicWithBlock0(p);
    const { headerAt } = where(readFileSync(p));
    const reserved = readFileSync(p).subarray(headerAt + 800, headerAt + 801);
    const l = await expectOnly(p, headerAt + 800, Buffer.from([reserved[0] ^ 0x01]), { code: 'HEADER_CHECKSUM', field: 'checksum', severity: 'error' });
    expect(l.fatal?.code).toBe('HEADER_CHECKSUM');
    patch(p, headerAt + 800, Buffer.from([reserved[0] ^ 0x01]));
    await expect(VhdFile.open(p)).rejects.toMatchObject({ code: 'HEADER_CHECKSUM', field: 'checksum' });
  });

  it('locator payload past the end of the file: LOCATOR_OUT_OF_FILE at locators[0].dataOffset', async () => {
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await dynamicWithBlock0(base);
    await createDifferencing(child, base);
    const b = readFileSync(child);
    const { headerAt } = where(b);
    const raw = Buffer.from(b.subarray(headerAt, headerAt + HEADER_SIZE));
    putU64(raw, 576 + 16, BigInt(b.length + 4096)); // locator 0's data offset, sector aligned, past the end
    await expectOnly(child, headerAt, withHeaderChecksum(raw), { code: 'LOCATOR_OUT_OF_FILE', field: 'locators[0].dataOffset', severity: 'error' });
  });

  it('batmap with a wrong checksum: BATMAP_CHECKSUM at batmap.checksum', async () => {
    const p = tmp.file('tap.vhd');
    await createDynamic(p, SIZE, { blockSize: BLOCK });
    await makeTap(p);
    const { tableAt, entries } = where(readFileSync(p));
    const sum = Buffer.alloc(4);
    putU32(sum, 0, 0x12345678);
    const l = await expectOnly(p, tableAt + batBytes(entries) + BATMAP_CHECKSUM_OFFSET, sum, {
      code: 'BATMAP_CHECKSUM',
      field: 'batmap.checksum',
      severity: 'error',
    });
    expect(l.fatal).toBeNull();
  });

  it('footer copy differing from the trailing footer: FOOTER_COPY_MISMATCH at footerCopy', async () => {
    const p = tmp.file('m.vhd');
    await dynamicWithBlock0(p);
    const copy = Buffer.from(readFileSync(p).subarray(0, FOOTER_SIZE));
    copy[27] ^= 0x01; // timestamp, resealed: a valid footer that is not the trailing one
    await expectOnly(p, 0, withFooterChecksum(copy), { code: 'FOOTER_COPY_MISMATCH', field: 'footerCopy', severity: 'error' });
  });

  it('damaged trailing footer with an intact copy: the copy is used, opening works', async () => {
    const p = tmp.file('t.vhd');
    await dynamicWithBlock0(p);
    const { footerAt } = where(readFileSync(p));
    patch(p, footerAt, Buffer.from('garbage!'));
    const l = await layoutOf(p);
    expect(l.footerSource).toBe('copy');
    expect(l.fatal).toBeNull();
    expect(found(l).map((x) => x.code)).toEqual(['FOOTER_COOKIE', 'FOOTER_CHECKSUM']);
    const f = await VhdFile.open(p);
    expect(f.notes.map((n) => n.code)).toEqual(['FOOTER_FROM_COPY']);
    await f.close();
  });
});

describe('layout reader: bounded on crafted sizes', () => {
  /** The layout of `p`, read without any read larger than the file `b` (every buffer the reader fills is sized by a read). */
  async function boundedLayout(p: string, b: Buffer): Promise<Layout> {
    const f = await openFile(p, 'r');
    let largest = 0;
    const counting: RandomAccessFile = {
      path: f.path,
      writable: false,
      read: (buf, pos) => ((largest = Math.max(largest, buf.length)), f.read(buf, pos)),
      write: (buf, pos) => f.write(buf, pos),
      size: () => f.size(),
      truncate: (n) => f.truncate(n),
      sync: () => f.sync(),
      close: () => f.close(),
    };
    try {
      const l = await readLayout(counting);
      expect(largest).toBeLessThanOrEqual(b.length);
      return l;
    } finally {
      await f.close();
    }
  }

  it('a 16 MiB BAT claimed in a small file is refused before it is read', async () => {
    const p = tmp.file('bat.vhd');
    await createDynamic(p, SIZE, { blockSize: BLOCK });
    const b = editHeader(p, (raw) => putU32(raw, 28, 0x00400000)); // max table entries: a 16 MiB table, under MAX_BAT_BYTES
    const l = await boundedLayout(p, b);
    expect([l.fatal?.code, l.fatal?.field, l.bat]).toEqual(['HEADER_TABLE_OFFSET', 'tableOffset', null]);
  });

  it('an 8 GiB batmap claimed in a small file is refused before it is read', async () => {
    const p = tmp.file('tap.vhd');
    await createDynamic(p, SIZE, { blockSize: BLOCK });
    await makeTap(p);
    const b = readFileSync(p);
    const { tableAt, entries } = where(b);
    const n = Buffer.alloc(4);
    putU32(n, 0, 0x00ffffff); // batmap size in sectors
    patch(p, tableAt + batBytes(entries) + 16, n);
    const l = await boundedLayout(p, b);
    expect([l.fatal?.code, l.fatal?.field, l.batmap]).toEqual(['BATMAP_OUT_OF_FILE', 'batmap.offset', null]);
  });

  it('a 4 GiB locator payload claimed in a small file is not read', async () => {
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await createDynamic(base, SIZE, { blockSize: BLOCK });
    await createDifferencing(child, base);
    const b = editHeader(child, (raw) => {
      putU32(raw, 576 + 4, 0xfffffe00); // locator 0's data space, in bytes
      putU32(raw, 576 + 8, 0xfffffe00); // and its data length
    });
    const l = await boundedLayout(child, b);
    expect(found(l).map((x) => [x.code, x.field])).toEqual([['LOCATOR_OUT_OF_FILE', 'locators[0].dataOffset']]);
    expect(l.locators.map((x) => x.index)).not.toContain(0);
  });
});

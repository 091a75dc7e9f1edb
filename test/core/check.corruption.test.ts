// Corruption tests for `check`: each test builds a valid file with the create
// ops (and writes some blocks through Disk), damages exactly one thing with raw
// byte edits, and asserts that check reports the specific code for it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { runCli } from '../../core/cli/main.js';
import { checkPaths, type FileReport } from '../../core/ops/check.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { batmapChecksum } from '../../core/format/batmap.js';
import { checksum, putU32, putU64, u32, u64 } from '../../core/format/bytes.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 4 * MiB;
const BLOCK = 64 * KiB;
const ENTRIES = SIZE / BLOCK; // 64: the BAT fills exactly one sector
const HEADER_AT = 512;
const BAT_AT = 1536;
const LOCATORS_AT = HEADER_AT + 576;

const tmp = useTmpDir('vhdsnap-check-corrupt-');

// ---------------------------------------------------------------- raw edits

function readAt(file: string, at: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, at);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function writeAt(file: string, at: number, data: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, at);
  } finally {
    fs.closeSync(fd);
  }
}

function fileSize(file: string): number {
  return fs.statSync(file).size;
}

/** Edits the footer at `at` with `edit`, re-sealing its checksum unless `keepChecksum`. */
function editFooterAt(file: string, at: number, edit: (b: Buffer) => void, keepChecksum = false): void {
  const b = readAt(file, at, 512);
  edit(b);
  if (!keepChecksum) putU32(b, 64, checksum(b, 64));
  writeAt(file, at, b);
}

/** Same valid edit to both footers (copy at 0 and trailing); fixed disks only have the trailing one. */
function editFooters(file: string, edit: (b: Buffer) => void, opts: { fixed?: boolean } = {}): void {
  editFooterAt(file, fileSize(file) - 512, edit);
  if (!opts.fixed) editFooterAt(file, 0, edit);
}

/** Edits the dynamic header, re-sealing its checksum unless `keepChecksum`. */
function editHeader(file: string, edit: (b: Buffer) => void, keepChecksum = false): void {
  const b = readAt(file, HEADER_AT, 1024);
  edit(b);
  if (!keepChecksum) putU32(b, 36, checksum(b, 36));
  writeAt(file, HEADER_AT, b);
}

function batEntry(file: string, i: number): number {
  return u32(readAt(file, BAT_AT + i * 4, 4), 0);
}

function setBatEntry(file: string, i: number, sector: number): void {
  const b = Buffer.alloc(4);
  putU32(b, 0, sector);
  writeAt(file, BAT_AT + i * 4, b);
}

/** Locator entry i: code, dataSpace, dataLength, dataOffset. */
function locator(file: string, i: number): { code: string; space: number; length: number; offset: number } {
  const b = readAt(file, LOCATORS_AT + i * 24, 24);
  return { code: b.toString('latin1', 0, 4), space: u32(b, 4), length: u32(b, 8), offset: Number(u64(b, 16)) };
}

// ---------------------------------------------------------------- builders

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 7 + 1) & 0xff || 1;
  return b;
}

async function writeDisk(file: string, writes: { at: number; length: number; seed: number }[]): Promise<void> {
  const disk = await openDisk(file, { writable: true, sync: false });
  try {
    for (const w of writes) await disk.write(w.at, pattern(w.length, w.seed));
  } finally {
    await disk.close();
  }
}

/** A dynamic disk with blocks 0 (partial), 1 (full) and 5 (partial) allocated. */
async function dynamicDisk(name = 'dyn.vhd'): Promise<string> {
  const file = tmp.file(name);
  await createDynamic(file, SIZE, { blockSize: BLOCK });
  await writeDisk(file, [
    { at: 0, length: 4096, seed: 1 },
    { at: BLOCK, length: BLOCK, seed: 2 },
    { at: 5 * BLOCK + 1024, length: 2048, seed: 3 },
  ]);
  return file;
}

async function fixedDisk(name = 'fixed.vhd'): Promise<string> {
  const file = tmp.file(name);
  await createFixed(file, SIZE);
  await writeDisk(file, [{ at: 4096, length: 8192, seed: 4 }]);
  return file;
}

/** parent.vhd (dynamic, written) and child.vhd (differencing, written). */
async function chain(): Promise<{ parent: string; child: string }> {
  const parent = await dynamicDisk('parent.vhd');
  const child = tmp.file('child.vhd');
  await createDifferencing(child, parent);
  await writeDisk(child, [
    { at: 512, length: 1024, seed: 5 },
    { at: 3 * BLOCK, length: BLOCK, seed: 6 },
  ]);
  return { parent, child };
}

// ---------------------------------------------------------------- assertions

async function readAll(file: string): Promise<Buffer> {
  const d = await openDisk(file);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}

async function check(file: string, deep = false): Promise<FileReport> {
  const reports = await checkPaths([file], { deep });
  return reports[0];
}

const codes = (fs_: { code: string }[]) => fs_.map((f) => f.code);

async function expectError(file: string, code: string, deep = false): Promise<FileReport> {
  const r = await check(file, deep);
  expect(r.ok, JSON.stringify(r)).toBe(false);
  expect(codes(r.errors)).toContain(code);
  return r;
}

async function expectWarning(file: string, code: string, deep = false): Promise<FileReport> {
  const r = await check(file, deep);
  expect(r.ok, JSON.stringify(r)).toBe(true);
  expect(codes(r.warnings)).toContain(code);
  return r;
}

// ---------------------------------------------------------------- tests

describe('check: clean files', () => {
  it('created and written dynamic, fixed and differencing disks have no errors and no warnings (deep too)', async () => {
    const dyn = await dynamicDisk();
    const fixed = await fixedDisk();
    const { child } = await chain();
    for (const deep of [false, true]) {
      const reports = await checkPaths([dyn, fixed, child], { deep });
      expect(reports.map((r) => path.basename(r.path))).toEqual(['dyn.vhd', 'fixed.vhd', 'child.vhd', 'parent.vhd']);
      expect(reports.map((r) => r.type)).toEqual(['dynamic', 'fixed', 'differencing', 'dynamic']);
      for (const r of reports) {
        expect(r.errors, r.path).toEqual([]);
        expect(r.warnings, r.path).toEqual([]);
        expect(r.ok).toBe(true);
      }
    }
  });
});

describe('check: footer', () => {
  it('FILE_TOO_SMALL', async () => {
    const file = tmp.file('small.vhd');
    fs.writeFileSync(file, Buffer.alloc(100));
    await expectError(file, 'FILE_TOO_SMALL');
  });

  it('FOOTER_COOKIE', async () => {
    const file = await dynamicDisk();
    editFooterAt(file, fileSize(file) - 512, (b) => b.write('notavhd!', 0, 'latin1'));
    await expectError(file, 'FOOTER_COOKIE');
  });

  it('FOOTER_CHECKSUM (trailing footer damaged, copy intact)', async () => {
    const file = await dynamicDisk();
    editFooterAt(file, fileSize(file) - 512, (b) => (b[24] ^= 0x55), true); // timestamp byte, checksum not re-sealed
    const r = await expectError(file, 'FOOTER_CHECKSUM');
    const f = r.errors.find((e) => e.code === 'FOOTER_CHECKSUM')!;
    expect(f.message).toMatch(/footer copy at offset 0 is intact/);
  });

  it('FOOTER_VERSION', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => putU32(b, 12, 0x00020000));
    await expectError(file, 'FOOTER_VERSION');
  });

  it('FOOTER_DISK_TYPE', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => putU32(b, 60, 7));
    await expectError(file, 'FOOTER_DISK_TYPE');
  });

  it('FOOTER_DATA_OFFSET', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => putU64(b, 16, 513));
    await expectError(file, 'FOOTER_DATA_OFFSET');
  });

  it('FOOTER_CURRENT_SIZE', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => putU64(b, 48, 0));
    await expectError(file, 'FOOTER_CURRENT_SIZE');
  });

  it('FOOTER_FEATURES_RESERVED: reserved bit 0x2 clear is an error naming `features`; opening and reading still work', async () => {
    for (const file of [await dynamicDisk(), await fixedDisk()]) {
      const before = await readAll(file);
      editFooters(file, (b) => putU32(b, 8, 0), { fixed: file.endsWith('fixed.vhd') });
      const r = await expectError(file, 'FOOTER_FEATURES_RESERVED');
      expect(r.errors.find((e) => e.code === 'FOOTER_FEATURES_RESERVED')!.field).toBe('features');
      expect(Buffer.compare(await readAll(file), before), `${file}: reads as before`).toBe(0);
    }
  });

  it('FOOTER_FEATURES (warning): unknown feature bits next to the reserved one', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => putU32(b, 8, 0x6));
    const r = await expectWarning(file, 'FOOTER_FEATURES');
    expect(codes(r.errors)).toEqual([]);
  });

  it('FOOTER_SAVED_STATE (warning)', async () => {
    const file = await dynamicDisk();
    editFooters(file, (b) => (b[84] = 1));
    await expectWarning(file, 'FOOTER_SAVED_STATE');
  });

  it('FOOTER_COPY_INVALID', async () => {
    const file = await dynamicDisk();
    editFooterAt(file, 0, (b) => b.write('garbage!', 0, 'latin1'));
    await expectError(file, 'FOOTER_COPY_INVALID');
  });

  it('FOOTER_COPY_MISMATCH', async () => {
    const file = await dynamicDisk();
    editFooterAt(file, 0, (b) => putU32(b, 24, u32(b, 24) - 1)); // valid copy, other timestamp
    const r = await expectError(file, 'FOOTER_COPY_MISMATCH');
    expect(codes(r.errors)).not.toContain('FOOTER_COPY_INVALID');
  });

  it('FIXED_SIZE_MISMATCH: current size lowered by 512 (file size ≠ current size + 512), both numbers named', async () => {
    const file = await fixedDisk();
    editFooters(file, (b) => putU64(b, 48, BigInt(SIZE - 512)), { fixed: true });
    const r = await expectError(file, 'FIXED_SIZE_MISMATCH');
    const m = r.errors.find((e) => e.code === 'FIXED_SIZE_MISMATCH')!;
    expect(m.field).toBe('currentSize');
    expect(m.message).toContain(String(SIZE + 512)); // the file size
    expect(m.message).toContain(String(SIZE - 512)); // the current size
  });

  it('FIXED_SIZE_MISMATCH: bytes appended after the footer is moved (unaligned file); the 511-byte footer is no mismatch', async () => {
    const file = await fixedDisk();
    const raw = fs.readFileSync(file);
    const footer = raw.subarray(raw.length - 512);
    fs.writeFileSync(file, Buffer.concat([raw.subarray(0, raw.length - 512), Buffer.alloc(100, 7), footer]));
    await expectError(file, 'FIXED_SIZE_MISMATCH');
    // The old short footer: data + 511 bytes is the exact size.
    fs.writeFileSync(file, Buffer.concat([raw.subarray(0, raw.length - 512), footer.subarray(0, 511)]));
    const r = await check(file);
    expect(codes(r.errors)).toEqual([]);
    expect(codes(r.warnings)).toEqual(['FOOTER_LEGACY_511']);
  });

  it('FIXED_TRUNCATED', async () => {
    const file = await fixedDisk();
    editFooters(file, (b) => putU64(b, 48, BigInt(SIZE * 2)), { fixed: true });
    await expectError(file, 'FIXED_TRUNCATED');
  });
});

describe('check: dynamic header', () => {
  it('HEADER_OUT_OF_FILE', async () => {
    const file = await dynamicDisk();
    const past = fileSize(file);
    editFooters(file, (b) => putU64(b, 16, BigInt(past)));
    await expectError(file, 'HEADER_OUT_OF_FILE');
  });

  it('HEADER_COOKIE', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => b.write('xxsparse', 0, 'latin1'));
    await expectError(file, 'HEADER_COOKIE');
  });

  it('HEADER_CHECKSUM', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => (b[1000] ^= 0x01), true);
    const r = await expectError(file, 'HEADER_CHECKSUM');
    expect(codes(r.errors)).toEqual(['HEADER_CHECKSUM']);
  });

  it('HEADER_VERSION', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU32(b, 24, 0x00020000));
    const r = await expectError(file, 'HEADER_VERSION');
    expect(codes(r.errors)).not.toContain('HEADER_CHECKSUM');
  });

  it('HEADER_DATA_OFFSET', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU64(b, 8, 0));
    await expectError(file, 'HEADER_DATA_OFFSET');
  });

  it('HEADER_BLOCK_SIZE', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU32(b, 32, 1000));
    await expectError(file, 'HEADER_BLOCK_SIZE');
  });

  it('HEADER_MAX_TABLE_ENTRIES: too few is an error', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU32(b, 28, ENTRIES - 1));
    await expectError(file, 'HEADER_MAX_TABLE_ENTRIES');
  });

  it('HEADER_MAX_TABLE_ENTRIES: too many is a warning', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU32(b, 28, ENTRIES + 1)); // entry 64 reads the 0xFF padding: unused
    const r = await expectWarning(file, 'HEADER_MAX_TABLE_ENTRIES');
    expect(codes(r.errors)).toEqual([]);
  });

  it('HEADER_TABLE_OFFSET', async () => {
    const file = await dynamicDisk();
    editHeader(file, (b) => putU64(b, 16, BigInt(BAT_AT + 1)));
    await expectError(file, 'HEADER_TABLE_OFFSET');
  });

  it('HEADER_PARENT_ID (differencing disk with an all-zero parent id)', async () => {
    const { child } = await chain();
    editHeader(child, (b) => b.fill(0, 40, 56));
    await expectError(child, 'HEADER_PARENT_ID');
  });
});

describe('check: BAT', () => {
  it('BAT_ENTRY_PAST_EOF', async () => {
    const file = await dynamicDisk();
    setBatEntry(file, 5, fileSize(file) / 512 + 100);
    await expectError(file, 'BAT_ENTRY_PAST_EOF');
  });

  it('BAT_ENTRY_IN_METADATA (entry pointing at sector 1, the header)', async () => {
    const file = await dynamicDisk();
    setBatEntry(file, 7, 1); // unallocated block 7 now "lives" over the header and BAT
    await expectError(file, 'BAT_ENTRY_IN_METADATA');
  });

  it('BAT_BLOCKS_OVERLAP (two entries, same sector)', async () => {
    const file = await dynamicDisk();
    setBatEntry(file, 9, batEntry(file, 1));
    const r = await expectError(file, 'BAT_BLOCKS_OVERLAP');
    expect(codes(r.errors)).toEqual(['BAT_BLOCKS_OVERLAP']);
  });
});

describe('check: parent locators', () => {
  /** Edits locator entry i inside the child's header (re-sealing the header checksum). */
  function editLocator(file: string, i: number, edit: (b: Buffer, at: number) => void): void {
    editHeader(file, (b) => edit(b, 576 + i * 24));
  }

  it('LOCATOR_OUT_OF_FILE', async () => {
    const { child } = await chain();
    const far = fileSize(child) + 512 * 1024;
    editLocator(child, 0, (b, at) => putU64(b, at + 16, BigInt(far)));
    await expectError(child, 'LOCATOR_OUT_OF_FILE');
  });

  it('LOCATOR_DATA_SPACE', async () => {
    const { child } = await chain();
    editLocator(child, 0, (b, at) => putU32(b, at + 4, 1000));
    await expectError(child, 'LOCATOR_DATA_SPACE');
  });

  it('LOCATOR_CODE', async () => {
    const { child } = await chain();
    editLocator(child, 1, (b, at) => b.write('ABCD', at, 'latin1'));
    await expectError(child, 'LOCATOR_CODE');
  });

  it('LOCATOR_PAYLOAD (warning)', async () => {
    const { child } = await chain();
    const l = locator(child, 0);
    expect(l.code).toBe('W2ru');
    writeAt(child, l.offset, Buffer.from([0x00, 0xd8, 0x41, 0x00])); // lone high surrogate U+D800
    await expectWarning(child, 'LOCATOR_PAYLOAD');
  });

  it('LOCATOR_W2RU_FORM (warning)', async () => {
    const { child } = await chain();
    const l = locator(child, 0);
    expect(l.code).toBe('W2ru');
    const text = Buffer.from('parent.vhd', 'utf16le'); // relative, but without the ".\" prefix
    expect(text.length).toBeLessThanOrEqual(l.space);
    writeAt(child, l.offset, Buffer.concat([text, Buffer.alloc(l.space - text.length)]));
    editLocator(child, 0, (b, at) => putU32(b, at + 8, text.length));
    await expectWarning(child, 'LOCATOR_W2RU_FORM');
  });

  it('METADATA_OVERLAP (locator payload pointing into the BAT)', async () => {
    const { child } = await chain();
    editLocator(child, 2, (b, at) => putU64(b, at + 16, BigInt(BAT_AT)));
    await expectError(child, 'METADATA_OVERLAP');
  });
});

describe('check: parent links', () => {
  it('PARENT_NOT_FOUND (parent deleted)', async () => {
    const { parent, child } = await chain();
    fs.unlinkSync(parent);
    const r = await expectError(child, 'PARENT_NOT_FOUND');
    expect(r.type).toBe('differencing');
  });

  it('PARENT_ID_MISMATCH (parent replaced by another VHD)', async () => {
    const { parent, child } = await chain();
    fs.unlinkSync(parent);
    await createDynamic(parent, SIZE, { blockSize: BLOCK });
    await expectError(child, 'PARENT_ID_MISMATCH');
  });

  it('PARENT_SIZE_MISMATCH (same id, other size)', async () => {
    const { parent, child } = await chain();
    const id = readAt(parent, 68, 16);
    fs.unlinkSync(parent);
    await createDynamic(parent, SIZE * 2, { blockSize: BLOCK });
    editFooters(parent, (b) => id.copy(b, 68));
    await expectError(child, 'PARENT_SIZE_MISMATCH');
  });

  it('PARENT_TIMESTAMP_MISMATCH (warning)', async () => {
    const { parent, child } = await chain();
    const t = new Date('2020-01-02T03:04:05Z');
    fs.utimesSync(parent, t, t);
    await expectWarning(child, 'PARENT_TIMESTAMP_MISMATCH');
  });

  it('CHAIN_CYCLE: a disk that names itself as its parent', async () => {
    const { child } = await chain();
    const ownId = readAt(child, 68, 16);
    editHeader(child, (b) => {
      ownId.copy(b, 40);
      b.fill(0, 64, 64 + 512);
      b.write('child.vhd', 64, 'utf16le');
      b.subarray(64, 64 + 512).swap16(); // the parent name field is UTF-16BE
    });
    await expectError(child, 'CHAIN_CYCLE');
  });

  it('CHAIN_CYCLE: a → b → a', async () => {
    const base = await dynamicDisk('base.vhd');
    const b = tmp.file('b.vhd');
    const a = tmp.file('a.vhd');
    await createDifferencing(b, base);
    await createDifferencing(a, b);
    const aId = readAt(a, 68, 16);
    // b now names a (by id and parent name); its locators still point at base, whose id no longer matches.
    editHeader(b, (h) => {
      aId.copy(h, 40);
      h.fill(0, 64, 64 + 512);
      h.write('a.vhd', 64, 'utf16le');
      h.subarray(64, 64 + 512).swap16();
    });
    await expectError(a, 'CHAIN_CYCLE');
  });
});

describe('check: deep', () => {
  it('DATA_UNDER_CLEAR_BITS (warning, one per disk: sector count and first block)', async () => {
    const file = await dynamicDisk();
    // Block 0: bits of sectors 0 and 2 cleared over written data; block 5: sector 3 cleared over data.
    const at0 = batEntry(file, 0) * 512;
    expect(readAt(file, at0, 1)[0]).toBe(0xff); // the first 8 sectors were written
    writeAt(file, at0, Buffer.from([0x5f]));
    const at5 = batEntry(file, 5) * 512;
    writeAt(file, at5, Buffer.from([0xef]));
    // Block 1: a clear bit over a zero sector is fine (nothing hidden).
    const at1 = batEntry(file, 1) * 512;
    writeAt(file, at1 + 512 + 4 * 512, Buffer.alloc(512));
    writeAt(file, at1, Buffer.from([0xf7]));
    const shallow = await check(file);
    expect(shallow.warnings).toEqual([]); // shallow check does not read data
    const r = await expectWarning(file, 'DATA_UNDER_CLEAR_BITS', true);
    expect(r.errors).toEqual([]);
    const w = r.warnings.filter((x) => x.code === 'DATA_UNDER_CLEAR_BITS');
    expect(w).toHaveLength(1);
    expect(w[0].field).toBe('bat[0]');
    expect(w[0].message).toMatch(/^3 sector\(s\) .*first in block 0.*QEMU and vhd-lib/);
    // What it reads: zeros under the clear bits, the written data elsewhere.
    const data = await readAll(file);
    expect(data.subarray(0, 512)).toEqual(Buffer.alloc(512));
    expect(data.subarray(2 * 512, 3 * 512)).toEqual(Buffer.alloc(512));
    expect(data.subarray(512, 1024)).toEqual(pattern(4096, 1).subarray(512, 1024));
  });
});

describe('check: blktap batmap', () => {
  const MAP_HDR_AT = BAT_AT + 512;
  const MAP_AT = MAP_HDR_AT + 512;

  /** A dynamic file laid out by blktap: footer | header | BAT | batmap header | batmap | footer. */
  async function blktapDisk(): Promise<string> {
    const src = tmp.file('src.vhd');
    await createDynamic(src, SIZE, { blockSize: BLOCK });
    const bytes = fs.readFileSync(src);
    expect(bytes.length).toBe(BAT_AT + 512 + 512); // no blocks yet: the footer follows the BAT
    const footer = Buffer.from(bytes.subarray(0, 512));
    footer.write('tap\0', 28, 'latin1');
    putU32(footer, 32, 0x00010003);
    putU32(footer, 64, checksum(footer, 64));
    const map = Buffer.alloc(512);
    const mapHeader = Buffer.alloc(512);
    mapHeader.write('tdbatmap', 0, 'latin1');
    putU64(mapHeader, 8, BigInt(MAP_AT));
    putU32(mapHeader, 16, 1);
    putU32(mapHeader, 20, 0x00010002);
    putU32(mapHeader, 24, batmapChecksum(map));
    const file = tmp.file('tap.vhd');
    fs.writeFileSync(file, Buffer.concat([footer, bytes.subarray(512, BAT_AT + 512), mapHeader, map, footer]));
    return file;
  }

  function mapByte0(file: string): number {
    return readAt(file, MAP_AT, 1)[0];
  }

  /** Rewrites the batmap map sector and re-seals the batmap header checksum. */
  function putMap(file: string, map: Buffer): void {
    writeAt(file, MAP_AT, map);
    const mh = readAt(file, MAP_HDR_AT, 512);
    putU32(mh, 24, batmapChecksum(map));
    writeAt(file, MAP_HDR_AT, mh);
  }

  /** Block 0 written in full, block 1 only in its second sector (its first sector stays zero). */
  async function writtenBlktapDisk(): Promise<string> {
    const file = await blktapDisk();
    await writeDisk(file, [
      { at: 0, length: BLOCK, seed: 7 },
      { at: BLOCK + 512, length: 512, seed: 8 },
    ]);
    return file;
  }

  /** Clears bitmap bit 0 of block 1 (over zero data: legal in a dynamic disk). */
  function clearFirstBitOfBlock1(file: string): void {
    writeAt(file, batEntry(file, 1) * 512, Buffer.from([0x7f]));
  }

  it('writes keep the batmap true; a full block sets its bit and deep check is clean', async () => {
    const file = await blktapDisk();
    let r = await check(file, true);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    await writeDisk(file, [
      { at: 0, length: BLOCK, seed: 7 }, // block 0 written in full
      { at: BLOCK + 512, length: 512, seed: 8 }, // block 1: new dynamic blocks get a full bitmap
    ]);
    expect(mapByte0(file)).toBe(0xc0);
    expect(u32(readAt(file, MAP_HDR_AT, 512), 24)).toBe(batmapChecksum(readAt(file, MAP_AT, 512)));
    r = await check(file, true);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);

    // A block with a clear bit (as other writers leave them) and its batmap bit clear: consistent.
    clearFirstBitOfBlock1(file);
    putMap(file, Buffer.concat([Buffer.from([0x80]), Buffer.alloc(511)]));
    r = await check(file, true);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    // Writing the missing sector makes the block full: the write must set its batmap bit.
    await writeDisk(file, [{ at: BLOCK, length: 512, seed: 9 }]);
    expect(readAt(file, batEntry(file, 1) * 512, 1)[0]).toBe(0xff);
    expect(mapByte0(file)).toBe(0xc0);
    expect(u32(readAt(file, MAP_HDR_AT, 512), 24)).toBe(batmapChecksum(readAt(file, MAP_AT, 512)));
    r = await check(file, true);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('BATMAP_CHECKSUM', async () => {
    const file = await writtenBlktapDisk();
    const mh = readAt(file, MAP_HDR_AT, 512);
    putU32(mh, 24, u32(mh, 24) ^ 0x1);
    writeAt(file, MAP_HDR_AT, mh);
    await expectError(file, 'BATMAP_CHECKSUM');
  });

  it('BATMAP_BIT_WRONG (bit set for a block with clear bitmap bits)', async () => {
    const file = await writtenBlktapDisk();
    expect(mapByte0(file)).toBe(0xc0);
    clearFirstBitOfBlock1(file); // batmap still says block 1 is full
    expect((await check(file)).ok).toBe(true); // only the deep scan reads bitmaps
    const r = await expectError(file, 'BATMAP_BIT_WRONG', true);
    expect(codes(r.errors)).toEqual(['BATMAP_BIT_WRONG']);
  });
});

describe('check: CLI', () => {
  it('the same corruption gives the same code and exit code 1 through `check --json`', async () => {
    const file = await dynamicDisk();
    setBatEntry(file, 9, batEntry(file, 1));
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), isTTY: false };
    const code = await runCli(['check', '--json', file], io);
    expect(code).toBe(1);
    const reports = JSON.parse(out.join('')) as FileReport[];
    expect(reports).toHaveLength(1);
    expect(reports[0].ok).toBe(false);
    expect(codes(reports[0].errors)).toContain('BAT_BLOCKS_OVERLAP');
    expect(err.join('')).toBe('');
  });
});

// Repair: one test per repairable damage (the file must come back byte for
// byte, check must be clean and the export identical to before the damage)
// and per refused case (expected codes remain, not a byte written).
// Recovery of an interrupted repair from its journal.
import { chmodSync, existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { checksum, putU32 } from '../../core/format/bytes.js';
import { decodeFooter, encodeFooter } from '../../core/format/footer.js';
import { journalHeader, findJournals, journalPath, writeJournal } from '../../core/journal.js';
import { checkFile } from '../../core/ops/check.js';
import { createDynamic, createFixed } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { planRepair, repair, type RepairJournal } from '../../core/ops/repair.js';
import { exportRaw } from '../../core/ops/transfer.js';
import { DiskModel, Rng } from '../support/model.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 3 * MiB + 7 * 512;
const HEADER_AT = 512;

let exports = 0;
async function exportBytes(dir: string, p: string): Promise<Buffer> {
  const out = path.join(dir, `export-${++exports}.raw`);
  await exportRaw(p, out);
  const b = readFileSync(out);
  await fsp.unlink(out);
  return b;
}

/** A dynamic (or fixed) disk with random content mirrored in the model. */
async function buildDisk(file: string, seed: number, type: 'dynamic' | 'fixed' = 'dynamic'): Promise<DiskModel> {
  if (type === 'fixed') await createFixed(file, SIZE);
  else await createDynamic(file, SIZE, { blockSize: 256 * KiB });
  const model = new DiskModel(SIZE);
  model.addBase();
  const rng = new Rng(seed);
  const d = await openDisk(file, { writable: true, sync: false });
  try {
    for (let i = 0; i < 10; i++) {
      const len = rng.range(1, 300 * KiB);
      const off = rng.int(SIZE - len);
      const data = rng.bytes(len);
      await d.write(off, data);
      model.write(0, off, data);
    }
  } finally {
    await d.close();
  }
  return model;
}

async function patch(file: string, at: number, data: Uint8Array): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, at);
  } finally {
    await fh.close();
  }
}

function bytesAt(file: string, at: number, length: number): Buffer {
  return readFileSync(file).subarray(at, at + length);
}

function trailingAt(file: string): number {
  return statSync(file).size - 512;
}

/** Flips every bit of one byte. */
async function flip(file: string, at: number): Promise<void> {
  const b = bytesAt(file, at, 1);
  await patch(file, at, Buffer.from([b[0] ^ 0xff]));
}

const codes = (xs: { code: string }[]) => xs.map((x) => x.code).sort();

describe('repair: repairable damage', () => {
  const tmp = useTmpDir();

  /** Damages a healthy file, repairs it, and checks it is byte-identical, clean, and exports as before. */
  async function roundTrip(file: string, damage: () => Promise<void>, expectFixed: string[], check?: (before: Buffer) => void) {
    const original = readFileSync(file);
    const exported = await exportBytes(tmp.dir, file);
    expect((await checkFile(file)).report.errors).toEqual([]);
    await damage();
    const damaged = readFileSync(file);
    expect(damaged.equals(original)).toBe(false);
    const beforeErrors = (await checkFile(file)).report.errors;
    expect(beforeErrors.length).toBeGreaterThan(0);

    const plan = await planRepair(file);
    expect(codes(plan.fixes)).toEqual([...expectFixed].sort());
    expect(plan.remaining).toEqual([]);
    expect(plan.changes.length).toBeGreaterThan(0);
    expect(readFileSync(file).equals(damaged), 'planning writes nothing').toBe(true);

    const r = await repair(file);
    expect(r.path).toBe(path.resolve(file));
    expect(codes(r.fixed)).toEqual([...expectFixed].sort());
    expect(r.remaining).toEqual([]);
    expect((await checkFile(file, { deep: true })).report.errors).toEqual([]);
    expect(readFileSync(file).equals(original), 'file is byte-identical to before the damage').toBe(true);
    expect((await exportBytes(tmp.dir, file)).equals(exported)).toBe(true);
    expect(await findJournals(tmp.dir)).toEqual([]);
    check?.(damaged);
    // A second repair finds nothing to do.
    const again = await repair(file);
    expect(again).toMatchObject({ fixed: [], remaining: [] });
  }

  it('restores a trailing footer with a wrong checksum from the copy at offset 0', async () => {
    const f = tmp.file('a.vhd');
    const model = await buildDisk(f, 1);
    await roundTrip(f, () => flip(f, trailingAt(f) + 66), ['FOOTER_CHECKSUM']);
    expect((await readThrough(f)).equals(model.view(0))).toBe(true);
  });

  it('restores a trailing footer overwritten with junk (cookie, version, type, checksum all wrong)', async () => {
    const f = tmp.file('b.vhd');
    await buildDisk(f, 2);
    await roundTrip(f, () => patch(f, trailingAt(f), new Rng(22).bytes(512)), [
      'FOOTER_CHECKSUM',
      'FOOTER_COOKIE',
      'FOOTER_CURRENT_SIZE',
      'FOOTER_DISK_TYPE',
      'FOOTER_VERSION',
    ]);
  });

  it('restores a damaged footer copy at offset 0 from the trailing footer', async () => {
    const f = tmp.file('c.vhd');
    await buildDisk(f, 3);
    await roundTrip(f, () => patch(f, 0, Buffer.alloc(512)), ['FOOTER_COPY_INVALID']);
  });

  it('restores a footer copy that is valid but differs from the trailing footer', async () => {
    const f = tmp.file('d.vhd');
    await buildDisk(f, 4);
    await roundTrip(f, async () => {
      const foot = decodeFooter(bytesAt(f, 0, 512));
      foot.timestamp += 3600;
      await patch(f, 0, encodeFooter(foot)); // checksum recomputed: a valid but different copy
    }, ['FOOTER_COPY_MISMATCH']);
  });

  it('recomputes the dynamic header checksum when only the checksum field is wrong', async () => {
    const f = tmp.file('e.vhd');
    await buildDisk(f, 5);
    await roundTrip(f, () => flip(f, HEADER_AT + 37), ['HEADER_CHECKSUM']);
  });

  it('recomputes both footer checksums when the two copies agree in every other field', async () => {
    const f = tmp.file('f.vhd');
    await buildDisk(f, 6);
    await roundTrip(f, async () => {
      const raw = Buffer.from(bytesAt(f, 0, 512));
      raw[67] ^= 0x5a;
      await patch(f, 0, raw);
      await patch(f, trailingAt(f), raw);
    }, ['FOOTER_CHECKSUM']);
  });

  it('fixes a damaged trailing footer and a checksum-only header damage in one run', async () => {
    const f = tmp.file('g.vhd');
    await buildDisk(f, 7);
    await roundTrip(f, async () => {
      await flip(f, trailingAt(f) + 0); // cookie
      await flip(f, HEADER_AT + 36);
    }, ['FOOTER_CHECKSUM', 'FOOTER_COOKIE', 'HEADER_CHECKSUM']);
  });

  it('recomputes a differencing header checksum once its parent is found by id; the chain reads as before', async () => {
    const { model, paths } = await buildTree(tmp.dir, 8, { parents: [null, 0], size: SIZE, blockSize: 128 * KiB, writesPerLayer: 6 });
    const parentBytes = readFileSync(paths[0]);
    await roundTrip(paths[1], () => flip(paths[1], HEADER_AT + 38), ['HEADER_CHECKSUM']);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect(readFileSync(paths[0]).equals(parentBytes)).toBe(true);
  });

  it('repairs a read-only snapshot and leaves it read-only', async () => {
    const { paths } = await buildTree(tmp.dir, 9, { parents: [null, 0], size: SIZE, blockSize: 128 * KiB, writesPerLayer: 4 });
    chmodSync(paths[0], 0o444);
    await roundTrip(paths[0], () => flip(paths[0], trailingAt(paths[0]) + 65).then(() => chmodSync(paths[0], 0o444)), ['FOOTER_CHECKSUM']);
    expect(statSync(paths[0]).mode & 0o777).toBe(0o444);
    expect((await checkFile(paths[1])).report.errors).toEqual([]);
  });
});

describe('repair: damage it must not guess at', () => {
  const tmp = useTmpDir();

  /** Repair leaves the file exactly as it is and reports `expected` among the remaining codes. */
  async function refused(file: string, damage: () => Promise<void>, expected: string[]) {
    await damage();
    const damaged = readFileSync(file);
    const plan = await planRepair(file);
    expect(plan.fixes).toEqual([]);
    expect(plan.changes).toEqual([]);
    for (const c of expected) expect(codes(plan.remaining)).toContain(c);
    const r = await repair(file);
    expect(r.fixed).toEqual([]);
    for (const c of expected) expect(codes(r.remaining)).toContain(c);
    // The remaining list is exactly what check still reports.
    expect(codes(r.remaining)).toEqual(codes((await checkFile(file)).report.errors));
    expect(readFileSync(file).equals(damaged), 'not a byte written').toBe(true);
    expect(await findJournals(tmp.dir)).toEqual([]);
    return r;
  }

  it('both footers damaged differently', async () => {
    const f = tmp.file('a.vhd');
    await buildDisk(f, 11);
    await refused(f, async () => {
      await flip(f, trailingAt(f) + 1);
      await flip(f, 2);
    }, ['FOOTER_COOKIE', 'FOOTER_CHECKSUM']);
  });

  it('both footers with a wrong checksum but different fields (which copy is right is unknown)', async () => {
    const f = tmp.file('b.vhd');
    await buildDisk(f, 12);
    await refused(f, async () => {
      await flip(f, trailingAt(f) + 30); // creator app byte
      await flip(f, 31);
    }, ['FOOTER_CHECKSUM']);
  });

  it('header fields inconsistent: max table entries too small, checksum wrong, and a damaged copy at 0 that would be fixable alone', async () => {
    const f = tmp.file('c.vhd');
    await buildDisk(f, 13);
    const r = await refused(f, async () => {
      const raw = Buffer.from(bytesAt(f, HEADER_AT, 1024));
      putU32(raw, 28, 2); // needs 13 entries
      await patch(f, HEADER_AT, raw); // checksum left stale
      await patch(f, 0, Buffer.alloc(512));
    }, ['HEADER_MAX_TABLE_ENTRIES', 'HEADER_CHECKSUM', 'FOOTER_COPY_INVALID']);
    expect(codes(r.notes)).toEqual(['NOT_PROVEN']);
  });

  it('header checksum wrong and its table offset moved onto the header (layout not sound)', async () => {
    const f = tmp.file('d.vhd');
    await buildDisk(f, 14);
    await refused(f, async () => {
      const raw = Buffer.from(bytesAt(f, HEADER_AT, 1024));
      raw[23] = 0x00; // table offset 1536 → 1024, inside the header
      raw[22] = 0x04;
      await patch(f, HEADER_AT, raw);
    }, ['HEADER_CHECKSUM']);
  });

  it('differencing header checksum wrong because a parent id byte changed (no parent has that id)', async () => {
    const { paths } = await buildTree(tmp.dir, 15, { parents: [null, 0], size: SIZE, blockSize: 128 * KiB, writesPerLayer: 3 });
    const r = await refused(paths[1], () => flip(paths[1], HEADER_AT + 45), ['HEADER_CHECKSUM']);
    expect(r.notes.map((n) => n.message).join(' ')).toMatch(/parent id/);
  });

  it('a fixed disk whose footer checksum is wrong (no second copy to prove it)', async () => {
    const f = tmp.file('e.vhd');
    await buildDisk(f, 16, 'fixed');
    await refused(f, () => flip(f, trailingAt(f) + 66), ['FOOTER_CHECKSUM']);
  });

  it('trailing footer damaged while a block points past the end of the file', async () => {
    const f = tmp.file('g.vhd');
    await buildDisk(f, 17);
    await refused(f, async () => {
      const size = statSync(f).size;
      const bat = Buffer.alloc(4);
      bat.writeUInt32BE(size / 512 + 8);
      await patch(f, 1536, bat);
      await flip(f, trailingAt(f) + 66);
    }, ['FOOTER_CHECKSUM', 'BAT_ENTRY_PAST_EOF']);
  });
});

describe('repair: journal recovery', () => {
  const tmp = useTmpDir();

  async function journalOf(file: string, writes: { at: number; before: Buffer; after: Buffer }[]): Promise<void> {
    const j: RepairJournal = {
      ...journalHeader('repair', 'write'),
      path: path.resolve(file),
      writes: writes.map((w) => ({ at: w.at, before: w.before.toString('base64'), after: w.after.toString('base64'), what: 'test' })),
    };
    await writeJournal(journalPath(file), j);
  }

  it('finishes a torn footer write (half old, half new bytes)', async () => {
    const f = tmp.file('a.vhd');
    const model = await buildDisk(f, 21);
    const original = readFileSync(f);
    const at = trailingAt(f);
    const good = Buffer.from(bytesAt(f, at, 512));
    const bad = Buffer.from(good);
    for (let i = 0; i < 512; i += 7) bad[i] ^= 0x33;
    const torn = Buffer.concat([good.subarray(0, 256), bad.subarray(256)]);
    await patch(f, at, torn);
    await journalOf(f, [{ at, before: bad, after: good }]);
    const r = await recover(tmp.dir);
    expect(r).toEqual([expect.objectContaining({ op: 'repair', action: 'completed' })]);
    expect(readFileSync(f).equals(original)).toBe(true);
    expect(await findJournals(tmp.dir)).toEqual([]);
    expect((await readThrough(f)).equals(model.view(0))).toBe(true);
  });

  it('leaves the journal when the bytes changed to something else since', async () => {
    const f = tmp.file('b.vhd');
    await buildDisk(f, 22);
    const at = trailingAt(f);
    const good = Buffer.from(bytesAt(f, at, 512));
    const bad = Buffer.from(good);
    bad[100] ^= 1;
    await patch(f, at + 10, Buffer.from([0xee ^ good[10]]));
    await journalOf(f, [{ at, before: bad, after: good }]);
    const before = readFileSync(f);
    const r = await recover(tmp.dir);
    expect(r).toEqual([expect.objectContaining({ op: 'repair', action: 'left' })]);
    expect(readFileSync(f).equals(before)).toBe(true);
    expect(existsSync(journalPath(f))).toBe(true);
  });
});

// Keeps the checksum helper honest: a footer encoded by the codec validates.
it('test helper sanity: footer checksum covers the flipped bytes', () => {
  const raw = encodeFooter(decodeFooter(Buffer.alloc(512)));
  const c = checksum(raw, 64);
  raw[30] ^= 1;
  expect(checksum(raw, 64)).not.toBe(c);
});

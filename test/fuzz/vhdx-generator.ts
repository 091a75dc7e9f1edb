// Seeded corpus of hostile VHDX files, the VHDX side of generator.ts (same
// FuzzCase, same worker and runner). Valid seeds are made once by the core's
// own create, snapshot (createDifferencing) and write paths: fixed and
// dynamic files with 512- and 4096-byte logical sectors, AVHDX children with
// parent locators and sector bitmaps, a three-file chain, and files whose
// writer stopped before closing (a log still to replay). Each case copies one
// seed chain and mutates one file with structure-aware damage — header
// fields and sequence numbers, region table and metadata table entries,
// metadata items, BAT entries and states, sector bitmaps, parent locator
// key/value offsets and lengths, log entry headers, descriptors and crafted
// log entries, truncation — or random bit flips, CRCs usually fixed up so the
// damage reaches past the checksum test; plus parent cycles, self-parents and
// decoy parents. A case depends only on (seed, index).
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { openWritableVhdxDisk } from '../../core/disk/chain.js';
import { VhdxWriter } from '../../core/disk/vhdx-writer.js';
import { crc32cWithZeroField } from '../../core/format/vhdx/crc32c.js';
import { BAT_REGION_GUID, METADATA_REGION_GUID } from '../../core/format/vhdx/region.js';
import { guidToBraced } from '../../core/format/vhdx/guid.js';
import { KNOWN_ITEMS } from '../../core/format/vhdx/items.js';
import { encodeParentLocator, VHDX_LOCATOR_TYPE } from '../../core/format/vhdx/parent-locator.js';
import { encodeLogEntry } from '../../core/format/vhdx/log-writer.js';
import { createDifferencing, createDynamic, createVhdx } from '../../core/ops/create.js';
import { Rng } from '../support/model.js';
import { SparseImage } from './image.js';
import type { FuzzCase } from './generator.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const U64_MAX = 0xffffffffffffffffn;
const HEADERS = [64 * KiB, 128 * KiB];
const REGION_TABLES = [192 * KiB, 256 * KiB];
const REGION_TABLE_SIZE = 64 * KiB;
const LOG_SECTOR = 4096;

// ---- reading layouts (plain byte arithmetic over a valid seed) ----------

interface Item {
  name: string;
  entryAt: number;
  /** File offset of the item's bytes. */
  at: number;
  length: number;
}

interface LocatorRow {
  rowAt: number;
  key: string;
  valueAt: number;
  valueLength: number;
}

export interface VhdxLayout {
  size: number;
  /** File offset of the current header (the higher sequence number). */
  current: number;
  other: number;
  logAt: number;
  logLength: number;
  /** Entry offsets (table 1) of the BAT and metadata regions, and their extents. */
  batEntryAt: number;
  metaEntryAt: number;
  regionCount: number;
  batAt: number;
  batLength: number;
  metaAt: number;
  metaLength: number;
  metaCount: number;
  items: Item[];
  blockSize: number;
  lss: number;
  virtualSize: number;
  hasParent: boolean;
  chunkRatio: number;
  totalEntries: number;
  /** BAT indices whose entry locates a block (payload fully/partially present, bitmap present), with the block's file offset. */
  stored: { index: number; at: number; bitmap: boolean }[];
  locator: { at: number; length: number; count: number; rows: LocatorRow[] } | null;
  logEntries: { at: number; length: number; descriptors: number }[];
}

const guidHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const BAT_HEX = guidHex(BAT_REGION_GUID);
const META_HEX = guidHex(METADATA_REGION_GUID);
const ITEM_NAMES = new Map(KNOWN_ITEMS.map((k) => [guidHex(k.id), k.name]));

function utf16(img: SparseImage, at: number, len: number): string {
  const b = img.read(at, len);
  let s = '';
  for (let i = 0; i + 1 < len; i += 2) s += String.fromCharCode(b.readUInt16LE(i));
  return s;
}

export function vhdxLayoutOf(img: SparseImage): VhdxLayout {
  const [h1, h2] = HEADERS;
  const [current, other] = img.u64(h1 + 8) > img.u64(h2 + 8) ? [h1, h2] : [h2, h1];
  const t = REGION_TABLES[0];
  const regionCount = img.u32(t + 8);
  let batEntryAt = -1;
  let metaEntryAt = -1;
  for (let i = 0; i < Math.min(regionCount, 8); i++) {
    const at = t + 16 + 32 * i;
    const g = img.read(at, 16).toString('hex');
    if (g === BAT_HEX) batEntryAt = at;
    if (g === META_HEX) metaEntryAt = at;
  }
  if (batEntryAt < 0 || metaEntryAt < 0) throw new Error('no BAT or metadata region');
  const batAt = Number(img.u64(batEntryAt + 16));
  const metaAt = Number(img.u64(metaEntryAt + 16));
  const metaCount = img.u16(metaAt + 10);
  const items: Item[] = [];
  for (let i = 0; i < Math.min(metaCount, 16); i++) {
    const e = metaAt + 32 + 32 * i;
    items.push({ name: ITEM_NAMES.get(img.read(e, 16).toString('hex')) ?? 'unknown', entryAt: e, at: metaAt + img.u32(e + 16), length: img.u32(e + 20) });
  }
  const item = (n: string) => items.find((x) => x.name === n);
  const fp = item('fileParameters')!;
  const blockSize = img.u32(fp.at);
  const hasParent = (img.u32(fp.at + 4) & 2) !== 0;
  const lss = img.u32(item('logicalSectorSize')!.at);
  const virtualSize = Number(img.u64(item('virtualDiskSize')!.at));
  const chunkRatio = (2 ** 23 * lss) / blockSize;
  const payload = Math.ceil(virtualSize / blockSize);
  const totalEntries = hasParent ? Math.ceil(payload / chunkRatio) * (chunkRatio + 1) : payload + Math.floor((payload - 1) / chunkRatio);
  // A damaged file (a later round's layout) may claim any geometry: walk only what a seed can hold.
  if (!Number.isSafeInteger(totalEntries) || totalEntries < 0 || totalEntries > 1 << 20) throw new Error(`no usable BAT geometry (${totalEntries} entries)`);
  const stored: VhdxLayout['stored'] = [];
  for (let i = 0; i < totalEntries; i++) {
    const v = img.u64(batAt + 8 * i);
    const state = Number(v & 7n);
    const bitmap = i % (chunkRatio + 1) === chunkRatio;
    if (state === 6 || state === 7) stored.push({ index: i, at: Number(v >> 20n) * MiB, bitmap });
  }
  let locator: VhdxLayout['locator'] = null;
  const pl = item('parentLocator');
  if (pl) {
    const count = img.u16(pl.at + 18);
    const rows: LocatorRow[] = [];
    for (let i = 0; i < count; i++) {
      const r = pl.at + 20 + 12 * i;
      rows.push({ rowAt: r, key: utf16(img, pl.at + img.u32(r), img.u16(r + 8)), valueAt: pl.at + img.u32(r + 4), valueLength: img.u16(r + 10) });
    }
    locator = { at: pl.at, length: pl.length, count, rows };
  }
  const logAt = Number(img.u64(current + 72));
  const logLength = img.u32(current + 68);
  const logEntries: VhdxLayout['logEntries'] = [];
  if (!img.read(current + 48, 16).equals(Buffer.alloc(16))) {
    for (let at = logAt; at < logAt + Math.min(logLength, 16 * MiB);) {
      if (img.read(at, 4).toString('latin1') !== 'loge') {
        at += LOG_SECTOR;
        continue;
      }
      const length = img.u32(at + 8);
      logEntries.push({ at, length, descriptors: img.u32(at + 24) });
      at += Math.max(LOG_SECTOR, length);
    }
  }
  return {
    size: img.size,
    current,
    other,
    logAt,
    logLength,
    batEntryAt,
    metaEntryAt,
    regionCount,
    batAt,
    batLength: img.u32(batEntryAt + 24),
    metaAt,
    metaLength: img.u32(metaEntryAt + 24),
    metaCount,
    items,
    blockSize,
    lss,
    virtualSize,
    hasParent,
    chunkRatio,
    totalEntries,
    stored,
    locator,
    logEntries,
  };
}

// ---- checksums ----------------------------------------------------------

function fixHeader(img: SparseImage, at: number): void {
  const h = img.read(at, 4096);
  img.setU32(at + 4, crc32cWithZeroField(h, 4));
}

function fixRegionTable(img: SparseImage, at: number): void {
  img.setU32(at + 4, crc32cWithZeroField(img.read(at, REGION_TABLE_SIZE), 4));
}

/** Recomputes a log entry's checksum over its (non-wrapping, bounded) length. */
function fixLogEntry(img: SparseImage, L: VhdxLayout, at: number): void {
  const length = img.u32(at + 8);
  if (length === 0 || length % LOG_SECTOR !== 0 || at + length > L.logAt + L.logLength) return;
  img.setU32(at + 4, crc32cWithZeroField(img.read(at, length), 4));
}

function fixAll(img: SparseImage, L: VhdxLayout): void {
  for (const h of HEADERS) fixHeader(img, h);
  for (const t of REGION_TABLES) fixRegionTable(img, t);
  for (const e of L.logEntries) fixLogEntry(img, L, e.at);
}

// ---- seeds --------------------------------------------------------------

export interface VhdxSeedSet {
  name: string;
  /** Chain files, base first; the last is the leaf the operations open. */
  chain: string[];
  files: Map<string, SparseImage>;
  layouts: Map<string, VhdxLayout>;
}

/** Data written through the core's writer (openWritableVhdxDisk), unaligned on purpose. */
async function scribble(path: string, rng: Rng, writes: number): Promise<void> {
  const d = await openWritableVhdxDisk(path);
  try {
    for (let i = 0; i < writes; i++) {
      const len = rng.range(1, 96 * KiB);
      await d.write(rng.int(d.virtualSize - len), rng.bytes(len));
    }
  } finally {
    await d.close();
  }
}

/**
 * A write whose writer stops before closing, with the BAT page it logged put
 * back as it was: the file as a crash after the log entry was flushed and
 * before the in-place update leaves it (its header names a log to replay).
 */
async function pendingLog(path: string, rng: Rng): Promise<void> {
  const seedImg = await SparseImage.load(path);
  const L = vhdxLayoutOf(seedImg);
  const bat = seedImg.read(L.batAt, Math.ceil((L.totalEntries * 8) / LOG_SECTOR) * LOG_SECTOR);
  const w = await VhdxWriter.open(path);
  const lss = w.file.logicalSectorSize;
  await w.write(Math.floor(rng.int(w.file.virtualSize - 64 * KiB) / lss) * lss, rng.bytes(16 * lss));
  // No w.close(): the header keeps its log GUID; the handle alone is closed.
  await w.file.file.write(bat, L.batAt);
  await w.file.close();
}

const SEEDS: { name: string; make: (d: string, rng: Rng) => Promise<string[]> }[] = [
  {
    name: 'fixed-512',
    make: async (d, rng) => {
      await createVhdx(`${d}/f.vhdx`, { size: 3 * MiB, type: 'fixed', blockSize: MiB, logicalSectorSize: 512 });
      await scribble(`${d}/f.vhdx`, rng, 3);
      return ['f.vhdx'];
    },
  },
  {
    name: 'fixed-4096',
    make: async (d, rng) => {
      await createVhdx(`${d}/f4.vhdx`, { size: 2 * MiB, type: 'fixed', blockSize: MiB, logicalSectorSize: 4096 });
      await scribble(`${d}/f4.vhdx`, rng, 2);
      return ['f4.vhdx'];
    },
  },
  {
    name: 'dynamic-512',
    make: async (d, rng) => {
      await createVhdx(`${d}/d.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 512 });
      await scribble(`${d}/d.vhdx`, rng, 4);
      return ['d.vhdx'];
    },
  },
  {
    name: 'dynamic-4096',
    make: async (d, rng) => {
      await createVhdx(`${d}/d4.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: 2 * MiB, logicalSectorSize: 4096 });
      await scribble(`${d}/d4.vhdx`, rng, 3);
      return ['d4.vhdx'];
    },
  },
  {
    name: 'child-512',
    make: async (d, rng) => {
      await createVhdx(`${d}/p.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 512 });
      await scribble(`${d}/p.vhdx`, rng, 3);
      await createDifferencing(`${d}/c.avhdx`, `${d}/p.vhdx`);
      await scribble(`${d}/c.avhdx`, rng, 4);
      return ['p.vhdx', 'c.avhdx'];
    },
  },
  {
    name: 'child-4096',
    make: async (d, rng) => {
      await createVhdx(`${d}/p4.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 4096 });
      await scribble(`${d}/p4.vhdx`, rng, 2);
      await createDifferencing(`${d}/c4.avhdx`, `${d}/p4.vhdx`);
      await scribble(`${d}/c4.avhdx`, rng, 3);
      return ['p4.vhdx', 'c4.avhdx'];
    },
  },
  {
    name: 'chain3',
    make: async (d, rng) => {
      await createVhdx(`${d}/a.vhdx`, { size: 4 * MiB, type: 'fixed', blockSize: MiB, logicalSectorSize: 512 });
      await scribble(`${d}/a.vhdx`, rng, 2);
      await createDifferencing(`${d}/b.avhdx`, `${d}/a.vhdx`);
      await scribble(`${d}/b.avhdx`, rng, 2);
      await createDifferencing(`${d}/c.avhdx`, `${d}/b.avhdx`);
      await scribble(`${d}/c.avhdx`, rng, 2);
      return ['a.vhdx', 'b.avhdx', 'c.avhdx'];
    },
  },
  {
    name: 'log-dynamic',
    make: async (d, rng) => {
      await createVhdx(`${d}/l.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 512 });
      await scribble(`${d}/l.vhdx`, rng, 2);
      await pendingLog(`${d}/l.vhdx`, rng);
      return ['l.vhdx'];
    },
  },
  {
    name: 'log-child',
    make: async (d, rng) => {
      await createVhdx(`${d}/lp.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 4096 });
      await scribble(`${d}/lp.vhdx`, rng, 2);
      await createDifferencing(`${d}/lc.avhdx`, `${d}/lp.vhdx`);
      await scribble(`${d}/lc.avhdx`, rng, 1);
      await pendingLog(`${d}/lc.avhdx`, rng);
      return ['lp.vhdx', 'lc.avhdx'];
    },
  },
];

let decoys: Map<string, SparseImage | Buffer> | null = null;

/** Builds the seed chains in `dir` (valid files, written through the core) and loads them. */
export async function buildVhdxSeeds(dir: string, seed = 1): Promise<VhdxSeedSet[]> {
  const rng = new Rng(seed);
  for (const s of SEEDS) {
    const d = nodePath.join(dir, s.name);
    mkdirSync(d, { recursive: true });
    const chain = await s.make(d, rng);
    writeFileSync(nodePath.join(d, 'chain.json'), JSON.stringify(chain));
  }
  // Bystanders: an unrelated VHDX of the children's size (a decoy parent) and a VHD (never a VHDX's parent).
  const other = nodePath.join(dir, 'other');
  mkdirSync(other, { recursive: true });
  await createVhdx(`${other}/other.vhdx`, { size: 4 * MiB, type: 'dynamic', blockSize: MiB, logicalSectorSize: 512 });
  await scribble(`${other}/other.vhdx`, rng, 1);
  await createDynamic(`${other}/other.vhd`, 4 * MiB, { blockSize: 64 * KiB });
  return loadVhdxSeeds(dir);
}

/** Loads seeds a previous buildVhdxSeeds wrote (worker processes share one corpus). */
export async function loadVhdxSeeds(dir: string): Promise<VhdxSeedSet[]> {
  decoys = new Map<string, SparseImage | Buffer>([
    ['other.vhdx', await SparseImage.load(nodePath.join(dir, 'other', 'other.vhdx'))],
    ['other.vhd', readFileSync(nodePath.join(dir, 'other', 'other.vhd'))],
  ]);
  const sets: VhdxSeedSet[] = [];
  for (const s of SEEDS) {
    const d = nodePath.join(dir, s.name);
    const chain = JSON.parse(readFileSync(nodePath.join(d, 'chain.json'), 'utf8')) as string[];
    const files = new Map<string, SparseImage>();
    const layouts = new Map<string, VhdxLayout>();
    for (const n of chain) {
      const img = await SparseImage.load(nodePath.join(d, n));
      dropAbsolutePaths(img, vhdxLayoutOf(img));
      files.set(n, img);
      layouts.set(n, vhdxLayoutOf(img));
    }
    sets.push({ name: s.name, chain, files, layouts });
  }
  return sets;
}

/**
 * Keeps only the relative parent path of a seed's locator: the absolute one
 * names the seeds folder, where a case whose parent copy is damaged would
 * find the intact seed instead (the damage would never be read).
 */
function dropAbsolutePaths(img: SparseImage, L: VhdxLayout): void {
  if (!L.locator) return;
  const pairs: [string, string][] = L.locator.rows
    .filter((r) => r.key !== 'absolute_win32_path' && r.key !== 'volume_path')
    .map((r) => [r.key, utf16(img, r.valueAt, r.valueLength)]);
  putLocator(img, L, locatorBytes(pairs));
}

// ---- mutations ----------------------------------------------------------

const U64_EXTREMES = [0n, 1n, 4096n, BigInt(MiB), 1n << 32n, 1n << 53n, (1n << 53n) + BigInt(MiB), 1n << 63n, U64_MAX - BigInt(MiB) + 1n, U64_MAX];

/** A u64 offset: extremes, or places in this file (its regions, its end, 1 MiB steps about them). */
function offsetValue(rng: Rng, L: VhdxLayout): bigint {
  const places = [0, 64 * KiB, 192 * KiB, MiB, L.logAt, L.batAt, L.metaAt, L.size, L.size - MiB, L.size + MiB, L.batAt + 4096, Math.ceil(L.size / MiB) * MiB];
  return rng.chance(0.4) ? rng.pick(U64_EXTREMES) : BigInt(rng.pick(places));
}

function randomGuid(rng: Rng): Buffer {
  return rng.chance(0.3) ? Buffer.alloc(16) : rng.bytes(16);
}

type Ctx = { rng: Rng; img: SparseImage; L: VhdxLayout; set: VhdxSeedSet; name: string; files: FuzzCase['files'] };
type Mutation = (c: Ctx) => { img: SparseImage; what: string };

/** Fix up the checksums the mutation broke, most of the time (else the damage stops at the CRC). */
function maybeFix(c: Ctx, p: number): string {
  if (!c.rng.chance(p)) return ' (stale checksums)';
  fixAll(c.img, c.L);
  return '';
}

/** A VHDX-type parent locator item holding `pairs` in order (duplicates, empty values and all). */
function locatorBytes(pairs: [string, string][]): Buffer {
  return Buffer.from(
    encodeParentLocator({ locatorType: new Uint8Array(VHDX_LOCATOR_TYPE), reserved: 0, entries: pairs.map(([key, value]) => ({ key, value })) }),
  );
}

/** Replaces the parent locator item (it is the last item: it may grow into the free region after it). */
function putLocator(img: SparseImage, L: VhdxLayout, bytes: Buffer): void {
  const pl = L.items.find((x) => x.name === 'parentLocator');
  if (!pl) return;
  const room = L.metaAt + L.metaLength - pl.at;
  const b = bytes.subarray(0, room);
  img.fill(pl.at, Math.max(pl.length, b.length));
  img.write(pl.at, b);
  img.setU32(pl.entryAt + 20, b.length);
}

/** The data write GUID of a file's current header, as a braced parent_linkage. */
function linkageOf(img: SparseImage): string {
  const cur = img.u64(HEADERS[0] + 8) > img.u64(HEADERS[1] + 8) ? HEADERS[0] : HEADERS[1];
  return guidToBraced(img.read(cur + 32, 16));
}

const HEADER_FIELDS = [
  'signature',
  'sequenceNumber',
  'fileWriteGuid',
  'dataWriteGuid',
  'logGuid',
  'logVersion',
  'version',
  'logLength',
  'logOffset',
  'reserved',
] as const;

const mutators: [number, string, Mutation][] = [
  [
    2,
    'identifier',
    // 0 signature (8) · 8 creator (512, UTF-16LE): a wrong signature is not a VHDX; any creator must be shown safely.
    ({ rng, img }) => {
      const kind = rng.pick(['signature', 'signature', 'creator', 'creator-unterminated'] as const);
      if (kind === 'signature') {
        const v = rng.pick(['vhdxfilE', 'VHDXFILE', 'vhdxfil\0', '\0\0\0\0\0\0\0\0', 'conectix']);
        img.write(0, Buffer.from(v, 'latin1'));
        return { img, what: `identifier.signature = ${JSON.stringify(v)}` };
      }
      // Random code units (lone surrogates, controls, bidi marks) and, unterminated, all 512 bytes used.
      const units = kind === 'creator' ? rng.range(1, 255) : 256;
      const b = Buffer.alloc(512);
      for (let i = 0; i < units; i++) b.writeUInt16LE(rng.pick([0xd800, 0xdfff, 0x202e, 0x1b, 0x0a, 0xfffe, rng.int(0x10000)]), 2 * i);
      img.write(8, b);
      return { img, what: `identifier.creator: ${units} random code units` };
    },
  ],
  [
    6,
    'bitflip',
    (c) => {
      const { rng, img, L } = c;
      const n = rng.range(1, 16);
      const hot: [number, number][] = [
        [0, 16],
        [L.current, 80],
        [L.other, 80],
        [REGION_TABLES[0], 16 + 32 * L.regionCount],
        [REGION_TABLES[1], 16 + 32 * L.regionCount],
        [L.metaAt, 32 + 32 * L.metaCount],
        [L.batAt, L.totalEntries * 8],
      ];
      for (const it of L.items) hot.push([it.at, it.length]);
      for (const e of L.logEntries) hot.push([e.at, 64 + 32 * e.descriptors], [e.at, e.length]);
      const meta = rng.chance(0.7);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const [s, len] = meta ? rng.pick(hot) : [0, img.size];
        const pos = Math.min(img.size - 1, s + rng.int(Math.max(1, len)));
        img.write(pos, Buffer.from([img.read(pos, 1)[0] ^ (1 << rng.int(8))]));
        at.push(pos);
      }
      return { img, what: `bitflip ${n}${meta ? ' in metadata' : ''} at ${at.slice(0, 4).join(',')}${maybeFix(c, 0.6)}` };
    },
  ],
  [
    4,
    'truncate',
    ({ rng, img, L }) => {
      const bounds = [0, 8, 1024, 64 * KiB, 64 * KiB + 4096, 128 * KiB, 192 * KiB, 256 * KiB, 320 * KiB, MiB, L.logAt + LOG_SECTOR, L.batAt];
      bounds.push(L.batAt + L.totalEntries * 8, L.metaAt, L.metaAt + 64 * KiB, L.size - 1, L.size - 4096, L.size - MiB);
      for (const it of L.items) bounds.push(it.at, it.at + it.length - 1);
      for (const s of L.stored) bounds.push(s.at, s.at + L.blockSize / 2, s.at + MiB - 512);
      const cut = Math.max(0, Math.min(img.size - 1, rng.pick(bounds) + rng.pick([0, 0, -1, 1, -4096, 4096])));
      const size = img.size;
      img.truncate(cut);
      // Half the time the file keeps its size, the tail a hole: damage the size check cannot see.
      const keep = rng.chance(0.4);
      if (keep) img.truncate(size);
      return { img, what: keep ? `zeroed from ${cut} to the end` : `truncate at ${cut}` };
    },
  ],
  [
    7,
    'header-field',
    (c) => {
      const { rng, img, L } = c;
      const which = rng.pick(['current', 'current', 'other', 'both'] as const);
      const ats = which === 'current' ? [L.current] : which === 'other' ? [L.other] : [L.current, L.other];
      const field = rng.pick(HEADER_FIELDS);
      let shown = '';
      for (const h of ats) {
        const o = h === L.current ? L.other : L.current;
        if (field === 'signature') {
          img.write(h, Buffer.from(rng.pick(['heaD', 'loge', '\0\0\0\0', 'regi']), 'latin1'));
          shown = 'broken';
        } else if (field === 'sequenceNumber') {
          const seq = rng.pick([0n, 1n, img.u64(o + 8), img.u64(o + 8) + 1n, img.u64(o + 8) - 1n, 1n << 63n, U64_MAX]);
          img.setU64(h + 8, seq);
          shown = String(seq);
        } else if (field === 'fileWriteGuid' || field === 'dataWriteGuid' || field === 'logGuid') {
          const g = field === 'logGuid' && rng.chance(0.3) ? img.read(o + 48, 16) : randomGuid(rng);
          img.write(h + { fileWriteGuid: 16, dataWriteGuid: 32, logGuid: 48 }[field], g);
          shown = g.toString('hex');
        } else if (field === 'logVersion' || field === 'version') {
          const v = rng.pick([0, 1, 2, 0xffff]);
          img.setU16(h + (field === 'logVersion' ? 64 : 66), v);
          shown = String(v);
        } else if (field === 'logLength') {
          const v = rng.pick([0, 4096, MiB, 2 * MiB, MiB + 4096, 64 * MiB, 0x80000000, 0xfff00000, 0xffffffff]);
          img.setU32(h + 68, v);
          shown = String(v);
        } else if (field === 'logOffset') {
          const v = offsetValue(rng, L);
          img.setU64(h + 72, v);
          shown = String(v);
        } else {
          img.write(h + 80 + rng.int(4000), rng.bytes(1));
          shown = 'set';
        }
      }
      return { img, what: `header(${which}).${field} = ${shown}${maybeFix(c, 0.85)}` };
    },
  ],
  [
    6,
    'region-field',
    (c) => {
      const { rng, img, L } = c;
      const which = rng.pick(['1', '1', '2', 'both'] as const);
      const tables = which === '1' ? [REGION_TABLES[0]] : which === '2' ? [REGION_TABLES[1]] : REGION_TABLES;
      const field = rng.pick(['signature', 'entryCount', 'reserved', 'guid', 'fileOffset', 'fileOffset', 'length', 'length', 'flags'] as const);
      const entry = rng.pick([L.batEntryAt, L.metaEntryAt]) - REGION_TABLES[0];
      const v =
        field === 'entryCount'
          ? rng.pick([0, 1, 3, 2047, 2048, 0xffffffff])
          : field === 'length'
            ? rng.pick([0, 4096, MiB, 2 * MiB, 0x7ff00000, 0xfff00000, 0xffffffff, L.size])
            : field === 'flags'
              ? rng.pick([0, 2, 0xffffffff])
              : 0;
      const off = field === 'fileOffset' ? offsetValue(rng, L) : 0n;
      // A guid: the other region's (a duplicate) or random (unknown, required or not by its flags).
      const otherEntry = entry === L.batEntryAt - REGION_TABLES[0] ? L.metaEntryAt : L.batEntryAt;
      const g = field === 'guid' ? (rng.chance(0.5) ? img.read(otherEntry, 16) : rng.bytes(16)) : null;
      for (const t of tables) {
        if (field === 'signature') img.write(t, Buffer.from('regI', 'latin1'));
        else if (field === 'entryCount') img.setU32(t + 8, v);
        else if (field === 'reserved') img.setU32(t + 12, 1);
        else if (field === 'guid') img.write(t + entry, g!);
        else if (field === 'fileOffset') img.setU64(t + entry + 16, off);
        else if (field === 'length') img.setU32(t + entry + 24, v);
        else img.setU32(t + entry + 28, v);
      }
      const shown = field === 'fileOffset' ? String(off) : field === 'guid' ? g!.toString('hex') : String(v);
      return {
        img,
        what: `regionTable(${which}).${field === 'entryCount' || field === 'signature' || field === 'reserved' ? '' : `entry@${entry}.`}${field} = ${shown}${maybeFix(c, 0.85)}`,
      };
    },
  ],
  [
    6,
    'metadata-entry',
    ({ rng, img, L }) => {
      const field = rng.pick(['signature', 'entryCount', 'itemId', 'offset', 'offset', 'length', 'length', 'flags', 'reserved'] as const);
      if (field === 'signature') {
        img.write(L.metaAt, Buffer.from('metadatA', 'latin1'));
        return { img, what: 'metadata.signature broken' };
      }
      if (field === 'entryCount') {
        const v = rng.pick([0, 1, L.metaCount - 1, L.metaCount + 1, 2047, 2048, 0xffff]);
        img.setU16(L.metaAt + 10, v);
        return { img, what: `metadata.entryCount = ${v}` };
      }
      const it = rng.pick(L.items);
      const e = it.entryAt;
      let v: number | string;
      if (field === 'itemId') {
        const g = rng.chance(0.6) ? img.read(rng.pick(L.items).entryAt, 16) : rng.bytes(16);
        img.write(e, g);
        v = g.toString('hex');
      } else if (field === 'offset') {
        const other = rng.pick(L.items);
        v = rng.pick([0, 1, 64 * KiB - 1, 64 * KiB, other.at - L.metaAt, other.at - L.metaAt + 1, L.metaLength - 4, L.metaLength, 0xffffffff]) >>> 0;
        img.setU32(e + 16, v);
      } else if (field === 'length') {
        v = rng.pick([0, 1, it.length - 1, it.length + 1, 4096, MiB, MiB + 1, 0xffffffff]) >>> 0;
        img.setU32(e + 20, v);
      } else if (field === 'flags') {
        v = rng.pick([0, 1, 4, 5, 7, 0xffffffff]);
        img.setU32(e + 24, v);
      } else {
        v = 1;
        img.setU32(e + 28, v);
      }
      return { img, what: `metadata[${it.name}].${field} = ${v}` };
    },
  ],
  [
    6,
    'metadata-item',
    ({ rng, img, L }) => {
      const pick = rng.pick(['blockSize', 'flags', 'virtualDiskSize', 'virtualDiskSize', 'logicalSectorSize', 'physicalSectorSize', 'page83'] as const);
      const item = (n: string) => L.items.find((x) => x.name === n)!;
      let v: number | bigint;
      if (pick === 'blockSize') {
        v = rng.pick([0, 1, 512 * KiB, MiB + 1, 3 * MiB, L.blockSize * 2, L.blockSize / 2, 256 * MiB, 512 * MiB, 0x80000000, 0xffffffff]);
        img.setU32(item('fileParameters').at, v);
      } else if (pick === 'flags') {
        const f = img.u32(item('fileParameters').at + 4);
        v = rng.pick([f ^ 1, f ^ 2, f | 4, 0xffffffff, 0]) >>> 0;
        img.setU32(item('fileParameters').at + 4, v);
      } else if (pick === 'virtualDiskSize') {
        const s = BigInt(L.virtualSize);
        const lss = BigInt(L.lss);
        v = rng.pick([0n, 1n, lss - 1n, s - lss, s + lss, s * 2n, s * 1024n, 64n * 1024n ** 4n, 64n * 1024n ** 4n + lss, 1n << 53n, 1n << 63n, U64_MAX]);
        img.setU64(item('virtualDiskSize').at, v);
      } else if (pick === 'page83') {
        img.write(item('page83').at, rng.bytes(16).fill(0, 0, rng.int(17)));
        v = 0;
      } else {
        v = rng.pick([0, 512, 4096, 1024, 8192, 0xffffffff, L.lss === 512 ? 4096 : 512]);
        img.setU32(item(pick).at, v);
      }
      return { img, what: `metadata.${pick} = ${v}` };
    },
  ],
  [
    3,
    'rescale',
    // Block size and virtual size changed together, as far as the BAT region holds: the damage passes validation and reaches the reads.
    ({ rng, img, L }) => {
      const bs = rng.pick([MiB, 2 * MiB, 32 * MiB, 256 * MiB]);
      const ratio = (2 ** 23 * L.lss) / bs;
      const capacity = Math.floor(L.batLength / 8);
      // Entries the table needs for n blocks ≤ capacity (the differencing layout adds one bitmap entry per chunk).
      const maxBlocks = Math.max(1, Math.floor((capacity * ratio) / (ratio + 1)) - 1);
      const blocks = rng.pick([1, 2, rng.range(1, maxBlocks), maxBlocks]);
      const size = BigInt(blocks) * BigInt(bs) - BigInt(rng.chance(0.5) ? 0 : L.lss * rng.range(0, 7));
      img.setU32(L.items.find((x) => x.name === 'fileParameters')!.at, bs);
      img.setU64(L.items.find((x) => x.name === 'virtualDiskSize')!.at, size);
      return { img, what: `rescale: block size ${bs}, size ${size}` };
    },
  ],
  [
    7,
    'bat-entry',
    ({ rng, img, L }) => {
      const n = rng.range(1, 3);
      const what: string[] = [];
      for (let k = 0; k < n; k++) {
        const s = L.stored.length > 0 && rng.chance(0.5) ? rng.pick(L.stored) : null;
        const i = s ? s.index : rng.chance(0.3) ? L.chunkRatio : rng.int(Math.max(1, L.totalEntries));
        const cur = img.u64(L.batAt + 8 * i);
        const other = L.stored.length > 0 ? rng.pick(L.stored).at / MiB : L.metaAt / MiB;
        const kind = rng.pick(['state', 'offset', 'offset', 'reserved', 'both'] as const);
        let state = Number(cur & 7n);
        let offsetMB = cur >> 20n;
        if (kind === 'state' || kind === 'both') state = rng.int(8);
        if (kind === 'offset' || kind === 'both') {
          offsetMB = BigInt(
            rng.pick([
              0,
              1,
              L.logAt / MiB,
              L.batAt / MiB,
              L.metaAt / MiB,
              other,
              other + 1,
              Math.floor(L.size / MiB),
              Math.ceil(L.size / MiB),
              Math.ceil(L.size / MiB) + 1000,
              2 ** 32,
              2 ** 44 - 1,
            ]),
          );
        }
        const reserved = kind === 'reserved' ? BigInt(1 + rng.int(0x1ffff)) : (cur >> 3n) & 0x1ffffn;
        img.setU64(L.batAt + 8 * i, (offsetMB << 20n) | (reserved << 3n) | BigInt(state));
        what.push(`bat[${i}] = state ${state} at ${offsetMB} MiB${kind === 'reserved' ? ' (reserved bits)' : ''}`);
      }
      return { img, what: what.join('; ') };
    },
  ],
  [
    2,
    'bitmap',
    // Sector bits cleared or set: partial blocks for the readers, missing bitmaps for check.
    (c) => {
      const { rng, img, L } = c;
      const bitmaps = L.stored.filter((s) => s.bitmap);
      if (!L.hasParent || bitmaps.length === 0) return mutator('bat-entry')(c);
      const bm = rng.pick(bitmaps);
      if (rng.chance(0.3)) {
        img.setU64(L.batAt + 8 * bm.index, 0n);
        return { img, what: `sector bitmap entry bat[${bm.index}] cleared` };
      }
      const at: number[] = [];
      for (let k = 0; k < rng.range(1, 8); k++) {
        const i = bm.at + rng.int(Math.min(MiB, (L.virtualSize / L.lss / 8) | 0 || 1));
        img.write(i, Buffer.from([rng.pick([0x00, 0xff, 0xaa, rng.int(256)])]));
        at.push(i);
      }
      return { img, what: `sector bitmap bytes at ${at.slice(0, 4).join(',')}` };
    },
  ],
  [
    6,
    'locator',
    (c) => {
      const { rng, img, L, files } = c;
      const l = L.locator;
      if (!l) return mutator('metadata-item')(c);
      const kind = rng.pick(['row', 'row', 'count', 'type', 'content', 'content', 'content'] as const);
      if (kind === 'count') {
        const v = rng.pick([0, 1, l.count + 1, 0xffff]);
        img.setU16(l.at + 18, v);
        return { img, what: `locator.keyValueCount = ${v}` };
      }
      if (kind === 'type') {
        img.write(l.at, rng.bytes(16));
        return { img, what: 'locator.locatorType random' };
      }
      if (kind === 'row') {
        const r = rng.pick(l.rows);
        const field = rng.pick(['keyOffset', 'valueOffset', 'keyLength', 'valueLength'] as const);
        const tableEnd = 20 + 12 * l.count;
        let v: number;
        if (field === 'keyOffset' || field === 'valueOffset') {
          v = rng.pick([0, 1, tableEnd - 1, tableEnd, r.valueAt - l.at + 1, l.length - 2, l.length, 0x7fffffff, 0xffffffff]) >>> 0;
          img.setU32(r.rowAt + (field === 'keyOffset' ? 0 : 4), v);
        } else {
          v = rng.pick([0, 1, 3, r.valueLength + 2, 0xfffe, 0xffff]);
          img.setU16(r.rowAt + (field === 'keyLength' ? 8 : 10), v);
        }
        return { img, what: `locator[${r.key}].${field} = ${v}` };
      }
      // Content: hostile paths and linkages, duplicates, NULs, no path at all.
      const pairs: [string, string][] = l.rows.map((r) => [r.key, utf16(img, r.valueAt, r.valueLength)]);
      const set = (k: string, v: string) => {
        const i = pairs.findIndex((p) => p[0] === k);
        if (i >= 0) pairs[i][1] = v;
        else pairs.push([k, v]);
      };
      const targets = [
        '.\\other.vhdx',
        '.\\other.vhd',
        '.\\junk.vhdx',
        '.\\sub.vhdx',
        '.\\pipe.avhdx',
        `.\\${c.name}`,
        '/dev/zero',
        '.\\..\\..\\..\\..\\etc\\passwd',
        '..\\..\\',
        '',
        '.',
        '.\\' + 'x'.repeat(3000),
        'C:\\nowhere\\p.vhdx',
        '\\\\?\\Volume{00000000-0000-0000-0000-000000000000}\\p.vhdx',
        '\ud800.vhdx',
      ];
      const op = rng.pick(['path', 'path', 'linkage', 'duplicate', 'nul', 'no-path', 'decoy'] as const);
      let label: string = op;
      if (op === 'path') {
        const t = rng.pick(targets);
        set(rng.pick(['relative_path', 'absolute_win32_path', 'volume_path']), t);
        label = `path ${JSON.stringify(t.length > 40 ? `${t.slice(0, 20)}…(${t.length})` : t)}`;
      } else if (op === 'linkage') {
        const v = rng.pick(['', '{}', 'not a guid', '{00000000-0000-0000-0000-000000000000}', guidToBraced(rng.bytes(16)), linkageOf(img)]);
        set(rng.pick(['parent_linkage', 'parent_linkage2']), v);
        label = `linkage ${JSON.stringify(v)}`;
      } else if (op === 'duplicate') pairs.push([...rng.pick(pairs)]);
      else if (op === 'nul') set('relative_path', '.\\p\0.vhdx');
      else if (op === 'no-path') pairs.splice(0, pairs.length, ...pairs.filter((p) => p[0].startsWith('parent_linkage')));
      else {
        // The decoy's own data write GUID: a link that is right by id, to a disk that is not the parent.
        const decoy = files.get('other.vhdx');
        if (decoy instanceof SparseImage) set('parent_linkage', linkageOf(decoy));
        set('relative_path', '.\\other.vhdx');
        label = 'decoy other.vhdx';
      }
      putLocator(img, L, locatorBytes(pairs));
      return { img, what: `locator content: ${label}` };
    },
  ],
  [
    5,
    'log-field',
    (c) => {
      const { rng, img, L } = c;
      if (L.logEntries.length === 0) return mutator('crafted-log')(c);
      const e = rng.pick(L.logEntries);
      const part = rng.pick(['header', 'header', 'descriptor', 'descriptor', 'data'] as const);
      let what: string;
      if (part === 'header') {
        const field = rng.pick([
          'signature',
          'entryLength',
          'tail',
          'sequenceNumber',
          'descriptorCount',
          'reserved',
          'logGuid',
          'flushedFileOffset',
          'lastFileOffset',
        ] as const);
        let v: number | bigint | string;
        if (field === 'signature') img.write(e.at, Buffer.from((v = 'logE'), 'latin1'));
        else if (field === 'entryLength')
          img.setU32(e.at + 8, (v = rng.pick([0, 4095, 4096, e.length + 4096, L.logLength, L.logLength + 4096, 0xfffff000, 0xffffffff])));
        else if (field === 'tail') img.setU32(e.at + 12, (v = rng.pick([1, 4096, e.at - L.logAt + 4096, L.logLength - 4096, L.logLength, 0xffffffff])));
        else if (field === 'sequenceNumber') img.setU64(e.at + 16, (v = rng.pick([0n, 1n, img.u64(e.at + 16) + 1n, 1n << 63n, U64_MAX])));
        else if (field === 'descriptorCount') img.setU32(e.at + 24, (v = rng.pick([0, e.descriptors + 1, 126, 127, 1000, 0xffffffff])));
        else if (field === 'reserved') img.setU32(e.at + 28, (v = 1));
        else if (field === 'logGuid') {
          img.write(e.at + 32, rng.bytes(16));
          v = 'random';
        } else
          img.setU64(
            e.at + (field === 'flushedFileOffset' ? 48 : 56),
            (v = rng.pick([0n, BigInt(L.size) * 2n, BigInt(L.size) + 1n, 1n << 40n, 1n << 53n, U64_MAX])),
          );
        what = `log entry@${e.at}.${field} = ${v}`;
      } else if (part === 'descriptor') {
        const d = e.at + 64 + 32 * rng.int(Math.max(1, e.descriptors));
        const field = rng.pick(['signature', 'fileOffset', 'fileOffset', 'sequenceNumber', 'zeroLength'] as const);
        let v: string | bigint;
        if (field === 'signature') img.write(d, Buffer.from((v = rng.pick(['zero', 'desc', 'data', 'DESC'])), 'latin1'));
        else if (field === 'fileOffset')
          img.setU64(
            d + 16,
            (v = rng.pick([
              0n,
              4096n,
              64n * 1024n,
              200n * 1024n,
              BigInt(L.logAt),
              BigInt(L.logAt + L.logLength - 4096),
              BigInt(L.batAt + 1),
              BigInt(L.metaAt),
              BigInt(L.size),
              1n << 50n,
              1n << 53n,
              U64_MAX - 4095n,
            ])),
          );
        else if (field === 'sequenceNumber') img.setU64(d + 24, (v = img.u64(d + 24) + 1n));
        else {
          img.write(d, Buffer.from('zero', 'latin1'));
          img.setU64(d + 8, (v = rng.pick([0n, 4096n, 4097n, BigInt(MiB), 1n << 30n, 1n << 40n, 1n << 53n])));
        }
        what = `log entry@${e.at} descriptor@${d}.${field} = ${v}`;
      } else {
        const s = e.at + LOG_SECTOR * rng.range(1, Math.max(1, e.length / LOG_SECTOR - 1));
        const field = rng.pick(['signature', 'sequenceHigh', 'sequenceLow'] as const);
        if (field === 'signature') img.write(s, Buffer.from('dat\0', 'latin1'));
        else img.setU32(s + (field === 'sequenceHigh' ? 4 : 4092), rng.u32());
        what = `log data sector@${s}.${field}`;
      }
      return { img, what: `${what}${c.rng.chance(0.75) ? (fixLogEntry(img, L, e.at), '') : ' (stale checksum)'}` };
    },
  ],
  [
    4,
    'crafted-log',
    // A valid log entry (checksummed, the header's GUID) whose writes are hostile: into the headers,
    // into the log, garbage BAT or metadata pages, huge zero runs, file offsets far past the end.
    ({ rng, img, L }) => {
      const guid = rng.bytes(16);
      const target = rng.pick(['bat', 'metadata', 'regions', 'headers', 'log', 'zero-huge', 'far', 'grow'] as const);
      const page = (at: number) => ({ offset: at, length: 4096, data: rng.chance(0.5) ? new Uint8Array(rng.bytes(4096)) : new Uint8Array(4096) });
      const writes =
        target === 'bat'
          ? [page(L.batAt)]
          : target === 'metadata'
            ? [page(L.metaAt + rng.pick([0, 64 * KiB]))]
            : target === 'regions'
              ? [page(REGION_TABLES[rng.int(2)])]
              : target === 'headers'
                ? [page(rng.pick([0, 64 * KiB, 128 * KiB]))]
                : target === 'log'
                  ? [page(L.logAt + 4096 * rng.range(0, 8))]
                  : target === 'zero-huge'
                    ? [{ offset: Math.ceil(L.size / 4096) * 4096, length: rng.pick([MiB, 1 << 30, 2 ** 40]), data: null }]
                    : target === 'far'
                      ? [page(rng.pick([2 ** 40, 2 ** 52, Math.ceil(L.size / 4096) * 4096 + 4096]))]
                      : [];
      const last = target === 'grow' ? rng.pick([L.size + MiB, 2 ** 40, 2 ** 52]) : L.size;
      const entry = encodeLogEntry({
        sequence: BigInt(rng.range(1, 1000)),
        tail: 0,
        guid,
        flushedFileOffset: rng.chance(0.2) ? L.size * 2 : L.size,
        lastFileOffset: last,
        writes,
      });
      img.fill(L.logAt, L.logLength);
      img.write(L.logAt, entry.subarray(0, L.logLength));
      for (const h of [L.current, ...(rng.chance(0.3) ? [L.other] : [])]) {
        img.write(h + 48, guid);
        fixHeader(img, h);
      }
      return { img, what: `crafted log entry: ${target}${target === 'grow' ? ` to ${last}` : ''}` };
    },
  ],
  [
    2,
    'tail',
    ({ rng, img }) => {
      const kind = rng.pick(['junk', 'hole', 'unaligned'] as const);
      if (kind === 'junk') img.append(rng.bytes(rng.range(1, 5000)));
      else if (kind === 'hole') img.truncate(img.size + rng.pick([4096, MiB, 64 * MiB]));
      else img.truncate(img.size - rng.range(1, 4095));
      return { img, what: `tail: ${kind}` };
    },
  ],
];

/** What a case's mutations are tagged with (`[name]`): every mutator, and the chain-level damage. */
export const VHDX_MUTATIONS = ['structure', ...mutators.map((m) => m[1])];
/** The seed kinds a case is made from. */
export const VHDX_SEEDS = SEEDS.map((s) => s.name);

/** A mutator by name (one that does not apply to a seed hands its case to another). */
function mutator(name: string): Mutation {
  return mutators.find((m) => m[1] === name)![2];
}

/** A differencing file's locator and linkage rewritten to name `to` with the data write GUID `linkage`. */
function pointParentAt(img: SparseImage, L: VhdxLayout, to: string, linkage: string): void {
  putLocator(
    img,
    L,
    locatorBytes([
      ['parent_linkage', linkage],
      ['relative_path', `.\\${to}`],
    ]),
  );
}

function safeLayout(img: SparseImage): VhdxLayout | null {
  try {
    return vhdxLayoutOf(img);
  } catch {
    return null;
  }
}

/** The case at `index` of the VHDX corpus for `seed`. */
export function makeVhdxCase(sets: VhdxSeedSet[], seed: number, index: number): FuzzCase {
  const rng = new Rng((Math.imul(seed ^ 0x7f4a7c15, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
  const set = rng.pick(sets);
  const files: FuzzCase['files'] = new Map();
  for (const [n, img] of set.files) files.set(n, img.clone());
  // Bystanders for hostile locators and the folder scan.
  if (decoys) for (const [n, d] of decoys) files.set(n, d instanceof SparseImage ? d.clone() : Buffer.from(d));
  files.set('junk.vhdx', Buffer.from('vhdxfile but not really a virtual disk\n'.repeat(40)));
  files.set('sub.vhdx', 'dir');
  if (rng.chance(0.05)) files.set('pipe.avhdx', 'fifo');
  const leaf = set.chain[set.chain.length - 1];
  const mutations: string[] = [];
  let target = rng.chance(0.7) || set.chain.length === 1 ? leaf : rng.pick(set.chain);

  const structural = set.chain.length > 1 && rng.chance(0.08);
  if (structural) {
    const kind = rng.pick(['cycle', 'self-parent', 'decoy-id'] as const);
    const lb = files.get(leaf) as SparseImage;
    const L = set.layouts.get(leaf)!;
    if (kind === 'self-parent') {
      pointParentAt(lb, L, leaf, linkageOf(lb));
      mutations.push(`${leaf}: [structure] names itself as parent`);
    } else if (kind === 'decoy-id') {
      pointParentAt(lb, L, 'other.vhdx', linkageOf(files.get('other.vhdx') as SparseImage));
      mutations.push(`${leaf}: [structure] points at other.vhdx with its id`);
    } else {
      const parent = set.chain[set.chain.length - 2];
      const pl = set.layouts.get(parent)!;
      if (!pl.hasParent) {
        // The base has no locator: the leaf's link goes to a copy of the leaf that links back.
        const twin = lb.clone();
        const twinGuid = rng.bytes(16);
        for (const h of HEADERS) {
          twin.write(h + 32, twinGuid);
          fixHeader(twin, h);
        }
        pointParentAt(twin, L, leaf, linkageOf(lb));
        pointParentAt(lb, L, 'twin.avhdx', guidToBraced(twinGuid));
        files.set('twin.avhdx', twin);
        mutations.push(`${leaf}: [structure] cycle ${leaf} → twin.avhdx → ${leaf}`);
      } else {
        pointParentAt(files.get(parent) as SparseImage, pl, leaf, linkageOf(lb));
        mutations.push(`${leaf}: [structure] cycle ${leaf} → ${parent} → ${leaf}`);
      }
    }
    target = leaf;
  }
  const rounds = structural ? rng.range(0, 1) : rng.pick([1, 1, 1, 2, 3]);
  for (let k = 0; k < rounds; k++) {
    const img = files.get(target) as SparseImage;
    const L = k === 0 ? set.layouts.get(target)! : (safeLayout(img) ?? set.layouts.get(target)!);
    const [, name, fn] = rng.weighted(mutators);
    try {
      const r = fn({ rng, img, L, set, name: target, files });
      files.set(target, r.img);
      mutations.push(`${target}: [${name}] ${r.what}`);
    } catch (err) {
      // A mutator can stumble over damage a previous round made; the case stays as it is.
      mutations.push(`${target}: ${name} skipped (${(err as Error).message})`);
    }
  }
  // The decoy VHDX is a whole disk for the folder scan to open: kept where a mutation names it, and in a few other cases.
  if (!mutations.some((m) => m.includes('other.vhdx')) && !rng.chance(0.15)) files.delete('other.vhdx');
  return { index, set: set.name, leaf, target, mutations, files };
}

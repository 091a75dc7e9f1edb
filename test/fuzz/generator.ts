// Seeded corpus of hostile VHD files. Valid seed chains are built once with
// the core's own create + write (fixed, dynamic, differencing over dynamic
// and over fixed, a three-file chain); each case copies one seed chain and
// mutates one of its files: bit flips, truncation at structure boundaries,
// footer/header/BAT/locator fields set to extremes (checksums usually fixed
// up so the damage reaches past the checksum test), BAT entries aimed at
// metadata, past EOF or at each other, hostile locator payloads, parent
// cycles and self-parents. A case depends only on (seed, index), so any
// failure replays alone with FUZZ_SEED and the index.
import { spawnSync } from 'node:child_process';
import { mkdirSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { randomWrites } from '../support/tree.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { Rng } from '../support/model.js';
import { SparseImage } from './image.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
const U64_MAX = 0xffffffffffffffffn;

/** Where each structure of a (valid) seed file sits. */
export interface Layout {
  size: number;
  type: number;
  footerAt: number;
  headerAt: number | null;
  tableAt: number | null;
  entries: number;
  blockSize: number;
  /** Byte offsets of allocated blocks (bitmap first). */
  blocks: number[];
  locators: { entryAt: number; dataAt: number; space: number; length: number }[];
}

export interface SeedSet {
  name: string;
  /** Chain files, base first; the last is the leaf the operations open. */
  chain: string[];
  files: Map<string, Buffer>;
  layouts: Map<string, Layout>;
}

export interface FuzzCase {
  index: number;
  set: string;
  leaf: string;
  target: string;
  mutations: string[];
  /** Every file of the case (chain plus bystanders): bytes (whole, or sparse for VHDX), a directory or a named pipe. */
  files: Map<string, Buffer | SparseImage | 'dir' | 'fifo'>;
}

// ---- reading layouts (plain byte arithmetic, independent of the core's decoders) ----

const be32 = (b: Buffer, o: number) => b.readUInt32BE(o);
const be64 = (b: Buffer, o: number) => b.readBigUInt64BE(o);

export function layoutOf(b: Buffer): Layout {
  const footerAt = b.length - 512;
  const f = b.subarray(footerAt);
  const type = be32(f, 60);
  const out: Layout = { size: b.length, type, footerAt, headerAt: null, tableAt: null, entries: 0, blockSize: 0, blocks: [], locators: [] };
  if (type === 2) return out;
  const headerAt = Number(be64(f, 16));
  const h = b.subarray(headerAt, headerAt + 1024);
  out.headerAt = headerAt;
  out.tableAt = Number(be64(h, 16));
  out.entries = be32(h, 28);
  out.blockSize = be32(h, 32);
  for (let i = 0; i < out.entries; i++) {
    const e = be32(b, out.tableAt + 4 * i);
    if (e !== 0xffffffff) out.blocks.push(e * 512);
  }
  for (let i = 0; i < 8; i++) {
    const at = headerAt + 576 + 24 * i;
    if (be32(b, at) === 0) continue;
    out.locators.push({ entryAt: at, space: be32(b, at + 4), length: be32(b, at + 8), dataAt: Number(be64(b, at + 16)) });
  }
  return out;
}

/** One's complement of the byte sum, skipping the 4-byte checksum field. */
function vhdChecksum(b: Buffer, start: number, length: number, field: number): number {
  let s = 0;
  for (let i = 0; i < length; i++) if (i < field || i >= field + 4) s += b[start + i];
  return ~s >>> 0;
}

function fixFooterAt(b: Buffer, at: number): void {
  if (at < 0 || at + 512 > b.length) return;
  b.writeUInt32BE(vhdChecksum(b, at, 512, 64), at + 64);
}

function fixHeader(b: Buffer, at: number | null): void {
  if (at === null || at < 0 || at + 1024 > b.length) return;
  b.writeUInt32BE(vhdChecksum(b, at, 1024, 36), at + 36);
}

function utf16le(s: string): Buffer {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16LE(s.charCodeAt(i), 2 * i);
  return out;
}

// ---- seeds --------------------------------------------------------------

function scribble(path: string, rng: Rng, writes: number): Promise<void> {
  return randomWrites(path, rng, writes, 70 * KiB);
}

/** Builds the seed chains in `dir` (valid files, written through the core) and loads them. */
export async function buildSeeds(dir: string, seed = 1): Promise<SeedSet[]> {
  const rng = new Rng(seed);
  const spec: { name: string; make: (d: string) => Promise<string[]> }[] = [
    {
      name: 'fixed',
      make: async (d) => {
        await createFixed(`${d}/f.vhd`, 256 * KiB);
        await scribble(`${d}/f.vhd`, rng, 4);
        return ['f.vhd'];
      },
    },
    {
      name: 'dynamic',
      make: async (d) => {
        await createDynamic(`${d}/d.vhd`, 2 * MiB, { blockSize: 64 * KiB });
        await scribble(`${d}/d.vhd`, rng, 6);
        return ['d.vhd'];
      },
    },
    {
      name: 'diff',
      make: async (d) => {
        await createDynamic(`${d}/p.vhd`, 2 * MiB, { blockSize: 64 * KiB });
        await scribble(`${d}/p.vhd`, rng, 5);
        await createDifferencing(`${d}/c.vhd`, `${d}/p.vhd`);
        await scribble(`${d}/c.vhd`, rng, 6);
        return ['p.vhd', 'c.vhd'];
      },
    },
    {
      name: 'diff-over-fixed',
      make: async (d) => {
        await createFixed(`${d}/pf.vhd`, 512 * KiB);
        await scribble(`${d}/pf.vhd`, rng, 3);
        await createDifferencing(`${d}/cf.vhd`, `${d}/pf.vhd`, { blockSize: 32 * KiB });
        await scribble(`${d}/cf.vhd`, rng, 5);
        return ['pf.vhd', 'cf.vhd'];
      },
    },
    {
      name: 'chain3',
      make: async (d) => {
        await createDynamic(`${d}/a.vhd`, 1 * MiB, { blockSize: 16 * KiB });
        await scribble(`${d}/a.vhd`, rng, 4);
        await createDifferencing(`${d}/b.vhd`, `${d}/a.vhd`);
        await scribble(`${d}/b.vhd`, rng, 4);
        await createDifferencing(`${d}/c.vhd`, `${d}/b.vhd`);
        await scribble(`${d}/c.vhd`, rng, 4);
        return ['a.vhd', 'b.vhd', 'c.vhd'];
      },
    },
  ];
  const sets: SeedSet[] = [];
  for (const s of spec) {
    const d = nodePath.join(dir, s.name);
    mkdirSync(d, { recursive: true });
    const chain = await s.make(d);
    const files = new Map<string, Buffer>();
    const layouts = new Map<string, Layout>();
    for (const n of chain) {
      const b = readFileSync(nodePath.join(d, n));
      files.set(n, b);
      layouts.set(n, layoutOf(b));
    }
    sets.push({ name: s.name, chain, files, layouts });
  }
  // An unrelated valid disk of the same size as 'diff' (a different id): a decoy for locators.
  const other = nodePath.join(dir, 'other');
  mkdirSync(other, { recursive: true });
  await createDynamic(`${other}/other.vhd`, 2 * MiB, { blockSize: 64 * KiB });
  decoy = readFileSync(`${other}/other.vhd`);
  writeFileSync(nodePath.join(dir, 'manifest.json'), JSON.stringify(sets.map((s) => ({ name: s.name, chain: s.chain }))));
  return sets;
}

/** Loads seeds a previous buildSeeds wrote (worker processes share one corpus). */
export function loadSeeds(dir: string): SeedSet[] {
  const manifest = JSON.parse(readFileSync(nodePath.join(dir, 'manifest.json'), 'utf8')) as { name: string; chain: string[] }[];
  decoy = readFileSync(nodePath.join(dir, 'other', 'other.vhd'));
  return manifest.map((m) => {
    const files = new Map<string, Buffer>();
    const layouts = new Map<string, Layout>();
    for (const n of m.chain) {
      const b = readFileSync(nodePath.join(dir, m.name, n));
      files.set(n, b);
      layouts.set(n, layoutOf(b));
    }
    return { name: m.name, chain: m.chain, files, layouts };
  });
}

let decoy: Buffer | null = null;

// ---- mutations ----------------------------------------------------------

const U32_EXTREMES = [0, 1, 2, 511, 512, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64_EXTREMES = [0n, 1n, 511n, 512n, 1n << 32n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, U64_MAX - 511n, U64_MAX];

const FOOTER_FIELDS: [string, number, 1 | 2 | 4 | 8 | 16][] = [
  ['features', 8, 4],
  ['formatVersion', 12, 4],
  ['dataOffset', 16, 8],
  ['timestamp', 24, 4],
  ['creatorApp', 28, 4],
  ['creatorVersion', 32, 4],
  ['originalSize', 40, 8],
  ['currentSize', 48, 8],
  ['geometry', 56, 4],
  ['diskType', 60, 4],
  ['uniqueId', 68, 16],
  ['savedState', 84, 1],
];

const HEADER_FIELDS: [string, number, 4 | 8 | 16][] = [
  ['dataOffset', 8, 8],
  ['tableOffset', 16, 8],
  ['headerVersion', 24, 4],
  ['maxTableEntries', 28, 4],
  ['blockSize', 32, 4],
  ['parentUniqueId', 40, 16],
  ['parentTimestamp', 56, 4],
];

function putField(b: Buffer, at: number, width: number, v: bigint | number | Buffer): void {
  if (at < 0 || at + width > b.length) return;
  if (Buffer.isBuffer(v)) v.copy(b, at, 0, width);
  else if (width === 1) b[at] = Number(v) & 0xff;
  else if (width === 2) b.writeUInt16BE(Number(v) & 0xffff, at);
  else if (width === 4) b.writeUInt32BE(Number(BigInt(v) & 0xffffffffn), at);
  else if (width === 8) b.writeBigUInt64BE(BigInt(v) & U64_MAX, at);
  else b.fill(Number(v) & 0xff, at, at + width);
}

/** Values for a u64 offset/size field: fixed extremes plus ones near this file's own structure. */
function u64Value(rng: Rng, L: Layout, current: bigint): bigint {
  const near = [
    BigInt(L.size),
    BigInt(L.size - 512),
    BigInt(L.size + 512),
    BigInt(L.footerAt),
    current * 2n,
    current - 512n,
    current + 512n,
    2040n * 1024n ** 3n,
    2040n * 1024n ** 3n + 512n,
    64n * 1024n ** 4n,
    64n * 1024n ** 4n + 512n,
  ];
  return rng.chance(0.5) ? rng.pick(U64_EXTREMES) : rng.pick(near);
}

function u32Value(rng: Rng, current: number): number {
  const near = [current + 1, current - 1, current * 2, Math.floor(current / 2), current ^ 0x80000000];
  return (rng.chance(0.6) ? rng.pick(U32_EXTREMES) : rng.pick(near)) >>> 0;
}

type Ctx = { rng: Rng; b: Buffer; L: Layout; set: SeedSet; name: string; all: FuzzCase['files'] };
type Mutation = (c: Ctx) => { b: Buffer; what: string };

const mutators: [number, string, Mutation][] = [
  [
    6,
    'bitflip',
    ({ rng, b, L }) => {
      const n = rng.range(1, 16);
      const meta = rng.chance(0.6);
      const hot: [number, number][] = [
        [L.footerAt, 512],
        [0, 512],
      ];
      if (L.headerAt !== null) hot.push([L.headerAt, 1024], [L.tableAt!, Math.max(4, L.entries * 4)]);
      for (const l of L.locators) hot.push([l.dataAt, Math.max(1, l.length)]);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const [s, len] = meta ? rng.pick(hot) : [0, b.length];
        const pos = Math.min(b.length - 1, s + rng.int(len));
        b[pos] ^= 1 << rng.int(8);
        at.push(pos);
      }
      // Half the time the checksums are made right again, so the flips are judged on their own.
      if (rng.chance(0.5)) {
        fixFooterAt(b, b.length - 512);
        fixFooterAt(b, 0);
        fixHeader(b, L.headerAt);
      }
      return { b, what: `bitflip ${n}${meta ? ' in metadata' : ''} at ${at.slice(0, 4).join(',')}` };
    },
  ],
  [
    5,
    'truncate',
    ({ rng, b, L }) => {
      const bounds = [0, 1, 511, 512, 513, 1024, L.footerAt, L.size - 511, L.size - 1];
      if (L.headerAt !== null)
        bounds.push(L.headerAt, L.headerAt + 1024, L.tableAt!, L.tableAt! + L.entries * 4, L.tableAt! + Math.ceil((L.entries * 4) / 512) * 512);
      for (const l of L.locators) bounds.push(l.dataAt, l.dataAt + l.length);
      const bitmap = Math.ceil(L.blockSize / 4096 / 512) * 512;
      for (const blk of L.blocks) bounds.push(blk, blk + bitmap, blk + bitmap + L.blockSize / 2, blk + bitmap + L.blockSize);
      const cut = Math.max(0, Math.min(b.length, rng.pick(bounds) + rng.pick([0, 0, -1, 1, -512, 512])));
      const keepFooter = rng.chance(0.4);
      const out = keepFooter ? Buffer.concat([b.subarray(0, cut), b.subarray(L.footerAt)]) : Buffer.from(b.subarray(0, cut));
      return { b: out, what: `truncate at ${cut}${keepFooter ? ' keeping the footer' : ''}` };
    },
  ],
  [
    7,
    'footer-field',
    ({ rng, b, L }) => {
      const [field, off, width] = rng.pick(FOOTER_FIELDS);
      const where = rng.pick(['trailing', 'trailing', 'copy', 'both'] as const);
      let v: bigint | number | Buffer;
      if (field === 'diskType') v = rng.pick([0, 1, 2, 3, 4, 5, 0xffffffff]);
      else if (field === 'uniqueId') v = rng.chance(0.5) ? Buffer.alloc(16) : rng.bytes(16);
      else if (field === 'creatorApp') v = Buffer.from(rng.pick(['tap\0', 'vpc ', 'qemu', '\0\0\0\0', 'win ']), 'latin1');
      else if (field === 'creatorVersion') v = rng.pick([0x00010002, 0x00010003, 0, 0xffffffff]);
      else if (width === 8) v = u64Value(rng, L, b.readBigUInt64BE(L.footerAt + off));
      else if (width === 1) v = rng.pick([0, 1, 2, 0xff]);
      else v = u32Value(rng, b.readUInt32BE(L.footerAt + off));
      const fix = rng.chance(0.85);
      const ats = where === 'trailing' ? [L.footerAt] : where === 'copy' ? [0] : [0, L.footerAt];
      if (L.headerAt === null && where !== 'trailing') ats.splice(0, ats.length, L.footerAt);
      for (const at of ats) {
        putField(b, at + off, width, v);
        if (fix) fixFooterAt(b, at);
      }
      return { b, what: `footer(${where}).${field} = ${Buffer.isBuffer(v) ? v.toString('hex') : v}${fix ? '' : ' (stale checksum)'}` };
    },
  ],
  [
    7,
    'header-field',
    ({ rng, b, L }) => {
      if (L.headerAt === null) return mutators[2][2]({ rng, b, L } as Ctx);
      const [field, off, width] = rng.pick(HEADER_FIELDS);
      const at = L.headerAt + off;
      let v: bigint | number | Buffer;
      if (field === 'blockSize') v = rng.pick([0, 1, 511, 512, 513, 3 * MiB, 1 << 28, 1 << 29, 0x80000000, 0xffffffff, L.blockSize * 2, L.blockSize / 2]);
      else if (field === 'maxTableEntries')
        v = rng.pick([0, L.entries - 1, L.entries + 1, L.entries * 2, 1 << 24, 1 << 26, 1 << 30, 0xffffffff, Math.floor((L.size - L.tableAt!) / 4)]);
      else if (field === 'tableOffset')
        v = rng.pick([
          0n,
          512n,
          BigInt(L.headerAt),
          BigInt(L.tableAt! + 512),
          BigInt(L.tableAt! - 512),
          BigInt(L.size),
          BigInt(L.footerAt),
          1n << 53n,
          U64_MAX,
          BigInt(L.blocks[0] ?? L.footerAt),
        ]);
      else if (field === 'parentUniqueId') v = rng.chance(0.5) ? Buffer.alloc(16) : rng.bytes(16);
      else if (width === 8) v = u64Value(rng, L, b.readBigUInt64BE(at));
      else v = u32Value(rng, b.readUInt32BE(at));
      putField(b, at, width, v);
      const fix = rng.chance(0.85);
      if (fix) fixHeader(b, L.headerAt);
      return { b, what: `header.${field} = ${Buffer.isBuffer(v) ? v.toString('hex') : v}${fix ? '' : ' (stale checksum)'}` };
    },
  ],
  [
    3,
    'rescale',
    // Block size and size changed together, consistently: the damage passes validation and reaches the reads.
    ({ rng, b, L }) => {
      if (L.headerAt === null) return mutators[2][2]({ rng, b, L } as Ctx);
      const bs = rng.pick([512, 4 * KiB, 2 * MiB, 1 << 28]);
      const capacity = Math.floor((L.footerAt - L.tableAt!) / 4);
      const entries = rng.range(1, Math.max(1, Math.min(capacity, Math.floor((2040 * 1024 ** 3) / bs))));
      const size = BigInt(entries) * BigInt(bs) - BigInt(rng.chance(0.5) ? 0 : 512 * rng.range(0, Math.min(bs / 512 - 1, 7)));
      b.writeUInt32BE(bs, L.headerAt + 32);
      b.writeUInt32BE(entries, L.headerAt + 28);
      fixHeader(b, L.headerAt);
      for (const at of [0, L.footerAt]) {
        b.writeBigUInt64BE(size, at + 48);
        fixFooterAt(b, at);
      }
      return { b, what: `rescale: block size ${bs}, ${entries} entries, size ${size}` };
    },
  ],
  [
    7,
    'bat-entry',
    ({ rng, b, L }) => {
      if (L.headerAt === null) return mutators[0][2]({ rng, b, L } as Ctx);
      const n = rng.range(1, 3);
      const what: string[] = [];
      for (let k = 0; k < n; k++) {
        const i = rng.int(Math.max(1, L.entries));
        const other = L.blocks.length > 0 ? rng.pick(L.blocks) / 512 : 3;
        const v = rng.pick([
          0,
          1,
          L.headerAt / 512,
          L.headerAt / 512 + 1,
          L.tableAt! / 512,
          other,
          other + 1,
          other - 1,
          L.footerAt / 512,
          L.footerAt / 512 - 1,
          L.size / 512 + 1000,
          0x7fffffff,
          0xfffffffe,
          rng.u32(),
        ]);
        if (L.tableAt! + 4 * i + 4 <= b.length) b.writeUInt32BE(v >>> 0, L.tableAt! + 4 * i);
        what.push(`bat[${i}]=${v >>> 0}`);
      }
      return { b, what: what.join(' ') };
    },
  ],
  [
    4,
    'locator-field',
    ({ rng, b, L }) => {
      if (L.locators.length === 0) return mutators[3][2]({ rng, b, L } as Ctx);
      const l = rng.pick(L.locators);
      const which = rng.pick(['code', 'dataSpace', 'dataLength', 'dataOffset'] as const);
      let v: string | number | bigint;
      if (which === 'code') {
        v = rng.pick(['W2ru', 'W2ku', 'MacX', 'Mac ', 'Wi2r', 'Wi2k', 'zzzz', '\0\0\0\0']);
        Buffer.from(v, 'latin1').copy(b, l.entryAt);
      } else if (which === 'dataOffset') {
        v = rng.pick([0n, 512n, BigInt(l.dataAt + 1), BigInt(L.size), BigInt(L.footerAt), BigInt(L.headerAt!), 1n << 53n, U64_MAX, U64_MAX - 511n]);
        b.writeBigUInt64BE(v, l.entryAt + 16);
      } else {
        v = rng.pick([0, 1, 511, 513, 0x10000, 0x100000, 0x7fffffff, 0xffffffff, l.space * 512]) >>> 0;
        b.writeUInt32BE(v, l.entryAt + (which === 'dataSpace' ? 4 : 8));
      }
      fixHeader(b, L.headerAt);
      return { b, what: `locator@${l.entryAt}.${which} = ${JSON.stringify(String(v))}` };
    },
  ],
  [
    5,
    'locator-payload',
    // Hostile paths: unrelated files, devices, directories, `..`, very long, invalid UTF-16.
    ({ rng, b, L }) => {
      if (L.locators.length === 0) return mutators[3][2]({ rng, b, L } as Ctx);
      const l = rng.pick(L.locators);
      const code = b.toString('latin1', l.entryAt, l.entryAt + 4);
      const targets = [
        '.\\other.vhd',
        '.\\junk.vhd',
        '.\\sub.vhd',
        '/dev/zero',
        '/dev/null',
        '/proc/self/fd/0',
        '.\\..\\..\\..\\..\\etc\\passwd',
        '..\\..\\..\\',
        '.',
        '',
        '.\\' + 'x'.repeat(3000),
        'C:\\nowhere\\p.vhd',
        '\\\\server\\share\\p.vhd',
        'file:///dev/zero',
        'file:///etc/passwd',
        'http://example.com/p.vhd',
      ];
      let data: Buffer;
      let label: string;
      if (rng.chance(0.2) && code.startsWith('W2')) {
        data = Buffer.from([0x00, 0xd8, 0x41, 0x00, 0x00, 0xdc, 0x2e, 0x00]); // lone surrogates
        label = 'invalid UTF-16';
      } else if (rng.chance(0.1)) {
        data = rng.bytes(rng.range(1, 600));
        label = 'random bytes';
      } else {
        const t = rng.pick(targets);
        data = code === 'MacX' ? Buffer.from(t.startsWith('file:') ? t : `file://${t.replace(/\\/g, '/')}`, 'utf8') : utf16le(t);
        label = JSON.stringify(t.length > 40 ? `${t.slice(0, 20)}…(${t.length})` : t);
      }
      // The payload goes where the locator points; a longer one overruns its space (and may pass EOF).
      const room = Math.max(0, Math.min(data.length, b.length - l.dataAt));
      data.copy(b, l.dataAt, 0, room);
      b.writeUInt32BE(data.length, l.entryAt + 8);
      if (rng.chance(0.5) && data.length > l.space) b.writeUInt32BE(Math.ceil(data.length / 512) * 512, l.entryAt + 4);
      if (rng.chance(0.3)) b.fill(0, L.headerAt! + 64, L.headerAt! + 576); // no parent name to fall back on
      fixHeader(b, L.headerAt);
      return { b, what: `locator@${l.entryAt} payload ${label}` };
    },
  ],
  [
    2,
    'parent-name',
    ({ rng, b, L }) => {
      if (L.headerAt === null || L.type !== 4) return mutators[3][2]({ rng, b, L } as Ctx);
      const name = rng.pick(['other.vhd', 'junk.vhd', 'sub.vhd', '..', '.', '/dev/zero', '\ud800x.vhd', 'n'.repeat(256), 'a\nb.vhd', 'c.vhd']);
      b.fill(0, L.headerAt + 64, L.headerAt + 576);
      for (let i = 0; i < Math.min(name.length, 256); i++) b.writeUInt16BE(name.charCodeAt(i), L.headerAt + 64 + 2 * i);
      if (rng.chance(0.5)) for (const l of L.locators) b.fill(0, l.entryAt, l.entryAt + 24);
      fixHeader(b, L.headerAt);
      return { b, what: `parentName = ${JSON.stringify(name.slice(0, 20))}` };
    },
  ],
  [
    2,
    'batmap',
    // blktap's batmap is parsed only for creator "tap\0" ≥ 1.2: make one with hostile fields.
    ({ rng, b, L }) => {
      if (L.headerAt === null) return mutators[2][2]({ rng, b, L } as Ctx);
      const at = L.tableAt! + Math.ceil((L.entries * 4) / 512) * 512;
      if (at + 512 > b.length) return { b, what: 'batmap (no room)' };
      for (const f of [0, L.footerAt]) {
        b.write('tap\0', f + 28, 'latin1');
        b.writeUInt32BE(0x00010003, f + 32);
        fixFooterAt(b, f);
      }
      b.fill(0, at, at + 512);
      b.write('tdbatmap', at, 'latin1');
      const off = rng.pick([0n, BigInt(at + 512), BigInt(L.size), 1n << 53n, U64_MAX, BigInt(L.headerAt)]);
      const sectors = rng.pick([0, 1, 2, 0x10000, 0x7fffffff, 0xffffffff]);
      b.writeBigUInt64BE(off, at + 8);
      b.writeUInt32BE(sectors >>> 0, at + 16);
      b.writeUInt32BE(0x00010002, at + 20);
      b.writeUInt32BE(rng.u32(), at + 24);
      return { b, what: `batmap at ${at}: offset ${off}, ${sectors} sectors` };
    },
  ],
  [
    2,
    'tail',
    ({ rng, b }) => {
      const kind = rng.pick(['legacy511', 'append-junk', 'append-zero-sector', 'double-footer'] as const);
      if (kind === 'legacy511') return { b: Buffer.from(b.subarray(0, b.length - 1)), what: 'footer cut to 511 bytes' };
      if (kind === 'append-junk') return { b: Buffer.concat([b, rng.bytes(rng.range(1, 1500))]), what: 'junk appended' };
      if (kind === 'append-zero-sector') return { b: Buffer.concat([b, Buffer.alloc(512)]), what: 'zero sector appended' };
      return { b: Buffer.concat([b, b.subarray(b.length - 512)]), what: 'footer appended twice' };
    },
  ],
  [
    2,
    'check-damage',
    // Damage that opening tolerates and only check reports (FOOTER_FEATURES_RESERVED, FIXED_SIZE_MISMATCH).
    ({ rng, b, L }) => {
      const kind = L.type === 2 && rng.chance(0.7) ? rng.pick(['size-lowered', 'gap'] as const) : 'features';
      if (kind === 'features') {
        for (const at of L.headerAt === null ? [L.footerAt] : [0, L.footerAt]) {
          b.writeUInt32BE((b.readUInt32BE(at + 8) & ~0x2) >>> 0, at + 8);
          fixFooterAt(b, at);
        }
        return { b, what: 'footer features: reserved bit 0x2 cleared' };
      }
      if (kind === 'size-lowered') {
        const by = 512 * rng.range(1, 4);
        b.writeBigUInt64BE(b.readBigUInt64BE(L.footerAt + 48) - BigInt(by), L.footerAt + 48);
        fixFooterAt(b, L.footerAt);
        return { b, what: `fixed current size lowered by ${by}` };
      }
      const n = rng.pick([1, 511, 512, 4096]);
      return { b: Buffer.concat([b.subarray(0, L.footerAt), rng.bytes(n), b.subarray(L.footerAt)]), what: `${n} bytes between the fixed data and its footer` };
    },
  ],
  [
    2,
    'bitmap-clear',
    // Bits cleared over written data: partial bitmaps for the readers, junk under clear bits for check.
    ({ rng, b, L }) => {
      if (L.headerAt === null || L.blocks.length === 0) return mutators[0][2]({ rng, b, L } as Ctx);
      const blk = rng.pick(L.blocks);
      const bytes = Math.ceil(L.blockSize / 512 / 8);
      const n = rng.range(1, Math.min(8, bytes));
      const at: number[] = [];
      for (let k = 0; k < n; k++) {
        const i = blk + rng.int(bytes);
        if (i >= b.length) continue;
        b[i] &= rng.pick([0x00, 0x7f, 0xfe, 0xaa, rng.int(256)]);
        at.push(i);
      }
      return { b, what: `bitmap bytes of block at ${blk} cleared at ${at.slice(0, 4).join(',')}` };
    },
  ],
];

/** Rewrites a differencing file's parent link (id + W2ru/W2ku/MacX payloads + name) to point at `to`. */
function pointParentAt(b: Buffer, L: Layout, to: string, id: Buffer): void {
  const h = L.headerAt!;
  id.copy(b, h + 40);
  b.fill(0, h + 64, h + 576);
  for (let i = 0; i < to.length; i++) b.writeUInt16BE(to.charCodeAt(i), h + 64 + 2 * i);
  for (const l of L.locators) {
    const code = b.toString('latin1', l.entryAt, l.entryAt + 4);
    const data = code === 'MacX' ? Buffer.from(`file://${to}`) : utf16le(code === 'W2ru' ? `.\\${to}` : to);
    b.fill(0, l.dataAt, l.dataAt + l.space);
    data.copy(b, l.dataAt, 0, Math.min(data.length, l.space));
    b.writeUInt32BE(Math.min(data.length, l.space), l.entryAt + 8);
  }
  fixHeader(b, h);
}

function footerId(b: Buffer): Buffer {
  return Buffer.from(b.subarray(b.length - 512 + 68, b.length - 512 + 84));
}

/** The case at `index` of the corpus for `seed`. */
export function makeCase(sets: SeedSet[], seed: number, index: number): FuzzCase {
  const rng = new Rng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
  const set = rng.pick(sets);
  const files: FuzzCase['files'] = new Map();
  for (const [n, b] of set.files) files.set(n, Buffer.from(b));
  // Bystanders for hostile locators and the folder scan: an unrelated VHD, a non-VHD, a folder.
  if (set.chain.length > 1 && decoy) {
    files.set('other.vhd', Buffer.from(decoy));
    files.set('junk.vhd', Buffer.from('this is not a virtual disk\n'.repeat(40)));
    files.set('sub.vhd', 'dir');
    // A named pipe: opening it without O_NONBLOCK would wait forever for a writer.
    if (rng.chance(0.05)) files.set('pipe.vhd', 'fifo');
  }
  const leaf = set.chain[set.chain.length - 1];
  const mutations: string[] = [];
  let target = rng.chance(0.7) || set.chain.length === 1 ? leaf : rng.pick(set.chain);

  const structural = set.chain.length > 1 && rng.chance(0.08);
  if (structural) {
    const kind = rng.pick(['cycle', 'self-parent', 'decoy-id'] as const);
    const L = set.layouts.get(leaf)!;
    const lb = files.get(leaf) as Buffer;
    if (kind === 'self-parent') {
      pointParentAt(lb, L, leaf, footerId(lb));
      mutations.push(`${leaf} names itself as parent`);
    } else if (kind === 'decoy-id') {
      pointParentAt(lb, L, 'other.vhd', footerId(files.get('other.vhd') as Buffer));
      // Same id as the decoy but the decoy is a different disk: the link is "valid" by id only.
      mutations.push(`${leaf} points at other.vhd with its id`);
    } else {
      // leaf → parent (as built) and parent → leaf: a → b → a.
      const parent = set.chain[set.chain.length - 2];
      const pl = set.layouts.get(parent)!;
      if (pl.type !== 4) {
        // Base is not differencing: make the leaf's parent link point at a copy of the leaf instead.
        const twin = Buffer.from(lb);
        const twinId = rng.bytes(16);
        twinId.copy(twin, twin.length - 512 + 68);
        fixFooterAt(twin, twin.length - 512);
        twinId.copy(twin, 68);
        fixFooterAt(twin, 0);
        pointParentAt(twin, L, leaf, footerId(lb));
        pointParentAt(lb, L, 'twin.vhd', twinId);
        files.set('twin.vhd', twin);
        mutations.push(`cycle ${leaf} → twin.vhd → ${leaf}`);
      } else {
        pointParentAt(files.get(parent) as Buffer, pl, leaf, footerId(lb));
        mutations.push(`cycle ${leaf} → ${parent} → ${leaf}`);
      }
    }
    target = leaf;
  }
  const rounds = structural ? rng.range(0, 1) : rng.pick([1, 1, 1, 2, 3]);
  for (let k = 0; k < rounds; k++) {
    const cur = files.get(target) as Buffer;
    const L = k === 0 ? set.layouts.get(target)! : (safeLayout(cur) ?? set.layouts.get(target)!);
    const [, name, fn] = rng.weighted(mutators);
    try {
      const r = fn({ rng, b: cur, L, set, name: target, all: files });
      files.set(target, r.b);
      mutations.push(`${target}: ${r.what}`);
    } catch (err) {
      // A mutator can stumble over damage a previous round made; the case stays as it is.
      mutations.push(`${target}: ${name} skipped (${(err as Error).message})`);
    }
  }
  return { index, set: set.name, leaf, target, mutations, files };
}

function safeLayout(b: Buffer): Layout | null {
  try {
    const L = layoutOf(b);
    if (L.headerAt !== null && (L.headerAt < 0 || L.headerAt + 1024 > b.length || L.tableAt! + L.entries * 4 > b.length || L.entries > 1 << 20)) return null;
    return L;
  } catch {
    return null;
  }
}

/** Writes a case into an empty folder. */
export async function writeCase(c: FuzzCase, dir: string): Promise<void> {
  for (const [n, b] of c.files) {
    const p = nodePath.join(dir, n);
    if (b === 'dir') await fsp.mkdir(p);
    else if (b instanceof SparseImage) b.writeTo(p);
    else if (b === 'fifo') {
      const r = spawnSync('mkfifo', [p]);
      if (r.status !== 0) throw new Error(`mkfifo ${p} failed`);
    } else writeFileSync(p, b);
  }
}

/** FUZZ_SEED, else `fixed`, else one from the clock (printed in the summary either way). */
export function fuzzSeed(fixed?: number): number {
  const n = Number(process.env.FUZZ_SEED);
  if (process.env.FUZZ_SEED && Number.isInteger(n) && n >= 0) return n >>> 0;
  return fixed ?? (Date.now() ^ (process.pid << 10)) >>> 0;
}

export function fuzzCases(dflt: number): number {
  const n = Number(process.env.FUZZ_CASES);
  return Number.isInteger(n) && n > 0 ? n : dflt;
}

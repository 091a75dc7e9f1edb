// `npm run bench`: times the built CLI (dist/cli/vhdsnap.cjs) on generated
// disks against qemu-img and plain cp in the same run, prints a table and
// writes it as JSON to bench/latest.json.
//
// Scenarios are generated here with the core library (bundled on the fly by
// esbuild), from a fixed seed, in a temp folder:
//   chain   1 GiB, depth 5 (a dynamic base and 4 differencing children), each
//           layer writing ~20% of the disk: whole blocks and unaligned partial runs
//   dyn4g   4 GiB dynamic, ~30% of its blocks written
//   big     2040 GiB dynamic with one block written at each end. 2 TiB itself
//           is past the VHD maximum (2040 GiB, the limit of the CHS-era size
//           fields that Hyper-V and qemu enforce), so the largest legal size is used
//   merge1  1 GiB dynamic parent (~20% written) + a child writing ~20%
//   merge16 16 GiB dynamic parent (the same first GiB, ~5% of the rest) + the same child
//
// app-open-2000 opens the folder of 2,000 disks in the app (scripts/bench-app.mjs:
// `vhdsnap serve` and headless Chromium) and reports the time the page
// measures from the click to the rows painted, not the process's wall time.
//
// Fairness: every command is a subprocess timed wall-clock, each side runs
// once untimed first (both warm in the page cache), then the sides alternate,
// swapping which goes first on every run.
// vhdsnap fsyncs what it writes, so the cp/qemu-img baselines are followed by
// `sync <output>` (BENCH_BASELINE_FSYNC=0 turns that off).
//
// Env: BENCH_RUNS (default 3), BENCH_DIR (parent of the temp folder),
// BENCH_CLI (CLI bundle to time; the start-up rows otherwise run bin/vhdsnap.cjs), BENCH_ONLY (comma list of measure ids),
// BENCH_KEEP=1 (keep the temp folder), BENCH_OUT (JSON path), BENCH_VERIFY=0
// (skip checking each command's first output against the raw model the
// generator mirrors every write into).
//
// "Allocated bytes" (the cp baselines) = the data areas of the allocated
// blocks of the files concerned, i.e. roughly what the files hold on disk.
import { spawnSync, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  statSync,
  readdirSync,
  openSync,
  writeSync,
  closeSync,
  ftruncateSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3) | 0);
const CLI = path.resolve(process.env.BENCH_CLI ?? path.join(root, 'dist/cli/vhdsnap.cjs'));
// The start-up rows time what `vhdsnap` runs: the launcher, with its code cache (BENCH_CLI: that bundle itself).
const LAUNCHER = process.env.BENCH_CLI ? CLI : path.join(root, 'bin/vhdsnap.cjs');
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const BASELINE_FSYNC = process.env.BENCH_BASELINE_FSYNC !== '0';
const VERIFY = process.env.BENCH_VERIFY !== '0';
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(root, 'bench/latest.json'));
const TIME = '/usr/bin/time';
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BLOCK = 2 * MiB;
const SEED = 0x5eed;

// ---- helpers ---------------------------------------------------------------

function log(s) {
  process.stderr.write(s + '\n');
}

/** Seeded 32-bit generator (mulberry32). */
function rng(seed) {
  let s = seed >>> 0;
  const u32 = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return { u32, int: (n) => Math.floor((u32() / 2 ** 32) * n), chance: (p) => u32() / 2 ** 32 < p };
}

/** 32 MiB of seeded noise; writes take slices of it at random offsets. */
function noisePool(seed) {
  const r = rng(seed);
  const words = new Uint32Array((32 * MiB) / 4);
  for (let i = 0; i < words.length; i++) words[i] = r.u32() | 1; // never a zero word: data must not look sparse
  return Buffer.from(words.buffer);
}

function noise(pool, r, length) {
  const at = r.int(pool.length - length);
  return pool.subarray(at, at + length);
}

const hasTime = existsSync(TIME);

/** Runs a command, returns wall seconds and peak RSS (KiB) of the process tree. */
function timed(cmd, args, opts = {}) {
  const rssFile = path.join(os.tmpdir(), `bench-rss-${process.pid}.txt`);
  const argv = hasTime ? [TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  const res = spawnSync(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * MiB, ...opts });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = opts.okStatus ?? [0];
  if (res.error || !ok.includes(res.status)) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}): ${res.error ?? ''}${res.stderr}${res.stdout}`);
  }
  let rssKiB = null;
  let cpu = null;
  if (hasTime) {
    const [m, u, sys] = readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    rssKiB = m;
    cpu = u + sys;
    rmSync(rssFile, { force: true });
  } else if (opts.env?.BENCH_RSS_FILE && existsSync(opts.env.BENCH_RSS_FILE)) {
    rssKiB = Number(readFileSync(opts.env.BENCH_RSS_FILE, 'utf8'));
    rmSync(opts.env.BENCH_RSS_FILE, { force: true });
  }
  return { wall, rssKiB, cpu, stdout: String(res.stdout ?? '') };
}

let rssHook = null;
/** Without GNU time, node commands report their own maxRSS through a preloaded hook (other commands: unknown). */
function nodeArgs(args) {
  return hasTime || !rssHook ? args : ['--require', rssHook, ...args];
}
const cli = (...args) => ['node', nodeArgs([CLI, ...args])];
const launched = (...args) => ['node', nodeArgs([LAUNCHER, ...args])];
/** Baselines end with an fsync of their output, as vhdsnap's writes do. */
const withSync = (cmd, out) => ['sh', ['-c', BASELINE_FSYNC ? `${cmd} && sync "$0"` : cmd, out]];
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, max: s[s.length - 1], runs: s };
}

function machine() {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let qemu;
  try {
    qemu = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    qemu = null;
  }
  return {
    cpu,
    cores: os.cpus().length,
    ramGiB: +(os.totalmem() / GiB).toFixed(1),
    node: process.version,
    qemuImg: qemu,
    os: `${os.type()} ${os.release()}`,
    load: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

// ---- scenario generation (core library, bundled) ---------------------------

async function loadCore(dir) {
  const outfile = path.join(dir, 'core-bundle.mjs');
  await esbuild.build({
    stdin: {
      contents: `export { createDynamic, createDifferencing, createFixed } from './core/ops/create.ts';
                 export { openDisk } from './core/disk/chain.ts';
                 export { VhdFile } from './core/disk/vhd-file.ts';`,
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

/**
 * Writes ~`fraction` of [0, span) of the disk at `file`: half the chosen
 * blocks whole, the rest as 1-4 unaligned partial runs.
 */
async function fillLayer(core, file, pool, seed, fraction, span, model, wholeShare = 0.5) {
  const r = rng(seed);
  // Every write is mirrored into a raw model file: outputs are checked against it, not against vhdsnap itself.
  const put = async (at, data) => {
    await disk.write(at, data);
    writeSync(model, data, 0, data.length, at);
  };
  const disk = await core.openDisk(file, { writable: true, sync: false });
  try {
    const blocks = span / BLOCK;
    const target = fraction * span;
    let written = 0;
    while (written < target) {
      const b = r.int(blocks);
      const base = b * BLOCK;
      if (r.chance(wholeShare)) {
        await put(base, noise(pool, r, BLOCK));
        written += BLOCK;
      } else {
        for (let k = 1 + r.int(4); k > 0; k--) {
          const len = 1 + r.int(512 * 1024);
          const at = base + r.int(BLOCK - len);
          await put(at, noise(pool, r, len));
          written += len;
        }
      }
    }
  } finally {
    await disk.close();
  }
}

/** Bytes in allocated blocks (data areas) and in set-bit sectors of one file. */
async function allocation(core, file) {
  const f = await core.VhdFile.open(file);
  try {
    let blocks = 0;
    let setBytes = 0;
    for (let b = 0; b < f.blockCount; b++) {
      if (f.blockOffset(b) === null) continue;
      blocks++;
      const bm = await f.readBitmap(b);
      for (let i = 0; i < f.sectorsPerBlock; i++) if (bm[i >>> 3] & (0x80 >>> (i & 7))) setBytes += 512;
    }
    return { allocatedBytes: blocks * f.blockSize, setBytes };
  } finally {
    await f.close();
  }
}

function writeNoiseFile(file, pool, seed, length) {
  const r = rng(seed);
  const fd = openSync(file, 'w');
  try {
    for (let at = 0; at < length; at += 8 * MiB) writeSync(fd, noise(pool, r, Math.min(8 * MiB, length - at)), 0, Math.min(8 * MiB, length - at), at);
  } finally {
    closeSync(fd);
  }
}

/** A sparse raw file of `size` bytes, open for the model's writes. */
function openModel(file, size) {
  const fd = openSync(file, 'w');
  ftruncateSync(fd, size);
  return fd;
}

/** The scenarios each measure reads; with BENCH_ONLY only those are generated. */
const SCENARIOS = {
  'export-dynamic': ['dyn4g'],
  'export-chain': ['chain'],
  'flatten-chain': ['chain'],
  'merge-1g': ['merge1'],
  'merge-16g': ['merge16'],
  'merge-1g-fixed': ['merge1fixed'],
  'merge-big-1g': ['mergeBig1'],
  'merge-big-64g': ['mergeBig64'],
  'export-dynamic-1g': ['dyn1g'],
  'export-vhdx-1g': ['dyn1g', 'vhdx1g'],
  'flatten-vhdx-1g': ['dyn1g', 'vhdx1g'],
  'merge-vhdx-1g': ['dyn1g', 'vhdx1g'],
  'check-2040g': ['big'],
  'check-deep': ['deep'],
  'tree-2000': ['folder'],
  'app-open-2000': ['folder'],
  'delete-plan-2000': ['folder'],
  'unlink-child-size': ['merge1'],
  'startup-info': ['small'],
};
const needs = (scenario) => !ONLY || [...ONLY].some((id) => SCENARIOS[id]?.includes(scenario));

async function generate(core, dir) {
  const pool = noisePool(SEED);
  const S = {};
  if (needs('chain')) {
    const chainModel = path.join(dir, 'chain-model.raw');
    const cm = openModel(chainModel, GiB);
    // depth-5 chain
    const chainDir = path.join(dir, 'chain');
    mkdirSync(chainDir);
    const layers = [];
    for (let i = 0; i < 5; i++) {
      const f = path.join(chainDir, `l${i}.vhd`);
      if (i === 0) await core.createDynamic(f, GiB);
      else await core.createDifferencing(f, layers[i - 1]);
      await fillLayer(core, f, pool, SEED + 1 + i, 0.2, GiB, cm);
      layers.push(f);
    }
    closeSync(cm);
    let chainAlloc = 0;
    let chainSet = 0;
    for (const f of layers) {
      const a = await allocation(core, f);
      chainAlloc += a.allocatedBytes;
      chainSet += a.setBytes;
    }
    const chainRaw = path.join(dir, 'chain-alloc.raw');
    writeNoiseFile(chainRaw, pool, SEED + 10, chainAlloc);
    S.chain = { leaf: layers[4], files: layers, allocatedBytes: chainAlloc, setBytes: chainSet, raw: chainRaw, model: chainModel };
  }
  if (needs('dyn4g')) {
    // 4 GiB dynamic, 30% of blocks (mostly whole)
    const dyn = path.join(dir, 'dyn4g.vhd');
    await core.createDynamic(dyn, 4 * GiB);
    const dynModel = path.join(dir, 'dyn4g-model.raw');
    const dm = openModel(dynModel, 4 * GiB);
    await fillLayer(core, dyn, pool, SEED + 20, 0.3, 4 * GiB, dm, 0.85);
    closeSync(dm);
    S.dyn4g = { file: dyn, model: dynModel, ...(await allocation(core, dyn)) };
  }
  if (needs('big')) {
    // 2040 GiB: one block at each end
    const big = path.join(dir, 'big2040g.vhd');
    const bigSize = 2040 * GiB;
    await core.createDynamic(big, bigSize);
    const bd = await core.openDisk(big, { writable: true, sync: false });
    const r = rng(SEED + 30);
    await bd.write(0, noise(pool, r, BLOCK));
    await bd.write(bigSize - BLOCK, noise(pool, r, BLOCK));
    await bd.close();
    S.big = { file: big, virtualSize: bigSize };
  }
  if (needs('dyn1g')) {
    const f = path.join(dir, 'dyn1g.vhd');
    await core.createDynamic(f, GiB);
    const model = path.join(dir, 'dyn1g-model.raw');
    const m = openModel(model, GiB);
    await fillLayer(core, f, pool, SEED + 21, 0.3, GiB, m, 0.85);
    closeSync(m);
    S.dyn1g = { file: f, model, ...(await allocation(core, f)) };
  }
  if (needs('vhdx1g')) S.vhdx1g = generateVhdx(dir, pool, S.dyn1g);
  // Merge pairs: the same ~284 MiB child over a 1 GiB and a 16 GiB parent; the same
  // 1 GiB child (every block of its first GiB written) over a 1 GiB and a 64 GiB parent.
  for (const [name, size, fullChild, restShare] of [
    ['merge1', GiB, false, 0.05],
    ['merge16', 16 * GiB, false, 0.05],
    ['mergeBig1', GiB, true, 0],
    ['mergeBig64', 64 * GiB, true, 0.002],
    // A fixed parent: a merge's undo record (Cancel and roll back) saves every parent byte it overwrites, which over a fixed parent is every byte the child stores: its worst case.
    ['merge1fixed', GiB, false, 0.05],
  ]) {
    if (!needs(name)) continue;
    // Pristine copies live beside, not inside, the merge folder: the merge scans its folder for children.
    const d = path.join(dir, name);
    const orig = path.join(dir, `${name}-orig`);
    mkdirSync(d);
    mkdirSync(orig);
    const p = path.join(orig, 'parent.vhd');
    const c = path.join(orig, 'child.vhd');
    const model = path.join(dir, `${name}-model.raw`);
    const mm = openModel(model, size);
    if (name === 'merge1fixed') await core.createFixed(p, size);
    else await core.createDynamic(p, size);
    await fillLayer(core, p, pool, SEED + 40, 0.2, GiB, mm);
    if (size > GiB) {
      // ~5% of the rest, written above the first GiB
      const rest = await core.openDisk(p, { writable: true, sync: false });
      const rr = rng(SEED + 41);
      const n = Math.round(((size - GiB) / BLOCK) * restShare);
      for (let i = 0; i < n; i++) {
        const at = GiB + rr.int((size - GiB) / BLOCK) * BLOCK;
        const data = noise(pool, rr, BLOCK);
        await rest.write(at, data);
        writeSync(mm, data, 0, data.length, at);
      }
      await rest.close();
    }
    await core.createDifferencing(c, p);
    if (fullChild) await fillAllBlocks(core, c, pool, SEED + 44, GiB, mm);
    else await fillLayer(core, c, pool, SEED + 42, 0.2, GiB, mm);
    closeSync(mm);
    const a = await allocation(core, c);
    const raw = path.join(dir, `${name}-child-alloc.raw`);
    writeNoiseFile(raw, pool, SEED + 43, a.allocatedBytes);
    S[name] = {
      dir: d,
      orig,
      model,
      parentSize: size,
      childAllocatedBytes: a.allocatedBytes,
      childSetBytes: a.setBytes,
      raw,
      parentFileBytes: statSync(p).size,
    };
  }
  if (needs('small')) {
    S.small = path.join(dir, 'small.vhd');
    await core.createDynamic(S.small, DEEP_SIZE);
  }
  if (needs('deep')) S.deep = await generateDeep(core, dir, pool);
  if (needs('folder')) S.folder = await generateFolder(core, dir, pool);
  return S;
}

/** Writes every block of [0, span) whole, in order, mirrored into the model. */
async function fillAllBlocks(core, file, pool, seed, span, model) {
  const r = rng(seed);
  const f = await core.VhdFile.open(file, { writable: true, sync: false });
  try {
    for (let at = 0; at < span; at += BLOCK) {
      const data = noise(pool, r, BLOCK);
      await f.writeSectors(at / 512, data);
      writeSync(model, data, 0, data.length, at);
    }
  } finally {
    await f.close();
  }
}

/** Writes a few aligned runs (~`bytes` in all) into the top file only and mirrors them into the model. */
async function fillTop(core, file, pool, seed, bytes, size, model) {
  const r = rng(seed);
  const f = await core.VhdFile.open(file, { writable: true, sync: false });
  try {
    const runs = [];
    for (let done = 0; done < bytes;) {
      const sectors = 1 + r.int(64);
      const at = r.int(size / 512 - sectors) * 512;
      const data = noise(pool, r, sectors * 512);
      runs.push({ at, data });
      done += data.length;
    }
    // Later runs win where they overlap, in the file and in the model alike.
    for (const { at, data } of runs) {
      await f.writeSectors(at / 512, data);
      writeSync(model, data, 0, data.length, at);
    }
  } finally {
    await f.close();
  }
}

/**
 * VHDX: the 1 GiB disk's content imported as a dynamic VHDX (32 MiB blocks,
 * the default), and an AVHDX child of it with 256 MiB written in 8 runs; the
 * merge's model (the child's content) beside them.
 */
const VHDX_CHILD_RUNS = 8;
function generateVhdx(dir, pool, dyn1g) {
  const d = path.join(dir, 'vhdx');
  const orig = path.join(d, 'orig');
  mkdirSync(orig, { recursive: true });
  const base = path.join(orig, 'base.vhdx');
  const child = path.join(orig, 'child.avhdx');
  execFileSync('node', [CLI, 'import', dyn1g.model, base]);
  execFileSync('node', [CLI, 'snapshot', base, '--out', child]);
  const model = path.join(dir, 'vhdx-child-model.raw');
  execFileSync('cp', [dyn1g.model, model]);
  const m = openSync(model, 'r+');
  const r = rng(SEED + 40);
  const input = path.join(dir, 'vhdx-run.bin');
  for (let i = 0; i < VHDX_CHILD_RUNS; i++) {
    const at = r.int((GiB - 32 * MiB) / 4096) * 4096;
    const data = noise(pool, r, 32 * MiB);
    writeFileSync(input, data);
    execFileSync('node', [CLI, 'write', child, '--offset', String(at), '--input', input]);
    writeSync(m, data, 0, data.length, at);
  }
  closeSync(m);
  rmSync(input, { force: true });
  return { dir: d, orig, base, child, model, baseModel: dyn1g.model, bytes: statSync(base).size + statSync(child).size };
}

function restoreVhdx(v) {
  for (const f of readdirSync(v.dir)) if (f !== 'orig') rmSync(path.join(v.dir, f), { force: true, recursive: true });
  execFileSync('cp', ['-p', v.base, v.child, v.dir]);
  execFileSync('sync', [path.join(v.dir, 'base.vhdx'), path.join(v.dir, 'child.avhdx')]);
}

/** The issue's deep chain: 256 files (the most a disk may be read through) of 8 MiB, each writing ~1%. */
const DEEP = 256;
const DEEP_SIZE = 8 * MiB;
async function generateDeep(core, dir, pool) {
  const d = path.join(dir, 'deep');
  mkdirSync(d);
  const model = path.join(dir, 'deep-model.raw');
  const mm = openModel(model, DEEP_SIZE);
  let prev = null;
  for (let i = 0; i < DEEP; i++) {
    const f = path.join(d, `d${String(i).padStart(3, '0')}.vhd`);
    if (prev === null) await core.createDynamic(f, DEEP_SIZE);
    else await core.createDifferencing(f, prev);
    await fillTop(core, f, pool, SEED + 100 + i, DEEP_SIZE / 100, DEEP_SIZE, mm);
    prev = f;
  }
  closeSync(mm);
  return { dir: d, leaf: prev, model };
}

/** A folder of 2,000 small disks: 400 chains of a base and 4 children (8 MiB, a few sectors each). */
const FOLDER_FILES = 2000;
async function generateFolder(core, dir, pool) {
  const d = path.join(dir, 'folder');
  mkdirSync(d);
  const sink = openModel(path.join(dir, 'folder-model.raw'), DEEP_SIZE);
  let prev = null;
  for (let i = 0; i < FOLDER_FILES; i++) {
    const f = path.join(d, `f${String(i).padStart(4, '0')}.vhd`);
    if (i % 5 === 0) await core.createDynamic(f, DEEP_SIZE);
    else await core.createDifferencing(f, prev);
    await fillTop(core, f, pool, SEED + 5000 + i, 4096, DEEP_SIZE, sink);
    prev = f;
  }
  closeSync(sink);
  return { dir: d, files: FOLDER_FILES };
}

// ---- measures ----------------------------------------------------------------

let haveQemu = false;

/** Output checked against the raw model (qemu-img compare reads VHD itself; else cmp, VHD via an export). */
function verifySame(file, format, model, what) {
  let res;
  if (haveQemu) {
    res = spawnSync('qemu-img', ['compare', '-q', '-f', format, '-F', 'raw', file, model], { encoding: 'utf8' });
  } else {
    let raw = file;
    if (format !== 'raw') {
      raw = `${file}.verify.raw`;
      execFileSync('node', [CLI, 'export', file, raw]);
    }
    res = spawnSync('cmp', ['-s', raw, model]);
    if (raw !== file) rmSync(raw, { force: true });
  }
  if (res.status !== 0) throw new Error(`verification failed: ${what} (${file}) differs from the model ${model} ${res.stderr ?? ''}`);
  verified.push(what);
}
const verified = [];

function rmOut(f) {
  rmSync(f, { force: true });
}

function restoreMerge(m) {
  for (const f of readdirSync(m.dir)) rmSync(path.join(m.dir, f), { force: true, recursive: true });
  // cp -p keeps the parent's mtime equal to the time stamp the child recorded.
  execFileSync('cp', ['-p', path.join(m.orig, 'parent.vhd'), path.join(m.orig, 'child.vhd'), m.dir]);
  // Flushed here, untimed: otherwise the merge's first fsync would also write out the whole restored copy.
  execFileSync('sync', [path.join(m.dir, 'parent.vhd'), path.join(m.dir, 'child.vhd')]);
}

function measures(S, dir) {
  const out = (n) => path.join(dir, 'out', n);
  const list = [];
  if (S.dyn4g)
    list.push({
      id: 'export-dynamic',
      what: 'export 4 GiB dynamic (30% full) → raw',
      target: { ratio: 1.0 },
      baselineName: 'qemu-img convert -f vpc -O raw',
      cmd: () => cli('export', S.dyn4g.file, out('e.raw')),
      verify: () => verifySame(out('e.raw'), 'raw', S.dyn4g.model, 'export of the 4 GiB dynamic disk'),
      baseline: () => withSync(`qemu-img convert -f vpc -O raw ${q(S.dyn4g.file)} ${q(out('q.raw'))}`, out('q.raw')),
      after: () => (rmOut(out('e.raw')), rmOut(out('q.raw'))),
    });
  if (S.dyn1g)
    list.push({
      id: 'export-dynamic-1g',
      what: 'export 1 GiB dynamic (30% full) → raw',
      target: { ratio: 1.0 },
      baselineName: 'qemu-img convert -f vpc -O raw',
      cmd: () => cli('export', S.dyn1g.file, out('e1.raw')),
      verify: () => verifySame(out('e1.raw'), 'raw', S.dyn1g.model, 'export of the 1 GiB dynamic disk'),
      baseline: () => withSync(`qemu-img convert -f vpc -O raw ${q(S.dyn1g.file)} ${q(out('q1.raw'))}`, out('q1.raw')),
      after: () => (rmOut(out('e1.raw')), rmOut(out('q1.raw'))),
    });
  // Reading the chain and flattening it are both measured against cp of its allocated bytes.
  if (S.chain) {
    const chainCp = {
      target: { ratio: 1.0 },
      baselineName: `cp of ${(S.chain.allocatedBytes / MiB).toFixed(0)} MiB (chain's allocated bytes)`,
      baseline: () => withSync(`cp ${q(S.chain.raw)} ${q(out('cp.raw'))}`, out('cp.raw')),
    };
    list.push({
      ...chainCp,
      id: 'export-chain',
      what: 'export depth-5 chain leaf (1 GiB) → raw',
      cmd: () => cli('export', S.chain.leaf, out('c.raw')),
      verify: () => verifySame(out('c.raw'), 'raw', S.chain.model, 'export of the depth-5 chain'),
      after: () => (rmOut(out('c.raw')), rmOut(out('cp.raw'))),
    });
    list.push({
      ...chainCp,
      id: 'flatten-chain',
      what: 'flatten depth-5 chain → dynamic VHD',
      cmd: () => cli('flatten', S.chain.leaf, out('f.vhd'), '--format', 'dynamic'),
      verify: () => verifySame(out('f.vhd'), 'vpc', S.chain.model, 'flatten of the depth-5 chain'),
      after: () => (rmOut(out('f.vhd')), rmOut(out('cp.raw'))),
    });
  }
  if (S.vhdx1g) {
    const v = S.vhdx1g;
    list.push({
      id: 'export-vhdx-1g',
      what: 'export 1 GiB dynamic VHDX (30% full) → raw',
      target: { ratio: 1.0 },
      baselineName: 'qemu-img convert -f vhdx -O raw',
      cmd: () => cli('export', v.base, out('ex.raw')),
      verify: () => verifySame(out('ex.raw'), 'raw', v.baseModel, 'export of the 1 GiB VHDX'),
      baseline: () => withSync(`qemu-img convert -f vhdx -O raw ${q(v.base)} ${q(out('qx.raw'))}`, out('qx.raw')),
      after: () => (rmOut(out('ex.raw')), rmOut(out('qx.raw'))),
    });
    list.push({
      id: 'flatten-vhdx-1g',
      what: 'flatten 1 GiB dynamic VHDX (30% full) → dynamic VHDX',
      target: { ratio: 1.0 },
      baselineName: 'qemu-img convert -f vhdx -O vhdx',
      cmd: () => cli('flatten', v.base, out('fx.vhdx')),
      verify: () => verifySame(out('fx.vhdx'), 'vhdx', v.baseModel, 'flatten of the 1 GiB VHDX'),
      baseline: () => withSync(`qemu-img convert -f vhdx -O vhdx ${q(v.base)} ${q(out('qx.vhdx'))}`, out('qx.vhdx')),
      after: () => (rmOut(out('fx.vhdx')), rmOut(out('qx.vhdx'))),
    });
    // A VHDX merge rewrites the parent with the child folded in: it reads both files and writes the merged disk.
    list.push({
      id: 'merge-vhdx-1g',
      what: `merge AVHDX child (${VHDX_CHILD_RUNS * 32} MiB written) into its 1 GiB dynamic VHDX parent (by rewrite)`,
      baselineName: `cp of both files (${(v.bytes / MiB).toFixed(0)} MiB)`,
      before: () => restoreVhdx(v),
      // child.avhdx is the only leaf, so the active disk: the merged disk (a dynamic VHDX) lands at its path.
      cmd: () => cli('merge', path.join(v.dir, 'child.avhdx')),
      verify: () => verifySame(path.join(v.dir, 'child.avhdx'), 'vhdx', v.model, 'merge of the AVHDX child'),
      baseline: () => [
        'sh',
        ['-c', `cp ${q(v.base)} ${q(v.child)} ${q(path.join(dir, 'out'))}${BASELINE_FSYNC ? ` && sync ${q(out('base.vhdx'))} ${q(out('child.avhdx'))}` : ''}`],
      ],
      after: () => (rmOut(out('base.vhdx')), rmOut(out('child.avhdx'))),
    });
  }
  const mergeIds = { merge1: 'merge-1g', merge16: 'merge-16g', merge1fixed: 'merge-1g-fixed', mergeBig1: 'merge-big-1g', mergeBig64: 'merge-big-64g' };
  for (const [name, id] of Object.entries(mergeIds)) {
    const m = S[name];
    if (!m) continue;
    list.push({
      id,
      what: `merge child (${(m.childAllocatedBytes / MiB).toFixed(0)} MiB allocated) into ${m.parentSize / GiB} GiB ${name === 'merge1fixed' ? 'fixed ' : ''}parent`,
      // The issue's target is for children of 1 GiB and more; the smaller child keeps the earlier one.
      target: { ratio: name.startsWith('mergeBig') ? 1.2 : 1.5 },
      baselineName: `cp of ${(m.childAllocatedBytes / MiB).toFixed(0)} MiB (child's allocated bytes)`,
      before: () => restoreMerge(m),
      cmd: () => cli('merge', path.join(m.dir, 'child.vhd')),
      // child.vhd is its tree's active disk: the merge keeps it at its path (the delete of the parent, core/ops/merge-active.ts).
      verify: () => verifySame(path.join(m.dir, 'child.vhd'), 'vpc', m.model, `merge into the ${m.parentSize / GiB} GiB parent`),
      baseline: () => withSync(`cp ${q(m.raw)} ${q(out('m.raw'))}`, out('m.raw')),
      after: () => rmOut(out('m.raw')),
    });
  }
  if (S.big)
    list.push({
      id: 'check-2040g',
      what: 'check 2040 GiB dynamic (1 block at each end)',
      target: { seconds: 0.3 },
      cmd: () => cli('check', S.big.file),
    });
  if (S.deep) {
    list.push({
      id: 'check-deep',
      what: `check --deep leaf of a ${DEEP}-deep chain (8 MiB disks, 1% written per layer)`,
      target: { seconds: 1 },
      cmd: () => cli('check', '--deep', S.deep.leaf),
      // The chain reads as the model says (check itself only reports).
      verify: () => {
        execFileSync('node', [CLI, 'export', S.deep.leaf, out('deep.raw')]);
        verifySame(out('deep.raw'), 'raw', S.deep.model, `export of the ${DEEP}-deep chain`);
        rmOut(out('deep.raw'));
      },
    });
  }
  if (S.folder) {
    list.push({
      id: 'tree-2000',
      what: `tree of a folder of ${S.folder.files} small disks (400 chains of 5)`,
      target: { seconds: 0.5 },
      cmd: () => cli('tree', S.folder.dir),
    });
    // A writer's plan looks for the disk's children among every disk of its folder (findChildren), several times.
    list.push({
      id: 'delete-plan-2000',
      what: `delete --dry-run of a snapshot in the folder of ${S.folder.files} disks`,
      cmd: () => cli('delete', '--dry-run', path.join(S.folder.dir, 'f0001.vhd')),
    });
    // The app: the time the page itself measures (click → rows painted), not the process's (Chromium's start-up is not the app's).
    if (existsSync('/usr/bin/chromium'))
      list.push({
        id: 'app-open-2000',
        what: `app: open the ${S.folder.files}-disk folder → rows painted (headless Chromium over serve, in-page time)`,
        target: { seconds: 1.5 },
        cmd: () => ['node', [path.join(root, 'scripts/bench-app.mjs'), S.folder.dir, CLI]],
        reported: true,
        noRssTarget: true,
      });
    else log('skipping app-open-2000: /usr/bin/chromium not installed');
  }
  // Start-up: vhdsnap against bare node, alternating, many short runs; the target is the difference of the medians.
  const startup = { runs: Math.max(RUNS, 15), target: { deltaSeconds: 0.03 }, baselineName: 'node -e 0', baseline: () => ['node', nodeArgs(['-e', '0'])] };
  // The untimed warm-up run writes the launcher's code cache (in the temp folder: XDG_CACHE_HOME, set in main); the timed runs read it.
  list.push({ ...startup, id: 'startup-help', what: 'CLI start-up: vhdsnap --help', cmd: () => launched('--help') });
  if (S.small) list.push({ ...startup, id: 'startup-info', what: 'CLI start-up: vhdsnap info of an 8 MiB disk', cmd: () => launched('info', S.small) });
  // A merge ends by deleting the child; on some file systems that alone is a sizeable part of the merge.
  if (S.merge1) {
    const victim = out('unlink-me.raw');
    list.push({
      id: 'unlink-child-size',
      what: `rm of a ${(S.merge1.childAllocatedBytes / MiB).toFixed(0)} MiB file (the merge's last step, fixed cost)`,
      before: () => execFileSync('cp', [S.merge1.raw, victim]),
      cmd: () => ['rm', [victim]],
      noRssTarget: true,
    });
  }
  return list;
}

function runMeasure(m) {
  const side = (which, verify = false) => {
    m.before?.();
    // Nothing left dirty by an earlier command (or by removing its output) may be written back on this one's time.
    execFileSync('sync');
    const [c, a] = which === 'cmd' ? m.cmd() : m.baseline();
    const r = timed(c, a, hasTime ? {} : { env: { ...process.env, BENCH_RSS_FILE: path.join(os.tmpdir(), `bench-rss-${process.pid}.txt`) } });
    // A command that times itself (the app row) prints its figure as JSON on its last line.
    if (m.reported) r.wall = JSON.parse(r.stdout.trim().split('\n').pop()).seconds;
    if (verify) m.verify?.();
    m.after?.();
    return r;
  };
  // Warm both sides once, untimed (the warm-up output is also checked against the model), then alternate.
  side('cmd', VERIFY);
  if (m.baseline) side('baseline');
  const cmd = [];
  const base = [];
  // The order alternates (A B, B A, ...): on this kind of VM a command runs measurably slower or
  // faster depending on what ran just before it, so neither side may always follow the other.
  for (let i = 0; i < (m.runs ?? RUNS); i++) {
    if (i % 2 === 1 && m.baseline) base.push(side('baseline'));
    cmd.push(side('cmd'));
    if (i % 2 === 0 && m.baseline) base.push(side('baseline'));
  }
  const res = {
    id: m.id,
    what: m.what,
    seconds: stats(cmd.map((x) => x.wall)),
    cpuSeconds: cmd[0].cpu === null ? null : stats(cmd.map((x) => x.cpu)),
    peakRssMiB: cmd[0].rssKiB === null ? null : Math.max(...cmd.map((x) => x.rssKiB)) / 1024,
  };
  if (m.baseline) {
    res.baseline = {
      name: m.baselineName,
      seconds: stats(base.map((x) => x.wall)),
      cpuSeconds: base[0].cpu === null ? null : stats(base.map((x) => x.cpu)),
      peakRssMiB: base[0].rssKiB === null ? null : Math.max(...base.map((x) => x.rssKiB)) / 1024,
    };
    res.ratio = res.seconds.median / res.baseline.seconds.median;
    // Less sensitive to other load on the machine than the medians: best against best.
    res.ratioOfMins = res.seconds.min / res.baseline.seconds.min;
    const perRun = cmd.map((x, i) => x.wall / base[i].wall);
    res.ratioPerRun = stats(perRun);
    res.delta = res.seconds.median - res.baseline.seconds.median;
  }
  res.target = m.target ?? null;
  if (m.target?.ratio) res.pass = res.ratio <= m.target.ratio;
  if (m.target?.seconds) res.pass = res.seconds.median < m.target.seconds;
  if (m.target?.deltaSeconds) res.pass = res.delta <= m.target.deltaSeconds;
  if (res.peakRssMiB !== null && !m.noRssTarget) res.rssPass = res.peakRssMiB < 200;
  return res;
}

// ---- output ------------------------------------------------------------------

function fmt(s) {
  return `${s.min.toFixed(3)}/${s.median.toFixed(3)}/${s.max.toFixed(3)}`;
}

function table(results) {
  const rows = [
    ['measure', 'vhdsnap s (min/med/max)', 'cpu s', 'baseline s (min/med/max)', 'cpu s', 'ratio (med)', 'ratio (min)', 'target', 'peak RSS MiB', 'ok'],
  ];
  for (const r of results) {
    const target = r.target?.ratio
      ? `≤ ${r.target.ratio}×`
      : r.target?.seconds
        ? `< ${r.target.seconds} s`
        : r.target?.deltaSeconds
          ? `≤ +${r.target.deltaSeconds * 1000} ms (+${(r.delta * 1000).toFixed(0)})`
          : '';
    rows.push([
      r.what,
      fmt(r.seconds),
      r.cpuSeconds ? r.cpuSeconds.median.toFixed(2) : '?',
      r.baseline ? `${fmt(r.baseline.seconds)} ${r.baseline.name}` : '—',
      r.baseline?.cpuSeconds ? r.baseline.cpuSeconds.median.toFixed(2) : '—',
      r.ratio !== undefined ? r.ratio.toFixed(2) + '×' : '—',
      r.ratioOfMins !== undefined ? r.ratioOfMins.toFixed(2) + '×' : '—',
      target,
      r.peakRssMiB === null ? '?' : r.peakRssMiB.toFixed(0),
      r.pass === undefined ? (r.rssPass === false ? 'RSS!' : '') : (r.pass ? 'yes' : 'NO') + (r.rssPass === false ? ' RSS!' : ''),
    ]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r, k) => r.map((c, i) => String(c).padEnd(w[i])).join(' | ') + (k === 0 ? '\n' + w.map((n) => '-'.repeat(n)).join('-|-') : '')).join('\n');
}

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first`);
  const base = process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : os.tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'vhdsnap-bench-'));
  // The launcher's code cache starts empty and stays out of the user's own cache folder (Linux; VHDSNAP_NO_CODE_CACHE=1 times it without).
  process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
  const info = machine();
  haveQemu = info.qemuImg !== null;
  log(`machine: ${info.cpu}, ${info.cores} cores, ${info.ramGiB} GiB RAM, node ${info.node}, ${info.qemuImg ?? 'qemu-img not found'}`);
  log(`runs: ${RUNS}; temp: ${dir}; cli: ${CLI}`);
  try {
    mkdirSync(path.join(dir, 'out'));
    if (!hasTime) {
      rssHook = path.join(dir, 'rss-hook.cjs');
      writeFileSync(
        rssHook,
        "process.on('exit', () => { if (process.env.BENCH_RSS_FILE) require('fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)); });\n",
      );
      log(`${TIME} not found: peak RSS is measured for node commands only`);
    }
    const core = await loadCore(dir);
    let t = Date.now();
    log('generating scenarios…');
    const S = await generate(core, dir);
    // Nothing generated is left dirty in the page cache for a timed fsync to write out.
    execFileSync('sync');
    log(`generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const results = [];
    for (const m of measures(S, dir)) {
      if (ONLY && !ONLY.has(m.id)) continue;
      if (m.baseline && m.id.startsWith('export-dynamic') && !info.qemuImg) {
        log(`skipping ${m.id}: qemu-img not installed`);
        continue;
      }
      t = Date.now();
      const r = runMeasure(m);
      results.push(r);
      log(`  ${m.id}: ${fmt(r.seconds)} s${r.ratio !== undefined ? `, ${r.ratio.toFixed(2)}× baseline` : ''} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
    }
    const m1 = results.find((r) => r.id === 'merge-1g');
    const m16 = results.find((r) => r.id === 'merge-16g');
    const summary = {};
    if (m1 && m16) summary.merge16vs1 = m16.seconds.median / m1.seconds.median;
    const b1 = results.find((r) => r.id === 'merge-big-1g');
    const b64 = results.find((r) => r.id === 'merge-big-64g');
    if (b1 && b64) summary.mergeBig64vs1 = b64.seconds.median / b1.seconds.median;
    const doc = {
      date: new Date().toISOString(),
      machine: info,
      runs: RUNS,
      baselineFsync: BASELINE_FSYNC,
      scenarios: {
        chain: S.chain && { depth: 5, virtualSize: GiB, allocatedBytes: S.chain.allocatedBytes, setBytes: S.chain.setBytes },
        dyn1g: S.dyn1g && { virtualSize: GiB, allocatedBytes: S.dyn1g.allocatedBytes },
        dyn4g: S.dyn4g && { virtualSize: 4 * GiB, allocatedBytes: S.dyn4g.allocatedBytes },
        big: S.big && { virtualSize: S.big.virtualSize, note: '2 TiB exceeds the VHD maximum of 2040 GiB; the largest legal size is used' },
        ...Object.fromEntries(
          ['merge1', 'merge16', 'mergeBig1', 'mergeBig64']
            .filter((n) => S[n])
            .map((n) => [
              n,
              {
                parentSize: S[n].parentSize,
                parentFileBytes: S[n].parentFileBytes,
                childAllocatedBytes: S[n].childAllocatedBytes,
                childSetBytes: S[n].childSetBytes,
              },
            ]),
        ),
        deep: S.deep && { depth: DEEP, virtualSize: DEEP_SIZE, writtenPerLayer: DEEP_SIZE / 100 },
        folder: S.folder && { files: S.folder.files, chains: S.folder.files / 5, virtualSize: DEEP_SIZE },
      },
      results,
      summary,
      verified,
    };
    const text = table(results);
    process.stdout.write(
      `\nvhdsnap benchmark — ${info.cpu}, ${info.cores} cores, ${info.ramGiB} GiB RAM, node ${info.node}, ${info.qemuImg ?? 'no qemu-img'}\n` +
        `${RUNS} timed runs per side after one untimed warm-up each, alternating; baselines ${BASELINE_FSYNC ? 'include' : 'exclude'} an fsync of their output\n` +
        `cpu s = median user+sys CPU seconds; ratio (med) = median/median wall (the target), ratio (min) = best/best; load average at start ${info.load.join(' ')}\n\n` +
        text +
        '\n' +
        (summary.merge16vs1 !== undefined ? `\nmerge time, 16 GiB parent / 1 GiB parent: ${summary.merge16vs1.toFixed(2)}×\n` : '') +
        (summary.mergeBig64vs1 !== undefined ? `merge time of the 1 GiB child, 64 GiB parent / 1 GiB parent: ${summary.mergeBig64vs1.toFixed(2)}×\n` : '') +
        (verified.length ? `\nchecked against the raw model: ${verified.join('; ')}\n` : '') +
        `\nJSON: ${path.relative(process.cwd(), OUT) || OUT}\n`,
    );
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(doc, null, 2) + '\n');
  } finally {
    if (process.env.BENCH_KEEP === '1') log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});

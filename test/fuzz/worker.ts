// Fuzz worker process (bundled by fuzz.test.ts, never imported by tests).
//   node --max-old-space-size=192 worker.cjs <seedsDir> <workDir> <seed> <i,j,k...> [vhd|vhdx]
// For each case index of the VHD (generator.ts) or VHDX (vhdx-generator.ts)
// corpus: writes the case into a fresh folder, then opens the leaf
// (VhdFile.open or VhdxFile.open), reads the whole disk through its chain (bounded),
// checks it (checkPaths --deep), gets its info and scans the folder. Every
// step must succeed or throw a VhdError with a code; results are serialised
// to JSON as the CLI would. Prints one JSON line before ("start") and after
// each case, with the case's time, the process RSS and the largest single
// Buffer allocation made during the case.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { VhdError } from '../../core/errors.js';
import { openDisk, openReadableDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { checkPaths } from '../../core/ops/check.js';
import { getInfo } from '../../core/ops/info.js';
import { scanLibrary } from '../../core/library/scan.js';
import { loadSeeds, makeCase, writeCase, type FuzzCase } from './generator.js';
import { loadVhdxSeeds, makeVhdxCase } from './vhdx-generator.js';

const [seedsDir, workDir, seedText, list, corpus = 'vhd'] = process.argv.slice(2);
const vhdx = corpus === 'vhdx';
const seed = Number(seedText);
const indices = list.split(',').filter(Boolean).map(Number);

// Largest single Buffer allocation: a crafted field must never size one.
let maxAlloc = 0;
for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
  const orig = Buffer[name] as (size: number, ...rest: unknown[]) => Buffer;
  (Buffer as unknown as Record<string, unknown>)[name] = function (size: number, ...rest: unknown[]) {
    if (size > maxAlloc) maxAlloc = size;
    return orig.call(Buffer, size, ...rest);
  };
}

const READ_CHUNK = 1024 * 1024;
const READ_CAP_BYTES = 64 * 1024 * 1024;
const READ_CAP_MS = 1000;

/** The whole virtual disk through the chain, chunk by chunk, skipping what no layer stores; capped. */
async function readAll(path: string): Promise<string> {
  const d = vhdx ? await openReadableDisk(path) : await openDisk(path);
  try {
    const buf = Buffer.alloc(READ_CHUNK);
    const t0 = Date.now();
    let read = 0;
    for (let off = 0, k = 0; off < d.virtualSize; off += READ_CHUNK, k++) {
      const len = Math.min(READ_CHUNK, d.virtualSize - off);
      // A VHDX may claim 64 TiB of holes: even skipping them is bounded.
      if ((k & 4095) === 4095 && Date.now() - t0 > READ_CAP_MS) return 'capped';
      if (!d.mayHaveData(off / 512, Math.ceil(len / 512))) continue;
      await d.readInto(buf.subarray(0, len), off);
      read += len;
      if (read >= READ_CAP_BYTES || Date.now() - t0 > READ_CAP_MS) return 'capped';
    }
    return 'ok';
  } finally {
    await d.close();
  }
}

type Outcome = string;

async function step(name: string, fn: () => Promise<unknown>, bad: string[]): Promise<Outcome> {
  try {
    const r = await fn();
    JSON.stringify(r); // what --json does; a BigInt or cycle would throw here
    return typeof r === 'string' ? r : 'ok';
  } catch (err) {
    if (err instanceof VhdError && typeof err.code === 'string' && err.code.length > 0) return err.code;
    const e = err as Error;
    bad.push(
      `${name}: ${e?.name}: ${e?.message}\n${String(e?.stack ?? '')
        .split('\n')
        .slice(1, 6)
        .join('\n')}`,
    );
    return 'UNTYPED';
  }
}

async function main(): Promise<void> {
  const vhdxSets = vhdx ? await loadVhdxSeeds(seedsDir) : null;
  const vhdSets = vhdx ? [] : loadSeeds(seedsDir);
  const make = (i: number): FuzzCase => (vhdxSets ? makeVhdxCase(vhdxSets, seed, i) : makeCase(vhdSets, seed, i));
  const open = (p: string) => (vhdx ? VhdxFile.open(p) : VhdFile.open(p));
  let peakRss = 0;
  for (const i of indices) {
    process.stdout.write(JSON.stringify({ start: i }) + '\n');
    const c = make(i);
    const dir = nodePath.join(workDir, `case-${i}`);
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { recursive: true });
    await writeCase(c, dir);
    maxAlloc = 0;
    const bad: string[] = [];
    const leaf = nodePath.join(dir, c.leaf);
    const t0 = Date.now();
    const ops: Record<string, Outcome> = {};
    ops.open = await step('open', async () => (await open(leaf)).close(), bad);
    if (c.target !== c.leaf) ops.openTarget = await step('openTarget', async () => (await open(nodePath.join(dir, c.target))).close(), bad);
    ops.read = await step('read', () => readAll(leaf), bad);
    ops.check = await step(
      'check',
      async () => {
        const r = await checkPaths([leaf], { deep: true });
        return r.every((x) => x.ok)
          ? 'ok'
          : `findings:${r
              .flatMap((x) => x.errors.map((e) => e.code))
              .slice(0, 3)
              .join('+')}`;
      },
      bad,
    );
    ops.info = await step('info', () => getInfo(leaf), bad);
    ops.tree = await step('tree', () => scanLibrary([dir]), bad);
    const ms = Date.now() - t0;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await fsp.rm(dir, { recursive: true, force: true });
    process.stdout.write(JSON.stringify({ i, ms, ops, bad, maxAlloc, rss: peakRss, set: c.set, mutations: c.mutations }) + '\n');
  }
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ fatal: String((err as Error)?.stack ?? err) }) + '\n');
  process.exitCode = 1;
});

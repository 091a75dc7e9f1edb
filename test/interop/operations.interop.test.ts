// What the chain operations leave behind, read by independent readers:
// libvhdi (pyvhdi, chains linked explicitly) after merge, delete (both
// strategies), revert and compact; qemu-img after flatten, compact and
// merge-child into a standalone disk. Writes are 4 KiB-aligned (libvhdi's
// bitmap decoding needs whole bitmap bytes); the reference is the raw model.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { runOperation } from '../../core/operations.js';
import { junkClearSectors } from '../support/junk.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAVE_PYVHDI) console.log('operation interop (libvhdi) skipped: python3-libvhdi is not installed');
if (!HAVE_QEMU) console.log('operation interop (qemu-img) skipped: qemu-img is not on PATH');

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 2 * MiB;
const SIZE = 9 * MiB + 12 * KiB; // ends inside the last block, on a 4 KiB boundary
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The chain from `leaf` down to its base, base first (as our resolver finds it). */
async function chainOf(leaf: string): Promise<string[]> {
  const d = await openDisk(leaf);
  try {
    return d.layers.map((l) => l.path).reverse();
  } finally {
    await d.close();
  }
}

/** sha256 of every layer of `leaf`'s chain as libvhdi reads it, base first. */
async function libvhdiHashes(leaf: string): Promise<string[]> {
  const chain = await chainOf(leaf);
  const { stdout } = await run(PYTHON, [SCRIPT, String(BLOCK), ...chain], { maxBuffer: 1 << 20 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { sha256: string }).sha256);
}

async function qemuHash(vhd: string, dir: string): Promise<string> {
  const raw = path.join(dir, `${path.basename(vhd)}.qemu.raw`);
  await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
  const h = sha256(await fsp.readFile(raw));
  await fsp.unlink(raw);
  return h;
}

const tree = (dir: string, seed: number, parents: (number | null)[]) =>
  buildTree(dir, seed, { parents, size: SIZE, blockSize: BLOCK, align: 4 * KiB, writesPerLayer: 16 });

describe.skipIf(!HAVE_PYVHDI)('libvhdi reads the results of chain operations', () => {
  const tmp = useTmpDir('vhdsnap-opinterop-');

  it('merge of a middle snapshot: the leaf and the merged parent read as before', async () => {
    const { model, paths } = await tree(tmp.dir, 3101, [null, 0, 1, 2]);
    await runOperation({ op: 'merge', disk: paths[2] });
    // d1 now holds what d2 showed; d3 hangs off d1.
    expect(await libvhdiHashes(paths[3])).toEqual([model.view(0), model.view(2), model.view(3)].map(sha256));
  });

  it('delete by folding a snapshot into two children', async () => {
    const { model, paths } = await tree(tmp.dir, 3102, [null, 0, 1, 1]);
    await runOperation({ op: 'delete', disk: paths[1] });
    expect(await libvhdiHashes(paths[2])).toEqual([model.view(0), model.view(2)].map(sha256));
    expect(await libvhdiHashes(paths[3])).toEqual([model.view(0), model.view(3)].map(sha256));
  });

  it('delete of a base by merging its child into it', async () => {
    const { model, paths } = await tree(tmp.dir, 3103, [null, 0, 1]);
    await runOperation({ op: 'delete', disk: paths[0] });
    expect(await libvhdiHashes(paths[2])).toEqual([model.view(1), model.view(2)].map(sha256));
  });

  it('revert --keep: the path reads as the snapshot, the kept branch as the old state', async () => {
    const { model, paths } = await tree(tmp.dir, 3104, [null, 0, 1]);
    const r = (await runOperation({ op: 'revert', disk: paths[2], keep: true })) as { kept: string };
    expect(await libvhdiHashes(paths[2])).toEqual([model.view(0), model.view(1), model.view(1)].map(sha256));
    expect(await libvhdiHashes(r.kept)).toEqual([model.view(0), model.view(1), model.view(2)].map(sha256));
  });

  it('compact of a differencing leaf', async () => {
    const { model, paths } = await tree(tmp.dir, 3105, [null, 0, 1]);
    await runOperation({ op: 'compact', disk: paths[2] });
    expect(await libvhdiHashes(paths[2])).toEqual([0, 1, 2].map((i) => sha256(model.view(i))));
  });
});

describe.skipIf(!HAVE_QEMU)('qemu-img reads the standalone results of chain operations', () => {
  const tmp = useTmpDir('vhdsnap-opinterop-');

  for (const format of ['dynamic', 'fixed'] as const) {
    it(`flatten of a depth-4 chain to ${format}`, async () => {
      const { model, paths } = await buildTree(tmp.dir, 3201, { parents: [null, 0, 1, 2], size: SIZE, blockSize: 512 * KiB });
      const out = tmp.file(`flat-${format}.vhd`);
      await runOperation({ op: 'flatten', disk: paths[3], out, format });
      expect(await qemuHash(out, tmp.dir)).toBe(sha256(model.view(3)));
    });
  }

  it('compact of a dynamic disk with all-zero blocks', async () => {
    const { model, paths } = await buildTree(tmp.dir, 3202, { parents: [null], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 30 });
    await runOperation({ op: 'compact', disk: paths[0] });
    expect(await qemuHash(paths[0], tmp.dir)).toBe(sha256(model.view(0)));
  });

  it('a base folded into its nearly full child: the child, now standalone, reads the same to qemu (which ignores bitmaps)', async () => {
    const { model, paths, rng } = await buildTree(tmp.dir, 3204, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB, cover: [1] });
    // Junk in its clear-bit sectors: qemu would read it if the fold left those sectors as they were.
    expect(await junkClearSectors(paths[1], rng)).toBeGreaterThan(0);
    expect(await runOperation({ op: 'delete', disk: paths[0] })).toMatchObject({ strategy: 'fold' });
    expect(await qemuHash(paths[1], tmp.dir)).toBe(sha256(model.view(1)));
  });

  it('a base with one child, deleted: the surviving standalone disk', async () => {
    const { model, paths } = await buildTree(tmp.dir, 3203, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB });
    await runOperation({ op: 'delete', disk: paths[0] });
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect(await qemuHash(paths[1], tmp.dir)).toBe(sha256(model.view(1)));
  });
});

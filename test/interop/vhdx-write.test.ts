// VHDX files vhdsnap writes — create, import (raw → VHDX) and flatten
// (VHD/VHDX chain → VHDX) — checked by qemu-img check, read back identically
// by qemu-img convert, our reader and libvhdi (pyvhdi, when installed), and
// round trips VHD ↔ VHDX ↔ raw byte-exact. qemu-img (7.2) opens no VHDX with
// 4096-byte logical sectors ("Operation not supported", checked below), so
// those files are compared through our reader and pyvhdi only.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { CancelledError } from '../../core/errors.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';

import { importRaw } from '../../core/ops/transfer.js';
import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx, linkTo } from '../support/vhdx-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const hasTool = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = hasTool('qemu-img');
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
if (!HAVE_QEMU) console.log('VHDX write interop: qemu-img comparisons skipped (not on PATH)');
if (!HAVE_PYVHDI) console.log(`VHDX write interop: libvhdi comparisons skipped (${PYTHON} -c 'import pyvhdi' fails)`);

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** sha256 of a file's first `size` bytes, zero-padded to `size`, read in pieces. */
async function fileSha(p: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(p, 'r');
  try {
    for (let at = 0; at < size; at += 8 * MiB) {
      const buf = Buffer.alloc(Math.min(8 * MiB, size - at));
      await fh.read(buf, 0, buf.length, at);
      h.update(buf);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** What our reader makes of the file: its shape, block states and sha256 of the whole disk. */
async function ours(p: string) {
  const f = await VhdxFile.open(p);
  try {
    const h = createHash('sha256');
    for (let at = 0; at < f.virtualSize; at += 8 * MiB) h.update(await f.read(at, Math.min(8 * MiB, f.virtualSize - at)));
    return {
      type: f.type,
      virtualSize: f.virtualSize,
      blockSize: f.blockSize,
      logicalSectorSize: f.logicalSectorSize,
      creator: f.creator,
      states: Array.from({ length: f.blockCount }, (_, b) => f.blockState(b)),
      sha256: h.digest('hex'),
    };
  } finally {
    await f.close();
  }
}

async function pyvhdiSha(p: string, blockSize: number): Promise<{ size: number; sha256: string }> {
  // Reads of at most one block, block-aligned (libvhdi 20210425 misreads some multi-block reads).
  const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(Math.min(blockSize, 4 * MiB)), p], { maxBuffer: 1 << 20 });
  const { size, sha256 } = JSON.parse(stdout.trim()) as { size: number; sha256: string };
  return { size, sha256 };
}

/**
 * Every reader agrees the VHDX at `p` holds `want` (sha256 of the expected
 * disk): qemu-img check and convert (512-byte sectors), ours, and pyvhdi.
 */
async function expectReadsAs(p: string, want: { sha256: string; virtualSize: number; blockSize: number; lss: number }, tmp: { file(n: string): string }) {
  const mine = await ours(p);
  expect({ virtualSize: mine.virtualSize, blockSize: mine.blockSize, logicalSectorSize: mine.logicalSectorSize, creator: mine.creator }).toEqual({
    virtualSize: want.virtualSize,
    blockSize: want.blockSize,
    logicalSectorSize: want.lss,
    creator: 'vhdsnap',
  });
  expect(mine.sha256, 'our reader').toBe(want.sha256);
  const ours2 = await cli('check', p, '--deep');
  expect(ours2.code, `vhdsnap check --deep: ${ours2.out}`).toBe(0);
  if (HAVE_QEMU) {
    if (want.lss === 512) {
      const check = await run('qemu-img', ['check', '-f', 'vhdx', p]);
      expect(check.stdout).toContain('No errors were found');
      const raw = tmp.file(`${path.basename(p)}.qemu.raw`);
      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', p, raw]);
      expect((await fsp.stat(raw)).size).toBe(want.virtualSize);
      expect(await fileSha(raw, want.virtualSize), 'qemu-img convert').toBe(want.sha256);
      await fsp.rm(raw);
    } else {
      // The limitation this file works around: if qemu-img learns 4096-byte sectors, compare with it too.
      const r = spawnSync('qemu-img', ['check', '-f', 'vhdx', p], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('not supported');
    }
  }
  if (HAVE_PYVHDI) expect(await pyvhdiSha(p, want.blockSize), 'pyvhdi').toEqual({ size: want.virtualSize, sha256: want.sha256 });
  return mine;
}

/** A sparse raw image of `size` bytes with random 4 KiB-aligned runs in the given blocks, the rest zeros. */
async function makeRaw(p: string, size: number, blockSize: number, dataBlocks: number[], rng: Rng): Promise<Buffer[]> {
  const fh = await fsp.open(p, 'w');
  const runs: Buffer[] = [];
  try {
    await fh.truncate(size);
    for (const b of dataBlocks) {
      const start = b * blockSize;
      const room = Math.min(blockSize, size - start);
      // One run at the block's start, one ending at its end (or the disk's), one inside.
      const n = Math.min(room, 3 * 4096 + rng.int(64) * 4096);
      for (const at of [start, start + room - n, start + Math.floor(rng.int(Math.max(1, room - n)) / 4096) * 4096]) {
        const data = Buffer.from(rng.bytes(n));
        await fh.write(data, 0, n, at);
        runs.push(data);
      }
    }
  } finally {
    await fh.close();
  }
  return runs;
}

const tmpFiles = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp') || n.startsWith('.'));

describe('vhdsnap create: new VHDX files', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-create-');

  for (const [lss, blockSize, size] of [
    [512, 1 * MiB, 5 * MiB + 512],
    [512, 32 * MiB, 100 * MiB],
    [4096, 2 * MiB, 7 * MiB + 4096],
    [4096, 256 * MiB, 300 * MiB],
  ] as const) {
    for (const type of ['dynamic', 'fixed'] as const) {
      it(`${type}, ${lss}-byte sectors, ${blockSize / MiB} MiB blocks, ${size} bytes: valid and all zeros`, async () => {
        const f = tmp.file(`c-${type}-${lss}-${blockSize}.vhdx`);
        const r = await cli('create', f, '--size', String(size), '--type', type, '--block-size', `${blockSize / MiB}M`, '--sector-size', String(lss), '--json');
        expect(r.code, r.err).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ format: 'vhdx', type, virtualSize: size, blockSize });
        const mine = await expectReadsAs(f, { sha256: sha(Buffer.alloc(size)), virtualSize: size, blockSize, lss }, tmp);
        const blocks = Math.ceil(size / blockSize);
        expect(mine.type).toBe(type);
        expect(mine.states).toEqual(new Array(blocks).fill(type === 'fixed' ? PayloadState.FullyPresent : PayloadState.NotPresent));
        const st = await fsp.stat(f);
        // Fixed: every block's space is in the file (after header, log, BAT and metadata); dynamic: none.
        const meta = 4 * MiB + (Math.ceil(((blocks + Math.floor((blocks - 1) / ((2 ** 23 * lss) / blockSize))) * 8) / MiB) - 1) * MiB;
        expect(st.size).toBe(meta + (type === 'fixed' ? blocks * blockSize : 0));
      });
    }
  }

  it('defaults: dynamic, 32 MiB blocks, 512-byte logical sectors; .avhdx is a VHDX too', async () => {
    for (const name of ['d.vhdx', 'd.avhdx']) {
      const f = tmp.file(name);
      expect((await cli('create', f, '--size', '80M')).code).toBe(0);
      const mine = await expectReadsAs(f, { sha256: sha(Buffer.alloc(80 * MiB)), virtualSize: 80 * MiB, blockSize: 32 * MiB, lss: 512 }, tmp);
      expect(mine.type).toBe('dynamic');
    }
  });

  it('a .vhd is still a VHD: create writes the same VHD as before', async () => {
    const f = tmp.file('plain.vhd');
    expect((await cli('create', f, '--size', '10M')).code).toBe(0);
    const head = await fsp.readFile(f);
    expect(head.subarray(0, 8).toString('latin1')).toBe('conectix');
    // Footer copy, header, a one-sector BAT of five entries, footer: no blocks.
    expect(head.length).toBe(512 + 1024 + 512 + 512);
    const info = JSON.parse((await cli('info', f, '--json')).out) as Record<string, unknown>;
    expect(info).toMatchObject({ type: 'dynamic', blockSize: 2 * MiB });
    expect(info.format ?? 'vhd').toBe('vhd');
  });

  it('refuses what no VHDX can be with usage errors naming the option, and writes nothing', async () => {
    const cases: [string[], string][] = [
      [['x.vhd', '--size', '8M', '--sector-size', '4096'], '--sector-size'],
      [['x.vhdx', '--size', '8M', '--sector-size', '1024'], '--sector-size'],
      [['x.vhdx', '--size', '8M', '--sector-size', '4k'], '--sector-size'],
      [['x.vhdx', '--size', '8M', '--block-size', '512K'], '--block-size'],
      [['x.vhdx', '--size', '8M', '--block-size', '3M'], '--block-size'],
      [['x.vhdx', '--size', '8M', '--block-size', '512M'], '--block-size'],
      [['x.vhdx', '--size', '65T'], '--size'],
      [['x.vhdx', '--size', '1000'], '--size'],
      [['x.vhdx', '--size', '6K', '--sector-size', '4096'], '--size'],
      [['x.vhdx', '--size', '8M', '--type', 'sparse'], '--type'],
    ];
    for (const [args, option] of cases) {
      const r = await cli('create', tmp.file(args[0]), ...args.slice(1));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(option);
      expect(existsSync(tmp.file(args[0]))).toBe(false);
    }
    // Exactly 64 TiB is allowed (a dynamic file of a few MiB).
    const big = tmp.file('big.vhdx');
    const r = await cli('create', big, '--size', '64T', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ virtualSize: 64 * 1024 ** 4 });
    if (HAVE_QEMU) expect((await run('qemu-img', ['check', '-f', 'vhdx', big])).stdout).toContain('No errors');
    expect(tmpFiles(tmp.dir)).toEqual([]);
  });
});

describe('vhdsnap import: raw → VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-import-');

  for (const [blockSize, lss] of [
    [1 * MiB, 512],
    [2 * MiB, 4096],
    [32 * MiB, 512],
    [256 * MiB, 512],
  ] as const) {
    for (const type of ['dynamic', 'fixed'] as const) {
      it(`${type}, ${blockSize / MiB} MiB blocks, ${lss}-byte sectors, a size that is not a block (nor a sector) multiple`, async () => {
        const rng = new Rng(blockSize / MiB + lss + (type === 'fixed' ? 7 : 0));
        const blocks = 3;
        const rawSize = 2 * blockSize + Math.floor(blockSize / 2) + 1234; // the last block partial, the raw size odd
        const virtualSize = Math.ceil(rawSize / lss) * lss;
        const raw = tmp.file(`in-${type}-${blockSize}.raw`);
        await makeRaw(raw, rawSize, blockSize, [0, 2], rng); // block 1 stays all zeros
        const out = tmp.file(`in-${type}-${blockSize}-${lss}.vhdx`);
        const r = await cli('import', raw, out, '--type', type, '--block-size', `${blockSize / MiB}M`, '--sector-size', String(lss), '--json');
        expect(r.code, r.err).toBe(0);
        expect(JSON.parse(r.out)).toMatchObject({ virtualSize, allocatedBlocks: type === 'fixed' ? blocks : 2 });
        const mine = await expectReadsAs(out, { sha256: await fileSha(raw, virtualSize), virtualSize, blockSize, lss }, tmp);
        const F = PayloadState.FullyPresent;
        expect(mine.states).toEqual(type === 'fixed' ? [F, F, F] : [F, PayloadState.NotPresent, F]);
        // A dynamic file holds only its two blocks' space after the metadata.
        if (type === 'dynamic') expect((await fsp.stat(out)).size).toBe(4 * MiB + 2 * blockSize);
        expect(tmpFiles(tmp.dir)).toEqual([]);
        await fsp.rm(raw);
        await fsp.rm(out);
      });
    }
  }

  it('an all-zero raw image becomes a dynamic VHDX with no block allocated', async () => {
    const raw = tmp.file('zeros.raw');
    await fsp.writeFile(raw, Buffer.alloc(9 * MiB));
    const out = tmp.file('zeros.vhdx');
    const r = await cli('import', raw, out, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ allocatedBlocks: 0, virtualSize: 9 * MiB });
    const mine = await expectReadsAs(out, { sha256: sha(Buffer.alloc(9 * MiB)), virtualSize: 9 * MiB, blockSize: 32 * MiB, lss: 512 }, tmp);
    expect(mine.states).toEqual([PayloadState.NotPresent]);
  });

  it('a cancelled import leaves no file (and no temporary one)', async () => {
    const raw = tmp.file('big.raw');
    const rng = new Rng(5);
    await makeRaw(
      raw,
      64 * MiB,
      MiB,
      Array.from({ length: 64 }, (_, b) => b),
      rng,
    );
    const out = tmp.file('cancelled.vhdx');
    const ac = new AbortController();
    let abortedAt: { done: number; total: number } | null = null;
    const p = importRaw(raw, out, {
      blockSize: MiB,
      signal: ac.signal,
      progressEvery: 0, // every step reports: the abort lands mid-copy whatever the machine's speed
      onProgress: (r) => {
        if (abortedAt === null && r.done >= 8 * MiB) {
          abortedAt = { done: r.done, total: r.total };
          ac.abort();
        }
      },
    });
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(abortedAt).toEqual({ done: 8 * MiB, total: 64 * MiB });
    expect(existsSync(out)).toBe(false);
    expect(tmpFiles(tmp.dir)).toEqual([]);
  });

  it('hostile options: usage errors naming the option, nothing written', async () => {
    const raw = tmp.file('small.raw');
    await fsp.writeFile(raw, Buffer.alloc(3 * MiB, 1));
    const cases: [string, string[], string][] = [
      ['o.vhd', ['--sector-size', '4096'], '--sector-size'],
      ['o.vhdx', ['--sector-size', '2048'], '--sector-size'],
      ['o.vhdx', ['--block-size', '64K'], '--block-size'],
      ['o.vhdx', ['--block-size', '1.5M'], '--block-size'],
      ['o.vhdx', ['--type', 'differencing'], '--type'],
    ];
    for (const [name, args, option] of cases) {
      const r = await cli('import', raw, tmp.file(name), ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(option);
      expect(existsSync(tmp.file(name))).toBe(false);
    }
  });
});

describe('round trips and flatten to VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-flatten-');

  it('VHD → VHDX → raw and VHDX → VHD → raw are byte-exact against the source', async () => {
    const rng = new Rng(91);
    const size = 13 * MiB + 3 * 512;
    const raw = tmp.file('src.raw');
    await makeRaw(raw, size, 2 * MiB, [0, 3, 6], rng);
    const src = await fsp.readFile(raw);

    // VHD → VHDX → raw
    expect((await cli('import', raw, tmp.file('a.vhd'))).code).toBe(0);
    const f1 = await cli('flatten', tmp.file('a.vhd'), tmp.file('a.vhdx'));
    expect(f1.code, f1.err).toBe(0);
    expect(f1.out).toContain('vhdx');
    // The VHD's 2 MiB blocks are kept (a VHDX can have them).
    await expectReadsAs(tmp.file('a.vhdx'), { sha256: sha(src), virtualSize: size, blockSize: 2 * MiB, lss: 512 }, tmp);
    expect((await cli('export', tmp.file('a.vhdx'), tmp.file('a.raw'))).code).toBe(0);
    expect((await fsp.readFile(tmp.file('a.raw'))).equals(src)).toBe(true);

    // VHDX → VHD → raw
    expect((await cli('import', raw, tmp.file('b.vhdx'), '--block-size', '1M')).code).toBe(0);
    for (const format of ['dynamic', 'fixed'] as const) {
      const vhd = tmp.file(`b-${format}.vhd`);
      expect((await cli('flatten', tmp.file('b.vhdx'), vhd, '--format', format)).code).toBe(0);
      expect((await cli('export', vhd, tmp.file(`b-${format}.raw`))).code).toBe(0);
      expect((await fsp.readFile(tmp.file(`b-${format}.raw`))).equals(src)).toBe(true);
      if (HAVE_QEMU) {
        await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, tmp.file(`b-${format}.q.raw`)]);
        expect((await fsp.readFile(tmp.file(`b-${format}.q.raw`))).equals(src)).toBe(true);
      }
    }

    // VHDX → VHDX (--format vhdx, a name that does not say) keeps block and sector size.
    const r = await cli('flatten', tmp.file('b.vhdx'), tmp.file('c.img'), '--format', 'vhdx');
    expect(r.code, r.err).toBe(0);
    await expectReadsAs(tmp.file('c.img'), { sha256: sha(src), virtualSize: size, blockSize: MiB, lss: 512 }, tmp);
  });

  it('a VHD snapshot chain flattens to one VHDX with what the chain shows', async () => {
    const rng = new Rng(17);
    const d = tmp.file('chain.vhd');
    expect((await cli('create', d, '--size', '12M')).code).toBe(0);
    for (const [i, at] of [
      [0, 0],
      [1, 5 * MiB + 4096],
      [2, 4096 * 3],
    ] as const) {
      const data = tmp.file(`w${i}.bin`);
      await fsp.writeFile(data, rng.bytes(70 * 1024));
      expect((await cli('write', d, '--offset', String(at), '--input', data)).code).toBe(0);
      if (i < 2) expect((await cli('snapshot', d, '--name', `s${i}`)).code).toBe(0);
    }
    expect((await cli('export', d, tmp.file('chain.raw'))).code).toBe(0);
    const want = await fsp.readFile(tmp.file('chain.raw'));
    const r = await cli('flatten', d, tmp.file('chain.vhdx'));
    expect(r.code, r.err).toBe(0);
    const mine = await expectReadsAs(tmp.file('chain.vhdx'), { sha256: sha(want), virtualSize: 12 * MiB, blockSize: 2 * MiB, lss: 512 }, tmp);
    expect(mine.states.filter((s) => s === PayloadState.FullyPresent).length).toBe(2); // blocks 0 and 2
  });

  it('a VHD chain flattens to a fixed VHDX (--format vhdx-fixed): every block present, read alike by us, qemu-img and pyvhdi', async () => {
    const rng = new Rng(23);
    const size = 9 * MiB + 512;
    const raw = tmp.file('fx.raw');
    await makeRaw(raw, size, 2 * MiB, [1, 4], rng);
    const src = await fsp.readFile(raw);
    expect((await cli('import', raw, tmp.file('fx.vhd'))).code).toBe(0);
    const r = await cli('flatten', tmp.file('fx.vhd'), tmp.file('fx.vhdx'), '--format', 'vhdx-fixed', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'vhdx-fixed', virtualSize: size });
    const mine = await expectReadsAs(tmp.file('fx.vhdx'), { sha256: sha(src), virtualSize: size, blockSize: 2 * MiB, lss: 512 }, tmp);
    expect(mine.states).toEqual(mine.states.map(() => PayloadState.FullyPresent));
    expect(mine.states.length).toBe(5);
    const info = await cli('info', tmp.file('fx.vhdx'), '--json');
    expect(JSON.parse(info.out)).toMatchObject({ format: 'vhdx', type: 'fixed' });
    const words = await cli('flatten', tmp.file('fx.vhd'), tmp.file('fx2.vhdx'), '--format', 'vhdx-fixed');
    expect(words.out).toContain('a standalone fixed VHDX disk of 9 MiB');
  });

  it('refuses a format the output name contradicts, naming --format, and writes nothing', async () => {
    const raw = tmp.file('n.raw');
    await makeRaw(raw, 2 * MiB, MiB, [0], new Rng(2));
    expect((await cli('import', raw, tmp.file('n.vhd'))).code).toBe(0);
    for (const [out, format] of [
      ['o.vhd', 'vhdx'],
      ['o.vhd', 'vhdx-fixed'],
      ['o.avhd', 'raw'],
      ['o.vhdx', 'fixed'],
      ['o.vhdx', 'raw'],
    ]) {
      const r = await cli('flatten', tmp.file('n.vhd'), tmp.file(out), '--format', format);
      expect(r.code, `${out} ${format}`).toBe(2);
      expect(r.err, `${out} ${format}`).toContain(`--format ${format}`);
      expect(existsSync(tmp.file(out))).toBe(false);
    }
  });

  it('a VHDX differencing chain with 4096-byte sectors flattens to a VHDX with 4096-byte sectors', async () => {
    const rng = new Rng(4);
    const size = 6 * MiB;
    const lss = 4096;
    const base = await makeVhdx(tmp.file('base.vhdx'), {
      kind: 'dynamic',
      virtualSize: size,
      blockSize: MiB,
      logicalSectorSize: lss,
      writes: [{ offset: 0, data: rng.bytes(5 * lss) }],
    });
    const child = await makeVhdx(tmp.file('child.avhdx'), {
      kind: 'differencing',
      virtualSize: size,
      blockSize: MiB,
      logicalSectorSize: lss,
      writes: [
        { offset: 2 * lss, data: rng.bytes(2 * lss) },
        { offset: 4 * MiB, data: rng.bytes(8 * lss) },
      ],
      locator: linkTo(base),
    });
    const want = base.expected(0, size).data;
    const own = child.expected(0, size);
    for (let s = 0; s < size / lss; s++) if (own.present[s]) own.data.copy(want, s * lss, s * lss, (s + 1) * lss);
    const r = await cli('flatten', tmp.file('child.avhdx'), tmp.file('flat.vhdx'));
    expect(r.code, r.err).toBe(0);
    const mine = await expectReadsAs(tmp.file('flat.vhdx'), { sha256: sha(want), virtualSize: size, blockSize: MiB, lss }, tmp);
    expect(mine.type).toBe('dynamic');
  });

  it('--format dynamic|fixed|raw with a .vhdx output name is a usage error naming --format; nothing is written', async () => {
    expect((await cli('create', tmp.file('s.vhd'), '--size', '4M')).code).toBe(0);
    for (const format of ['dynamic', 'fixed', 'raw']) {
      const r = await cli('flatten', tmp.file('s.vhd'), tmp.file('s.vhdx'), '--format', format);
      expect(r.code).toBe(2);
      expect(r.err).toContain('--format');
      expect(existsSync(tmp.file('s.vhdx'))).toBe(false);
    }
    const bad = await cli('flatten', tmp.file('s.vhd'), tmp.file('t.vhdx'), '--format', 'qcow2');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--format');
  });
});

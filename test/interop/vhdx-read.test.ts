// Interop: VHDX files QEMU created (dynamic and fixed, several block and log
// sizes) and wrote with qemu-io, read byte-exact by VhdxFile against
// `qemu-img convert -O raw`, and against libvhdi (pyvhdi) when present.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { guidToString } from '../../core/format/vhdx/guid.js';
import { vhdxLocator } from '../../core/format/vhdx/parent-locator.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx } from '../support/vhdx-build.js';

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');

const hasTool = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = hasTool('qemu-img') && hasTool('qemu-io');
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
if (!HAVE_QEMU) console.log('VHDX interop tests skipped: qemu-img or qemu-io is not on PATH');
if (!HAVE_PYVHDI) console.log(`VHDX libvhdi comparisons skipped: ${PYTHON} -c 'import pyvhdi' fails (install python3-libvhdi)`);

function firstDiff(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length ? 'identical' : `first difference at ${i}: ${a[i]} vs ${b[i]}`;
}

/** The disk's bytes [pos, pos + n) as the writes leave them (later writes win). */
function expectedPiece(writes: [number, number, number][], pos: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (const [p, off, len] of writes) {
    const from = Math.max(pos, off);
    const to = Math.min(pos + n, off + len);
    if (from < to) out.fill(p, from - pos, to - pos);
  }
  return out;
}

/** Compares in pieces (a 256 MiB-block disk is not held in memory three times); returns our sha256. */
async function compare(vhdx: string, raw: string, writes: [number, number, number][], want: { blockSize: number; type: string; virtualSize: number }) {
  const f = await VhdxFile.open(vhdx);
  const fh = await fsp.open(raw, 'r');
  const hash = createHash('sha256');
  try {
    expect({ blockSize: f.blockSize, type: f.type, virtualSize: f.virtualSize }).toEqual(want);
    expect((await fh.stat()).size).toBe(f.virtualSize);
    const piece = 8 * MiB;
    for (let pos = 0; pos < f.virtualSize; pos += piece) {
      const n = Math.min(piece, f.virtualSize - pos);
      const theirs = Buffer.alloc(n);
      await fh.read(theirs, 0, n, pos);
      expect(firstDiff(theirs, expectedPiece(writes, pos, n)), `qemu wrote what was asked (at ${pos})`).toBe('identical');
      const ours = await f.read(pos, n);
      expect(firstDiff(ours, theirs), `at ${pos}`).toBe('identical');
      hash.update(ours);
    }
    // An unaligned read across a block boundary.
    const at = f.blockSize - 777;
    expect((await f.read(at, 5000)).equals(expectedPiece(writes, at, 5000))).toBe(true);
    return { sha256: hash.digest('hex'), states: Array.from({ length: f.blockCount }, (_, b) => f.blockState(b)) };
  } finally {
    await fh.close();
    await f.close();
  }
}

/** [pattern, offset, length] writes for a disk of `size` with `block`-byte blocks: aligned, unaligned, across a block boundary, a whole block, the last bytes. */
function writesFor(size: number, block: number, rng: Rng): [number, number, number][] {
  const w: [number, number, number][] = [
    [0x11, 0, 4096],
    [0x22, 1000, 3000],
    [0x33, block - 1024, 4096],
    [0x44, 2 * block, Math.min(block, size - 2 * block - 4096)],
    [0x55, 2 * block + 7, 1],
    [0x66, size - 512, 512],
    [0x77, size - 3, 3],
  ];
  for (let i = 0; i < 6; i++) {
    const len = 1 + rng.int(200 * KiB);
    w.push([0x80 + i, rng.int(size - len), len]);
  }
  // Zeros written over data: they must read back as zeros.
  w.push([0x00, 1500, 600]);
  return w;
}

describe.skipIf(!HAVE_QEMU)('VHDX files QEMU created and wrote', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-qemu-');
  const cases: { subformat: 'dynamic' | 'fixed'; blockSize: string; block: number; logSize: string; extra?: string; size: number }[] = [
    { subformat: 'dynamic', blockSize: '1M', block: MiB, logSize: '1M', size: 9 * MiB + 5 * 512 },
    { subformat: 'dynamic', blockSize: '8M', block: 8 * MiB, logSize: '4M', size: 40 * MiB + 512 },
    { subformat: 'dynamic', blockSize: '32M', block: 32 * MiB, logSize: '1M', size: 100 * MiB, extra: 'block_state_zero=off' },
    { subformat: 'dynamic', blockSize: '256M', block: 256 * MiB, logSize: '8M', size: 520 * MiB },
    { subformat: 'fixed', blockSize: '1M', block: MiB, logSize: '1M', size: 6 * MiB + 512 },
    { subformat: 'fixed', blockSize: '4M', block: 4 * MiB, logSize: '2M', size: 17 * MiB },
  ];

  for (const c of cases) {
    const name = `${c.subformat}, block_size=${c.blockSize}, log_size=${c.logSize}${c.extra ? `, ${c.extra}` : ''}`;
    it(`${name}: our read equals qemu-img convert${HAVE_PYVHDI ? ' and libvhdi' : ''}`, async () => {
      const vhdx = tmp.file('q.vhdx');
      const opts = [`subformat=${c.subformat}`, `block_size=${c.blockSize}`, `log_size=${c.logSize}`, ...(c.extra ? [c.extra] : [])].join(',');
      await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', opts, vhdx, String(c.size)]);
      const writes = writesFor(c.size, c.block, new Rng(c.block + c.size));
      const cmds = writes.flatMap(([p, off, len]) => ['-c', `write -P 0x${p.toString(16)} ${off} ${len}`]);
      await run('qemu-io', ['-f', 'vhdx', ...cmds, vhdx]);

      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, tmp.file('q.raw')]);
      const ours = await compare(vhdx, tmp.file('q.raw'), writes, { blockSize: c.block, type: c.subformat, virtualSize: c.size });
      // The blocks written are allocated; a dynamic file leaves some untouched.
      expect(ours.states[0]).toBe(PayloadState.FullyPresent);
      if (c.subformat === 'dynamic' && c.size / c.block > 4) expect(ours.states.some((s) => s !== PayloadState.FullyPresent)).toBe(true);

      if (HAVE_PYVHDI) {
        const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(c.block), vhdx]);
        const line = JSON.parse(stdout.trim().split('\n')[0]) as { size: number; sha256: string };
        expect(line.size).toBe(c.size);
        expect(line.sha256).toBe(ours.sha256);
      }
    });
  }
});

describe.skipIf(!HAVE_PYVHDI)('libvhdi reads the differencing files the test builder makes', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-libvhdi-');

  for (const lss of [512, 4096] as const) {
    it(`${lss}-byte sectors: a dynamic parent and a child with partially present blocks read alike`, async () => {
      // 4 KiB-aligned child writes: libvhdi 20210425 mis-decodes some partial bitmap bytes.
      const rng = new Rng(lss + 1);
      const size = 9 * MiB;
      const block = 2 * MiB;
      const page = 4 * KiB;
      const parentWrites = [0, 3, 7].map((i) => ({ offset: i * MiB + 12 * KiB, data: rng.bytes(300 * KiB) }));
      const childWrites = [
        { offset: 0, data: rng.bytes(page) },
        { offset: 3 * MiB + 8 * page, data: rng.bytes(5 * page) },
        { offset: 4 * MiB, data: rng.bytes(block) }, // block 2 whole
        { offset: 7 * MiB + 16 * KiB, data: Buffer.alloc(8 * page) }, // zeros over parent data
        { offset: size - page, data: rng.bytes(page) },
      ];
      const parent = await makeVhdx(tmp.file('base.vhdx'), {
        kind: 'dynamic',
        virtualSize: size,
        blockSize: block,
        logicalSectorSize: lss,
        writes: parentWrites,
      });
      const linkage = `{${guidToString(parent.header.dataWriteGuid)}}`;
      await makeVhdx(tmp.file('child.avhdx'), {
        kind: 'differencing',
        virtualSize: size,
        blockSize: block,
        logicalSectorSize: lss,
        writes: childWrites,
        locator: vhdxLocator({ parent_linkage: linkage, relative_path: '.\\base.vhdx' }),
      });
      // The chain resolved sector by sector from our two readers.
      const base = await VhdxFile.open(tmp.file('base.vhdx'));
      const child = await VhdxFile.open(tmp.file('child.avhdx'));
      try {
        expect(child.parentLinkage).toBe(`{${base.dataWriteGuid}}`);
        const below = await base.read(0, size);
        const own = await child.readOwn(0, size);
        const chain = Buffer.from(below);
        own.present.forEach((p, s) => p && own.data.copy(chain, s * lss, s * lss, (s + 1) * lss));
        expect(chain.subarray(7 * MiB + 16 * KiB, 7 * MiB + 48 * KiB).every((x) => x === 0)).toBe(true);
        const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(block), tmp.file('base.vhdx'), tmp.file('child.avhdx')]);
        const [b, c] = stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { size: number; sha256: string });
        expect(b).toMatchObject({ size, sha256: createHash('sha256').update(below).digest('hex') });
        expect(c).toMatchObject({ size, sha256: createHash('sha256').update(chain).digest('hex') });
      } finally {
        await child.close();
        await base.close();
      }
    });
  }
});

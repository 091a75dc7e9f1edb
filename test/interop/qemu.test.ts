// Interop with QEMU's vpc driver (fixed and dynamic only: QEMU opens a
// differencing VHD as a standalone dynamic disk, so it cannot judge chains).
import { execFile, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { createDynamic, createFixed } from '../../core/ops/create.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const hasTool = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU_IMG = hasTool('qemu-img');
const HAVE_QEMU_IO = hasTool('qemu-io');
if (!HAVE_QEMU_IMG) console.log('qemu interop tests skipped: qemu-img is not on PATH');
else if (!HAVE_QEMU_IO) console.log('qemu-io is not on PATH: the tests reading QEMU-written data are skipped');

async function qemuRaw(vhd: string, raw: string): Promise<Buffer> {
  // -f vpc explicitly: QEMU probes a fixed VHD as raw otherwise.
  await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
  return fsp.readFile(raw);
}

async function qemuInfo(vhd: string): Promise<{ 'virtual-size': number; format: string }> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'vpc', vhd]);
  return JSON.parse(stdout);
}

async function ourRead(vhd: string): Promise<Buffer> {
  const d = await openDisk(vhd);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}

function firstDiff(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length ? 'identical' : `first difference at ${i}: ${a[i]} vs ${b[i]}`;
}

describe.skipIf(!HAVE_QEMU_IMG)('QEMU interop', () => {
  const tmp = useTmpDir('vhdsnap-qemu-');

  describe.skipIf(!HAVE_QEMU_IO)('disks QEMU created and wrote', () => {
    // [pattern, offset, length]: aligned, unaligned, across a 2 MiB block boundary, a whole block, the last bytes.
    const size = 9 * MiB + 5 * 512; // ends inside the last 2 MiB block
    const writes: [number, number, number][] = [
      [0x11, 0, 4096],
      [0x22, 1000, 3000],
      [0x33, 2 * MiB - 1024, 4096],
      [0x44, 4 * MiB, 2 * MiB],
      [0x55, 5 * MiB + 7, 1],
      [0x66, 8 * MiB + 100, 333], // block 3 (6..8 MiB) stays unallocated
      [0x77, size - 512, 512],
      [0x88, size - 3, 3],
    ];

    for (const subformat of ['dynamic', 'fixed'] as const) {
      it(`${subformat}: our read equals qemu-img convert`, async () => {
        const vhd = tmp.file(`q-${subformat}.vhd`);
        await run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', `subformat=${subformat},force_size=on`, vhd, String(size)]);
        const cmds = writes.flatMap(([p, off, len]) => ['-c', `write -P 0x${p.toString(16)} ${off} ${len}`]);
        await run('qemu-io', ['-f', 'vpc', ...cmds, vhd]);

        const expected = Buffer.alloc(size);
        for (const [p, off, len] of writes) expected.fill(p, off, off + len);
        const theirs = await qemuRaw(vhd, tmp.file('q.raw'));
        expect(firstDiff(theirs, expected), 'qemu wrote what was asked').toBe('identical');
        const ours = await ourRead(vhd);
        expect(firstDiff(ours, theirs)).toBe('identical');
        expect(ours.equals(theirs)).toBe(true);
      });
    }
  });

  it('64M without force_size: QEMU rounds up to CHS 67,125,248 bytes and we read that size', async () => {
    const vhd = tmp.file('q64.vhd');
    await run('qemu-img', ['create', '-q', '-f', 'vpc', vhd, '64M']);
    expect((await qemuInfo(vhd))['virtual-size']).toBe(67_125_248);
    const d = await openDisk(vhd);
    try {
      expect(d.virtualSize).toBe(67_125_248);
      expect(d.top.footer.creatorApp).toBe('qemu');
      expect(d.top.footer.geometry).toEqual({ cylinders: 964, heads: 8, sectorsPerTrack: 17 });
    } finally {
      await d.close();
    }
  });

  describe('disks we created and wrote', () => {
    const cases = [
      { type: 'fixed', size: 5 * MiB + 1536, blockSize: 0 },
      { type: 'dynamic', size: 13 * MiB + 512, blockSize: 2 * MiB },
      { type: 'dynamic', size: 3 * MiB + 1024, blockSize: 512 * 1024 },
    ] as const;
    for (const c of cases) {
      it(`${c.type}${c.blockSize ? ` (${c.blockSize / 1024} KiB blocks)` : ''}: qemu-img convert reads what we read`, async () => {
        const vhd = tmp.file(`ours-${c.type}.vhd`);
        if (c.type === 'fixed') await createFixed(vhd, c.size);
        else await createDynamic(vhd, c.size, { blockSize: c.blockSize });
        const rng = new Rng(c.size);
        const model = new DiskModel(c.size);
        model.addBase();
        const d = await openDisk(vhd, { writable: true, sync: false });
        try {
          for (let i = 0; i < 25; i++) {
            const off = rng.int(c.size);
            const len = Math.min(c.size - off, rng.chance(0.3) ? rng.range(1, 3 * MiB) : rng.range(1, 5000));
            const data = rng.bytes(len);
            await d.write(off, data);
            model.write(0, off, data);
          }
          const tail = rng.bytes(700);
          await d.write(c.size - 700, tail);
          model.write(0, c.size - 700, tail);
        } finally {
          await d.close();
        }
        const ours = await ourRead(vhd);
        expect(firstDiff(ours, model.view(0))).toBe('identical');
        const info = await qemuInfo(vhd);
        expect(info.format).toBe('vpc');
        expect(info['virtual-size']).toBe(c.size);
        const theirs = await qemuRaw(vhd, tmp.file('ours.raw'));
        expect(firstDiff(theirs, ours)).toBe('identical');

        if (c.type === 'dynamic') {
          // QEMU's vpc driver implements no check (exit 63, "does not support checks"); anything else must be clean.
          const r = spawnSync('qemu-img', ['check', '-f', 'vpc', vhd], { encoding: 'utf8' });
          if (r.status === 63 && /does not support checks/.test(r.stderr + r.stdout)) {
            console.log(`qemu-img check: this QEMU's vpc driver has no check (${(r.stderr || r.stdout).trim()})`);
          } else {
            expect(r.status, `qemu-img check: ${r.stdout}${r.stderr}`).toBe(0);
          }
          // qemu-img compare walks both images through QEMU's block layer
          const c2 = spawnSync('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', vhd, tmp.file('ours.raw')], { encoding: 'utf8' });
          expect(c2.status, c2.stdout + c2.stderr).toBe(0);
        }
      });
    }
  });
});

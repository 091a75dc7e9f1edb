// A dynamic disk QEMU wrote (qemu-io; QEMU sets every bit of a block it
// allocates), then junk put under clear bits with raw writes: bits of unwritten
// 4 KiB groups cleared, random bytes written in their data. The spec, libvhdi
// and vhdsnap read those sectors as zeros; QEMU shows the junk. The reference
// is the model of qemu-io's writes. Groups are 4 KiB (whole bitmap bytes) and
// libvhdi reads are block-sized: its 20210425 release mis-decodes partial bytes.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { isFull } from '../../core/format/bitmap.js';
import { checkPaths } from '../../core/ops/check.js';
import { compact } from '../../core/ops/compact.js';
import { exportRaw } from '../../core/ops/transfer.js';
import { assertSame } from '../support/compare.js';
import { junkDynamicClearSectors } from '../support/junk.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = ok('qemu-img', ['--version']) && ok('qemu-io', ['--version']);
const HAVE_PYVHDI = ok(PYTHON, ['-c', 'import pyvhdi']);
if (!HAVE_QEMU) console.log('dynamic bitmap interop skipped: qemu-img or qemu-io is not on PATH');
else if (!HAVE_PYVHDI) console.log(`dynamic bitmap interop: ${PYTHON} -c 'import pyvhdi' fails, the libvhdi comparison is skipped`);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function pyvhdiSha(vhd: string, blockSize: number): Promise<string> {
  const { stdout } = await run(PYTHON, [SCRIPT, String(blockSize), vhd]);
  return (JSON.parse(stdout.trim()) as { sha256: string }).sha256;
}

async function qemuRaw(vhd: string, raw: string): Promise<Buffer> {
  await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
  return fsp.readFile(raw);
}

describe.skipIf(!HAVE_QEMU)('dynamic disk written by qemu-io, junk under clear bits', () => {
  const tmp = useTmpDir('vhdsnap-dynbits-qemu-');

  it('vhdsnap and libvhdi read the writes (zeros under clear bits), QEMU shows the junk; check warns; compact makes QEMU agree', async () => {
    const size = 9 * MiB;
    const vhd = tmp.file('q.vhd');
    await run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic,force_size=on', vhd, String(size)]);
    // [pattern, offset, length]: small and unaligned writes leave most of each block unwritten (zeros).
    const writes: [number, number, number][] = [
      [0x11, 0, 4096],
      [0x22, 100 * 1024 + 7, 3000],
      [0x33, 2 * MiB - 1024, 4096], // across the first block boundary
      [0x44, 4 * MiB + 64 * 1024, 512],
      [0x55, 8 * MiB + 100, 333],
      [0x66, size - 512, 512],
    ];
    await run('qemu-io', ['-f', 'vpc', ...writes.flatMap(([p, off, len]) => ['-c', `write -P 0x${p.toString(16)} ${off} ${len}`]), vhd]);
    const model = Buffer.alloc(size);
    for (const [p, off, len] of writes) model.fill(p, off, off + len);

    // QEMU sets every bit of the blocks it allocates.
    const f = await VhdFile.open(vhd);
    const blockSize = f.blockSize;
    try {
      expect(f.physicalOrder().length).toBeGreaterThan(0);
      for await (const [b, bm] of f.bitmaps(f.physicalOrder())) expect(isFull(bm, f.sectorsInBlock(b)), `block ${b}`).toBe(true);
    } finally {
      await f.close();
    }
    assertSame(await qemuRaw(vhd, tmp.file('before.raw')), model, 'qemu-img before the junk');

    const junked = await junkDynamicClearSectors(vhd, new Rng(15), { align: 8 });
    expect(junked).toBeGreaterThan(1000);

    assertSame(await readThrough(vhd), model, 'vhdsnap read');
    await exportRaw(vhd, tmp.file('ours.raw'));
    assertSame(await fsp.readFile(tmp.file('ours.raw')), model, 'vhdsnap export');
    if (HAVE_PYVHDI) expect(await pyvhdiSha(vhd, blockSize), 'libvhdi read').toBe(sha256(model));

    // QEMU ignores the bitmap: it shows the junk, exactly where the bits were cleared.
    const theirs = await qemuRaw(vhd, tmp.file('qemu.raw'));
    expect(theirs.equals(model), 'QEMU shows the data under clear bits').toBe(false);
    let differing = 0;
    for (let s = 0; s < size / 512; s++) if (!theirs.subarray(s * 512, s * 512 + 512).equals(model.subarray(s * 512, s * 512 + 512))) differing++;
    expect(differing).toBe(junked);

    const [report] = await checkPaths([vhd], { deep: true });
    expect(report.errors).toEqual([]);
    const w = report.warnings.filter((x) => x.code === 'DATA_UNDER_CLEAR_BITS');
    expect(w).toHaveLength(1);
    expect(w[0].message).toMatch(new RegExp(`^${junked} sector`));

    // Compact stores zeros under the clear bits: QEMU then reads what everyone else reads.
    await compact(vhd);
    assertSame(await qemuRaw(vhd, tmp.file('after.raw')), model, 'qemu-img after compact');
    assertSame(await readThrough(vhd), model, 'vhdsnap after compact');
    if (HAVE_PYVHDI) expect(await pyvhdiSha(vhd, blockSize), 'libvhdi after compact').toBe(sha256(model));
    expect((await checkPaths([vhd], { deep: true }))[0].warnings).toEqual([]);
  });
});

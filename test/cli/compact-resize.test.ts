// `vhdsnap compact` and `vhdsnap resize` through runCli: --dry-run (human and
// --json) prints the plan and changes no byte; real runs print the result
// shapes and keep the content (checked against the model); exit codes 0 ok,
// 1 refused (with the code), 2 usage.
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { createDifferencing, createDynamic, createFixed } from '../../core/ops/create.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { sha } from '../support/compare.js';
import { cli } from '../support/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A dynamic disk with random data and `zeroBlocks` allocated all-zero blocks (blocks 0..zeroBlocks-1). */
async function makeDisk(p: string, size: number, blockSize: number, zeroBlocks: number, seed: number): Promise<DiskModel> {
  await createDynamic(p, size, { blockSize });
  const model = new DiskModel(size);
  model.addBase();
  const rng = new Rng(seed);
  const d = await openDisk(p, { writable: true });
  try {
    await d.write(0, Buffer.alloc(zeroBlocks * blockSize));
    const data = rng.bytes(blockSize + 777);
    const off = (zeroBlocks + 1) * blockSize + 300;
    await d.write(off, data);
    model.write(0, off, data);
  } finally {
    await d.close();
  }
  return model;
}

describe('vhdsnap compact', () => {
  const tmp = useTmpDir('vhdsnap-cli-compact-');

  it('--dry-run (human and --json) prints the plan and changes nothing', async () => {
    const p = tmp.file('d.vhd');
    await makeDisk(p, 8 * MiB, 512 * KiB, 3, 1);
    const hash = sha(p);
    const j = await cli('compact', p, '--dry-run', '--json');
    expect(j.code, j.err).toBe(0);
    const plan = JSON.parse(j.out);
    expect(plan).toMatchObject({ operation: 'compact', refusals: [], blocksBefore: 5, changes: [{ path: p, action: 'modify' }] });
    expect(plan.worstCaseGrowth).toBeGreaterThanOrEqual(5 * (512 + 512 * KiB));
    const h = await cli('compact', p, '--dry-run');
    expect(h.code, h.err).toBe(0);
    expect(h.out).toMatch(/^plan: /);
    expect(h.out).toContain('dry run: nothing was written');
    expect(sha(p)).toBe(hash);
  });

  it('compacts and prints the result as JSON', async () => {
    const p = tmp.file('d.vhd');
    const model = await makeDisk(p, 8 * MiB, 512 * KiB, 3, 2);
    const size = statSync(p).size;
    const r = await cli('compact', p, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ path: p, blocksBefore: 5, blocksAfter: 2, bytesBefore: size, bytesAfter: size - 3 * (512 + 512 * KiB) });
    expect(statSync(p).size).toBe(size - 3 * (512 + 512 * KiB));
    expect((await readThrough(p)).equals(model.view(0))).toBe(true);
    // Compacted again, nothing is left to free: said so, with the size in units and exact.
    const after = size - 3 * (512 + 512 * KiB);
    const human = await cli('compact', p);
    expect(human.code).toBe(0);
    expect(human.out).toBe(`${p} stays at 1 MiB (${after} bytes) and 2 blocks: nothing could be freed, every stored block holds data.\n`);
  });

  it('says in a sentence what compacting freed, in binary units with the exact bytes', async () => {
    const p = tmp.file('d.vhd');
    await makeDisk(p, 8 * MiB, 512 * KiB, 3, 7);
    const size = statSync(p).size;
    const after = size - 3 * (512 + 512 * KiB);
    const r = await cli('compact', p);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`Compacted ${p} from 2.5 MiB (${size} bytes) to 1 MiB (${after} bytes), 5 blocks to 2: 1.5 MiB freed.\n`);
    expect(r.out).not.toMatch(/\d+ → \d+/);
  });

  it('exit 1 with the code for a fixed disk or a disk with children; exit 2 for usage errors', async () => {
    const f = tmp.file('f.vhd');
    await createFixed(f, MiB);
    const r1 = await cli('compact', f);
    expect(r1.code).toBe(1);
    expect(r1.err).toContain('[FIXED_DISK]');
    const dry = await cli('compact', f, '--dry-run', '--json');
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.out).refusals.map((x: { code: string }) => x.code)).toEqual(['FIXED_DISK']);

    const p = tmp.file('p.vhd');
    await makeDisk(p, 4 * MiB, 512 * KiB, 1, 3);
    await createDifferencing(tmp.file('child.vhd'), p);
    const hash = sha(p);
    const r2 = await cli('compact', p);
    expect(r2.code).toBe(1);
    expect(r2.err).toContain('[HAS_CHILDREN]');
    expect(r2.err).toContain('child.vhd');
    expect(sha(p)).toBe(hash);

    expect((await cli('compact')).code).toBe(2);
    expect((await cli('compact', p, '--bogus')).code).toBe(2);
    expect((await cli('compact', tmp.file('missing.vhd'))).code).toBe(2);
  });
});

describe('vhdsnap resize', () => {
  const tmp = useTmpDir('vhdsnap-cli-resize-');

  it('--dry-run --json prints the plan and changes nothing', async () => {
    const p = tmp.file('d.vhd');
    await makeDisk(p, 6 * MiB, 4 * KiB, 1, 4);
    const hash = sha(p);
    const r = await cli('resize', p, '--size', '8M', '--dry-run', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ operation: 'resize', oldSize: 6 * MiB, newSize: 8 * MiB, relocateBatTo: 2048, refusals: [] });
    const h = await cli('resize', p, '--size', '8M', '--dry-run');
    expect(h.code).toBe(0);
    expect(h.out).toContain('from 6 MiB to 8 MiB');
    expect(sha(p)).toBe(hash);
  });

  it('grows dynamic and fixed disks and prints {path, oldSize, newSize}', async () => {
    const p = tmp.file('d.vhd');
    const model = await makeDisk(p, 6 * MiB, 512 * KiB, 1, 5);
    const r = await cli('resize', p, '--size', '10M', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ path: p, oldSize: 6 * MiB, newSize: 10 * MiB });
    const want = Buffer.alloc(10 * MiB);
    model.view(0).copy(want);
    expect((await readThrough(p)).equals(want)).toBe(true);
    const chk = await cli('check', p, '--deep');
    expect(chk.code, chk.out).toBe(0);

    const f = tmp.file('f.vhd');
    await createFixed(f, MiB);
    const rf = await cli('resize', f, '--size', '2M');
    expect(rf.code, rf.err).toBe(0);
    expect(rf.out).toBe(`Grew ${f} from 1 MiB (1048576 bytes) to 2 MiB (2097152 bytes); the new space reads as zeros.\n`);
    expect(statSync(f).size).toBe(2 * MiB + 512);
    const same = await cli('resize', f, '--size', '2M');
    expect(same.code, same.err).toBe(0);
    expect(same.out).toBe(`${f} is already 2 MiB (2097152 bytes): nothing to do.\n`);
  });

  it('exit 1 for shrinking or a disk with children, exit 2 for usage errors', async () => {
    const p = tmp.file('d.vhd');
    await makeDisk(p, 4 * MiB, 512 * KiB, 1, 6);
    const hash = sha(p);
    const s = await cli('resize', p, '--size', '2M');
    expect(s.code).toBe(1);
    expect(s.err).toContain('[SHRINK_NOT_SUPPORTED]');
    const sd = await cli('resize', p, '--size', '2M', '--dry-run', '--json');
    expect(sd.code).toBe(1);
    expect(JSON.parse(sd.out).refusals[0].code).toBe('SHRINK_NOT_SUPPORTED');
    expect(sha(p)).toBe(hash);

    expect((await cli('resize', p)).code).toBe(2);
    expect((await cli('resize', p, '--size', 'lots')).code).toBe(2);
    expect((await cli('resize', p, '--size', '1000')).code).toBe(2); // not a multiple of 512

    await createDifferencing(tmp.file('kid.vhd'), p);
    const c = await cli('resize', p, '--size', '8M');
    expect(c.code).toBe(1);
    expect(c.err).toContain('[HAS_CHILDREN]');
    expect(c.err).toContain('kid.vhd');
    expect(sha(p)).toBe(hash);
  });
});

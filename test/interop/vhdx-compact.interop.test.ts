// Compact of VHDX files: QEMU-made files written with qemu-io (data, zeros,
// `write -z`, discards, unwritten ZERO-state blocks) read the same through
// `qemu-img convert` before and after, pass `qemu-img check`, and shrink to
// exactly the blocks the raw image has data in; AVHDX chains the builder
// makes read the same through a plain model and through libvhdi (pyvhdi with
// set_parent) before and after; a file with a pending log is copied clean;
// refusals (fixed, children, in use) leave the file as it was.
import { execFile, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readThrough } from '../support/tree.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { RefusedError } from '../../core/errors.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { isZeroGuid, newGuid } from '../../core/format/vhdx/guid.js';
import { encodeLogEntry } from '../../core/format/vhdx/log-writer.js';

import { planOperation, runOperation } from '../../core/operations.js';
import { cli } from '../support/cli.js';
import { useHolders } from '../support/holders.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx, patchFile, type BuiltVhdx, linkTo } from '../support/vhdx-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const ok = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = ok('qemu-img') && ok('qemu-io');
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
if (!HAVE_QEMU) console.log('VHDX compact interop skipped: qemu-img or qemu-io is not on PATH');
if (!HAVE_PYVHDI) console.log(`VHDX compact libvhdi comparisons skipped: ${PYTHON} -c 'import pyvhdi' fails`);

/** What identifies the disk, and the states of its blocks. */
async function identity(p: string) {
  const f = await VhdxFile.open(p);
  try {
    const states: number[] = [];
    for (let b = 0; b < f.blockCount; b++) states.push(f.blockState(b));
    return {
      id: {
        diskId: f.diskId,
        dataWriteGuid: f.dataWriteGuid,
        blockSize: f.blockSize,
        logicalSectorSize: f.logicalSectorSize,
        physicalSectorSize: f.physicalSectorSize,
        virtualSize: f.virtualSize,
        type: f.type,
        parentLocator: f.parentLocator?.entries.map((e) => [e.key, e.value]) ?? null,
      },
      states,
      logEmpty: isZeroGuid(f.header.logGuid),
    };
  } finally {
    await f.close();
  }
}

/** Blocks of a raw image with a non-zero byte: what a compacted base keeps (independent of the code under test). */
function blocksWithData(raw: Buffer, blockSize: number): number {
  let n = 0;
  for (let at = 0; at < raw.length; at += blockSize) if (raw.subarray(at, at + blockSize).some((x) => x !== 0)) n++;
  return n;
}

describe.skipIf(!HAVE_QEMU)('compact of VHDX files QEMU made', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-compact-q-');

  for (const zeroState of ['on', 'off'] as const) {
    it(`drops unwritten, zeroed and discarded blocks (block_state_zero=${zeroState}); qemu reads the same and checks clean`, async () => {
      const f = tmp.file('q.vhdx');
      const bs = 4 * MiB;
      await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `block_size=${bs},block_state_zero=${zeroState}`, f, '64M']);
      for (const c of [
        'write -P 0x5a 0 9M', // blocks 0-2
        'write -z 4M 4M', // block 1 becomes zeros
        'write -P 0 16M 8M', // blocks 4-5: data that is all zeros
        'write -P 0x11 30M 512', // block 7: one sector
        'write -P 0x22 40M 8M', // blocks 10-11
        'discard 40M 4M', // block 10 discarded
        'write -z 52M 4M', // block 13, never written before
      ])
        await run('qemu-io', ['-f', 'vhdx', '-c', c, f]);
      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', f, tmp.file('before.raw')]);
      const before = await fsp.readFile(tmp.file('before.raw'));
      const idBefore = await identity(f);
      const sizeBefore = (await fsp.stat(f)).size;
      expect((await readThrough(f)).equals(before)).toBe(true);

      const r = await cli('compact', f, '--json');
      expect(r.code, r.err).toBe(0);
      const res = JSON.parse(r.out) as { bytesBefore: number; bytesAfter: number; blocksAfter: number };
      const kept = blocksWithData(before, bs);
      expect(res.blocksAfter).toBe(kept);
      // Header section, 1 MiB log, 1 MiB BAT region, 1 MiB metadata region, then the kept blocks.
      expect((await fsp.stat(f)).size).toBe(4 * MiB + kept * bs);
      expect(res).toMatchObject({ bytesBefore: sizeBefore, bytesAfter: 4 * MiB + kept * bs });
      expect(res.bytesAfter).toBeLessThan(sizeBefore);

      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', f, tmp.file('after.raw')]);
      expect((await fsp.readFile(tmp.file('after.raw'))).equals(before)).toBe(true);
      const check = spawnSync('qemu-img', ['check', '-f', 'vhdx', f], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      const idAfter = await identity(f);
      expect(idAfter.id).toEqual(idBefore.id);
      expect(idAfter.states.filter((s) => s === PayloadState.FullyPresent).length).toBe(kept);
      expect(idAfter.states.every((s) => s === PayloadState.FullyPresent || s === PayloadState.NotPresent)).toBe(true);
      expect(idAfter.logEmpty).toBe(true);

      // Nothing left to drop: a second run frees nothing.
      const again = JSON.parse((await cli('compact', f, '--json')).out) as { bytesBefore: number; bytesAfter: number };
      expect(again.bytesAfter).toBe(again.bytesBefore);
    });
  }

  it('keeps a larger log size and 1 MiB blocks; the plan says what it frees at least', async () => {
    const f = tmp.file('big-log.vhdx');
    await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M,log_size=4M', f, '16M']);
    for (const c of ['write -P 7 0 2M', 'write -P 0 5M 3M', 'write -P 8 15M 4k']) await run('qemu-io', ['-f', 'vhdx', '-c', c, f]);
    const before = await readThrough(f);
    const plan = await planOperation({ op: 'compact', disk: f });
    expect(plan.refusals).toEqual([]);
    const size = (await fsp.stat(f)).size;
    // Without reading data the plan knows the ZERO/unwritten blocks go; the all-zero stored ones are found while copying.
    expect(plan.frees).toBeGreaterThanOrEqual(0);
    expect(plan.summary).toMatch(/frees at least \d/);
    const res = await runOperation({ op: 'compact', disk: f });
    expect(res.bytesBefore - res.bytesAfter).toBeGreaterThanOrEqual(plan.frees!);
    expect(res.bytesAfter).toBe(1 * MiB + 4 * MiB + 1 * MiB + 1 * MiB + 3 * MiB);
    expect(size - res.bytesAfter).toBe(res.bytesBefore - res.bytesAfter);
    expect((await readThrough(f)).equals(before)).toBe(true);
    const h = await VhdxFile.open(f);
    expect(h.header.logLength).toBe(4 * MiB);
    await h.close();
    expect(spawnSync('qemu-img', ['check', '-f', 'vhdx', f]).status).toBe(0);
  });

  it('refuses a fixed VHDX with the reason, and one another program holds open', async () => {
    const f = tmp.file('fixed.vhdx');
    await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'subformat=fixed,block_size=1M', f, '8M']);
    const bytes = await fsp.readFile(f);
    const r = await cli('compact', f, '--json');
    expect(r.code).toBe(1);
    const err = JSON.parse(r.out) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('FIXED_DISK');
    expect(err.error.message).toMatch(/leave every block allocated/);
    expect((await fsp.readFile(f)).equals(bytes)).toBe(true);
  });
});

describe('compact of VHDX files and AVHDX chains the builder makes', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-compact-');
  const holders = useHolders();

  /** A base with data, zeros stored, and zero / unmapped / undefined states; a child with partial blocks, one with no set bit. */
  async function chain(lss: 512 | 4096): Promise<{ base: BuiltVhdx; child: BuiltVhdx; emptyPartial: number }> {
    const rng = new Rng(lss);
    const size = 24 * MiB;
    const bs = 2 * MiB;
    const base = await makeVhdx(tmp.file('base.vhdx'), {
      kind: 'dynamic',
      virtualSize: size,
      blockSize: bs,
      logicalSectorSize: lss,
      writes: [
        { offset: 0, data: rng.bytes(3 * MiB) }, // blocks 0-1
        { offset: 4 * MiB, data: Buffer.alloc(2 * MiB) }, // block 2: stored zeros
        { offset: 6 * MiB, data: rng.bytes(2 * MiB) }, // block 3, then unmapped
        { offset: 8 * MiB, data: rng.bytes(8192) }, // block 4, then undefined
        { offset: 12 * MiB, data: rng.bytes(4096) }, // block 6
      ],
      states: { 3: PayloadState.Unmapped, 4: PayloadState.Undefined, 5: PayloadState.Zero },
    });
    const child = await makeVhdx(tmp.file('child.avhdx'), {
      kind: 'differencing',
      virtualSize: size,
      blockSize: bs,
      logicalSectorSize: lss,
      writes: [
        { offset: 512 * 1024, data: rng.bytes(64 * 1024) }, // block 0: partial
        { offset: 2 * MiB, data: Buffer.alloc(2 * MiB) }, // block 1: fully present zeros over the parent's data
        { offset: 6 * MiB + 4096 * 4, data: Buffer.alloc(4096 * 3) }, // block 3: set bits over zeros
        { offset: 12 * MiB, data: rng.bytes(8192) }, // block 6: partial, its bits cleared below
        { offset: 20 * MiB, data: rng.bytes(4096) }, // block 10: partial
      ],
      states: { 2: PayloadState.Zero },
      locator: linkTo(base),
    });
    // Block 6 partially present with no sector bit: it stores nothing of its own.
    const chunkMap = child.bitmapOffsets.get(0)!;
    await patchFile(tmp.file('child.avhdx'), chunkMap + (6 * bs) / lss / 8, Buffer.alloc(bs / lss / 8));
    return { base, child, emptyPartial: 6 };
  }

  /** The chain as the builder defines it: each layer's own sectors over its parent's. */
  function model(layers: BuiltVhdx[], size: number, lss: number): Buffer {
    const out = Buffer.alloc(size);
    for (const l of layers) {
      const own = l.expected(0, size);
      own.present.forEach((p, s) => p && own.data.copy(out, s * lss, s * lss, (s + 1) * lss));
    }
    return out;
  }

  async function pyvhdi(...files: string[]): Promise<string[]> {
    const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(2 * MiB), ...files]);
    return stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { sha256: string }).sha256);
  }

  for (const lss of [512, 4096] as const) {
    it(`${lss}-byte sectors: the AVHDX leaf loses its block with no set bit and keeps zeros over its parent; the chain reads the same; its base refuses while it has a child`, async () => {
      const { base, child } = await chain(lss);
      const size = 24 * MiB;
      // Block 6 of the child no longer counts: its bits were cleared after building.
      const want = model([base], size, lss);
      const ownChild = child.expected(0, size);
      ownChild.present.forEach((p, s) => {
        const b = Math.floor((s * lss) / (2 * MiB));
        if (p && b !== 6) ownChild.data.copy(want, s * lss, s * lss, (s + 1) * lss);
      });
      const c = tmp.file('child.avhdx');
      expect((await readThrough(c)).equals(want)).toBe(true);
      const idBefore = await identity(c);
      const shaBefore = HAVE_PYVHDI ? await pyvhdi(tmp.file('base.vhdx'), c) : null;
      const baseBytes = await fsp.readFile(tmp.file('base.vhdx'));

      const refused = await planOperation({ op: 'compact', disk: tmp.file('base.vhdx') });
      expect(refused.refusals.map((x) => x.code)).toEqual(['HAS_CHILDREN']);
      expect(refused.refusals[0].message).toContain('child.avhdx');
      await expect(runOperation({ op: 'compact', disk: tmp.file('base.vhdx') })).rejects.toMatchObject({ code: 'HAS_CHILDREN' });
      expect((await fsp.readFile(tmp.file('base.vhdx'))).equals(baseBytes)).toBe(true);

      const plan = await planOperation({ op: 'compact', disk: c });
      expect(plan.refusals).toEqual([]);
      expect(plan.summary).toMatch(/its 1 of 5 stored blocks that have no sector of their own/);
      const sizeBefore = (await fsp.stat(c)).size;
      const res = await runOperation({ op: 'compact', disk: c });
      // Exact for a differencing disk: no data needs reading to know what goes.
      expect(res.bytesBefore - res.bytesAfter).toBe(plan.frees);
      expect(res.bytesAfter).toBe((await fsp.stat(c)).size);
      expect(res.bytesAfter).toBeLessThan(sizeBefore);
      expect(res.blocksAfter).toBe(4);
      expect((await readThrough(c)).equals(want)).toBe(true);
      const idAfter = await identity(c);
      expect(idAfter.id).toEqual(idBefore.id);
      const states = [...idBefore.states];
      states[6] = PayloadState.NotPresent;
      expect(idAfter.states).toEqual(states);
      if (shaBefore) expect(await pyvhdi(tmp.file('base.vhdx'), c)).toEqual(shaBefore);
      const chk = await cli('check', c, '--json');
      expect(chk.code, chk.out).toBe(0);

      // Without its child the base compacts: unmapped, undefined, zero and stored-zero blocks go.
      await fsp.rm(c);
      const baseBefore = await readThrough(tmp.file('base.vhdx'));
      expect(baseBefore.equals(model([base], size, lss))).toBe(true);
      const rb = await runOperation({ op: 'compact', disk: tmp.file('base.vhdx') });
      expect(rb.blocksAfter).toBe(blocksWithData(baseBefore, 2 * MiB));
      expect(rb.blocksAfter).toBe(3);
      expect((await readThrough(tmp.file('base.vhdx'))).equals(baseBefore)).toBe(true);
      if (HAVE_PYVHDI) {
        const [sha] = await pyvhdi(tmp.file('base.vhdx'));
        await fsp.writeFile(tmp.file('b.raw'), baseBefore);
        const { stdout } = await run('sha256sum', [tmp.file('b.raw')]);
        expect(sha).toBe(stdout.split(' ')[0]);
      }
    });
  }

  it('a file with a pending log is read with the log replayed and copied with an empty log', async () => {
    const rng = new Rng(5);
    const logGuid = newGuid();
    const p = tmp.file('dirty.vhdx');
    const built = await makeVhdx(p, {
      kind: 'dynamic',
      virtualSize: 8 * MiB,
      blockSize: MiB,
      writes: [
        { offset: 0, data: rng.bytes(MiB) },
        { offset: 3 * MiB, data: rng.bytes(MiB) },
      ],
      logGuid,
    });
    // One entry: 8 KiB of new data into block 3 and zeros over all of block 0 (it then reads as zeros and goes).
    const news = rng.bytes(8192);
    const entry = encodeLogEntry({
      sequence: 1n,
      tail: 0,
      guid: logGuid,
      flushedFileOffset: built.fileSize,
      lastFileOffset: built.fileSize,
      writes: [
        { offset: built.blockOffsets.get(3)! + 65536, length: 8192, data: news },
        { offset: built.blockOffsets.get(0)!, length: MiB, data: null },
      ],
    });
    await patchFile(p, built.logOffset, entry);
    const want = built.expected(0, 8 * MiB).data;
    want.fill(0, 0, MiB);
    want.set(news, 3 * MiB + 65536);
    expect((await readThrough(p)).equals(want)).toBe(true);
    const plan = await planOperation({ op: 'compact', disk: p });
    expect(plan.cautions?.join(' ')).toMatch(/not closed cleanly: the copy holds its content with the 1 pending log entries applied/);
    const res = await runOperation({ op: 'compact', disk: p });
    expect(res.blocksAfter).toBe(1);
    const id = await identity(p);
    expect(id.logEmpty).toBe(true);
    const f = await VhdxFile.open(p, { replayLog: false });
    expect(f.logEntriesReplayed).toBe(0);
    await f.close();
    expect((await readThrough(p)).equals(want)).toBe(true);
    if (HAVE_QEMU) {
      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', p, tmp.file('d.raw')]);
      expect((await fsp.readFile(tmp.file('d.raw'))).equals(want)).toBe(true);
      expect(spawnSync('qemu-img', ['check', '-f', 'vhdx', p]).status).toBe(0);
    }
  });

  it('refuses while another program holds the file open, leaving it as it was', async () => {
    const p = tmp.file('held.vhdx');
    await makeVhdx(p, { kind: 'dynamic', virtualSize: 4 * MiB, blockSize: MiB, writes: [{ offset: 0, data: Buffer.alloc(MiB) }] });
    const bytes = await fsp.readFile(p);
    await holders.node(p);
    const plan = await planOperation({ op: 'compact', disk: p });
    expect(plan.refusals.map((r) => r.code)).toContain('IN_USE');
    const err = await runOperation({ op: 'compact', disk: p }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as RefusedError).code).toBe('IN_USE');
    expect((await fsp.readFile(p)).equals(bytes)).toBe(true);
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual(['held.vhdx']);
  });
});

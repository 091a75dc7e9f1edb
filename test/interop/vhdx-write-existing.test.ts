// Writing into existing VHDX files (core/disk/vhdx-writer.ts): fixed and
// dynamic files made by qemu-img and by us, written at random unaligned
// offsets, must pass `qemu-img check` and convert to the raw model; AVHDX
// children must read as the model through our chain reader and, for 4 KiB
// aligned writes, through libvhdi with set_parent. qemu-img (7.2) opens no
// 4096-byte-sector VHDX, so those are checked against the model only.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openReadableDisk, openWritableVhdxDisk } from '../../core/disk/chain.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { guidToString } from '../../core/format/vhdx/guid.js';

import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx, linkTo } from '../support/vhdx-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const HAVE_QEMU = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
if (!HAVE_QEMU) console.log('VHDX write-existing: qemu-img comparisons skipped (not on PATH)');
if (!HAVE_PYVHDI) console.log('VHDX write-existing: libvhdi comparisons skipped');

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function qemuCheck(p: string): Promise<void> {
  const r = spawnSync('qemu-img', ['check', '-f', 'vhdx', p], { encoding: 'utf8' });
  expect(r.status, `qemu-img check ${p}: ${r.stdout}${r.stderr}`).toBe(0);
}

async function qemuRaw(p: string, tmpRaw: string): Promise<Buffer> {
  await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', p, tmpRaw]);
  return fsp.readFile(tmpRaw);
}

async function ourView(p: string): Promise<Buffer> {
  const d = await openReadableDisk(p);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}

async function pyvhdiShas(paths: string[]): Promise<string[]> {
  const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(MiB), ...paths], { maxBuffer: 1 << 20 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { sha256: string }).sha256);
}

interface WriteSpec {
  offset: number;
  data: Uint8Array;
}

/** Random writes: unaligned or `align`-aligned, some zeros (they must shadow a parent), some across blocks. */
function randomWrites(rng: Rng, size: number, blockSize: number, count: number, align: number): WriteSpec[] {
  const out: WriteSpec[] = [];
  for (let i = 0; i < count; i++) {
    const big = rng.int(4) === 0;
    let len = Math.min(big ? blockSize + rng.int(blockSize) : 1 + rng.int(64 * 1024), size / 2);
    let off = rng.int(size - len);
    if (align > 1) {
      off -= off % align;
      len = Math.max(align, len - (len % align));
      if (off + len > size) off = size - len;
    }
    const data = rng.int(5) === 0 ? new Uint8Array(len) : rng.bytes(len);
    out.push({ offset: off, data });
  }
  return out;
}

/** Applies writes through our writer in a few sessions (each session one open and close). */
async function writeAll(p: string, writes: WriteSpec[], model: Buffer, sessions = 2): Promise<void> {
  const per = Math.ceil(writes.length / sessions);
  for (let s = 0; s < writes.length; s += per) {
    const d = await openWritableVhdxDisk(p);
    try {
      for (const w of writes.slice(s, s + per)) {
        await d.write(w.offset, w.data);
        model.set(w.data, w.offset);
      }
    } finally {
      await d.close();
    }
  }
}

describe('writing into an existing VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-wx-');

  it.runIf(HAVE_QEMU)('qemu-img dynamic and fixed files (1 MiB, 8 MiB, 32 MiB blocks): qemu-img check passes, convert equals the model', async () => {
    const rng = new Rng(1801);
    for (const [fmt, bs] of [
      ['dynamic', MiB],
      ['dynamic', 8 * MiB],
      ['fixed', 32 * MiB],
      ['dynamic', 32 * MiB],
    ] as const) {
      const size = 40 * MiB + 3 * 512;
      const p = tmp.file(`q-${fmt}-${bs}.vhdx`);
      const opts = [`block_size=${bs}`, ...(fmt === 'fixed' ? ['subformat=fixed'] : [])].join(',');
      await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', opts, p, String(size)]);
      const model = Buffer.alloc(size);
      await writeAll(p, randomWrites(rng, size, bs, 14, 1), model);
      await qemuCheck(p);
      expect(sha(await qemuRaw(p, tmp.file('q.raw'))), `${fmt} ${bs}`).toBe(sha(model));
      expect(sha(await ourView(p))).toBe(sha(model));
      // Closed cleanly: no log left to replay, and the header current is the newer copy.
      const f = await VhdxFile.open(p, { replayLog: false });
      expect(f.logEntriesReplayed).toBe(0);
      await f.close();
    }
  });

  it.runIf(HAVE_QEMU)('our own dynamic file via `vhdsnap write`: the data write GUID changes, qemu reads the bytes', async () => {
    const size = 12 * MiB;
    const p = tmp.file('ours.vhdx');
    expect((await cli('create', p, '--size', String(size), '--block-size', '1M')).code).toBe(0);
    const before = await VhdxFile.open(p);
    const guid = before.dataWriteGuid;
    const seq = before.header.sequenceNumber;
    await before.close();
    const data = new Rng(1802).bytes(3 * MiB + 777);
    await fsp.writeFile(tmp.file('in.bin'), data);
    const r = await cli('write', p, '--offset', '1000001', '--input', tmp.file('in.bin'));
    expect(r.code, r.err).toBe(0);
    const after = await VhdxFile.open(p);
    expect(after.dataWriteGuid).not.toBe(guid);
    // Session start and end: two header updates, alternating copies.
    expect(after.header.sequenceNumber).toBe(seq + 2n);
    await after.close();
    const model = Buffer.alloc(size);
    model.set(data, 1000001);
    await qemuCheck(p);
    expect(sha(await qemuRaw(p, tmp.file('o.raw')))).toBe(sha(model));
  });

  it.runIf(HAVE_QEMU)('turns with qemu-io: QEMU writes after us and we write after QEMU; both read the same bytes', async () => {
    const size = 16 * MiB;
    const p = tmp.file('turns.vhdx');
    expect((await cli('create', p, '--size', String(size), '--block-size', '2M')).code).toBe(0);
    const model = Buffer.alloc(size);
    const rng = new Rng(1803);
    for (let round = 0; round < 3; round++) {
      await writeAll(p, randomWrites(rng, size, 2 * MiB, 6, 1), model, 1);
      const off = (3 + round * 4) * MiB + 512 * round;
      const len = 1536 * 1024;
      await run('qemu-io', ['-f', 'vhdx', '-c', `write -P ${0x41 + round} ${off} ${len}`, p]);
      model.fill(0x41 + round, off, off + len);
      await qemuCheck(p);
      expect(sha(await ourView(p)), `round ${round}`).toBe(sha(model));
      expect(sha(await qemuRaw(p, tmp.file('t.raw'))), `round ${round}`).toBe(sha(model));
    }
  });

  it('refuses to write a VHDX that has a child (HAS_CHILDREN), and leaves it unchanged', async () => {
    const size = 4 * MiB;
    const base = await makeVhdx(tmp.file('p.vhdx'), { kind: 'dynamic', virtualSize: size, writes: [{ offset: 0, data: new Rng(3).bytes(4096) }] });
    await makeVhdx(tmp.file('p-child.avhdx'), {
      kind: 'differencing',
      virtualSize: size,
      locator: linkTo(base, '.\\p.vhdx'),
    });
    const bytes = await fsp.readFile(tmp.file('p.vhdx'));
    await fsp.writeFile(tmp.file('in.bin'), Buffer.alloc(512, 1));
    const r = await cli('write', tmp.file('p.vhdx'), '--offset', '0', '--input', tmp.file('in.bin'), '--json');
    expect(r.code).not.toBe(0);
    expect(r.out + r.err).toContain('HAS_CHILDREN');
    expect(sha(await fsp.readFile(tmp.file('p.vhdx')))).toBe(sha(bytes));
    // The child is still writable.
    const w = await cli('write', tmp.file('p-child.avhdx'), '--offset', '0', '--input', tmp.file('in.bin'));
    expect(w.code, w.err).toBe(0);
  });

  for (const lss of [512, 4096] as const) {
    for (const bs of [MiB, 4 * MiB]) {
      it(`AVHDX child (${lss}-byte sectors, ${bs / MiB} MiB blocks): random writes read as the model through the chain${HAVE_PYVHDI ? ' and libvhdi' : ''}`, async () => {
        const size = 24 * MiB;
        for (const seed of [11, 12]) {
          const rng = new Rng(lss * 7 + bs / MiB + seed * 1000);
          const parentWrites = [
            { offset: 0, data: rng.bytes(bs + 5 * lss) },
            { offset: 9 * MiB + lss, data: rng.bytes(3 * MiB) },
          ];
          const base = await makeVhdx(tmp.file('base.vhdx'), {
            kind: 'dynamic',
            virtualSize: size,
            blockSize: bs,
            logicalSectorSize: lss,
            writes: parentWrites,
          });
          const child = await makeVhdx(tmp.file('child.avhdx'), {
            kind: 'differencing',
            virtualSize: size,
            blockSize: bs,
            logicalSectorSize: lss,
            writes: [{ offset: 2 * lss, data: rng.bytes(4 * lss) }],
            // Zero and unmapped blocks define their sectors as zeros: writing into them must keep the rest zero.
            states: { 5: PayloadState.Zero, 6: PayloadState.Unmapped },
            locator: linkTo(base),
          });
          // The model from what the builder put in each file, not from our reader.
          const parentView = base.expected(0, size).data;
          const model = Buffer.from(parentView);
          const own = child.expected(0, size);
          for (let s = 0; s < size / lss; s++) if (own.present[s]) own.data.copy(model, s * lss, s * lss, (s + 1) * lss);
          expect(sha(await ourView(tmp.file('child.avhdx')))).toBe(sha(model));
          const aligned = seed === 12;
          await writeAll(tmp.file('child.avhdx'), randomWrites(rng, size, bs, 16, aligned ? 4096 : 1), model, 3);
          expect(sha(await ourView(tmp.file('child.avhdx'))), `seed ${seed}`).toBe(sha(model));
          // The parent is untouched and the child still links to it.
          expect(sha(await ourView(tmp.file('base.vhdx')))).toBe(sha(parentView));
          const f = await VhdxFile.open(tmp.file('child.avhdx'));
          expect(f.dataWriteGuid).not.toBe(guidToString(child.header.dataWriteGuid));
          await f.close();
          const chk = await cli('check', tmp.file('child.avhdx'), '--json');
          expect(chk.code, chk.out).toBe(0);
          if (HAVE_PYVHDI && aligned) {
            const [pb, pc] = await pyvhdiShas([tmp.file('base.vhdx'), tmp.file('child.avhdx')]);
            expect(pb).toBe(sha(parentView));
            expect(pc).toBe(sha(model));
          }
        }
      });
    }
  }

  it.runIf(HAVE_QEMU)('a file whose log holds entries is replayed into it before the first write (qemu-img check then passes)', async () => {
    const size = 8 * MiB;
    const p = tmp.file('dirty.vhdx');
    await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1048576', p, String(size)]);
    const model = Buffer.alloc(size);
    // A session killed before its close: the log GUID stays set with the last entry in the log.
    const d = await openWritableVhdxDisk(p);
    const a = new Rng(5).bytes(70000);
    await d.write(4096, a);
    model.set(a, 4096);
    await d.top.file.file.close();
    const dirty = spawnSync('qemu-img', ['check', '-f', 'vhdx', p], { encoding: 'utf8' });
    expect(dirty.stdout + dirty.stderr).toMatch(/log|replay/i);
    expect(sha(await ourView(p))).toBe(sha(model));
    const b = new Rng(6).bytes(5000);
    await writeAll(p, [{ offset: 3 * MiB + 3, data: b }], model, 1);
    await qemuCheck(p);
    expect(sha(await qemuRaw(p, tmp.file('d.raw')))).toBe(sha(model));
  });
});

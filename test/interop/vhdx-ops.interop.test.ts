// The operations that read VHDX today — info, export, flatten — on files
// QEMU made and wrote (checked against qemu-img convert), on VHDX chains the
// test builder makes (checked against a plain model), delete of a saved state,
// and the typed refusal of every operation that would change one and does not
// support VHDX yet (merge does: vhdx-merge.interop.test.ts).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { guidToString } from '../../core/format/vhdx/guid.js';
import { vhdxLocator } from '../../core/format/vhdx/parent-locator.js';
import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { makeVhdx, makeVhdxTree, type BuiltVhdx, linkTo } from '../support/vhdx-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ok = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = ok('qemu-img') && ok('qemu-io');
if (!HAVE_QEMU) console.log('VHDX operation interop skipped: qemu-img or qemu-io is not on PATH');

describe.skipIf(!HAVE_QEMU)('VHDX files QEMU made: info, export and flatten', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-ops-');

  for (const sub of ['dynamic', 'fixed'] as const) {
    it(`${sub}: export to raw and flatten to dynamic, fixed and raw match qemu-img convert`, async () => {
      const f = tmp.file(`q-${sub}.vhdx`);
      await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `subformat=${sub},block_size=4194304`, f, '40M']);
      // Aligned, unaligned, across a block boundary, and zeros over data.
      for (const c of ['write -P 0x5a 1M 3M', 'write -P 0x11 102400 7000', 'write -P 0x77 4190000 300000', 'write -z 2M 64k', 'write -P 0x3c 40894464 3072'])
        await run('qemu-io', ['-f', 'vhdx', '-c', c, f]);
      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', f, tmp.file('ref.raw')]);
      const ref = await fsp.readFile(tmp.file('ref.raw'));

      const info = await cli('info', f, '--json');
      expect(info.code).toBe(0);
      const i = JSON.parse(info.out) as { format: string; type: string; virtualSize: number; blockSize: number; vhdx: { logicalSectorSize: number } };
      expect(i).toMatchObject({ format: 'vhdx', type: sub, virtualSize: 40 * MiB, blockSize: 4 * MiB, vhdx: { logicalSectorSize: 512 } });

      expect((await cli('export', f, tmp.file('out.raw'))).code).toBe(0);
      expect((await fsp.readFile(tmp.file('out.raw'))).equals(ref)).toBe(true);
      for (const format of ['dynamic', 'fixed', 'raw'] as const) {
        const out = tmp.file(`flat-${format}.${format === 'raw' ? 'raw' : 'vhd'}`);
        const r = await cli('flatten', f, out, '--format', format);
        expect(r.code, r.err).toBe(0);
        if (format !== 'raw') {
          await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', out, tmp.file(`back-${format}.raw`)]);
          expect((await fsp.readFile(tmp.file(`back-${format}.raw`))).equals(ref)).toBe(true);
        } else {
          expect((await fsp.readFile(out)).equals(ref)).toBe(true);
        }
      }
    });
  }
});

describe('VHDX chains the builder makes: export against a plain model; changes refused', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-ops-chain-');

  it('a depth-3 chain with 4096-byte sectors exports to the model; info names the chain', async () => {
    const rng = new Rng(33);
    const size = 12 * MiB;
    const lss = 4096;
    const model = Buffer.alloc(size);
    let below: { built: BuiltVhdx; name: string } | null = null;
    for (let depth = 0; depth < 3; depth++) {
      const name = depth === 0 ? 'base.vhdx' : `snap${depth}.avhdx`;
      const writes = Array.from({ length: 8 }, () => {
        const n = (1 + rng.int(300)) * lss;
        return { offset: rng.int((size - n) / lss) * lss, data: rng.bytes(n) };
      });
      const built: BuiltVhdx = await makeVhdx(tmp.file(name), {
        kind: depth === 0 ? 'dynamic' : 'differencing',
        virtualSize: size,
        blockSize: 2 * MiB,
        logicalSectorSize: lss,
        writes,
        locator: below ? linkTo(below.built, `.\\${below.name}`) : undefined,
      });
      const own = built.expected(0, size);
      own.present.forEach((p, s) => p && own.data.copy(model, s * lss, s * lss, (s + 1) * lss));
      below = { built, name };
    }
    const r = await cli('export', tmp.file('snap2.avhdx'), tmp.file('out.raw'));
    expect(r.code, r.err).toBe(0);
    expect((await fsp.readFile(tmp.file('out.raw'))).equals(model)).toBe(true);
    const info = await cli('info', tmp.file('snap2.avhdx'));
    expect(info.code).toBe(0);
    expect(info.out).toContain('snap2.avhdx → snap1.avhdx → base.vhdx');
    expect(info.out).toContain('4096-byte logical');
  });

  it('every operation that would change a VHDX and does not support it yet refuses with VHDX_READ_ONLY and leaves it as it was', async () => {
    const base = await makeVhdx(tmp.file('d.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: 0, data: new Rng(2).bytes(8192) }] });
    await makeVhdx(tmp.file('c.avhdx'), { kind: 'differencing', virtualSize: 4 * MiB, locator: linkTo(base, '.\\d.vhdx') });
    const names = ['c.avhdx', 'd.vhdx'];
    const before = await Promise.all(names.map((n) => fsp.readFile(tmp.file(n))));
    for (const argv of [['resize', tmp.file('d.vhdx'), '--size', '8M']]) {
      const r = await cli(...argv, '--json');
      expect(r.code, argv.join(' ')).toBe(2);
      expect(JSON.parse(r.out), argv.join(' ')).toMatchObject({ error: { code: 'VHDX_READ_ONLY' } });
    }
    for (let i = 0; i < names.length; i++) expect((await fsp.readFile(tmp.file(names[i]))).equals(before[i])).toBe(true);
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual(names);
  });

  it('delete removes a VHDX saved state (the rest reads as the model, check passes) and refuses the active disk and a disk with children', async () => {
    const t = await makeVhdxTree(tmp.dir, new Rng(71));
    const kept = await Promise.all([t.base, t.now].map((p) => fsp.readFile(p)));
    const dry = await cli('delete', t.saved, '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ strategy: 'remove', changes: [{ path: t.saved, action: 'delete' }] });
    expect(existsSync(t.saved)).toBe(true);
    const refused = [
      [t.base, 'BASE_WITH_SEVERAL_CHILDREN', /flatten them instead/],
      [t.now, 'NOT_A_SNAPSHOT', /active disk/],
    ] as const;
    for (const [disk, code, why] of refused) {
      const r = await cli('delete', disk, '--json');
      expect(r.code, disk).toBe(1);
      const e = (JSON.parse(r.out) as { error: { code: string; message: string } }).error;
      expect(e.code).toBe(code);
      expect(e.message).toMatch(why);
    }
    const r = await cli('delete', t.saved);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('a saved state: its file removed');
    expect(existsSync(t.saved)).toBe(false);
    for (const [i, p] of [t.base, t.now].entries()) expect((await fsp.readFile(p)).equals(kept[i]), p).toBe(true);
    expect((await readThrough(t.now)).equals(t.model.view(1))).toBe(true);
    expect((await cli('check', t.now, '--deep')).code).toBe(0);
  });
});

describe('check of VHDX files and chains', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-check-');

  async function chain(): Promise<{ base: BuiltVhdx; child: BuiltVhdx }> {
    const rng = new Rng(8);
    const base = await makeVhdx(tmp.file('base.vhdx'), { kind: 'dynamic', virtualSize: 8 * MiB, writes: [{ offset: MiB, data: rng.bytes(MiB) }] });
    const child = await makeVhdx(tmp.file('child.avhdx'), {
      kind: 'differencing',
      virtualSize: 8 * MiB,
      writes: [{ offset: 4096, data: rng.bytes(8192) }],
      locator: linkTo(base),
    });
    return { base, child };
  }

  it('a sound chain checks clean, file by file down to the base', async () => {
    await chain();
    const r = await cli('check', tmp.file('child.avhdx'), '--json');
    expect(r.code, r.out).toBe(0);
    const reports = JSON.parse(r.out) as { path: string; ok: boolean; type: string; errors: unknown[] }[];
    expect(reports.map((x) => [x.path.split('/').pop(), x.type, x.ok])).toEqual([
      ['child.avhdx', 'differencing', true],
      ['base.vhdx', 'dynamic', true],
    ]);
  });

  it('finds a BAT entry past the end of the file, a damaged header copy, and a missing parent', async () => {
    const { base } = await chain();
    // Block 0 of the base pointed 1 GiB past the end; state fully present.
    const e = Buffer.alloc(8);
    e.writeBigUInt64LE((1024n << 20n) | 6n);
    await fsp.open(tmp.file('base.vhdx'), 'r+').then(async (fh) => {
      await fh.write(e, 0, 8, base.batOffset);
      // One byte of header copy 1 (the older one): its checksum no longer matches.
      await fh.write(Buffer.from([0xee]), 0, 1, 64 * 1024 + 100);
      await fh.close();
    });
    const r = await cli('check', tmp.file('base.vhdx'), '--json');
    expect(r.code).toBe(1);
    const [rep] = JSON.parse(r.out) as { errors: { code: string; field?: string }[]; warnings: { code: string }[] }[];
    expect(rep.errors.map((x) => x.field)).toContain('bat[0]');
    expect([...rep.errors, ...rep.warnings].map((x) => x.code).join(' ')).toMatch(/HEADER/);
    await fsp.rm(tmp.file('base.vhdx'));
    const c = await cli('check', tmp.file('child.avhdx'), '--json');
    expect(c.code).toBe(1);
    expect((JSON.parse(c.out) as { errors: { code: string }[] }[])[0].errors.map((x) => x.code)).toContain('PARENT_NOT_FOUND');
  });
});

describe('tree of a folder with VHD and VHDX chains', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-tree-');

  it('lists each VHDX chain as a tree beside the VHD ones, its leaf the active disk, and a VHDX child without its parent as an orphan', async () => {
    const base = await makeVhdx(tmp.file('wsl-base.vhdx'), { kind: 'dynamic', virtualSize: 8 * MiB });
    const link = linkTo(base, '.\\wsl-base.vhdx');
    await makeVhdx(tmp.file('wsl-check1.avhdx'), { kind: 'differencing', virtualSize: 8 * MiB, locator: link });
    await makeVhdx(tmp.file('lost.avhdx'), {
      kind: 'differencing',
      virtualSize: 8 * MiB,
      locator: vhdxLocator({ parent_linkage: `{${guidToString(base.header.fileWriteGuid)}}`, relative_path: '.\\gone.vhdx' }),
    });
    expect((await cli('create', tmp.file('plain.vhd'), '--size', '8M')).code).toBe(0);
    const r = await cli('tree', tmp.dir, '--json');
    expect(r.code).toBe(1); // an orphan is listed
    const f = JSON.parse(r.out) as {
      roots: { path: string; format?: string; active: boolean; children: { path: string; active: boolean; format?: string }[] }[];
      orphans: { path: string; code: string }[];
    };
    const byName = new Map(f.roots.map((n) => [n.path.split('/').pop(), n]));
    expect([...byName.keys()].sort()).toEqual(['plain.vhd', 'wsl-base.vhdx']);
    const vx = byName.get('wsl-base.vhdx')!;
    expect(vx.format).toBe('vhdx');
    expect(vx.children.map((c) => [c.path.split('/').pop(), c.format, c.active])).toEqual([['wsl-check1.avhdx', 'vhdx', true]]);
    expect(byName.get('plain.vhd')!.format).toBeUndefined();
    expect(f.orphans.map((o) => [o.path.split('/').pop(), o.code])).toEqual([['lost.avhdx', 'PARENT_NOT_FOUND']]);
    const text = await cli('tree', tmp.dir);
    expect(text.out).toMatch(/wsl-check1\.avhdx\s+VHDX differencing/);
  });
});

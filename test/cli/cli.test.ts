// The CLI through runCli in-process (plus one spawn of the built bundle):
// exit codes, --json shapes, and content checked byte for byte against the
// reference model after write / snapshot / import / export.
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli, type Io } from '../../core/cli/main.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { assertSame } from '../support/compare.js';
import { leakLines } from '../support/gc-close.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const ROOT = path.resolve(__dirname, '../..');

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const io: Io = { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: false };
  const code = await runCli(argv, io);
  return { code, out, err };
}

/** Runs a command that must succeed and returns its parsed --json output. */
async function cliJson<T = any>(...argv: string[]): Promise<T> {
  const r = await cli(...argv, '--json');
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
  return JSON.parse(r.out) as T;
}

async function ok(...argv: string[]): Promise<Run> {
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
  return r;
}

/** Exports `disk` to a fresh raw file and returns its bytes. */
let exportCounter = 0;
async function exportBytes(dir: string, disk: string): Promise<Buffer> {
  const out = path.join(dir, `export-${++exportCounter}.raw`);
  await ok('export', disk, out);
  const b = await fsp.readFile(out);
  await fsp.unlink(out);
  return b;
}

/** Writes `data` at `offset` through `vhdsnap write` and mirrors it into the model. */
async function writeVia(dir: string, disk: string, offset: number, data: Buffer, model?: DiskModel, layer?: number): Promise<Run> {
  const input = path.join(dir, `input-${offset}-${data.length}.bin`);
  await fsp.writeFile(input, data);
  const r = await cli('write', disk, '--offset', String(offset), '--input', input);
  if (r.code === 0 && model && layer !== undefined) model.write(layer, offset, data);
  return r;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

describe('vhdsnap create', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('creates a dynamic disk with 2 MiB blocks by default', async () => {
    const f = tmp.file('d.vhd');
    await ok('create', f, '--size', '64M');
    const info = await cliJson('info', f);
    expect(info.type).toBe('dynamic');
    expect(info.virtualSize).toBe(64 * MiB);
    expect(info.blockSize).toBe(2 * MiB);
    expect(info.totalBlocks).toBe(32);
    expect(info.allocatedBlocks).toBe(0);
  });

  it('creates a fixed disk', async () => {
    const f = tmp.file('f.vhd');
    await ok('create', f, '--size', '1M', '--type', 'fixed');
    const info = await cliJson('info', f);
    expect(info.type).toBe('fixed');
    expect(info.virtualSize).toBe(MiB);
    expect(info.blockSize).toBeNull();
    expect(info.allocatedBlocks).toBeNull();
    expect(info.totalBlocks).toBeNull();
    expect(info.fileSize).toBe(MiB + 512);
  });

  it('honours --block-size 512K and sizes like 1G', async () => {
    const f = tmp.file('b.vhd');
    await ok('create', f, '--size', '1G', '--block-size', '512K');
    const info = await cliJson('info', f);
    expect(info.virtualSize).toBe(1024 * MiB);
    expect(info.blockSize).toBe(512 * KiB);
    expect(info.totalBlocks).toBe(2048);
  });

  it('rejects bad sizes, unaligned sizes and unknown options with exit 2, creating nothing', async () => {
    const f = tmp.file('x.vhd');
    for (const argv of [
      ['create', f, '--size', '12x'],
      ['create', f, '--size', '1000'],
      ['create', f, '--size', '64M', '--bogus'],
      ['create', f, '--size', '64M', '--type', 'sparse'],
      ['create', f],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/vhdsnap create: /);
      expect(r.out).toBe('');
    }
    expect(existsSync(f)).toBe(false);
  });

  it('refuses to overwrite an existing target with exit 1', async () => {
    const f = tmp.file('e.vhd');
    await fsp.writeFile(f, 'precious');
    const r = await cli('create', f, '--size', '1M');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/exists/);
    expect(await fsp.readFile(f, 'utf8')).toBe('precious');
  });
});

describe('vhdsnap info', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('--json has the documented shape for a base and for a differencing child', async () => {
    const base = tmp.file('base.vhd');
    await ok('create', base, '--size', '4M', '--block-size', '1M');
    const b = await cliJson('info', base);
    for (const k of [
      'path',
      'type',
      'virtualSize',
      'blockSize',
      'uuid',
      'timestamp',
      'creatorApp',
      'creatorHostOs',
      'fileSize',
      'allocatedBlocks',
      'totalBlocks',
      'parent',
      'chain',
    ]) {
      expect(b, k).toHaveProperty(k);
    }
    expect(b.path).toBe(path.resolve(base));
    expect(b.uuid).toMatch(UUID);
    expect(b.timestamp).toMatch(ISO);
    expect(typeof b.creatorApp).toBe('string');
    expect(typeof b.creatorHostOs).toBe('string');
    expect(b.fileSize).toBe((await fsp.stat(base)).size);
    expect(b.parent).toBeNull();
    expect(b.chain).toEqual([path.resolve(base)]);

    const r = await cliJson('snapshot', base, '--out', tmp.file('child.vhd'));
    const c = await cliJson('info', r.active);
    expect(c.type).toBe('differencing');
    expect(c.parent).not.toBeNull();
    expect(c.parent.uuid).toBe(b.uuid);
    expect(c.parent.name).toBe('base.vhd');
    expect(c.parent.path).toBe(path.resolve(base));
    expect(Array.isArray(c.parent.locators)).toBe(true);
    const platforms = c.parent.locators.map((l: { platform: string }) => l.platform);
    expect(platforms).toEqual(expect.arrayContaining(['W2ru', 'W2ku', 'MacX']));
    for (const l of c.parent.locators) {
      expect(Object.keys(l).sort()).toEqual(['path', 'platform']);
      expect(typeof l.path).toBe('string');
    }
    expect(c.chain).toEqual([path.resolve(tmp.file('child.vhd')), path.resolve(base)]);
  });

  it('a non-VHD file → exit 2 with a one-line message and no stack trace', async () => {
    const f = tmp.file('notes.txt');
    await fsp.writeFile(f, 'not a disk\n'.repeat(100));
    const r = await cli('info', f, '--json');
    expect(r.code).toBe(2);
    // --json: the error is also one document on stdout (what scripts read).
    expect(Object.keys(JSON.parse(r.out))).toEqual(['error']);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.err).toMatch(/^vhdsnap info: /);
  });

  it('a missing file → exit 2', async () => {
    const r = await cli('info', tmp.file('nope.vhd'));
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('vhdsnap write / export', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('writes at offsets (aligned, unaligned, across blocks) and export matches the model', async () => {
    const size = 4 * MiB;
    const f = tmp.file('w.vhd');
    await ok('create', f, '--size', '4M', '--block-size', '512K');
    const model = new DiskModel(size);
    const L = model.addBase();
    const rng = new Rng(7);
    for (const [off, len] of [
      [0, 512],
      [1000, 3000],
      [512 * KiB - 100, 700],
      [size - 513, 513],
      [2 * MiB + 17, 1],
    ]) {
      const r = await writeVia(tmp.dir, f, off, rng.bytes(len), model, L);
      expect(r.code, r.err).toBe(0);
    }
    assertSame(await exportBytes(tmp.dir, f), model.view(L), 'export after writes');
  });

  it('a write past the end is refused with exit 2 and changes nothing', async () => {
    const f = tmp.file('w.vhd');
    await ok('create', f, '--size', '1M');
    const r = await writeVia(tmp.dir, f, MiB - 10, Buffer.alloc(20, 1));
    expect(r.code).toBe(2);
    assertSame(await exportBytes(tmp.dir, f), Buffer.alloc(MiB), 'untouched');
  });

  it('export refuses an existing output with exit 1', async () => {
    const f = tmp.file('w.vhd');
    await ok('create', f, '--size', '1M');
    await fsp.writeFile(tmp.file('out.raw'), 'keep');
    const r = await cli('export', f, tmp.file('out.raw'));
    expect(r.code).toBe(1);
    expect(await fsp.readFile(tmp.file('out.raw'), 'utf8')).toBe('keep');
  });
});

describe('vhdsnap snapshot', () => {
  const tmp = useTmpDir('vhdsnap-cli-');
  const size = 4 * MiB;

  async function seeded(): Promise<{ disk: string; model: DiskModel; base: number; rng: Rng }> {
    const disk = tmp.file('vm.vhd');
    await ok('create', disk, '--size', '4M', '--block-size', '1M');
    const model = new DiskModel(size);
    const base = model.addBase();
    const rng = new Rng(11);
    for (const [off, len] of [
      [0, 4096],
      [MiB + 300, 5000],
      [3 * MiB, 512],
    ]) {
      expect((await writeVia(tmp.dir, disk, off, rng.bytes(len), model, base)).code).toBe(0);
    }
    return { disk, model, base, rng };
  }

  it('in place: active keeps the path and becomes a child of the snapshot holding the old content', async () => {
    const { disk, model, base, rng } = await seeded();
    const before = await cliJson('info', disk);
    const r = await cliJson<{ snapshot: string; active: string }>('snapshot', disk);
    expect(Object.keys(r).sort()).toEqual(['active', 'snapshot']);
    expect(r.active).toBe(path.resolve(disk));
    expect(r.snapshot).not.toBe(r.active);
    expect(path.dirname(r.snapshot)).toBe(path.dirname(path.resolve(disk)));

    const snapInfo = await cliJson('info', r.snapshot);
    expect(snapInfo.uuid).toBe(before.uuid); // the old file, now under the snapshot name
    expect(snapInfo.type).toBe('dynamic');
    const active = await cliJson('info', disk);
    expect(active.type).toBe('differencing');
    expect(active.uuid).not.toBe(before.uuid);
    expect(active.parent.uuid).toBe(before.uuid);
    expect(active.parent.path).toBe(r.snapshot);
    expect(active.chain).toEqual([r.active, r.snapshot]);
    expect(active.allocatedBlocks).toBe(0);

    assertSame(await exportBytes(tmp.dir, r.snapshot), model.view(base), 'snapshot content');
    assertSame(await exportBytes(tmp.dir, disk), model.view(base), 'active content right after the snapshot');

    // Writing through the active disk leaves the snapshot intact.
    const child = model.addChild(base);
    for (const [off, len] of [
      [100, 2000],
      [MiB - 256, 1024],
      [2 * MiB, 64 * KiB],
    ]) {
      const w = await writeVia(tmp.dir, disk, off, rng.bytes(len), model, child);
      expect(w.code, w.err).toBe(0);
    }
    assertSame(await exportBytes(tmp.dir, disk), model.view(child), 'active after writes');
    assertSame(await exportBytes(tmp.dir, r.snapshot), model.view(base), 'snapshot after writes into active');
  });

  it('refuses an in-place snapshot of a disk that already has a child (exit 1, names the child)', async () => {
    const { disk } = await seeded();
    await ok('snapshot', disk, '--out', tmp.file('branch-a.vhd'));
    const r = await cli('snapshot', disk);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/branch-a\.vhd/);
    const files = (await fsp.readdir(tmp.dir)).filter((n) => n.endsWith('.vhd')).sort();
    expect(files).toEqual(['branch-a.vhd', 'vm.vhd']);
  });

  it('--out creates a child elsewhere; the disk stays as the snapshot and refuses writes (exit 1)', async () => {
    const { disk, model, base, rng } = await seeded();
    const out = tmp.file('child.vhd');
    const r = await cliJson('snapshot', disk, '--out', out);
    expect(r).toEqual({ snapshot: path.resolve(disk), active: path.resolve(out) });
    const c = await cliJson('info', out);
    expect(c.parent.path).toBe(path.resolve(disk));
    assertSame(await exportBytes(tmp.dir, out), model.view(base), 'child content');

    const w = await writeVia(tmp.dir, disk, 0, rng.bytes(512));
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/child\.vhd/);
    assertSame(await exportBytes(tmp.dir, disk), model.view(base), 'parent unchanged after refused write');

    // An existing --out target is refused too.
    expect((await cli('snapshot', disk, '--out', out)).code).toBe(1);
  });

  it('--name is stored in the sidecar and shown by info and tree', async () => {
    const { disk } = await seeded();
    const r = await cliJson('snapshot', disk, '--name', 'before upgrade', '--description', 'clean install');
    const sidecar = JSON.parse(await fsp.readFile(tmp.file('.vhdsnap.json'), 'utf8'));
    const snapInfo = await cliJson('info', r.snapshot);
    expect(sidecar.disks[snapInfo.uuid].name).toBe('before upgrade');
    expect(snapInfo.name).toBe('before upgrade');
    expect((await ok('info', r.snapshot)).out).toMatch(/before upgrade/);
    const forest = await cliJson('tree', tmp.dir);
    expect(forest.roots).toHaveLength(1);
    expect(forest.roots[0].path).toBe(r.snapshot);
    expect(forest.roots[0].name).toBe('before upgrade');
    expect((await ok('tree', tmp.dir)).out).toMatch(/before upgrade/);
  });
});

describe('vhdsnap tree', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('--json lists a parent with two children and an orphan whose parent was deleted', async () => {
    const base = tmp.file('a-base.vhd');
    await ok('create', base, '--size', '2M');
    await ok('snapshot', base, '--out', tmp.file('b-one.vhd'));
    await ok('snapshot', base, '--out', tmp.file('c-two.vhd'));
    const gone = tmp.file('gone.vhd');
    await ok('create', gone, '--size', '2M');
    const goneInfo = await cliJson('info', gone);
    await ok('snapshot', gone, '--out', tmp.file('d-orphan.vhd'));
    await fsp.chmod(gone, 0o644);
    await fsp.unlink(gone);

    // An orphan is a problem found: exit 1, the forest still printed.
    const t = await cli('tree', tmp.dir, '--json');
    expect(t.code, t.err).toBe(1);
    const forest = JSON.parse(t.out);
    expect(forest.roots).toHaveLength(1);
    const root = forest.roots[0];
    for (const k of ['path', 'uuid', 'type', 'virtualSize', 'fileSize', 'children']) expect(root, k).toHaveProperty(k);
    expect(root.path).toBe(path.resolve(base));
    expect(root.type).toBe('dynamic');
    expect(root.virtualSize).toBe(2 * MiB);
    expect(root.uuid).toMatch(UUID);
    expect(root.children.map((c: { path: string }) => path.basename(c.path))).toEqual(['b-one.vhd', 'c-two.vhd']);
    for (const c of root.children) {
      expect(c.type).toBe('differencing');
      expect(c.children).toEqual([]);
      expect(c.fileSize).toBe((await fsp.stat(c.path)).size);
    }

    expect(forest.orphans).toHaveLength(1);
    const o = forest.orphans[0];
    for (const k of ['path', 'parentUuid', 'parentName', 'reason']) expect(o, k).toHaveProperty(k);
    expect(o.path).toBe(path.resolve(tmp.file('d-orphan.vhd')));
    expect(o.parentUuid).toBe(goneInfo.uuid);
    expect(o.parentName).toBe('gone.vhd');
    expect(typeof o.reason).toBe('string');
    expect(o.reason.length).toBeGreaterThan(0);
  });

  it('a missing folder → exit 2', async () => {
    expect((await cli('tree', tmp.file('nowhere'))).code).toBe(2);
  });
});

describe('vhdsnap import', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('→ dynamic leaves all-zero blocks unallocated and exports byte-exact', async () => {
    const raw = tmp.file('disk.raw');
    const bs = 512 * KiB;
    const data = Buffer.alloc(4 * MiB);
    const rng = new Rng(3);
    rng.bytes(1000).copy(data, 10); // block 0
    rng.bytes(bs).copy(data, 3 * bs); // block 3 full
    data[7 * bs + bs - 1] = 0xff; // last byte of block 7
    await fsp.writeFile(raw, data);
    const out = tmp.file('disk.vhd');
    const r = await cliJson('import', raw, out, '--block-size', '512K');
    expect(r.allocatedBlocks).toBe(3);
    const info = await cliJson('info', out);
    expect(info.type).toBe('dynamic');
    expect(info.allocatedBlocks).toBe(3);
    expect(info.totalBlocks).toBe(8);
    assertSame(await exportBytes(tmp.dir, out), data, 'dynamic round trip');
  });

  it('→ fixed round-trips byte-exact', async () => {
    const raw = tmp.file('disk.raw');
    const data = new Rng(5).bytes(MiB + 512);
    await fsp.writeFile(raw, data);
    const out = tmp.file('fixed.vhd');
    await ok('import', raw, out, '--type', 'fixed');
    const info = await cliJson('info', out);
    expect(info.type).toBe('fixed');
    expect(info.virtualSize).toBe(MiB + 512);
    assertSame(await exportBytes(tmp.dir, out), data, 'fixed round trip');
  });

  it('pads a raw size that is not a multiple of 512 with zeros (dynamic and fixed)', async () => {
    const raw = tmp.file('odd.raw');
    const data = new Rng(9).bytes(300 * KiB + 123);
    await fsp.writeFile(raw, data);
    const padded = Buffer.alloc(300 * KiB + 512);
    data.copy(padded);
    for (const type of ['dynamic', 'fixed']) {
      const out = tmp.file(`odd-${type}.vhd`);
      await ok('import', raw, out, '--type', type);
      const info = await cliJson('info', out);
      expect(info.virtualSize).toBe(padded.length);
      assertSame(await exportBytes(tmp.dir, out), padded, `${type} padded round trip`);
    }
  });

  it('a missing raw → exit 2; an existing output → exit 1', async () => {
    expect((await cli('import', tmp.file('none.raw'), tmp.file('x.vhd'))).code).toBe(2);
    await fsp.writeFile(tmp.file('r.raw'), Buffer.alloc(512));
    await fsp.writeFile(tmp.file('x.vhd'), 'keep');
    expect((await cli('import', tmp.file('r.raw'), tmp.file('x.vhd'))).code).toBe(1);
    expect(await fsp.readFile(tmp.file('x.vhd'), 'utf8')).toBe('keep');
  });
});

describe('vhdsnap check', () => {
  const tmp = useTmpDir('vhdsnap-cli-');

  it('exit 0 for a clean chain, 2 for a missing file', async () => {
    const f = tmp.file('c.vhd');
    await ok('create', f, '--size', '2M');
    await writeVia(tmp.dir, f, 512, Buffer.alloc(1024, 7));
    await ok('snapshot', f);
    const r = await cli('check', f, '--json');
    expect(r.code, r.err + r.out).toBe(0);
    JSON.parse(r.out);
    const m = await cli('check', tmp.file('missing.vhd'));
    expect(m.code).toBe(2);
  });
});

describe('usage', () => {
  it('unknown command and no command → 2; --help → 0', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli()).code).toBe(2);
    expect((await cli('--help')).code).toBe(0);
  });
});

describe('built binary', () => {
  const tmp = useTmpDir('vhdsnap-cli-');
  const bundle = path.join(ROOT, 'dist', 'cli', 'vhdsnap.cjs');

  it.skipIf(!existsSync(bundle))('node bin/vhdsnap.cjs info --json prints exactly one JSON document and sets exit codes', async () => {
    const run = promisify(execFile);
    const f = tmp.file('bin.vhd');
    await ok('create', f, '--size', '2M');
    const r = await run(process.execPath, [path.join(ROOT, 'bin', 'vhdsnap.cjs'), 'info', f, '--json'], { cwd: ROOT });
    const doc = JSON.parse(r.stdout); // throws on anything but a single document
    expect(doc.path).toBe(path.resolve(f));
    expect(r.stdout.trim().startsWith('{')).toBe(true);
    expect(r.stdout.trim().endsWith('}')).toBe(true);

    const bad = tmp.file('bad.vhd');
    await fsp.writeFile(bad, 'x');
    const e = await run(process.execPath, [path.join(ROOT, 'bin', 'vhdsnap.cjs'), 'info', bad, '--json'], { cwd: ROOT }).then(
      () => null,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(e?.code).toBe(2);
    expect(JSON.parse(e?.stdout ?? '').error.code).toMatch(/^[A-Z_]+$/);
    expect(e?.stderr).not.toMatch(/\n\s+at /);
    expect(leakLines(`${r.stderr}\n${e?.stderr}`)).toEqual([]);
  });
  if (!existsSync(bundle)) console.warn(`skipping the built-binary test: ${bundle} is missing (run npm run build)`);
});

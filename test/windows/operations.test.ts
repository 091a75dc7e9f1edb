// Windows tier: every vhdsnap operation run by the Windows Node under Wine
// (dist/cli/vhdsnap.cjs on Z:\ drive-letter paths, Windows file semantics:
// no rename over an open file, no directory fsync), judged on Linux with the
// same raw model as the Linux suites. Folders are built on Linux first, then
// one Wine start runs every scenario's CLI calls in order (test/support/wine.ts),
// then each test checks its own folder. Skips, saying why, where Wine is absent.
import { existsSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { resolveParent } from '../../core/disk/parent.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { decodeLocatorPayload } from '../../core/format/locator.js';
import { readSidecar } from '../../core/library/sidecar.js';
import { createDifferencing } from '../../core/ops/create.js';
import { expectCheckClean } from '../support/check.js';
import { assertSame } from '../support/compare.js';
import { flipByte } from '../support/corrupt.js';
import { Rng } from '../support/model.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { buildTree, readThrough, type BuiltTree } from '../support/tree.js';
import { CLI, findWine, runCliBatch, setupWine, winPath, type CliResult, type Wine } from '../support/wine.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 3 * MiB + 5 * 512;
const found = findWine();
if ('missing' in found) console.info(`windows tier skipped: ${found.missing}`);

interface Scenario {
  name: string;
  /** Builds the folder on Linux; returns the CLI calls (Linux paths are turned into Z:\ paths by `w`). */
  setup(dir: string, w: (p: string) => string): Promise<string[][]>;
  /** Checks the folder on Linux after the calls ran under Wine. */
  verify(dir: string, results: CliResult[]): Promise<void>;
}

const trees = new Map<string, BuiltTree>();
async function tree(dir: string, seed: number, parents: (number | null)[], extra: { blockSize?: number; base?: 'fixed' | 'dynamic' } = {}): Promise<BuiltTree> {
  const t = await buildTree(dir, seed, { parents, size: SIZE, blockSize: 512 * KiB, writesPerLayer: 8, ...extra });
  trees.set(dir, t);
  return t;
}
const t = (dir: string) => trees.get(dir)!;

/** Every disk name in the folder, and no journal, lock or temp file left. */
async function disksLeft(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir);
  const stray = names.filter((n) => /journal|lock|\.tmp$/i.test(n));
  expect(stray, `left behind in ${dir}`).toEqual([]);
  return names.filter((n) => /\.vhd$/i.test(n)).sort();
}

async function expectView(path: string, want: Buffer, parent: string | null | undefined = undefined): Promise<void> {
  assertSame(await readThrough(path), want, path);
  if (parent !== undefined) {
    const d = await openDisk(path);
    try {
      expect(d.layers[1] ? nodePath.basename(d.layers[1].path) : null, `${path}: parent`).toBe(parent);
    } finally {
      await d.close();
    }
  }
}

function allOk(results: CliResult[]): void {
  for (const r of results) expect(r.status, `vhdsnap ${r.args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
}

/** A data file for `vhdsnap write`, and the same bytes for the model. */
async function input(dir: string, name: string, rng: Rng, n: number): Promise<{ file: string; data: Buffer }> {
  const data = rng.bytes(n);
  const file = nodePath.join(dir, name);
  await fsp.writeFile(file, data);
  return { file, data };
}

const written = new Map<string, { offset: number; data: Buffer }>();
const LONG = 'x'.repeat(120);
const soloViews = new Map<string, Buffer>();
const soloSizeBefore = new Map<string, number>();

const scenarios: Scenario[] = [
  {
    name: 'create (dynamic and fixed)',
    setup: async (dir, w) => [
      ['create', w(`${dir}/a.vhd`), '--size', '3M', '--block-size', '512K'],
      ['create', w(`${dir}/f.vhd`), '--size', '1M', '--type', 'fixed'],
    ],
    verify: async (dir, rs) => {
      allOk(rs);
      expect(await disksLeft(dir)).toEqual(['a.vhd', 'f.vhd']);
      await expectView(`${dir}/a.vhd`, Buffer.alloc(3 * MiB), null);
      await expectView(`${dir}/f.vhd`, Buffer.alloc(MiB), null);
      const f = await VhdFile.open(`${dir}/a.vhd`);
      expect([f.type, f.blockSize]).toEqual(['dynamic', 512 * KiB]);
      await f.close();
      await expectCheckClean([`${dir}/a.vhd`, `${dir}/f.vhd`]);
    },
  },
  {
    name: 'import and export',
    setup: async (dir, w) => {
      const raw = Buffer.alloc(2 * MiB);
      new Rng(11).bytes(300 * KiB).copy(raw, 700 * KiB);
      await fsp.writeFile(`${dir}/in.raw`, raw);
      return [
        ['import', w(`${dir}/in.raw`), w(`${dir}/imp.vhd`)],
        ['export', w(`${dir}/imp.vhd`), w(`${dir}/out.raw`)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const raw = await fsp.readFile(`${dir}/in.raw`);
      await expectView(`${dir}/imp.vhd`, raw, null);
      assertSame(await fsp.readFile(`${dir}/out.raw`), raw, 'exported raw');
      await disksLeft(dir);
    },
  },
  {
    name: 'write into a differencing leaf',
    setup: async (dir, w) => {
      const tr = await tree(dir, 21, [null, 0]);
      const { file, data } = await input(dir, 'data.bin', tr.rng, 70_001);
      written.set(dir, { offset: 1_000_003, data });
      return [['write', w(`${dir}/d1.vhd`), '--offset', '1000003', '--input', w(file)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const wr = written.get(dir)!;
      model.write(1, wr.offset, wr.data);
      await expectView(`${dir}/d1.vhd`, model.view(1), 'd0.vhd');
      await expectView(`${dir}/d0.vhd`, model.view(0), null);
      await expectCheckClean([`${dir}/d1.vhd`]);
    },
  },
  {
    name: 'snapshot in place, then write the new child',
    setup: async (dir, w) => {
      const tr = await tree(dir, 22, [null, 0]);
      const { file, data } = await input(dir, 'data.bin', tr.rng, 5000);
      written.set(dir, { offset: 4096, data });
      return [
        ['snapshot', w(`${dir}/d1.vhd`), '--name', 'before'],
        ['write', w(`${dir}/d1.vhd`), '--offset', '4096', '--input', w(file)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const names = await disksLeft(dir);
      const snap = names.find((n) => /^d1-snap-\d{8}-\d{6}\.vhd$/.test(n));
      expect(snap, names.join(', ')).toBeDefined();
      const next = model.addChild(1);
      const wr = written.get(dir)!;
      model.write(next, wr.offset, wr.data);
      await expectView(`${dir}/${snap}`, model.view(1), 'd0.vhd');
      await expectView(`${dir}/d1.vhd`, model.view(next), snap);
      expect(Object.values((await readSidecar(dir)).disks).map((l) => l.name)).toEqual(['before']);
      await expectCheckClean([`${dir}/d1.vhd`]);
    },
  },
  {
    name: 'snapshot --out (a branch), then write it',
    setup: async (dir, w) => {
      const tr = await tree(dir, 23, [null, 0]);
      const { file, data } = await input(dir, 'data.bin', tr.rng, 3000);
      written.set(dir, { offset: 2 * MiB - 1000, data });
      return [
        ['snapshot', w(`${dir}/d1.vhd`), '--out', w(`${dir}/b.vhd`)],
        ['write', w(`${dir}/b.vhd`), '--offset', String(2 * MiB - 1000), '--input', w(file)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const b = model.addChild(1);
      const wr = written.get(dir)!;
      model.write(b, wr.offset, wr.data);
      expect(await disksLeft(dir)).toEqual(['b.vhd', 'd0.vhd', 'd1.vhd']);
      await expectView(`${dir}/d1.vhd`, model.view(1), 'd0.vhd');
      await expectView(`${dir}/b.vhd`, model.view(b), 'd1.vhd');
    },
  },
  {
    name: 'merge (grandchild relinked)',
    setup: async (dir, w) => {
      await tree(dir, 24, [null, 0, 1, 2]);
      return [['merge', w(`${dir}/d2.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      expect(await disksLeft(dir)).toEqual(['d0.vhd', 'd1.vhd', 'd3.vhd']);
      await expectView(`${dir}/d1.vhd`, model.view(2), 'd0.vhd');
      await expectView(`${dir}/d3.vhd`, model.view(3), 'd1.vhd');
      await expectCheckClean([`${dir}/d3.vhd`]);
    },
  },
  {
    name: 'merge --into an older ancestor',
    setup: async (dir, w) => {
      await tree(dir, 25, [null, 0, 1, 2]);
      return [['merge', w(`${dir}/d2.vhd`), '--into', w(`${dir}/d0.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      expect(await disksLeft(dir)).toEqual(['d0.vhd', 'd3.vhd']);
      await expectView(`${dir}/d0.vhd`, model.view(2), null);
      await expectView(`${dir}/d3.vhd`, model.view(3), 'd0.vhd');
      await expectCheckClean([`${dir}/d3.vhd`]);
    },
  },
  {
    name: 'flatten to dynamic, fixed and raw',
    setup: async (dir, w) => {
      await tree(dir, 26, [null, 0, 1]);
      return [
        ['flatten', w(`${dir}/d2.vhd`), w(`${dir}/dyn.vhd`), '--format', 'dynamic'],
        ['flatten', w(`${dir}/d2.vhd`), w(`${dir}/fix.vhd`), '--format', 'fixed'],
        ['flatten', w(`${dir}/d2.vhd`), w(`${dir}/out.raw`), '--format', 'raw'],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      await expectView(`${dir}/dyn.vhd`, model.view(2), null);
      await expectView(`${dir}/fix.vhd`, model.view(2), null);
      assertSame(await fsp.readFile(`${dir}/out.raw`), model.view(2), 'raw output');
      await expectView(`${dir}/d2.vhd`, model.view(2), 'd1.vhd');
      await expectCheckClean([`${dir}/dyn.vhd`, `${dir}/fix.vhd`]);
      await disksLeft(dir);
    },
  },
  {
    name: 'delete a snapshot folded into its two children',
    setup: async (dir, w) => {
      await tree(dir, 27, [null, 0, 1, 1]);
      return [['delete', w(`${dir}/d1.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      expect(await disksLeft(dir)).toEqual(['d0.vhd', 'd2.vhd', 'd3.vhd']);
      await expectView(`${dir}/d2.vhd`, model.view(2), 'd0.vhd');
      await expectView(`${dir}/d3.vhd`, model.view(3), 'd0.vhd');
      await expectCheckClean([`${dir}/d2.vhd`, `${dir}/d3.vhd`]);
    },
  },
  {
    name: 'delete a base taken in by its only child',
    setup: async (dir, w) => {
      await tree(dir, 28, [null, 0, 1]);
      return [['delete', w(`${dir}/d0.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      expect(await disksLeft(dir)).toEqual(['d1.vhd', 'd2.vhd']);
      await expectView(`${dir}/d1.vhd`, model.view(1), null);
      await expectView(`${dir}/d2.vhd`, model.view(2), 'd1.vhd');
      await expectCheckClean([`${dir}/d2.vhd`]);
    },
  },
  {
    name: 'revert --keep',
    setup: async (dir, w) => {
      await tree(dir, 29, [null, 0, 1]);
      return [['revert', w(`${dir}/d2.vhd`), '--keep']];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const names = await disksLeft(dir);
      const kept = names.find((n) => /^d2-state-\d{8}-\d{6}\.vhd$/.test(n));
      expect(kept, names.join(', ')).toBeDefined();
      await expectView(`${dir}/d2.vhd`, model.view(1), 'd1.vhd');
      await expectView(`${dir}/${kept}`, model.view(2), 'd1.vhd');
      await expectCheckClean([`${dir}/d2.vhd`, `${dir}/${kept}`]);
    },
  },
  {
    name: 'switch to a saved state (the active path shows it, the old state kept)',
    setup: async (dir, w) => {
      await tree(dir, 31, [null, 0, 1, 1]);
      // d3 under a generated state name: a saved state; d2 is the active disk.
      await fsp.rename(`${dir}/d3.vhd`, `${dir}/d3-state-20260101-000000.vhd`);
      return [['switch', w(`${dir}/d3-state-20260101-000000.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const names = await disksLeft(dir);
      const kept = names.find((n) => /^d2-state-\d{8}-\d{6}(-\d+)?\.vhd$/.test(n));
      expect(kept, names.join(', ')).toBeDefined();
      await expectView(`${dir}/d2.vhd`, model.view(3), 'd1.vhd');
      await expectView(`${dir}/${kept}`, model.view(2), 'd1.vhd');
      await expectCheckClean([`${dir}/d2.vhd`, `${dir}/${kept}`]);
    },
  },
  {
    name: 'reparent a child whose parent moved',
    setup: async (dir, w) => {
      await tree(dir, 30, [null, 0]);
      await fsp.mkdir(`${dir}/moved`);
      await fsp.rename(`${dir}/d0.vhd`, `${dir}/moved/base.vhd`);
      return [['reparent', w(`${dir}/d1.vhd`), w(`${dir}/moved/base.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      await expectView(`${dir}/d1.vhd`, model.view(1), 'base.vhd');
      await expectCheckClean([`${dir}/d1.vhd`]);
    },
  },
  {
    name: 'repair a damaged trailing footer',
    setup: async (dir, w) => {
      await tree(dir, 31, [null]);
      const size = (await fsp.stat(`${dir}/d0.vhd`)).size;
      await flipByte(`${dir}/d0.vhd`, size - 512 + 28); // creator application: checksum no longer matches
      return [['repair', w(`${dir}/d0.vhd`)]];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const b = await fsp.readFile(`${dir}/d0.vhd`);
      assertSame(b.subarray(b.length - 512), b.subarray(0, 512), 'trailing footer against its copy');
      await expectView(`${dir}/d0.vhd`, t(dir).model.view(0), null);
      await expectCheckClean([`${dir}/d0.vhd`]);
    },
  },
  {
    name: 'compact a dynamic disk and a differencing leaf',
    setup: async (dir, w) => {
      const tr = await tree(dir, 32, [null, 0]);
      // solo: d0's content with one whole block written, then zeroed: allocated and droppable.
      await fsp.copyFile(`${dir}/d0.vhd`, `${dir}/solo.vhd`);
      const d = await openDisk(`${dir}/solo.vhd`, { writable: true, sync: false });
      await d.write(MiB, tr.rng.bytes(512 * KiB));
      await d.write(MiB, Buffer.alloc(512 * KiB));
      await d.close();
      const solo = Buffer.from(tr.model.view(0));
      solo.fill(0, MiB, MiB + 512 * KiB);
      soloViews.set(dir, solo);
      soloSizeBefore.set(dir, (await fsp.stat(`${dir}/solo.vhd`)).size);
      await createDifferencing(`${dir}/e.vhd`, `${dir}/d1.vhd`);
      tr.model.addChild(1);
      return [
        ['compact', w(`${dir}/solo.vhd`)],
        ['compact', w(`${dir}/e.vhd`)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      expect((await fsp.stat(`${dir}/solo.vhd`)).size).toBeLessThan(soloSizeBefore.get(dir)!);
      await expectView(`${dir}/solo.vhd`, soloViews.get(dir)!, null);
      await expectView(`${dir}/e.vhd`, model.view(2), 'd1.vhd');
      await expectCheckClean([`${dir}/solo.vhd`, `${dir}/e.vhd`]);
      await disksLeft(dir);
    },
  },
  {
    name: 'resize a dynamic disk',
    setup: async (dir, w) => {
      await tree(dir, 33, [null]);
      return [['resize', w(`${dir}/d0.vhd`), '--size', '8M']];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const want = Buffer.alloc(8 * MiB);
      t(dir).model.view(0).copy(want);
      await expectView(`${dir}/d0.vhd`, want, null);
      await expectCheckClean([`${dir}/d0.vhd`]);
    },
  },
  {
    name: 'name and describe a disk; tree shows it',
    setup: async (dir, w) => {
      await tree(dir, 34, [null, 0]);
      return [
        ['name', w(`${dir}/d0.vhd`), 'base image', '--description', 'from Wine'],
        ['tree', w(dir), '--json'],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const f = await VhdFile.open(`${dir}/d0.vhd`);
      const label = (await readSidecar(dir)).disks[f.uuid];
      await f.close();
      expect(label).toMatchObject({ name: 'base image', description: 'from Wine' });
      expect(rs[1].stdout).toContain('base image');
      expect(rs[1].stdout).toContain(winPath(`${dir}/d1.vhd`).replace(/\\/g, '\\\\'));
    },
  },
  {
    name: 'a chain written under Wine carries Windows locators and reads on Linux',
    setup: async (dir, w) => {
      await fsp.mkdir(`${dir}/base`);
      await fsp.mkdir(`${dir}/kids`);
      const tr = await tree(`${dir}/base`, 35, [null]);
      trees.set(dir, tr);
      const { file, data } = await input(dir, 'data.bin', tr.rng, 9000);
      written.set(dir, { offset: 777, data });
      return [
        ['snapshot', w(`${dir}/base/d0.vhd`), '--out', w(`${dir}/kids/k.vhd`)],
        ['write', w(`${dir}/kids/k.vhd`), '--offset', '777', '--input', w(file)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      const k = model.addChild(0);
      const wr = written.get(dir)!;
      model.write(k, wr.offset, wr.data);
      const f = await VhdFile.open(`${dir}/kids/k.vhd`);
      const payloads: Record<string, string | null> = {};
      for (const l of f.header!.locators.filter((x) => x.dataLength > 0)) {
        const b = Buffer.alloc(l.dataLength);
        await f.file.read(b, Number(l.dataOffset));
        payloads[l.code] = decodeLocatorPayload(l.code, b);
      }
      // As Hyper-V writes them: the real absolute Windows path, and the .\-relative one.
      expect(payloads.W2ku).toBe(winPath(`${dir}/base/d0.vhd`));
      expect(payloads.W2ru).toBe('.\\..\\base\\d0.vhd');
      expect(payloads.MacX).toBe('file:///' + winPath(`${dir}/base/d0.vhd`).replace(/\\/g, '/'));
      // The parent is in another folder: only W2ru can find it on Linux.
      expect(await resolveParent(f).then(async (r) => (await r.file.close(), r.source))).toBe('W2ru');
      await f.close();
      await expectView(`${dir}/kids/k.vhd`, model.view(k), 'd0.vhd');
      // Moved as a whole to another folder: still opens.
      await fsp.rename(dir, `${dir}-moved`);
      try {
        await expectView(`${dir}-moved/kids/k.vhd`, model.view(k), 'd0.vhd');
      } finally {
        await fsp.rename(`${dir}-moved`, dir);
      }
    },
  },
  {
    name: 'a chain written on Linux reads under Wine (also after moving its folder)',
    setup: async (dir, w) => {
      await fsp.mkdir(`${dir}/a/base`, { recursive: true });
      await fsp.mkdir(`${dir}/a/kids`);
      const tr = await tree(`${dir}/a/base`, 36, [null]);
      trees.set(dir, tr);
      await createDifferencing(`${dir}/a/kids/k.vhd`, `${dir}/a/base/d0.vhd`);
      const d = await openDisk(`${dir}/a/kids/k.vhd`, { writable: true, sync: false });
      const data = tr.rng.bytes(12345);
      await d.write(SIZE - 20000, data);
      await d.close();
      const k = tr.model.addChild(0);
      tr.model.write(k, SIZE - 20000, data);
      await fsp.cp(`${dir}/a`, `${dir}/b`, { recursive: true });
      return [
        ['export', w(`${dir}/a/kids/k.vhd`), w(`${dir}/a.raw`)],
        ['export', w(`${dir}/b/kids/k.vhd`), w(`${dir}/b.raw`)],
        ['check', w(`${dir}/b/kids/k.vhd`)],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const { model } = t(dir);
      assertSame(await fsp.readFile(`${dir}/a.raw`), model.view(1), 'exported under Wine from the Linux chain');
      assertSame(await fsp.readFile(`${dir}/b.raw`), model.view(1), 'exported under Wine from the moved copy');
    },
  },
  {
    name: 'long paths (over 260 characters): create, write, snapshot, merge, compact',
    setup: async (dir, w) => {
      const deep = `${dir}/${LONG}/${LONG}`;
      await fsp.mkdir(deep, { recursive: true });
      const tr = await tree(deep, 37, [null, 0]);
      trees.set(dir, tr);
      const { file, data } = await input(dir, 'data.bin', tr.rng, 4000);
      written.set(dir, { offset: 123_456, data });
      const p = (n: string) => w(`${deep}/${n}`);
      expect(p('d1-with-a-long-name.vhd').length).toBeGreaterThan(260);
      return [
        ['snapshot', p('d1.vhd'), '--out', p('d2-with-a-long-name.vhd')],
        ['write', p('d2-with-a-long-name.vhd'), '--offset', '123456', '--input', w(file)],
        // d2 is the active disk (made by --out of the active d1): the merge keeps it at its path and d1 goes.
        ['merge', p('d2-with-a-long-name.vhd')],
        ['compact', p('d2-with-a-long-name.vhd')],
        ['create', p('new-with-a-long-name.vhd'), '--size', '1M'],
      ];
    },
    verify: async (dir, rs) => {
      allOk(rs);
      const deep = `${dir}/${LONG}/${LONG}`;
      const { model } = t(dir);
      const wr = written.get(dir)!;
      model.write(1, wr.offset, wr.data);
      expect(await disksLeft(deep)).toEqual(['d0.vhd', 'd2-with-a-long-name.vhd', 'new-with-a-long-name.vhd']);
      await expectView(`${deep}/d2-with-a-long-name.vhd`, model.view(1), 'd0.vhd');
      await expectView(`${deep}/new-with-a-long-name.vhd`, Buffer.alloc(MiB), null);
    },
  },
];

describe.skipIf('missing' in found)('Windows tier: every operation under Wine', () => {
  let work = '';
  const results = new Map<string, CliResult[]>();
  const dirs = new Map<string, string>();
  let calls = 0;

  beforeAll(async () => {
    expect(existsSync(CLI), 'run npm run build first').toBe(true);
    const wine: Wine = setupWine((found as { wine: string }).wine);
    work = makeTmpDir('vhdsnap-windows-');
    const plan: { name: string; args: string[] }[] = [];
    for (const [i, s] of scenarios.entries()) {
      const dir = nodePath.join(work, `s${i}`);
      await fsp.mkdir(dir);
      dirs.set(s.name, dir);
      for (const args of await s.setup(dir, winPath)) plan.push({ name: s.name, args });
    }
    const out = await runCliBatch(wine, plan, { timeout: 240_000 });
    calls = out.length;
    for (const [i, r] of out.entries()) results.set(plan[i].name, [...(results.get(plan[i].name) ?? []), r]);
  }, 300_000);

  afterAll(() => {
    if (work) removeTmpDir(work);
    console.log(`windows tier: ${scenarios.length} operation scenarios (${calls} vhdsnap runs) under Wine`);
  });

  for (const s of scenarios) {
    it(s.name, async () => {
      await s.verify(dirs.get(s.name)!, results.get(s.name) ?? []);
    });
  }
});

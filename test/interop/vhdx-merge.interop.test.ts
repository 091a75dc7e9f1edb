// merge of AVHDX chains (merge-vhdx.ts: the parent rewritten beside itself,
// then swapped in): a saved-state leaf into its AVHDX parent and the active
// disk into its parent, read back byte for byte against a plain model built
// from what each layer defines, through libvhdi (pyvhdi with set_parent) for
// 4 KiB-aligned data, and through qemu-img for a merged dynamic base; the
// refusals leave every file as it was.
import { execFile, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readThrough } from '../support/tree.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { CancelledError } from '../../core/errors.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { recordActive } from '../../core/library/active.js';
import { readSidecar, setLabel, getLabel } from '../../core/library/sidecar.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { cli } from '../support/cli.js';
import { useHolders } from '../support/holders.js';
import { Rng } from '../support/model.js';
import { HAVE_PYVHDI, PYVHDI_MISSING, pyvhdiShas } from '../support/pyvhdi.js';
import { useTmpDir } from '../support/tmp.js';
import { linkTo, makeVhdx, type BuiltVhdx, type VhdxBuildOptions } from '../support/vhdx-build.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ok = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = ok('qemu-img');
if (!HAVE_QEMU) console.log('VHDX merge qemu checks skipped: qemu-img is not on PATH');
if (!HAVE_PYVHDI) console.log(`VHDX merge libvhdi comparisons skipped: ${PYVHDI_MISSING}`);

const SIZE = 12 * MiB;

async function identity(p: string) {
  const f = await VhdxFile.open(p);
  try {
    return {
      diskId: f.diskId,
      dataWriteGuid: f.dataWriteGuid,
      type: f.type,
      blockSize: f.blockSize,
      logicalSectorSize: f.logicalSectorSize,
      physicalSectorSize: f.physicalSectorSize,
      parentLinkage: f.parentLinkage,
      relativePath: f.parentLocator?.entries.find((e) => e.key === 'relative_path')?.value,
    };
  } finally {
    await f.close();
  }
}

const pyvhdi = (...files: string[]) => pyvhdiShas(files);

const sha = async (b: Buffer) => (await import('node:crypto')).createHash('sha256').update(b).digest('hex');

describe('merge of AVHDX chains', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-merge-');
  const holders = useHolders();

  /** Random writes of whole `unit`s (4096: what libvhdi reads right; 512: unaligned to 4 KiB), some of zeros over data below. */
  function writes(rng: Rng, unit: number, n: number): { offset: number; data: Uint8Array }[] {
    return Array.from({ length: n }, (_, i) => {
      const len = (1 + rng.int(200)) * unit;
      const offset = rng.int((SIZE - len) / unit) * unit;
      return { offset, data: i % 4 === 3 ? Buffer.alloc(len) : rng.bytes(len) };
    });
  }

  /** Builds one layer and applies what it defines to the model of its chain. */
  async function layer(name: string, o: VhdxBuildOptions, model: Buffer): Promise<BuiltVhdx> {
    const built = await makeVhdx(tmp.file(name), o);
    const own = built.expected(0, SIZE);
    const lss = o.logicalSectorSize ?? 512;
    own.present.forEach((p, s) => p && own.data.copy(model, s * lss, s * lss, (s + 1) * lss));
    return built;
  }

  /** base.vhdx ← s1.avhdx ← s2.avhdx (and ← s3.avhdx): the model of each disk by name. */
  async function chain(seed: number, unit: number, depth: number, lss: 512 | 4096 = 512, quirks = true): Promise<Map<string, Buffer>> {
    const rng = new Rng(seed);
    const models = new Map<string, Buffer>();
    let model = Buffer.alloc(SIZE);
    let below: { built: BuiltVhdx; name: string } | null = null;
    for (let d = 0; d < depth; d++) {
      const name = d === 0 ? 'base.vhdx' : `s${d}.avhdx`;
      model = Buffer.from(model);
      // With quirks (libvhdi misreads them): s1's blocks differ in size from its parent's; a block of s2 is in the zero state (zeros over its parent).
      const built: BuiltVhdx = await layer(
        name,
        {
          kind: d === 0 ? 'dynamic' : 'differencing',
          virtualSize: SIZE,
          blockSize: quirks && d === 1 ? MiB : 2 * MiB,
          logicalSectorSize: lss,
          writes: writes(rng, Math.max(unit, lss), 10),
          ...(quirks && d === 2 ? { states: { 3: PayloadState.Zero } } : {}),
          locator: below ? linkTo(below.built, `.\\${below.name}`) : undefined,
        },
        model,
      );
      if (quirks && d === 2) model.fill(0, 3 * 2 * MiB, 4 * 2 * MiB);
      models.set(name, model);
      below = { built, name };
    }
    return models;
  }

  it('a saved-state leaf into its AVHDX parent: the parent is rewritten in its shape with a new data write GUID and reads as the leaf did', async () => {
    const models = await chain(51, 512, 3);
    // A second branch holds the active disk, so s2 is a saved state and s1 has s2 as its only child.
    const base = await VhdxFile.open(tmp.file('base.vhdx'));
    const baseGuid = base.dataWriteGuid;
    await base.close();
    await makeVhdx(tmp.file('t1.avhdx'), {
      kind: 'differencing',
      virtualSize: SIZE,
      blockSize: 2 * MiB,
      locator: linkTo(await builtOf(tmp.file('base.vhdx')), '.\\base.vhdx'),
    });
    await recordActive(tmp.file('t1.avhdx'));
    expect((await readThrough(tmp.file('s2.avhdx'))).equals(models.get('s2.avhdx')!)).toBe(true);
    const before = await identity(tmp.file('s1.avhdx'));
    const label = await setLabel(tmp.file('s1.avhdx'), before.dataWriteGuid, { name: 'Before upgrade' });

    const plan = await planOperation({ op: 'merge', disk: tmp.file('s2.avhdx') });
    expect(plan.refusals).toEqual([]);
    expect(plan.summary).toMatch(
      /^Rewrite s1\.avhdx with the data of s2\.avhdx folded in, as a new differencing VHDX over base\.vhdx beside it \(up to [\d.]+ MiB of free space needed until the old file goes\), then rename it over s1\.avhdx and delete s2\.avhdx\.$/,
    );
    expect(plan.changes.map((c) => [path.basename(c.path), c.action])).toEqual([
      ['s1.avhdx', 'modify'],
      ['s2.avhdx', 'delete'],
    ]);
    const r = await runOperation({ op: 'merge', disk: tmp.file('s2.avhdx') });
    expect(r.merged).toBe(tmp.file('s1.avhdx'));
    expect(r.removed).toEqual([tmp.file('s2.avhdx')]);
    expect((await fsp.readdir(tmp.dir)).filter((n) => !n.startsWith('.vhdsnap.json')).sort()).toEqual(['base.vhdx', 's1.avhdx', 't1.avhdx']);
    expect((await readThrough(tmp.file('s1.avhdx'))).equals(models.get('s2.avhdx')!)).toBe(true);
    const after = await identity(tmp.file('s1.avhdx'));
    // Same disk id, sizes and parent link; a new data write GUID (its content changed).
    expect({ ...after, dataWriteGuid: '' }).toEqual({ ...before, dataWriteGuid: '' });
    expect(after.dataWriteGuid).not.toBe(before.dataWriteGuid);
    expect(after.parentLinkage).toBe(`{${baseGuid}}`);
    // The label follows the merged disk.
    expect(label.name).toBe('Before upgrade');
    expect((await getLabel(tmp.file('s1.avhdx'), after.dataWriteGuid))?.name).toBe('Before upgrade');
    expect((await cli('check', tmp.file('s1.avhdx'), '--json')).code).toBe(0);
  });

  it('the active disk of a depth-4 chain with 4096-byte sectors, twice: its path keeps showing its content; libvhdi reads it the same', async () => {
    const models = await chain(52, 4096, 4, 4096, false);
    const s3 = models.get('s3.avhdx')!;
    if (HAVE_PYVHDI) {
      const shas = await pyvhdi(tmp.file('base.vhdx'), tmp.file('s1.avhdx'), tmp.file('s2.avhdx'), tmp.file('s3.avhdx'));
      expect(shas[3]).toBe(await sha(s3));
    }
    // s3 is the only leaf, so the active disk: the merge keeps its path and removes s2.
    const plan = await planOperation({ op: 'merge', disk: tmp.file('s3.avhdx') });
    expect(plan.refusals).toEqual([]);
    expect(plan.summary).toMatch(/then put it at s3\.avhdx's path \(the active disk, the path your VM uses\) and delete s2\.avhdx\.$/);
    const r1 = await cli('merge', tmp.file('s3.avhdx'), '--json');
    expect(r1.code, r1.out + r1.err).toBe(0);
    expect((await fsp.readdir(tmp.dir)).filter((n) => n !== '.vhdsnap.json').sort()).toEqual(['base.vhdx', 's1.avhdx', 's3.avhdx']);
    expect((await readThrough(tmp.file('s3.avhdx'))).equals(s3)).toBe(true);
    const s1 = await identity(tmp.file('s1.avhdx'));
    const merged = await identity(tmp.file('s3.avhdx'));
    expect(merged.parentLinkage).toBe(`{${s1.dataWriteGuid}}`);
    expect(merged.relativePath).toBe('.\\s1.avhdx');
    if (HAVE_PYVHDI) expect((await pyvhdi(tmp.file('base.vhdx'), tmp.file('s1.avhdx'), tmp.file('s3.avhdx')))[2]).toBe(await sha(s3));

    // Down to the base: the merged disk is dynamic (base.vhdx's shape) at s3's path, s1 merged first.
    expect((await cli('merge', tmp.file('s3.avhdx'))).code).toBe(0);
    const r3 = await cli('merge', tmp.file('s3.avhdx'));
    expect(r3.code, r3.out + r3.err).toBe(0);
    expect((await fsp.readdir(tmp.dir)).filter((n) => n !== '.vhdsnap.json').sort()).toEqual(['s3.avhdx']);
    const last = await identity(tmp.file('s3.avhdx'));
    expect(last.type).toBe('dynamic');
    expect(last.logicalSectorSize).toBe(4096);
    expect((await readThrough(tmp.file('s3.avhdx'))).equals(s3)).toBe(true);
    if (HAVE_PYVHDI) expect(await pyvhdi(tmp.file('s3.avhdx'))).toEqual([await sha(s3)]);
    // QEMU opens no VHDX with 4096-byte logical sectors (ENOTSUP): the 512-byte case below checks with qemu-img.
  });

  it('unaligned writes and zeros over the parent: a leaf merged into a dynamic base reads as the model; qemu-img reads the base the same', async () => {
    const models = await chain(53, 512, 2);
    // The base with a second child: refused (its child would no longer match).
    await makeVhdx(tmp.file('other.avhdx'), { kind: 'differencing', virtualSize: SIZE, locator: linkTo(await builtOf(tmp.file('base.vhdx'))) });
    const refused = await planOperation({ op: 'merge', disk: tmp.file('s1.avhdx') });
    expect(refused.refusals.map((x) => x.code)).toContain('PARENT_HAS_OTHER_CHILDREN');
    await fsp.rm(tmp.file('other.avhdx'));
    const plan = await planOperation({ op: 'merge', disk: tmp.file('s1.avhdx') });
    expect(plan.cautions?.join(' ')).toMatch(/s1\.avhdx will hold a disk with no parent under its \.avhdx name/);
    const r = await cli('merge', tmp.file('s1.avhdx'));
    expect(r.code, r.out + r.err).toBe(0);
    // s1 was the active disk: the merged dynamic disk is at its path.
    expect((await readThrough(tmp.file('s1.avhdx'))).equals(models.get('s1.avhdx')!)).toBe(true);
    expect((await identity(tmp.file('s1.avhdx'))).type).toBe('dynamic');
    if (HAVE_QEMU) {
      const check = await run('qemu-img', ['check', '-f', 'vhdx', tmp.file('s1.avhdx')]);
      expect(check.stdout).toMatch(/No errors were found/);
      await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', tmp.file('s1.avhdx'), tmp.file('out.raw')]);
      expect((await fsp.readFile(tmp.file('out.raw'))).equals(models.get('s1.avhdx')!)).toBe(true);
    }
  });

  it('a snapshot with two children into its parent: the merged disk at the parent path, both children relinked to it (content and id kept); libvhdi agrees', async () => {
    const models = await chain(56, 4096, 3, 512, false);
    // A second child of s1 beside s2: s1 is a snapshot with two children.
    const s1Built = await builtOf(tmp.file('s1.avhdx'));
    const t2 = Buffer.from(models.get('s1.avhdx')!);
    await layer(
      't2.avhdx',
      { kind: 'differencing', virtualSize: SIZE, blockSize: 2 * MiB, writes: writes(new Rng(57), 4096, 5), locator: linkTo(s1Built, '.\\s1.avhdx') },
      t2,
    );
    await recordActive(tmp.file('s2.avhdx'));
    const before = await Promise.all(['s2.avhdx', 't2.avhdx'].map((n) => identity(tmp.file(n))));
    const plan = await planOperation({ op: 'merge', disk: tmp.file('s1.avhdx') });
    expect(plan.refusals).toEqual([]);
    expect(plan.changes.map((c) => [path.basename(c.path), c.action])).toEqual([
      ['base.vhdx', 'modify'],
      ['s2.avhdx', 'modify'],
      ['t2.avhdx', 'modify'],
      ['s1.avhdx', 'delete'],
    ]);
    const r = await cli('merge', tmp.file('s1.avhdx'), '--json');
    expect(r.code, r.out + r.err).toBe(0);
    expect((await fsp.readdir(tmp.dir)).filter((n) => n !== '.vhdsnap.json').sort()).toEqual(['base.vhdx', 's2.avhdx', 't2.avhdx']);
    const merged = await identity(tmp.file('base.vhdx'));
    expect(merged.type).toBe('dynamic');
    expect((await readThrough(tmp.file('base.vhdx'))).equals(models.get('s1.avhdx')!)).toBe(true);
    // A snapshot still (it has children): read-only.
    expect((await fsp.stat(tmp.file('base.vhdx'))).mode & 0o222).toBe(0);
    for (const [i, n] of ['s2.avhdx', 't2.avhdx'].entries()) {
      const after = await identity(tmp.file(n));
      expect(after.dataWriteGuid).toBe(before[i].dataWriteGuid);
      expect(after.parentLinkage).toBe(`{${merged.dataWriteGuid}}`);
      expect(after.relativePath).toBe('.\\base.vhdx');
    }
    expect((await readThrough(tmp.file('s2.avhdx'))).equals(models.get('s2.avhdx')!)).toBe(true);
    expect((await readThrough(tmp.file('t2.avhdx'))).equals(t2)).toBe(true);
    expect((await cli('check', tmp.file('s2.avhdx'), tmp.file('t2.avhdx'), '--json')).code).toBe(0);
    if (HAVE_PYVHDI) {
      expect(await pyvhdi(tmp.file('base.vhdx'), tmp.file('s2.avhdx'))).toEqual([await sha(models.get('s1.avhdx')!), await sha(models.get('s2.avhdx')!)]);
      expect((await pyvhdi(tmp.file('base.vhdx'), tmp.file('t2.avhdx')))[1]).toBe(await sha(t2));
    }
  });

  it('--into the base of a depth-4 chain: one rewrite of the base with every layer folded in, the layers between removed, the child of the child relinked', async () => {
    const models = await chain(58, 4096, 4, 512, false);
    // s3 over s2 is the active disk, so s2 (a snapshot with a child) is what is merged, into the base.
    await recordActive(tmp.file('s3.avhdx'));
    await setLabel(tmp.file('s1.avhdx'), (await identity(tmp.file('s1.avhdx'))).dataWriteGuid, { name: 'gone with the merge' });
    const s3 = await identity(tmp.file('s3.avhdx'));
    const plan = await planOperation({ op: 'merge', disk: tmp.file('s2.avhdx'), into: tmp.file('base.vhdx') });
    expect(plan.refusals).toEqual([]);
    expect(plan.summary).toMatch(
      /^Rewrite base\.vhdx with the data of s1\.avhdx, s2\.avhdx folded in, as a new dynamic VHDX .*then rename it over base\.vhdx and delete s2\.avhdx and s1\.avhdx\.$/,
    );
    expect(plan.changes.map((c) => [path.basename(c.path), c.action])).toEqual([
      ['base.vhdx', 'modify'],
      ['s3.avhdx', 'modify'],
      ['s2.avhdx', 'delete'],
      ['s1.avhdx', 'delete'],
    ]);
    const r = await cli('merge', tmp.file('s2.avhdx'), '--into', tmp.file('base.vhdx'), '--json');
    expect(r.code, r.out + r.err).toBe(0);
    expect((await fsp.readdir(tmp.dir)).filter((n) => n !== '.vhdsnap.json').sort()).toEqual(['base.vhdx', 's3.avhdx']);
    expect((await readThrough(tmp.file('base.vhdx'))).equals(models.get('s2.avhdx')!)).toBe(true);
    expect((await readThrough(tmp.file('s3.avhdx'))).equals(models.get('s3.avhdx')!)).toBe(true);
    const base = await identity(tmp.file('base.vhdx'));
    const after = await identity(tmp.file('s3.avhdx'));
    expect(after.dataWriteGuid).toBe(s3.dataWriteGuid);
    expect(after.parentLinkage).toBe(`{${base.dataWriteGuid}}`);
    // The removed layers' labels go with them.
    expect(Object.values((await readSidecar(tmp.dir)).disks).map((l) => l.name)).not.toContain('gone with the merge');
    expect((await cli('check', tmp.file('s3.avhdx'), '--json')).code).toBe(0);
    if (HAVE_PYVHDI)
      expect(await pyvhdi(tmp.file('base.vhdx'), tmp.file('s3.avhdx'))).toEqual([await sha(models.get('s2.avhdx')!), await sha(models.get('s3.avhdx')!)]);
    if (HAVE_QEMU) await run('qemu-img', ['check', '-f', 'vhdx', tmp.file('base.vhdx')]);
  });

  it('a fixed base keeps its shape: every block allocated, the content the leaf showed', async () => {
    const rng = new Rng(54);
    const model = Buffer.alloc(SIZE);
    const base = await layer('base.vhdx', { kind: 'fixed', virtualSize: SIZE, blockSize: 2 * MiB, writes: writes(rng, 512, 6) }, model);
    await layer('s1.avhdx', { kind: 'differencing', virtualSize: SIZE, blockSize: 2 * MiB, writes: writes(rng, 512, 6), locator: linkTo(base) }, model);
    expect((await cli('merge', tmp.file('s1.avhdx'))).code).toBe(0);
    const f = await VhdxFile.open(tmp.file('s1.avhdx'));
    const states = Array.from({ length: f.blockCount }, (_, b) => f.blockState(b));
    const fixed = f.leaveBlocksAllocated;
    await f.close();
    expect(fixed).toBe(true);
    expect(states.every((s) => s === PayloadState.FullyPresent)).toBe(true);
    expect((await readThrough(tmp.file('s1.avhdx'))).equals(model)).toBe(true);
    if (HAVE_QEMU) await run('qemu-img', ['check', '-f', 'vhdx', tmp.file('s1.avhdx')]);
  });

  it('Cancel during the copy leaves every file as it was, with no copy or journal behind', async () => {
    await chain(56, 512, 3);
    const names = ['base.vhdx', 's1.avhdx', 's2.avhdx'];
    const bytes = await Promise.all(names.map((n) => fsp.readFile(tmp.file(n))));
    const ac = new AbortController();
    let seen = 0;
    const err = await runOperation(
      { op: 'merge', disk: tmp.file('s2.avhdx') },
      {
        signal: ac.signal,
        progressEvery: 0,
        onProgress: (p) => {
          if (p.finishing) return;
          seen++;
          ac.abort();
        },
      },
    ).catch((e: unknown) => e);
    expect(seen).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(CancelledError);
    for (let i = 0; i < names.length; i++) expect((await fsp.readFile(tmp.file(names[i]))).equals(bytes[i]), names[i]).toBe(true);
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual(names);
  });

  it('refusals, each leaving every file as it was: --into a disk that is no ancestor or through a layer with another child, a parent held open, a child of the snapshot held open, no room for the new file', async () => {
    await chain(55, 512, 3);
    const names = ['base.vhdx', 's1.avhdx', 's2.avhdx'];
    const bytes = await Promise.all(names.map((n) => fsp.readFile(tmp.file(n))));
    const unchanged = async () => {
      for (let i = 0; i < names.length; i++) expect((await fsp.readFile(tmp.file(names[i]))).equals(bytes[i]), names[i]).toBe(true);
      expect((await fsp.readdir(tmp.dir)).sort()).toEqual(names);
    };
    // --into a disk that is not an ancestor (s2's own child would be none; s1's child s2 is not above it).
    const into = await cli('merge', tmp.file('s1.avhdx'), '--into', tmp.file('s2.avhdx'), '--json');
    expect(into.code).toBe(2);
    expect((JSON.parse(into.out) as { error: { code: string } }).error.code).toBe('NOT_AN_ANCESTOR');
    await unchanged();
    // --into the base through s1, which has a second child: s1 goes, so that child would lose its parent.
    await makeVhdx(tmp.file('other.avhdx'), { kind: 'differencing', virtualSize: SIZE, locator: linkTo(await builtOf(tmp.file('s1.avhdx')), '.\\s1.avhdx') });
    const through = await planOperation({ op: 'merge', disk: tmp.file('s2.avhdx'), into: tmp.file('base.vhdx') });
    expect(through.refusals.map((x) => x.code)).toEqual(['PARENT_HAS_OTHER_CHILDREN']);
    expect(through.refusals[0].message).toMatch(/s1\.avhdx is also the parent of .*other\.avhdx; merging through it removes it/);
    await fsp.rm(tmp.file('other.avhdx'));
    await unchanged();
    const h = await holders.node(tmp.file('s1.avhdx'));
    const held = await runOperation({ op: 'merge', disk: tmp.file('s2.avhdx') }).catch((e: unknown) => e);
    expect((held as { code?: string }).code).toBe('IN_USE');
    await h.kill();
    await unchanged();
    // Merging s1 relinks s2, its child: s2 is written too, so another program holding it stops the merge.
    const h2 = await holders.node(tmp.file('s2.avhdx'));
    const held2 = await runOperation({ op: 'merge', disk: tmp.file('s1.avhdx') }).catch((e: unknown) => e);
    expect((held2 as { code?: string }).code).toBe('IN_USE');
    await h2.kill();
    await unchanged();

    // A 60 TiB child whose every block is in the zero state: its merged parent would need room for all of them.
    const huge = 60 * 1024 * 1024 * MiB;
    const bs = 256 * MiB;
    const big = await makeVhdx(tmp.file('big.vhdx'), { kind: 'dynamic', virtualSize: huge, blockSize: bs });
    const states: Record<number, number> = {};
    for (let b = 0; b < huge / bs; b++) states[b] = PayloadState.Zero;
    await makeVhdx(tmp.file('big-child.avhdx'), { kind: 'differencing', virtualSize: huge, blockSize: bs, states, locator: linkTo(big, '.\\big.vhdx') });
    const plan = await planOperation({ op: 'merge', disk: tmp.file('big-child.avhdx') });
    expect(plan.worstCaseGrowth).toBeGreaterThan(huge);
    expect(plan.refusals.map((x) => x.code)).toContain('NO_SPACE');
    expect(plan.refusals.find((x) => x.code === 'NO_SPACE')!.message).toMatch(/writes a new copy of big\.vhdx of up to 60(\.\d+)? TiB/);
  });
});

/** The built description of an existing file, enough for linkTo (its data write GUID). */
async function builtOf(p: string): Promise<BuiltVhdx> {
  const f = await VhdxFile.open(p);
  await f.close();
  return { header: f.header } as BuiltVhdx;
}

// Revert and switch on VHDX chains: the path becomes a fresh, empty AVHDX
// child of the snapshot (linked by its data write GUID, named by relative and
// absolute path), or takes a saved state's file. Every layer reads as the raw
// model through our reader and, with 4 KiB-aligned writes, through libvhdi
// with set_parent; `check` passes on every file. Refusals as for VHD.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openReadableDisk } from '../../core/disk/chain.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { guidToString, parseGuid } from '../../core/format/vhdx/guid.js';
import { locatorValue } from '../../core/format/vhdx/parent-locator.js';
import { cli } from '../support/cli.js';
import { folderState } from '../support/compare.js';
import { useHolders } from '../support/holders.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const PYTHON = '/usr/bin/python3';
const PYVHDI_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'read_pyvhdi.py');
const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
if (!HAVE_PYVHDI) console.log('VHDX revert/switch: libvhdi cross-check skipped (no pyvhdi for /usr/bin/python3)');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function readAll(p: string): Promise<{ data: Buffer; chain: string[] }> {
  const d = await openReadableDisk(p);
  try {
    return { data: await d.read(0, d.virtualSize), chain: d.layers.map((l) => path.basename(l.path)) };
  } finally {
    await d.close();
  }
}

async function ids(p: string): Promise<{ guid: string; parent: string | null; relative?: string; absolute?: string }> {
  const f = await VhdxFile.open(p);
  try {
    const l = f.parentLocator;
    return {
      guid: f.dataWriteGuid,
      parent: f.hasParent ? guidToString(parseGuid(f.parentLinkage!)!) : null,
      relative: l ? locatorValue(l, 'relative_path') : undefined,
      absolute: l ? locatorValue(l, 'absolute_win32_path') : undefined,
    };
  } finally {
    await f.close();
  }
}

/**
 * snapA (layer 0, a base) ← snapB (layer 1) ← vm.vhdx (layer 2), made
 * by create, write and two in-place snapshots, every write 4 KiB-aligned; the
 * model holds each layer's view.
 */
async function buildChain(dir: string, lss: number, seed: number) {
  const disk = path.join(dir, 'vm.vhdx');
  const c = await cli('create', disk, '--size', String(SIZE), '--block-size', '2M', '--sector-size', String(lss));
  expect(c.code, c.err).toBe(0);
  const rng = new Rng(seed);
  const model = new DiskModel(SIZE);
  const input = path.join(dir, 'in.bin');
  const write = async (p: string, layer: number, offset: number, data: Uint8Array) => {
    await fsp.writeFile(input, data);
    const r = await cli('write', p, '--offset', String(offset), '--input', input);
    expect(r.code, r.err).toBe(0);
    model.write(layer, offset, data);
  };
  const scatter = async (p: string, layer: number) => {
    for (let i = 0; i < 5; i++) {
      const n = (1 + rng.int(64)) * 4096;
      await write(p, layer, rng.int((SIZE - n) / 4096) * 4096, rng.bytes(n));
    }
    // Zeros shadowing what is below, across a block boundary.
    await write(p, layer, 2 * MiB - 8192, new Uint8Array(16384));
  };
  const snaps: string[] = [];
  let layer = model.addBase();
  await scatter(disk, layer);
  for (let i = 0; i < 2; i++) {
    const r = await cli('snapshot', disk, '--json');
    expect(r.code, r.err).toBe(0);
    snaps.push((JSON.parse(r.out) as { snapshot: string }).snapshot);
    layer = model.addChild(layer);
    await scatter(disk, layer);
  }
  return { disk, snapA: snaps[0], snapB: snaps[1], model, write, input };
}

/** Every file reads as its model layer; libvhdi agrees for each chain (base first). */
async function expectReads(model: DiskModel, files: [string, number][], chains: string[][]): Promise<void> {
  for (const [p, layer] of files) expect(sha((await readAll(p)).data), `${path.basename(p)} reads as layer ${layer}`).toBe(sha(model.view(layer)));
  if (!HAVE_PYVHDI) return;
  const want = new Map(files.map(([p, l]) => [p, sha(model.view(l))]));
  for (const chain of chains) {
    const { stdout } = await run(PYTHON, [PYVHDI_SCRIPT, String(MiB), ...chain], { maxBuffer: 1 << 20 });
    const got = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; size: number; sha256: string });
    expect(got.map((g) => [path.basename(g.path), g.size, g.sha256])).toEqual(chain.map((p) => [path.basename(p), SIZE, want.get(p)]));
  }
}

async function expectChecked(files: string[]): Promise<void> {
  for (const f of files) {
    const r = await cli('check', f, '--json');
    expect(r.code, `${path.basename(f)}: ${r.out}`).toBe(0);
  }
}

function diskNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /\.a?vhdx?$/i.test(n))
    .sort();
}

describe('revert and switch of a VHDX chain', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-revert-');
  const holders = useHolders();

  for (const lss of [512, 4096]) {
    it(`revert to the parent (${lss}-byte sectors): an empty AVHDX child of it takes the path; the old state is gone`, async () => {
      const { disk, snapA, snapB, model, write } = await buildChain(tmp.dir, lss, 2100 + lss);
      await expectReads(
        model,
        [
          [snapA, 0],
          [snapB, 1],
          [disk, 2],
        ],
        [],
      );
      const before = await ids(disk);
      const b = await ids(snapB);
      const r = await cli('revert', disk, '--json');
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ active: disk, snapshot: snapB, kept: null, discarded: true });
      const after = await ids(disk);
      expect(after.guid).not.toBe(before.guid);
      expect(after.parent).toBe(b.guid);
      expect(after.relative).toBe(`.\\${path.basename(snapB)}`);
      expect(after.absolute).toBe(snapB.split('/').join('\\'));
      const f = await VhdxFile.open(disk);
      expect([f.type, f.logicalSectorSize, f.blockSize, f.virtualSize]).toEqual(['differencing', lss, 2 * MiB, SIZE]);
      await f.close();
      expect(diskNames(tmp.dir)).toEqual([snapA, snapB, disk].map((p) => path.basename(p)).sort());
      expect((await readAll(disk)).chain).toEqual([disk, snapB, snapA].map((p) => path.basename(p)));
      // The new child reads as its parent, then takes writes of its own. libvhdi is asked only once the child
      // has a sector bitmap block: through a child with none it reads some clear-bit sectors of a partly present
      // parent block from the parent's payload (zeros) instead of the grandparent (seen with 512-byte sectors).
      const top = model.addChild(1);
      await expectReads(
        model,
        [
          [snapA, 0],
          [snapB, 1],
          [disk, top],
        ],
        [],
      );
      await write(disk, top, 5 * MiB, new Rng(lss).bytes(3 * 4096));
      await expectReads(
        model,
        [
          [snapA, 0],
          [snapB, 1],
          [disk, top],
        ],
        [[snapA, snapB, disk]],
      );
      await expectChecked([disk, snapB, snapA]);
    });
  }

  it('revert --to an ancestor --keep, then switch back to the kept state: nothing is lost, every layer reads as the model', async () => {
    const { disk, snapA, snapB, model, write } = await buildChain(tmp.dir, 512, 2201);
    const old = await ids(disk);
    const a = await ids(snapA);
    const r = await cli('revert', disk, '--to', snapA, '--keep', '--json');
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out) as { kept: string; snapshot: string; discarded: boolean };
    expect(res).toMatchObject({ snapshot: snapA, discarded: false });
    expect(path.basename(res.kept)).toMatch(/^vm-state-\d{8}-\d{6}(-\d+)?\.vhdx$/);
    // The kept name is the old file (its data write GUID, still under snapB); the path a new child of snapA.
    expect(await ids(res.kept)).toMatchObject({ guid: old.guid, parent: (await ids(snapB)).guid });
    const now = await ids(disk);
    expect(now.parent).toBe(a.guid);
    expect(now.relative).toBe(`.\\${path.basename(snapA)}`);
    expect(now.guid).not.toBe(old.guid);
    const top = model.addChild(0);
    await write(disk, top, 4096, new Rng(9).bytes(8192));
    await expectReads(
      model,
      [
        [snapA, 0],
        [snapB, 1],
        [res.kept, 2],
        [disk, top],
      ],
      [
        [snapA, disk],
        [snapA, snapB, res.kept],
      ],
    );
    await expectChecked([disk, res.kept, snapB, snapA]);

    // Switch: the path takes the kept state's file; what it showed is kept under a new name.
    const shown = await ids(disk);
    const s = await cli('switch', res.kept, '--json');
    expect(s.code, s.err).toBe(0);
    const sw = JSON.parse(s.out) as { active: string; state: string; kept: string };
    expect(sw).toMatchObject({ active: disk, state: res.kept });
    expect((await ids(disk)).guid).toBe(old.guid);
    expect(await ids(sw.kept)).toMatchObject({ guid: shown.guid, parent: a.guid });
    expect(diskNames(tmp.dir)).toEqual([snapA, snapB, sw.kept, disk].map((p) => path.basename(p)).sort());
    await expectReads(
      model,
      [
        [snapA, 0],
        [snapB, 1],
        [disk, 2],
        [sw.kept, top],
      ],
      [
        [snapA, snapB, disk],
        [snapA, sw.kept],
      ],
    );
    await expectChecked([disk, sw.kept, snapB, snapA]);
  });

  it('refuses as for VHD: a VHD target, a snapshot with children, the disk or the active disk held by another program; nothing changes', async () => {
    const { disk, snapA, snapB } = await buildChain(tmp.dir, 512, 2301);
    expect((await cli('create', tmp.file('other.vhd'), '--size', String(SIZE))).code).toBe(0);
    const refusal = async (code: string, ...argv: string[]) => {
      const before = folderState(tmp.dir);
      const dry = await cli(...argv, '--dry-run', '--json');
      expect(dry.code, dry.out + dry.err).toBe(1);
      expect((JSON.parse(dry.out) as { refusals: { code: string }[] }).refusals.map((x) => x.code)).toContain(code);
      const r = await cli(...argv, '--json');
      expect(r.code, r.out + r.err).not.toBe(0);
      expect(r.out + r.err).toContain(code);
      expect(folderState(tmp.dir)).toEqual(before);
    };
    await refusal('FORMAT_MISMATCH', 'revert', disk, '--to', tmp.file('other.vhd'));
    await refusal('HAS_CHILDREN', 'revert', snapB);
    const h = await holders.node(disk);
    await refusal('IN_USE', 'revert', disk, '--to', snapA, '--keep');
    await h.kill();
    // A saved state beside the active disk, then the active disk held.
    expect((await cli('revert', disk, '--keep')).code).toBe(0);
    const state = diskNames(tmp.dir).find((n) => n.startsWith('vm-state-'))!;
    const h2 = await holders.node(disk);
    await refusal('IN_USE', 'switch', tmp.file(state));
    await h2.kill();
    expect((await cli('switch', tmp.file(state))).code).toBe(0);
  });
});

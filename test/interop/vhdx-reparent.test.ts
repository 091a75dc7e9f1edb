// Reparent of VHDX disks: after its snapshots were moved, an AVHDX is pointed
// at them again; its locator is rewritten through its log (one entry), its
// data and data write GUID stay, so the chain reads as the model through our
// reader and through libvhdi (set_parent, 4 KiB-aligned data), `check` is
// clean, and a child of the relinked disk still links to it. A parent with
// another id, of the other format, or the disk itself is refused and nothing
// is written; --ignore-id-mismatch links it with a warning.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openReadableDisk } from '../../core/disk/chain.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { guidToString, parseGuid } from '../../core/format/vhdx/guid.js';
import { locatorValue } from '../../core/format/vhdx/parent-locator.js';
import { readSidecar } from '../../core/library/sidecar.js';
import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { HAVE_PYVHDI, pyvhdiShas } from '../support/pyvhdi.js';
import { useTmpDir } from '../support/tmp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function content(p: string): Promise<string> {
  const d = await openReadableDisk(p);
  try {
    return sha(await d.read(0, d.virtualSize));
  } finally {
    await d.close();
  }
}

async function ids(p: string): Promise<{ id: string; linkage: string | null; relative: string | undefined }> {
  const f = await VhdxFile.open(p);
  await f.close();
  const g = f.parentLinkage ? parseGuid(f.parentLinkage) : null;
  return { id: f.dataWriteGuid, linkage: g ? guidToString(g) : null, relative: f.parentLocator ? locatorValue(f.parentLocator, 'relative_path') : undefined };
}

/** Every error `check --json` reports, over every file it checked (each layer of each chain). */
const checkErrors = (out: string) =>
  (JSON.parse(out) as { path: string; errors: { code: string }[] }[]).flatMap((r) => r.errors.map((e) => `${r.path}: ${e.code}`));

async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect(r.code, `${args.join(' ')}: ${r.err}${r.out}`).toBe(0);
  return r.out;
}

describe('reparent of a VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-reparent-');

  /** vm.vhdx (active) over two in-place snapshots, written between them; returns the snapshots (base first) and each layer's content. */
  async function chain(seed: number): Promise<{ disk: string; snaps: string[]; shas: string[] }> {
    const rng = new Rng(seed);
    const disk = tmp.file('vm.vhdx');
    await ok('create', disk, '--size', '16M', '--block-size', '1M');
    const write = async (offset: number, n: number) => {
      await fsp.writeFile(tmp.file('in.bin'), rng.bytes(n));
      await ok('write', disk, '--offset', String(offset), '--input', tmp.file('in.bin'));
    };
    await write(0, 3 * MiB);
    const snaps: string[] = [];
    for (let i = 0; i < 2; i++) {
      snaps.push((JSON.parse(await ok('snapshot', disk, '--json')) as { snapshot: string }).snapshot);
      await write(MiB * (2 + 3 * i), 2 * MiB + 8192);
    }
    await fsp.rm(tmp.file('in.bin'));
    return { disk, snaps, shas: await Promise.all([...snaps, disk].map(content)) };
  }

  it(`points the active disk at its moved snapshot again: content, id and child links kept, check clean${HAVE_PYVHDI ? ', libvhdi agrees' : ''}`, async () => {
    const { disk, snaps, shas } = await chain(7301);
    const before = await ids(disk);
    // Both snapshots go to archive/: the middle one still finds the base (same relative path), vm.vhdx finds nothing.
    await fsp.mkdir(tmp.file('archive'));
    const moved = snaps.map((s) => tmp.file('archive', path.basename(s)));
    for (const [i, s] of snaps.entries()) await fsp.rename(s, moved[i]);
    expect((await cli('export', disk, tmp.file('x.raw'))).code).not.toBe(0);

    await ok('reparent', disk, moved[1]);
    const after = await ids(disk);
    expect(after.id).toBe(before.id);
    expect(after.linkage).toBe(before.linkage);
    expect(after.relative).toBe(`.\\archive\\${path.basename(moved[1])}`);
    expect(await content(disk)).toBe(shas[2]);
    expect(checkErrors(await ok('check', disk, '--json'))).toEqual([]);
    // A child outside its parent's folder is recorded beside the parent.
    const records = (await readSidecar(tmp.file('archive'))).children ?? {};
    expect(Object.values(records).flat()).toEqual([{ path: disk, id: after.id }]);

    // The middle snapshot (read-only, with vm.vhdx over it) to a copy of the base: vm.vhdx still links to it.
    const copy = tmp.file('archive', 'base-copy.vhdx');
    await fsp.copyFile(moved[0], copy);
    const mode = (await fsp.stat(moved[1])).mode & 0o777;
    await ok('reparent', moved[1], copy);
    expect((await fsp.stat(moved[1])).mode & 0o777).toBe(mode);
    expect((await ids(moved[1])).relative).toBe('.\\base-copy.vhdx');
    await fsp.rm(moved[0]);
    expect([await content(moved[1]), await content(disk)]).toEqual([shas[1], shas[2]]);
    expect(checkErrors(await ok('check', disk, moved[1], '--json'))).toEqual([]);
    if (HAVE_PYVHDI) expect(await pyvhdiShas([copy, moved[1], disk])).toEqual(shas);
  });

  it('refuses a parent with another id, a VHD, and the disk itself, writing nothing; --ignore-id-mismatch links with a warning', async () => {
    const { disk, snaps } = await chain(7302);
    const other = tmp.file('other.vhdx');
    await fsp.copyFile(snaps[1], other);
    await fsp.chmod(other, 0o644);
    await fsp.writeFile(tmp.file('in.bin'), Buffer.alloc(4096, 1));
    // A write gives the copy a new data write GUID: it is no longer the disk vm.vhdx was made from.
    await ok('write', other, '--offset', '0', '--input', tmp.file('in.bin'));
    await ok('create', tmp.file('plain.vhd'), '--size', '16M');
    const bytes = await fsp.readFile(disk);
    for (const [parent, code] of [
      [other, 'PARENT_ID_MISMATCH'],
      [tmp.file('plain.vhd'), 'FORMAT_MISMATCH'],
      [disk, 'SELF_PARENT'],
    ] as const) {
      const r = await cli('reparent', disk, parent, '--json');
      expect(r.code, parent).toBe(1);
      expect((JSON.parse(r.out) as { error: { code: string } }).error.code, parent).toBe(code);
      expect((await fsp.readFile(disk)).equals(bytes)).toBe(true);
    }
    const r = await cli('reparent', disk, other, '--ignore-id-mismatch');
    expect(r.code, r.err).toBe(0);
    expect(r.err + r.out).toMatch(/id mismatch ignored/);
    expect((await ids(disk)).linkage).toBe((await ids(other)).id);
  });
});

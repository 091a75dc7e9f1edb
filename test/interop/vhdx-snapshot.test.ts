// Snapshots of VHDX disks: in place (the disk keeps its path and becomes an
// empty AVHDX child of the preserved content) and --out (a new child). The
// child's locator links the parent's data write GUID and names it by relative
// and absolute path; chains read as the raw model through our reader and,
// with 4 KiB-aligned writes, through libvhdi with set_parent. Writing then
// goes to the child; the snapshot is never changed and stays linked.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openReadableDisk } from '../../core/disk/chain.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { guidToString, parseGuid } from '../../core/format/vhdx/guid.js';
import { locatorValue } from '../../core/format/vhdx/parent-locator.js';
import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { HAVE_PYVHDI, pyvhdiShas } from '../support/pyvhdi.js';
import { useTmpDir } from '../support/tmp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function view(p: string): Promise<{ data: Buffer; chain: string[] }> {
  const d = await openReadableDisk(p);
  try {
    return { data: await d.read(0, d.virtualSize), chain: d.layers.map((l) => path.basename(l.path)) };
  } finally {
    await d.close();
  }
}

async function writeVia(disk: string, offset: number, data: Uint8Array, tmpFile: string): Promise<void> {
  await fsp.writeFile(tmpFile, data);
  const r = await cli('write', disk, '--offset', String(offset), '--input', tmpFile);
  expect(r.code, r.err).toBe(0);
}

describe('snapshot of a VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-snap-');

  for (const lss of [512, 4096]) {
    it(`in place, twice, with writes between (${lss}-byte sectors): every layer reads as the model${HAVE_PYVHDI ? ', libvhdi agrees' : ''}`, async () => {
      const size = 16 * MiB;
      const disk = tmp.file('vm.vhdx');
      expect((await cli('create', disk, '--size', String(size), '--block-size', '2M', '--sector-size', String(lss))).code).toBe(0);
      const rng = new Rng(1850 + lss);
      const model = Buffer.alloc(size);
      const w = async (offset: number, data: Uint8Array) => {
        await writeVia(disk, offset, data, tmp.file('in.bin'));
        model.set(data, offset);
      };
      await w(0, rng.bytes(3 * MiB));
      const models: Buffer[] = [];
      const snaps: string[] = [];
      for (let i = 0; i < 2; i++) {
        const before = await VhdxFile.open(disk);
        const guid = before.dataWriteGuid;
        const { blockSize, physicalSectorSize } = before;
        await before.close();
        const r = await cli('snapshot', disk, '--name', `s${i}`, '--json');
        expect(r.code, r.err).toBe(0);
        const snap = (JSON.parse(r.out) as { snapshot: string }).snapshot;
        expect(snap).toMatch(/vm-snap-\d{8}-\d{6}(-\d+)?\.vhdx$/);
        snaps.push(snap);
        models.push(Buffer.from(model));
        // The snapshot is the old file (same data write GUID); the disk is its empty child.
        const s = await VhdxFile.open(snap);
        expect(s.dataWriteGuid).toBe(guid);
        await s.close();
        const c = await VhdxFile.open(disk);
        expect(c.type).toBe('differencing');
        expect([c.blockSize, c.logicalSectorSize, c.physicalSectorSize, c.virtualSize]).toEqual([blockSize, lss, physicalSectorSize, size]);
        expect(guidToString(parseGuid(c.parentLinkage!)!)).toBe(guid);
        expect(locatorValue(c.parentLocator!, 'relative_path')).toBe(`.\\${path.basename(snap)}`);
        expect(locatorValue(c.parentLocator!, 'absolute_win32_path')).toBe(snap.split('/').join('\\'));
        await c.close();
        expect(sha((await view(disk)).data)).toBe(sha(model));
        // Writes after the snapshot: aligned to 4 KiB, some zeros shadowing the parent, one across a block boundary.
        await w(4096 * 3, rng.bytes(8192));
        await w(2 * MiB - 4096, new Uint8Array(3 * 4096));
        await w(7 * MiB, rng.bytes(MiB + 4096));
      }
      const top = await view(disk);
      expect(top.chain).toEqual(['vm.vhdx', path.basename(snaps[1]), path.basename(snaps[0])]);
      expect(sha(top.data)).toBe(sha(model));
      for (let i = 0; i < 2; i++) expect(sha((await view(snaps[i])).data), `snapshot ${i}`).toBe(sha(models[i]));
      const chk = await cli('check', disk, '--json');
      expect(chk.code, chk.out).toBe(0);
      if (HAVE_PYVHDI) expect(await pyvhdiShas([snaps[0], snaps[1], disk])).toEqual([sha(models[0]), sha(models[1]), sha(model)]);
      // The snapshot now has a child: writing into it is refused.
      await fsp.writeFile(tmp.file('in.bin'), Buffer.alloc(512, 7));
      const refused = await cli('write', snaps[1], '--offset', '0', '--input', tmp.file('in.bin'), '--json');
      expect(refused.out + refused.err).toContain('HAS_CHILDREN');
    });
  }

  it('--out makes an AVHDX child beside it; a .vhd name for it is refused (a chain is one format)', async () => {
    const disk = tmp.file('base.vhdx');
    expect((await cli('create', disk, '--size', '8M', '--block-size', '1M')).code).toBe(0);
    await writeVia(disk, 12345, new Rng(3).bytes(100000), tmp.file('in.bin'));
    const want = (await view(disk)).data;
    const bad = await cli('snapshot', disk, '--out', tmp.file('child.vhd'), '--json');
    expect(bad.code).not.toBe(0);
    expect(bad.out + bad.err).toContain('FORMAT_MISMATCH');
    const r = await cli('snapshot', disk, '--out', tmp.file('child.avhdx'));
    expect(r.code, r.err).toBe(0);
    const v = await view(tmp.file('child.avhdx'));
    expect(v.chain).toEqual(['child.avhdx', 'base.vhdx']);
    expect(sha(v.data)).toBe(sha(want));
    // In place on a disk with a child is refused.
    const again = await cli('snapshot', disk, '--json');
    expect(again.out + again.err).toContain('HAS_CHILDREN');
  });
});

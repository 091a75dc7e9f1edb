import { describe, expect, it } from 'vitest';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { guidToString, newGuid } from '../../core/format/vhdx/guid.js';
import { vhdxLocator } from '../../core/format/vhdx/parent-locator.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx } from '../support/vhdx-build.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function withFile<T>(path: string, fn: (f: VhdxFile) => Promise<T>, opts = {}): Promise<T> {
  const f = await VhdxFile.open(path, opts);
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}

describe('VhdxFile', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-');

  it('dynamic, 512-byte sectors: reads what was written at aligned and unaligned offsets, zeros elsewhere', async () => {
    const rng = new Rng(18);
    const size = 7 * MiB + 3 * 512; // ends inside the last 1 MiB block
    const writes = [
      { offset: 0, data: rng.bytes(4096) },
      { offset: 1000, data: rng.bytes(3000) },
      { offset: MiB - 700, data: rng.bytes(2000) }, // across a block boundary
      { offset: 5 * MiB + 7, data: rng.bytes(1) },
      { offset: size - 3, data: rng.bytes(3) },
    ];
    const built = await makeVhdx(tmp.file('d.vhdx'), { kind: 'dynamic', virtualSize: size, writes });
    await withFile(tmp.file('d.vhdx'), async (f) => {
      expect(f.type).toBe('dynamic');
      expect([f.virtualSize, f.blockSize, f.logicalSectorSize, f.physicalSectorSize, f.hasParent]).toEqual([size, MiB, 512, 4096, false]);
      expect(f.blockCount).toBe(8);
      expect(f.chunkRatio).toBe(4096);
      expect(f.dataWriteGuid).toBe(guidToString(built.header.dataWriteGuid));
      expect(f.headerIndex).toBe(2);
      expect(f.regionTableIndex).toBe(1);
      expect(f.notes).toEqual([]);
      const all = await f.read(0, size);
      expect(all.equals(built.expected(0, size).data)).toBe(true);
      expect((await f.read(999, 3002)).equals(built.expected(999, 3002).data)).toBe(true);
      expect((await f.read(MiB - 701, 2002)).equals(built.expected(MiB - 701, 2002).data)).toBe(true);
      expect(f.blockState(3)).toBe(PayloadState.NotPresent);
      expect(f.blockState(5)).toBe(PayloadState.FullyPresent);
      const own = await f.readOwn(0, 4 * MiB);
      expect(own.present.every((x) => x === 1)).toBe(true);
      await expect(f.read(size - 1, 2)).rejects.toMatchObject({ code: 'READ_PAST_END' });
    });
  });

  it('fixed, 4096-byte sectors, 2 MiB blocks', async () => {
    const rng = new Rng(4096);
    const size = 6 * MiB;
    const writes = [
      { offset: 4096, data: rng.bytes(8192) },
      { offset: 3 * MiB - 5, data: rng.bytes(10) },
    ];
    const built = await makeVhdx(tmp.file('f.vhdx'), { kind: 'fixed', virtualSize: size, blockSize: 2 * MiB, logicalSectorSize: 4096, writes });
    await withFile(tmp.file('f.vhdx'), async (f) => {
      expect(f.type).toBe('fixed');
      expect(f.leaveBlocksAllocated).toBe(true);
      expect(f.logicalSectorSize).toBe(4096);
      expect(f.chunkRatio).toBe(16384);
      for (let b = 0; b < 3; b++) expect(f.blockState(b)).toBe(PayloadState.FullyPresent);
      expect((await f.read(0, size)).equals(built.expected(0, size).data)).toBe(true);
      await expect(f.readOwn(512, 4096)).rejects.toMatchObject({ code: 'UNALIGNED_READ' });
    });
  });

  for (const lss of [512, 4096] as const) {
    it(`differencing, ${lss}-byte sectors: own sectors and their presence, from partially and fully present blocks`, async () => {
      const rng = new Rng(lss);
      const size = 5 * MiB;
      const writes = [
        { offset: 0, data: rng.bytes(lss) },
        { offset: 3 * lss, data: rng.bytes(2 * lss) },
        { offset: MiB - lss, data: rng.bytes(2 * lss) }, // the end of block 0 and the start of block 1
        { offset: 2 * MiB, data: rng.bytes(MiB) }, // block 2 whole: fully present
        { offset: 4 * MiB + 64 * KiB, data: Buffer.alloc(8 * lss) }, // zeros written: present, shadowing the parent
      ];
      const linkage = `{${guidToString(newGuid())}}`;
      const locator = vhdxLocator({ parent_linkage: linkage, relative_path: '..\\base.vhdx', absolute_win32_path: 'C:\\vms\\base.vhdx' });
      const built = await makeVhdx(tmp.file('c.avhdx'), { kind: 'differencing', virtualSize: size, logicalSectorSize: lss, writes, locator });
      expect(built.states.get(0)).toBe(PayloadState.PartiallyPresent);
      expect(built.states.get(2)).toBe(PayloadState.FullyPresent);
      await withFile(tmp.file('c.avhdx'), async (f) => {
        expect(f.type).toBe('differencing');
        expect(f.hasParent).toBe(true);
        expect(f.parentLinkage).toBe(linkage);
        expect(f.parentLocator?.entries.map((e) => e.key)).toEqual(['parent_linkage', 'relative_path', 'absolute_win32_path']);
        expect(f.blockState(3)).toBe(PayloadState.NotPresent);
        await expect(f.read(0, 512)).rejects.toMatchObject({ code: 'VHDX_NEEDS_PARENT' });
        const own = await f.readOwn(0, size);
        const want = built.expected(0, size);
        expect(own.data.equals(want.data)).toBe(true);
        expect(Buffer.from(own.present).equals(Buffer.from(want.present))).toBe(true);
        expect(own.present.subarray(0, 6)).toEqual(Uint8Array.from([1, 0, 0, 1, 1, 0]));
        expect(own.present[(3 * MiB) / lss]).toBe(0);
        expect(own.present[(4 * MiB + 64 * KiB) / lss]).toBe(1);
        // A sub-range starting inside a run.
        const part = await f.readOwn(4 * lss, 8 * lss);
        expect(Buffer.from(part.present).equals(Buffer.from(want.present.subarray(4, 12)))).toBe(true);
        expect(part.data.equals(want.data.subarray(4 * lss, 12 * lss))).toBe(true);
      });
    });
  }

  it('zero, unmapped and undefined blocks read as zeros; in a differencing file they are present', async () => {
    const rng = new Rng(3);
    const writes = [0, 1, 2, 3].map((b) => ({ offset: b * MiB, data: rng.bytes(MiB) }));
    const states = { 1: PayloadState.Zero, 2: PayloadState.Unmapped, 3: PayloadState.Undefined };
    await makeVhdx(tmp.file('d.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB, writes, states });
    await withFile(tmp.file('d.vhdx'), async (f) => {
      const all = await f.read(0, 4 * MiB);
      expect(all.subarray(0, MiB).equals(Buffer.from(writes[0].data))).toBe(true);
      expect(all.subarray(MiB).every((x) => x === 0)).toBe(true);
    });
    await makeVhdx(tmp.file('c.vhdx'), { kind: 'differencing', virtualSize: 5 * MiB, writes, states });
    await withFile(tmp.file('c.vhdx'), async (f) => {
      const own = await f.readOwn(0, 5 * MiB);
      const spb = MiB / 512;
      expect(own.present.subarray(0, 4 * spb).every((x) => x === 1)).toBe(true);
      expect(own.present.subarray(4 * spb).every((x) => x === 0)).toBe(true);
      expect(own.data.subarray(MiB).every((x) => x === 0)).toBe(true);
    });
  });

  it('payload entries past the first chunk are read through the interleaved BAT (chunk ratio 16)', async () => {
    // 256 MiB blocks of 512-byte sectors: 16 blocks a chunk, so block 16's entry follows the first bitmap entry.
    const size = 17 * 256 * MiB;
    const rng = new Rng(16);
    const writes = [
      { offset: 15 * 256 * MiB + 4096, data: rng.bytes(4096) },
      { offset: 16 * 256 * MiB + 512, data: rng.bytes(1024) },
    ];
    const built = await makeVhdx(tmp.file('big.vhdx'), { kind: 'differencing', virtualSize: size, blockSize: 256 * MiB, writes });
    expect(built.bitmapOffsets.size).toBe(2);
    await withFile(tmp.file('big.vhdx'), async (f) => {
      expect(f.chunkRatio).toBe(16);
      const a = await f.readOwn(15 * 256 * MiB, 16 * KiB);
      expect(a.data.equals(built.expected(15 * 256 * MiB, 16 * KiB).data)).toBe(true);
      const b = await f.readOwn(16 * 256 * MiB, 4 * KiB);
      expect(Buffer.from(b.present).equals(Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]))).toBe(true);
      expect(b.data.equals(built.expected(16 * 256 * MiB, 4 * KiB).data)).toBe(true);
    });
  });
});

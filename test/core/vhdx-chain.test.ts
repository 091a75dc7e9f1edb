// VHDX chains read through the same resolver as VHD ones (core/disk/chain.ts
// over vhdx-layer.ts), against a plain model built from each layer's own
// definition of its sectors; and the parent lookup's refusals.
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openReadableDisk } from '../../core/disk/chain.js';
import { ChainError } from '../../core/errors.js';
import { PayloadState } from '../../core/format/vhdx/bat.js';
import { guidToString, newGuid } from '../../core/format/vhdx/guid.js';
import { vhdxLocator } from '../../core/format/vhdx/parent-locator.js';
import { createDynamic } from '../../core/ops/create.js';
import { allocationOf } from '../../server/library.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { makeVhdx, type BuiltVhdx, linkTo } from '../support/vhdx-build.js';

const MiB = 1024 * 1024;

describe('VHDX chains', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-chain-');

  for (const lss of [512, 4096] as const) {
    it(`${lss}-byte sectors: a depth-4 chain reads as the model at every offset, zero blocks shadowing the parent`, async () => {
      const rng = new Rng(lss * 3 + 1);
      const size = 6 * MiB + 3 * lss;
      const block = MiB;
      const model = Buffer.alloc(size);
      const layers: string[] = [];
      let below: { built: BuiltVhdx; name: string } | null = null;
      for (let depth = 0; depth < 4; depth++) {
        const name = `d${depth}.${depth === 0 ? 'vhdx' : 'avhdx'}`;
        const writes = Array.from({ length: 6 }, () => {
          const sectors = 1 + rng.int(600);
          const at = rng.int(size / lss - sectors) * lss;
          return { offset: at, data: rng.bytes(sectors * lss) };
        });
        // A zero write shadowing what the layers below have there.
        writes.push({ offset: 2 * MiB + lss, data: Buffer.alloc(7 * lss) });
        // The base has data in block 4, which the zero-state block of layer 2 must hide.
        if (depth === 0) writes.push({ offset: 4 * MiB + 5 * lss, data: rng.bytes(64 * lss) });
        // Block 4 in the zero state in the children: every sector of it reads as zeros, whatever is below.
        const states = depth === 2 ? { 4: PayloadState.Zero } : undefined;
        const built: BuiltVhdx = await makeVhdx(tmp.file(name), {
          kind: depth === 0 ? 'dynamic' : 'differencing',
          virtualSize: size,
          blockSize: block,
          logicalSectorSize: lss,
          writes,
          states,
          locator: below ? linkTo(below.built, `.\\${below.name}`) : undefined,
        });
        const own = built.expected(0, size);
        own.present.forEach((p, s) => p && own.data.copy(model, s * lss, s * lss, (s + 1) * lss));
        below = { built, name };
        layers.unshift(tmp.file(name));
      }
      const disk = await openReadableDisk(tmp.file('d3.avhdx'));
      try {
        expect(disk.format).toBe('vhdx');
        expect(disk.layers.map((l) => l.path)).toEqual(layers);
        const whole = await disk.read(0, size);
        const firstDiff = whole.findIndex((x, i) => x !== model[i]);
        expect(firstDiff).toBe(-1);
        for (let i = 0; i < 40; i++) {
          const at = rng.int(size - 1);
          const n = 1 + rng.int(Math.min(size - at, 3 * MiB));
          expect((await disk.read(at, n)).equals(model.subarray(at, at + n))).toBe(true);
        }
      } finally {
        await disk.close();
      }
      // Through layer 2 as the top: its zero-state block 4 reads as zeros over the base's data.
      const mid = await openReadableDisk(tmp.file('d2.avhdx'));
      try {
        expect((await mid.read(4 * MiB, MiB)).every((x) => x === 0)).toBe(true);
        const base = await openReadableDisk(tmp.file('d0.vhdx'));
        expect((await base.read(4 * MiB + 5 * lss, 64 * lss)).some((x) => x !== 0)).toBe(true);
        await base.close();
      } finally {
        await mid.close();
      }
    });
  }

  it('refuses a parent whose data write GUID is not the parent_linkage, and a VHD where a VHDX parent should be', async () => {
    const base = await makeVhdx(tmp.file('base.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB });
    await makeVhdx(tmp.file('wrong.avhdx'), {
      kind: 'differencing',
      virtualSize: 4 * MiB,
      locator: vhdxLocator({ parent_linkage: `{${guidToString(newGuid())}}`, relative_path: '.\\base.vhdx' }),
    });
    await expect(openReadableDisk(tmp.file('wrong.avhdx'))).rejects.toMatchObject({ code: 'PARENT_ID_MISMATCH', field: 'parentLocator.parent_linkage' });
    // Explicitly named and the mismatch accepted on request: it opens, with a warning.
    const forced = await openReadableDisk(tmp.file('wrong.avhdx'), { parentPath: tmp.file('base.vhdx'), ignoreIdMismatch: true });
    expect(forced.warnings.map((w) => w.code)).toContain('PARENT_ID_MISMATCH_IGNORED');
    await forced.close();
    await createDynamic(tmp.file('vhd-parent.vhd'), 4 * MiB);
    await makeVhdx(tmp.file('on-vhd.avhdx'), {
      kind: 'differencing',
      virtualSize: 4 * MiB,
      locator: linkTo(base, '.\\vhd-parent.vhd'),
    });
    const err = await openReadableDisk(tmp.file('on-vhd.avhdx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainError);
    expect(err).toMatchObject({ code: 'PARENT_NOT_FOUND' });
    expect(String((err as Error).message)).toContain('not a readable VHDX');
  });

  it("finds a moved parent by the relative path's file name beside the child, and names what it tried when there is none", async () => {
    const base = await makeVhdx(tmp.file('base.vhdx'), { kind: 'dynamic', virtualSize: 4 * MiB, writes: [{ offset: 0, data: new Rng(4).bytes(4096) }] });
    await makeVhdx(tmp.file('c.avhdx'), {
      kind: 'differencing',
      virtualSize: 4 * MiB,
      locator: vhdxLocator({
        parent_linkage: `{${guidToString(base.header.dataWriteGuid)}}`,
        relative_path: '..\\elsewhere\\base.vhdx',
        absolute_win32_path: 'D:\\vms\\base.vhdx',
      }),
    });
    const d = await openReadableDisk(tmp.file('c.avhdx'));
    expect(d.layers.length).toBe(2);
    expect((await d.read(0, 4096)).equals(Buffer.from(new Rng(4).bytes(4096)))).toBe(true);
    await d.close();
    await fsp.rm(tmp.file('base.vhdx'));
    await expect(openReadableDisk(tmp.file('c.avhdx'))).rejects.toMatchObject({ code: 'PARENT_NOT_FOUND', field: 'parentLocator' });
  });
});

describe('what a VHDX file stores itself (the Cost column and the details map)', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-alloc-');

  it('counts present sectors of partial blocks, whole present blocks, and nothing for zero blocks', async () => {
    const rng = new Rng(12);
    const size = 5 * MiB;
    const built = await makeVhdx(tmp.file('c.avhdx'), {
      kind: 'differencing',
      virtualSize: size,
      writes: [
        { offset: 4096, data: rng.bytes(3 * 512) },
        { offset: 2 * MiB, data: rng.bytes(MiB) },
        { offset: 3 * MiB, data: rng.bytes(8192) },
      ],
      states: { 3: PayloadState.Zero },
    });
    const want = built.expected(0, size).present.reduce((n, p) => n + p, 0) * 512;
    const a = await allocationOf(tmp.file('c.avhdx'));
    // The zero block defines its sectors (expected() counts them) but stores none of them.
    expect(a.uniqueBytes).toBe(want - MiB);
    expect([...a.blocks]).toEqual([1, 0, 2, 0, 0]);
  });
});

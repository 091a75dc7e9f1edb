// Repair of VHDX files from their second copies: a damaged header from the
// intact one (next sequence number: it becomes current), a damaged or
// differing region table from the copy readers use. The content reads as
// before, check is clean (no warnings), and qemu-img agrees where it is here.
// With both copies damaged nothing is written and the problem is reported.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readHeaderCopy, HEADER_OFFSETS, HEADER_SIZE } from '../../core/format/vhdx/header.js';
import { REGION_TABLE_OFFSETS, REGION_TABLE_SIZE } from '../../core/format/vhdx/region.js';
import { checkPaths } from '../../core/ops/check.js';
import { planOperation, runOperation } from '../../core/operations.js';
import type { RepairPlan, RepairResult } from '../../core/ops/repair.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { makeVhdx, patchFile, readSlice } from '../support/vhdx-build.js';

const MiB = 1024 * 1024;
const HAVE_QEMU = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;

describe('repair of a VHDX', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-repair-');

  async function disk(seed: number): Promise<{ path: string; content: Buffer }> {
    const path = tmp.file('d.vhdx');
    await makeVhdx(path, { kind: 'dynamic', virtualSize: 8 * MiB, writes: [{ offset: 4096, data: new Rng(seed).bytes(3 * MiB) }] });
    return { path, content: await readThrough(path) };
  }

  async function expectClean(path: string, content: Buffer): Promise<void> {
    expect((await readThrough(path)).equals(content)).toBe(true);
    const [r] = await checkPaths([path]);
    expect([...r.errors, ...r.warnings].map((e) => e.code)).toEqual([]);
    if (HAVE_QEMU) {
      const q = spawnSync('qemu-img', ['check', '-f', 'vhdx', path], { encoding: 'utf8' });
      expect(q.status, q.stdout + q.stderr).toBe(0);
    }
  }

  for (const which of [1, 2] as const) {
    it(`rewrites a damaged header${which} from the other, as the current one, and a damaged region table${3 - which} from the other`, async () => {
      const { path, content } = await disk(880 + which);
      const good = readHeaderCopy(await readSlice(path, HEADER_OFFSETS[2 - which], HEADER_SIZE), which === 1 ? 2 : 1);
      await patchFile(path, HEADER_OFFSETS[which - 1] + 40, Buffer.from([0xff, 0xee]));
      await patchFile(path, REGION_TABLE_OFFSETS[2 - which], Buffer.from('XXXX'));
      const plan = (await planOperation({ op: 'repair', disk: path })) as RepairPlan;
      expect(plan.fixes.map((f) => f.code).sort()).toEqual(
        ['VHDX_HEADER_CHECKSUM', which === 1 ? 'VHDX_REGION_TABLE_COPY' : 'VHDX_REGION_TABLE_FROM_COPY'].sort(),
      );
      expect(plan.remaining).toEqual([]);
      const r = (await runOperation({ op: 'repair', disk: path })) as RepairResult;
      expect(r.fixed).toHaveLength(2);
      expect(r.remaining).toEqual([]);
      const fixed = readHeaderCopy(await readSlice(path, HEADER_OFFSETS[which - 1], HEADER_SIZE), which);
      expect(fixed.intact).toBe(true);
      expect(fixed.header.sequenceNumber).toBe(good.header.sequenceNumber + 1n);
      expect(Buffer.from(fixed.header.dataWriteGuid).equals(Buffer.from(good.header.dataWriteGuid))).toBe(true);
      const tables = REGION_TABLE_OFFSETS.map((at) => readSlice(path, at, REGION_TABLE_SIZE));
      expect((await tables[0]).equals(await tables[1])).toBe(true);
      await expectClean(path, content);
      // Nothing left to do.
      expect(((await planOperation({ op: 'repair', disk: path })) as RepairPlan).fixes).toEqual([]);
    });
  }

  it('with both headers damaged writes nothing and says why', async () => {
    const { path } = await disk(883);
    for (const at of HEADER_OFFSETS) await patchFile(path, at + 40, Buffer.from([0xff]));
    const bytes = await fsp.readFile(path);
    const plan = (await planOperation({ op: 'repair', disk: path })) as RepairPlan;
    expect(plan.fixes).toEqual([]);
    expect(plan.notes.map((n) => n.message).join()).toMatch(/neither header copy/);
    await runOperation({ op: 'repair', disk: path });
    expect((await fsp.readFile(path)).equals(bytes)).toBe(true);
  });
});

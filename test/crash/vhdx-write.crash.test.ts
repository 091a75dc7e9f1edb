// `vhdsnap write` into a VHDX killed at every I/O step. Data goes to new
// blocks (and to clear sectors of partially present ones) before the BAT and
// sector-bitmap pages change, and those change through the VHDX log: after
// recovery — `recover` for the lock, then replaying the file's log as the
// next writer (or qemu-img check -r) would — the disk reads exactly as
// before or exactly as after, checks clean, and qemu-img check accepts it.
// Before that replay, our reader (which replays in memory) already shows
// one of the two, and so does QEMU on a copy it repairs (check -r all).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { replayVhdxLog } from '../../core/disk/vhdx-writer.js';

import { checkPaths } from '../../core/ops/check.js';
import { recover } from '../../core/ops/recover.js';
import { Rng } from '../support/model.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';
import { makeVhdx, makeAvhdxOverBase } from '../support/vhdx-build.js';
import { bundleChild, runChild, type Bundle } from './harness.js';

const MiB = 1024 * 1024;
const HAVE_QEMU = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);

interface VhdxCrashCase {
  name: string;
  /** Builds the folder; returns the disk written, the data file and the offset. */
  setup(dir: string): Promise<{ disk: string; offset: number }>;
  /** qemu-img opens no differencing VHDX: only fixed and dynamic ones are given to it. */
  qemu: boolean;
}

const cases: VhdxCrashCase[] = [
  {
    name: 'write into a dynamic VHDX (new blocks, unaligned ends)',
    qemu: true,
    async setup(dir) {
      const rng = new Rng(1811);
      await makeVhdx(`${dir}/d.vhdx`, { kind: 'dynamic', virtualSize: 12 * MiB, writes: [{ offset: MiB, data: rng.bytes(MiB) }] });
      await fsp.writeFile(`${dir}/data.raw`, rng.bytes(2 * MiB + 1234));
      return { disk: `${dir}/d.vhdx`, offset: 4 * MiB + 77 };
    },
  },
  {
    name: 'write into an AVHDX child (partially present blocks, a new sector bitmap block)',
    qemu: false,
    async setup(dir) {
      const rng = new Rng(1812);
      await makeAvhdxOverBase(dir, rng);
      // Sectors the child does not have yet: around its own 4 KiB at 3 MiB and into untouched blocks.
      await fsp.writeFile(`${dir}/data.raw`, rng.bytes(MiB + 300));
      return { disk: `${dir}/child.avhdx`, offset: 3 * MiB + 4096 + 100 };
    },
  },
];

describe('crash: write into VHDX', () => {
  let bundle: Bundle;
  let work: string;
  beforeAll(async () => {
    bundle = await bundleChild();
    work = makeTmpDir('vhdsnap-crash-vhdxw-');
  });
  afterAll(() => {
    if (bundle) removeTmpDir(bundle.dir);
    if (work) removeTmpDir(work);
  });

  for (const c of cases) {
    it(`${c.name}: every kill point recovers to before or after`, async () => {
      const saved = process.env.TMPDIR;
      process.env.TMPDIR = nodePath.join(work, `tmp-${cases.indexOf(c)}`);
      mkdirSync(process.env.TMPDIR);
      try {
        const fresh = async (name: string) => {
          const dir = nodePath.join(work, name);
          mkdirSync(dir);
          const s = await c.setup(dir);
          return { dir, ...s, req: { op: 'write' as const, disk: s.disk, input: `${dir}/data.raw`, offset: s.offset } };
        };
        const dry = await fresh(`dry-${cases.indexOf(c)}`);
        const names = (await fsp.readdir(dry.dir)).sort();
        const before = await readThrough(dry.disk);
        const data = await fsp.readFile(`${dry.dir}/data.raw`);
        const model = Buffer.from(before);
        model.set(data, dry.offset);
        const out = runChild(bundle, 0, dry.req, dry.dir);
        expect(out.report?.error, out.stderr).toBeUndefined();
        const steps = out.report!.steps;
        expect(hash(await readThrough(dry.disk))).toBe(hash(model));
        const want = new Set([hash(before), hash(model)]);
        let rolledBack = 0;
        let finished = 0;
        for (let k = 1; k <= steps; k++) {
          const run = await fresh(`k${cases.indexOf(c)}-${k}`);
          const o = runChild(bundle, k, run.req, run.dir);
          expect(o.signal, `kill at ${k}: ${o.stderr}`).toBe('SIGKILL');
          // Read as found (our reader replays the log in memory).
          const found = hash(await readThrough(run.disk));
          expect(want.has(found), `kill at ${k}: reads as neither before nor after`).toBe(true);
          if (c.qemu && HAVE_QEMU) {
            // QEMU replays our log its own way: a copy repaired by qemu-img reads as before or after too.
            const copy = nodePath.join(work, `qemu-${k}.vhdx`);
            const rawOut = nodePath.join(work, `qemu-${k}.raw`);
            await fsp.copyFile(run.disk, copy);
            const fix = spawnSync('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', copy], { encoding: 'utf8' });
            expect(fix.status, `kill at ${k}: qemu-img check -r all: ${fix.stdout}${fix.stderr}`).toBe(0);
            const conv = spawnSync('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', copy, rawOut], { encoding: 'utf8' });
            expect(conv.status, conv.stderr).toBe(0);
            // The same state as ours: QEMU replays (or ignores) exactly the entries our reader does.
            expect(hash(await fsp.readFile(rawOut)), `kill at ${k}: qemu and vhdsnap disagree`).toBe(found);
            await fsp.rm(copy);
            await fsp.rm(rawOut);
          }
          const recovered = await recover(run.dir);
          expect(recovered.every((r) => r.action === 'completed' || r.action === 'discarded' || r.action === 'removed')).toBe(true);
          await replayVhdxLog(run.disk);
          const h = hash(await readThrough(run.disk));
          expect(want.has(h), `kill at ${k}: after replay reads as neither before nor after`).toBe(true);
          if (h === hash(before)) rolledBack++;
          else finished++;
          expect((await fsp.readdir(run.dir)).sort(), `kill at ${k}`).toEqual(names);
          const rep = await checkPaths([run.disk], { deep: true });
          expect(
            rep.flatMap((f) => f.errors),
            `kill at ${k}: check`,
          ).toEqual([]);
          if (c.qemu && HAVE_QEMU) {
            const q = spawnSync('qemu-img', ['check', '-f', 'vhdx', run.disk], { encoding: 'utf8' });
            expect(q.status, `kill at ${k}: qemu-img check: ${q.stdout}${q.stderr}`).toBe(0);
          }
          await fsp.rm(run.dir, { recursive: true });
        }
        console.log(`crash ${c.name}: ${steps} steps, every one killed: ${rolledBack} before, ${finished} after`);
        expect(rolledBack).toBeGreaterThan(0);
        expect(finished).toBeGreaterThan(0);
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
    }, 600_000);
  }
});

// `vhdsnap` and the in-use guard (core/inuse.ts), through runCli: every
// command that writes, renames, links or deletes a disk refuses with IN_USE
// (exit 1) while another program holds one of its files — a qemu-io at its
// prompt (OFD locks + descriptor) or a Node child (a bare descriptor) — and
// its dry run shows the same refusal with the same exit code, human and
// --json. Every file stays byte-identical. Reading commands still work and
// warn that the result is a snapshot of a moving target; the content is
// checked against the reference model.
import { promises as fsp, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create.js';
import { useHolders, type Holder } from '../support/holders.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { folderState } from '../support/compare.js';
import { cli } from '../support/cli.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 2 * MiB;

interface Case {
  name: string;
  /** The file the other program holds. */
  held: string;
  /** Arguments, with d0..d2 (a chain), s.vhd (a standalone dynamic disk), data.bin, out.vhd (an existing file). */
  args: string[];
  dryRun: boolean;
}

const CASES: Case[] = [
  { name: 'snapshot in place', held: 'd2.vhd', args: ['snapshot', 'd2.vhd'], dryRun: true },
  { name: 'snapshot --out (the disk becomes a read-only parent)', held: 'd2.vhd', args: ['snapshot', 'd2.vhd', '--out', 'new.vhd'], dryRun: true },
  { name: 'write', held: 'd2.vhd', args: ['write', 'd2.vhd', '--offset', '512', '--input', 'data.bin'], dryRun: false },
  { name: 'merge, the parent held (the child is not)', held: 'd1.vhd', args: ['merge', 'd2.vhd'], dryRun: true },
  { name: 'merge --into, the top of the segment held', held: 'd0.vhd', args: ['merge', 'd2.vhd', '--into', 'd0.vhd'], dryRun: true },
  { name: 'delete, the child it folds into held', held: 'd2.vhd', args: ['delete', 'd1.vhd'], dryRun: true },
  { name: 'revert', held: 'd2.vhd', args: ['revert', 'd2.vhd'], dryRun: true },
  { name: 'reparent', held: 'd2.vhd', args: ['reparent', 'd2.vhd', 'd1.vhd'], dryRun: true },
  { name: 'repair', held: 's.vhd', args: ['repair', 's.vhd'], dryRun: true },
  { name: 'compact', held: 'd2.vhd', args: ['compact', 'd2.vhd'], dryRun: true },
  { name: 'resize', held: 's.vhd', args: ['resize', 's.vhd', '--size', '8M'], dryRun: true },
  { name: "flatten's output path", held: 'out.vhd', args: ['flatten', 'd2.vhd', 'out.vhd'], dryRun: true },
];

const HOLDERS = [
  { kind: 'qemu-io -f vpc', what: 'shut the VM down first' },
  { kind: 'a Node child (descriptor, no lock)', what: 'close that program first' },
] as const;

describe.skipIf(process.platform !== 'linux')('vhdsnap refuses to change a disk another program has open', () => {
  const tmp = useTmpDir('vhdsnap-cli-inuse-');
  const holders = useHolders();

  async function setUp(): Promise<void> {
    await buildTree(tmp.dir, 1501, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 5 });
    await createDynamic(tmp.file('s.vhd'), 4 * MiB);
    await createDynamic(tmp.file('out.vhd'), 4 * MiB);
    writeFileSync(tmp.file('data.bin'), Buffer.alloc(3000, 0x5a));
  }

  describe.each(HOLDERS)('held by $kind', ({ kind, what }) => {
    it.each(CASES)('$name', async (c) => {
      await setUp();
      const h: Holder = kind.startsWith('qemu') ? await holders.qemuIo(tmp.file(c.held)) : await holders.node(tmp.file(c.held));
      const message = `‘${c.held}’ is in use by ${h.program} (pid ${h.pid}): ${what}`;
      const args = c.args.map((x) => (/\.(vhd|bin)$/.test(x) ? tmp.file(x) : x));
      const before = folderState(tmp.dir);

      if (c.dryRun) {
        const human = await cli(...args, '--dry-run');
        expect(human.code, human.out + human.err).toBe(1);
        expect(human.out).toContain(`refused IN_USE: ${message}`);
        const j = await cli(...args, '--dry-run', '--json');
        expect(j.code, j.err).toBe(1);
        expect(JSON.parse(j.out).refusals).toContainEqual({ code: 'IN_USE', message });
      }
      const run = await cli(...args);
      expect(run.code, run.out + run.err).toBe(1);
      expect(run.err).toContain(message);
      expect(run.err).toMatch(/\[IN_USE\]\n$/);
      const runJson = await cli(...args, '--json');
      expect(runJson.code).toBe(1);
      // --json: the refusal is also one document on stdout.
      expect(JSON.parse(runJson.out).error.code).toBe('IN_USE');
      expect(runJson.err).toContain(message);

      expect(folderState(tmp.dir)).toEqual(before);
    });
  });

  it('several holders are listed in one refusal', async () => {
    await setUp();
    const a = await holders.node(tmp.file('d2.vhd'));
    const b = await holders.node(tmp.file('d2.vhd'));
    const before = folderState(tmp.dir);
    const r = await cli('snapshot', tmp.file('d2.vhd'));
    expect(r.code).toBe(1);
    const pids = [a.pid, b.pid];
    expect(r.err).toMatch(
      new RegExp(`‘d2\\.vhd’ is in use by node \\(pid (${pids.join('|')})\\) and node \\(pid (${pids.join('|')})\\): close those programs first`),
    );
    for (const p of pids) expect(r.err).toContain(`(pid ${p})`);
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a disk held through a hard link or a symlink is refused under the name given', async () => {
    await setUp();
    linkSync(tmp.file('d2.vhd'), tmp.file('hard.vhd'));
    symlinkSync(tmp.file('s.vhd'), tmp.file('soft.vhd'));
    const a = await holders.node(tmp.file('hard.vhd'));
    const b = await holders.qemuIo(tmp.file('soft.vhd'));
    const before = folderState(tmp.dir);
    const snap = await cli('snapshot', tmp.file('d2.vhd'), '--dry-run', '--json');
    expect(snap.code).toBe(1);
    expect(JSON.parse(snap.out).refusals).toContainEqual({ code: 'IN_USE', message: `‘d2.vhd’ is in use by node (pid ${a.pid}): close that program first` });
    const grow = await cli('resize', tmp.file('s.vhd'), '--size', '8M');
    expect(grow.code).toBe(1);
    expect(grow.err).toContain(`‘s.vhd’ is in use by qemu-io (pid ${b.pid}): shut the VM down first`);
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a snapshot only read (revert --to, reparent onto it) may be held: a VM on a sibling branch holds it read-only', async () => {
    const { model, paths } = await buildTree(tmp.dir, 1504, { parents: [null, 0, 1, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 4 });
    // A program running the sibling branch d3 has the shared base open, as QEMU keeps a backing file open.
    await holders.qemuIo(paths[0]);
    const rev = await cli('revert', paths[2], '--to', paths[0]);
    expect(rev.code, rev.err).toBe(0);
    expect((await readThrough(paths[2])).equals(model.view(0))).toBe(true);
    const rep = await cli('reparent', paths[2], paths[0], '--json');
    expect(rep.code, rep.err).toBe(0);
    expect((await readThrough(paths[2])).equals(model.view(0))).toBe(true);
  });

  it("this process's own open handle does not refuse its own command", async () => {
    await setUp();
    const own = await fsp.open(tmp.file('d2.vhd'), 'r');
    try {
      const plan = await cli('snapshot', tmp.file('d2.vhd'), '--dry-run', '--json');
      expect(plan.code, plan.err).toBe(0);
      expect(JSON.parse(plan.out).refusals).toEqual([]);
      const r = await cli('snapshot', tmp.file('d2.vhd'), '--json');
      expect(r.code, r.err).toBe(0);
      expect(r.err).toBe('');
    } finally {
      await own.close();
    }
  });
});

describe.skipIf(process.platform !== 'linux')('reading commands work on a disk in use, and say it is a moving target', () => {
  const tmp = useTmpDir('vhdsnap-cli-inuse-');
  const holders = useHolders();

  it.each(HOLDERS)('info, check, export and flatten with the disk held by $kind', async ({ kind }) => {
    const { model, paths } = await buildTree(tmp.dir, 1502, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 5 });
    const h = kind.startsWith('qemu') ? await holders.qemuIo(paths[2]) : await holders.node(paths[2]);
    const warning = `‘d2.vhd’ is in use by ${h.program} (pid ${h.pid}): the result is a snapshot of a moving target (it may change while and after it is read)`;
    const stderrLine = (cmd: string) => `vhdsnap ${cmd}: warning: ${warning} [IN_USE]\n`;
    const before = folderState(tmp.dir);

    const info = await cli('info', paths[2], '--json');
    expect(info.code, info.err).toBe(0);
    expect(JSON.parse(info.out).warnings).toContainEqual({ code: 'IN_USE', message: warning });
    expect(info.err).toBe(stderrLine('info'));

    const check = await cli('check', paths[2], '--deep', '--json');
    expect(check.code, check.err).toBe(0);
    const reports = JSON.parse(check.out) as { path: string; warnings: unknown[] }[];
    expect(reports[0].warnings).toContainEqual({ code: 'IN_USE', message: warning });
    expect(check.err).toBe(stderrLine('check'));

    const raw = tmp.file('x.raw');
    const exp = await cli('export', paths[2], raw, '--json');
    expect(exp.code, exp.err).toBe(0);
    expect(JSON.parse(exp.out).warnings).toEqual([{ code: 'IN_USE', message: warning }]);
    expect(exp.err).toBe(stderrLine('export'));
    expect(readFileSync(raw).equals(model.view(2))).toBe(true);

    const flat = tmp.file('flat.vhd');
    const fl = await cli('flatten', paths[2], flat, '--json');
    expect(fl.code, fl.err).toBe(0);
    expect(JSON.parse(fl.out).warnings).toEqual([{ code: 'IN_USE', message: warning }]);
    expect(fl.err).toBe(stderrLine('flatten'));
    expect((await readThrough(flat)).equals(model.view(2))).toBe(true);

    // The inputs are untouched; only the two outputs appeared.
    const after = folderState(tmp.dir);
    delete after['x.raw'];
    delete after['flat.vhd'];
    expect(after).toEqual(before);
  });

  it('no warning when nothing else holds the disk', async () => {
    const { paths } = await buildTree(tmp.dir, 1503, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 3 });
    const info = await cli('info', paths[1], '--json');
    expect(info.err).toBe('');
    expect(JSON.parse(info.out).warnings.filter((w: { code: string }) => w.code === 'IN_USE')).toEqual([]);
  });
});

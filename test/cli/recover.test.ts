// `vhdsnap recover`: --dry-run lists interrupted work and leftovers without
// touching them; the real run finishes the work, removes the temp and lock
// files of dead owners (a real SIGKILL of the built CLI mid-flatten), says
// what it freed, and keeps what a live owner is still using.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { tempSibling } from '../../core/io/file.js';
import { acquireLock, userLockDir } from '../../core/lock.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import type { RecoverReport } from '../../core/ops/recover.js';
import { Rng } from '../support/model.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { cli } from '../support/cli.js';
import { interruptAtFirstReport } from '../support/interrupt.js';

const MiB = 1024 * 1024;

const folderHash = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map(
      (n) =>
        `${n}:${createHash('sha256')
          .update(readFileSync(`${dir}/${n}`))
          .digest('hex')}`,
    );

describe('vhdsnap recover', () => {
  const tmp = useTmpDir();

  it('--dry-run lists an interrupted merge and changes nothing; recover then finishes it', async () => {
    const { model, paths } = await buildTree(tmp.dir, 71, { parents: [null, 0, 1], size: 2 * 1024 * 1024, blockSize: 4096, writesPerLayer: 20 });
    await interruptAtFirstReport({ op: 'merge', disk: paths[1] });
    const before = folderHash(tmp.dir);
    const dry = await cli('recover', tmp.dir, '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    expect(JSON.parse(dry.out).pending).toEqual([expect.objectContaining({ op: 'merge', busy: false, would: 'would finish merge of d1.vhd, d0.vhd' })]);
    expect(folderHash(tmp.dir)).toEqual(before);

    const r = await cli('recover', tmp.dir, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).recoveries).toEqual([expect.objectContaining({ op: 'merge', action: 'completed' })]);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    expect((await cli('recover', tmp.dir, '--dry-run')).out).toBe('nothing to recover\n');
  });
});

const ROOT = nodePath.resolve(__dirname, '../..');
const BIN = nodePath.join(ROOT, 'bin', 'vhdsnap.cjs');
const built = existsSync(nodePath.join(ROOT, 'dist', 'cli', 'vhdsnap.cjs'));

/** The built CLI as a separate process (a real pid of its own, killed for real). */
function runBin(...argv: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A three-disk chain with 64 MiB of data, so a flatten takes long enough to be caught mid-copy. */
async function bigChain(dir: string): Promise<string[]> {
  const rng = new Rng(1501);
  const paths = ['base.vhd', 'child1.vhd', 'child2.vhd'].map((n) => nodePath.join(dir, n));
  await createDynamic(paths[0], 96 * MiB, { blockSize: 2 * MiB });
  await createDifferencing(paths[1], paths[0]);
  await createDifferencing(paths[2], paths[1]);
  for (const [i, len] of [64 * MiB, 4 * MiB, 4 * MiB].entries()) {
    const d = await openDisk(paths[i], { writable: true, sync: false });
    try {
      for (let at = 0; at < len; at += 8 * MiB) await d.write(i * 3 * MiB + at, rng.bytes(Math.min(8 * MiB, len - at)));
    } finally {
      await d.close();
    }
  }
  return paths;
}

/** Starts `vhdsnap flatten` and stops it (SIGSTOP) once its output temp holds data: mid-copy, for sure. */
async function flattenStoppedMidCopy(dir: string, src: string, out: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'flatten', src, out], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const temp = readdirSync(dir).find((n) => n.startsWith(`.${nodePath.basename(out)}.${child.pid}-`));
    if (temp && statSync(nodePath.join(dir, temp), { throwIfNoEntry: false })?.size) {
      child.kill('SIGSTOP');
      return child;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  child.kill('SIGKILL');
  throw new Error('the flatten finished (or failed) before it could be stopped mid-copy');
}

async function killed(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.on('exit', r));
}

const listing = (dir: string) => readdirSync(dir).sort();

describe.skipIf(!built)('vhdsnap recover after a real kill (built CLI)', () => {
  const tmp = useTmpDir();

  it(
    'SIGKILL mid-flatten: recover removes the temp and both locks, says so with the bytes freed, and leaves the folder as before',
    { timeout: 60_000 },
    async () => {
      const paths = await bigChain(tmp.dir);
      const before = listing(tmp.dir);
      const sums = folderHash(tmp.dir);
      const flat = tmp.file('flat.vhd');
      const child = await flattenStoppedMidCopy(tmp.dir, paths[2], flat);
      const pid = child.pid!;
      await killed(child);
      const left = listing(tmp.dir).filter((n) => !before.includes(n));
      const temp = left.find((n) => n.startsWith(`.flat.vhd.${pid}-`))!;
      expect(left.sort()).toEqual([temp, '.vhdsnap-lock-child2.vhd.lock', '.vhdsnap-lock-flat.vhd.lock'].sort());
      const sizes = Object.fromEntries(left.map((n) => [n, statSync(tmp.file(n)).size]));
      const total = Object.values(sizes).reduce((a, b) => a + b, 0);

      // --dry-run lists exactly what would go and the bytes, and removes nothing.
      const dryJson = runBin('recover', tmp.dir, '--dry-run', '--json');
      expect(dryJson.code, dryJson.err).toBe(0);
      const dj = JSON.parse(dryJson.out) as RecoverReport;
      expect(dj.dryRun).toBe(true);
      // The locks by file identity live in the user's lock folder (core/lock.ts); they go too.
      const lockDir = await userLockDir();
      const idLocks = dj.removed.filter((x) => nodePath.dirname(x.path) === lockDir);
      expect(idLocks.length).toBeGreaterThan(0);
      expect(idLocks.every((x) => x.kind === 'lock' && nodePath.basename(x.path).startsWith('.vhdsnap-lock-id-'))).toBe(true);
      const idBytes = idLocks.reduce((n, x) => n + x.bytes, 0);
      const files = 3 + idLocks.length;
      expect(
        dj.removed
          .filter((x) => !idLocks.includes(x))
          .map((x) => [nodePath.basename(x.path), x.kind, x.bytes])
          .sort(),
      ).toEqual(left.map((n) => [n, n === temp ? 'temp' : 'lock', sizes[n]]).sort());
      expect(dj.bytesFreed).toBe(total + idBytes);
      expect(dj.kept).toEqual([]);
      const dry = runBin('recover', tmp.dir, '--dry-run');
      expect(dry.code, dry.err).toBe(0);
      expect(dry.out).toContain(`would remove temp ${temp} (`);
      expect(dry.out).toContain('would remove lock .vhdsnap-lock-child2.vhd.lock');
      expect(dry.out).toContain(`would free `);
      expect(dry.out).toContain(`(${total + idBytes} bytes) in ${files} files`);
      expect(listing(tmp.dir)).toEqual([...before, ...left].sort());

      const r = runBin('recover', tmp.dir);
      expect(r.code, r.err).toBe(0);
      const lines = r.out.trim().split('\n');
      expect(lines).toHaveLength(files + 1);
      expect(lines.find((l) => l.startsWith(`removed temp ${temp} (`))).toContain(`(${sizes[temp]} bytes)`);
      expect(lines.find((l) => l.startsWith('removed lock .vhdsnap-lock-child2.vhd.lock'))).toContain(`pid ${pid}`);
      expect(lines.find((l) => l.startsWith('removed lock .vhdsnap-lock-flat.vhd.lock'))).toBeDefined();
      expect(lines[files]).toMatch(new RegExp(`^freed .*\\(${total + idBytes} bytes\\) in ${files} files$`));
      expect(listing(tmp.dir)).toEqual(before);
      expect(folderHash(tmp.dir)).toEqual(sums);
      expect(runBin('recover', tmp.dir).out).toBe('nothing to recover\n');
      // The chain is whole: a new flatten runs and reads as the source.
      expect(runBin('flatten', paths[2], flat).code).toBe(0);
      expect((await readThrough(flat)).equals(await readThrough(paths[2]))).toBe(true);
    },
  );

  it('a live owner (another process, stopped mid-flatten) keeps its temp and locks; --json says why', { timeout: 60_000 }, async () => {
    const paths = await bigChain(tmp.dir);
    const before = listing(tmp.dir);
    const child = await flattenStoppedMidCopy(tmp.dir, paths[2], tmp.file('flat.vhd'));
    try {
      const during = listing(tmp.dir);
      const r = runBin('recover', tmp.dir, '--json');
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as RecoverReport;
      expect(j.removed).toEqual([]);
      expect(j.bytesFreed).toBe(0);
      expect(j.kept.map((x) => nodePath.basename(x.path)).sort()).toEqual(during.filter((n) => !before.includes(n)));
      for (const k of j.kept) expect(k.detail).toMatch(/running/);
      const h = runBin('recover', tmp.dir);
      expect(h.out).not.toContain('nothing to recover');
      expect(h.out).toMatch(/^kept temp \.flat\.vhd\./m);
      expect(listing(tmp.dir)).toEqual(during);
      // Let it go on: it finishes as if nothing happened.
      child.kill('SIGCONT');
      await new Promise((res) => child.on('exit', res));
      expect(child.exitCode).toBe(0);
      expect(listing(tmp.dir)).toEqual([...before, 'flat.vhd'].sort());
      expect((await readThrough(tmp.file('flat.vhd'))).equals(await readThrough(paths[2]))).toBe(true);
    } finally {
      await killed(child);
    }
  });
});

describe('vhdsnap recover: leftovers of this process and of older versions', () => {
  const tmp = useTmpDir();

  it('keeps the lock and temp of a job running in this very process', async () => {
    const disk = tmp.file('d.vhd');
    await createDynamic(disk, 2 * MiB);
    const held = await acquireLock(disk, 'flatten');
    const temp = tempSibling(tmp.file('out.vhd'));
    writeFileSync(temp, 'partial');
    try {
      const r = await cli('recover', tmp.dir, '--json');
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as RecoverReport;
      expect(j.removed).toEqual([]);
      expect(j.kept.map((x) => x.path).sort()).toEqual([held.lockFile, temp].sort());
      expect(existsSync(temp) && existsSync(held.lockFile)).toBe(true);
    } finally {
      await held.release();
    }
  });

  it('clears stale locks in the old naming (.vhdsnap-lock-<disk>, no .lock end) and their takeover locks; tree never lists them', async () => {
    const disk = tmp.file('d.vhd');
    await createDynamic(disk, 2 * MiB);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const lock = (token: string) =>
      JSON.stringify({ version: 1, pid: Number(dead), host: os.hostname(), op: 'merge', startedAt: new Date().toISOString(), path: disk, token });
    writeFileSync(tmp.file('.vhdsnap-lock-d.vhd'), lock('a1'));
    writeFileSync(tmp.file('.vhdsnap-lock-d.vhd.takeover'), lock('a2'));
    writeFileSync(tmp.file(`.vhdsnap-lock-d.vhd.${dead}.0a0b0c0d.tmp`), '{"ver');
    writeFileSync(tmp.file(`.d.vhd.${dead}-0a0b0c0d.compact.tmp`), 'conectix');
    // The folder scan sees the one disk only, old names ending in .vhd included.
    const t = await cli('tree', tmp.dir, '--json');
    expect(t.code, t.err).toBe(0);
    expect(t.out).not.toContain('vhdsnap-lock');
    expect(t.out).not.toContain('.tmp');
    const forest = JSON.parse(t.out) as { roots: { path: string }[]; orphans: unknown[]; unreadable: unknown[] };
    expect(forest.roots.map((x) => x.path)).toEqual([disk]);
    expect(forest.orphans).toEqual([]);
    expect(forest.unreadable).toEqual([]);
    const r = await cli('recover', tmp.dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('removed lock .vhdsnap-lock-d.vhd (');
    expect(r.out).toContain('removed lock .vhdsnap-lock-d.vhd.takeover (');
    expect(r.out).toContain(`removed lock .vhdsnap-lock-d.vhd.${dead}.0a0b0c0d.tmp (`);
    expect(r.out).toContain(`removed temp .d.vhd.${dead}-0a0b0c0d.compact.tmp (8 B)`);
    expect(r.out).toContain('in 4 files');
    expect(readdirSync(tmp.dir)).toEqual(['d.vhd']);
  });
});

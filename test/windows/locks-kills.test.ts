// Windows tier, concurrency and crashes: two Wine processes on one disk (the
// lock refuses the second; a file another program holds open is IN_USE, not
// an internal error), and the Wine process running an operation SIGKILLed at
// sampled I/O steps (test/crash/child.ts in halt mode), then `vhdsnap recover`
// under Wine, judged on Linux with the crash suite's checks: every disk reads
// exactly as before or exactly as after. Skips, saying why, without Wine.
import { existsSync, mkdirSync, promises as fsp, readdirSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findJournals } from '../../core/journal.js';
import { checkPaths } from '../../core/ops/check.js';
import type { RecoverReport } from '../../core/ops/recover.js';
import { chooseKillPoints, describeState, expectedAfter, leftovers, readFolder, sameState, type CrashCase } from '../crash/harness.js';
import { SIZE, treeSetup } from '../crash/scenarios.js';
import { bundled, bundleEntries } from '../support/bundle.js';
import { assertSame } from '../support/compare.js';
import { Rng } from '../support/model.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { buildTree, readThrough } from '../support/tree.js';
import { CLI, findWine, runCliBatch, runNode, setupWine, startNode, waitForFile, winPath, type Wine } from '../support/wine.js';

const KiB = 1024;
const found = findWine();
if ('missing' in found) console.info(`windows tier skipped: ${found.missing}`);
/** Kill points per operation under Wine (each is one Wine start): WINE_CRASH_RUNS overrides. */
const RUNS = Number(process.env.WINE_CRASH_RUNS) > 0 ? Number(process.env.WINE_CRASH_RUNS) : 8;

const cases: CrashCase[] = [
  {
    name: 'merge (child with two grandchildren)',
    setup: treeSetup({ parents: [null, 0, 1, 2, 2], seed: 1101, blockSize: 64 * KiB }),
    request: (dir) => ({ op: 'merge', disk: winPath(`${dir}/d2.vhd`) }),
    after: { 'd2.vhd': null, 'd1.vhd': { content: 'd2.vhd' }, 'd3.vhd': { parent: 'd1.vhd' }, 'd4.vhd': { parent: 'd1.vhd' } },
    runs: RUNS + 4,
  },
  {
    name: 'compact (differencing leaf)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 1102, blockSize: 64 * KiB, junk: [2] }),
    request: (dir) => ({ op: 'compact', disk: winPath(`${dir}/d2.vhd`) }),
    after: {},
  },
  {
    name: 'delete (fold: middle snapshot, two children)',
    setup: treeSetup({ parents: [null, 0, 1, 1], seed: 1103, blockSize: 4 * KiB, writesPerLayer: 8 }),
    request: (dir) => ({ op: 'delete', disk: winPath(`${dir}/d1.vhd`) }),
    after: { 'd1.vhd': null, 'd2.vhd': { parent: 'd0.vhd' }, 'd3.vhd': { parent: 'd0.vhd' } },
  },
  {
    // A FAT/exFAT stick or an SMB share: link fails (injected), so the journaled rename sequence runs under Windows semantics.
    name: 'snapshot in place without hard links (rename sequence)',
    setup: treeSetup({ parents: [null, 0], seed: 1104, blockSize: 64 * KiB }),
    request: (dir) => ({ op: 'snapshot', disk: winPath(`${dir}/d1.vhd`) }),
    after: { 'd1-snap-<time>.vhd': { content: 'd1.vhd', parent: 'd0.vhd' }, 'd1.vhd': { parent: 'd1-snap-<time>.vhd' } },
    noHardLinks: true,
  },
];

/**
 * The crash child's environment for a case: its private temp folder `tmp` (so its user lock
 * folder: a stale lock another run left in the prefix's shared one for a reused file id would be
 * taken over in one run and not the next, and the steps would differ between the dry run and the
 * kills), and links failing as on FAT/SMB where the case says so.
 */
const caseEnv = (c: CrashCase, tmp: string): Record<string, string> => ({
  VHDSNAP_CRASH_TMP: winPath(tmp),
  ...(c.noHardLinks ? { VHDSNAP_CRASH_NO_HARDLINKS: '1' } : {}),
});

describe.skipIf('missing' in found)('Windows tier: locks, files in use and kills under Wine', () => {
  let wine: Wine;
  let bundleDir = '';
  let work = '';
  let scenarios = 0;
  let kills = 0;
  const seed = Number(process.env.CRASH_SEED) >= 0 && process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;

  beforeAll(async () => {
    expect(existsSync(CLI), 'run npm run build first').toBe(true);
    wine = setupWine((found as { wine: string }).wine);
    bundleDir = await bundleEntries({ child: 'test/crash/child.ts', holder: 'test/windows/holder.ts' }, 'vhdsnap-win-bundle-');
    work = makeTmpDir('vhdsnap-windows-kill-');
  }, 300_000);

  afterAll(() => {
    if (work) removeTmpDir(work);
    if (bundleDir) removeTmpDir(bundleDir);
    console.log(
      `windows tier: ${scenarios} lock/in-use/crash scenarios and ${kills} kill points (SIGKILL of the Wine process, then recover under Wine) ran under Wine (seed ${seed})`,
    );
  });

  /** Starts the holder under Wine and waits until it holds `target`; returns a function that lets go and awaits its exit. */
  async function hold(mode: 'lock' | 'open', target: string, dir: string): Promise<() => Promise<void>> {
    const ready = nodePath.join(dir, `.${mode}-ready`);
    const release = nodePath.join(dir, `.${mode}-release`);
    const proc = startNode(wine, bundled(bundleDir, 'holder'), [mode, winPath(target), winPath(ready), winPath(release)]);
    if (!(await waitForFile(ready, proc))) {
      const r = await proc.done;
      throw new Error(`the holder never held ${target}: ${r.status} ${r.stderr}${r.stdout}`);
    }
    return async () => {
      writeFileSync(release, '');
      const r = await proc.done;
      expect(r.status, `holder: ${r.stderr}`).toBe(0);
      await fsp.rm(ready, { force: true });
      await fsp.rm(release, { force: true });
    };
  }

  it('a second Wine process is refused LOCKED while the first holds the disk, and the disk stays intact', async () => {
    scenarios++;
    const dir = nodePath.join(work, 'lock');
    mkdirSync(dir);
    const { model, paths, rng } = await buildTree(dir, 1201, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
    const data = rng.bytes(3000);
    await fsp.writeFile(`${dir}/in.bin`, data);
    const write = ['write', winPath(paths[1]), '--offset', '5000', '--input', winPath(`${dir}/in.bin`)];
    const letGo = await hold('lock', paths[1], dir);
    let refused;
    try {
      refused = await runCliBatch(wine, [{ args: write }, { args: ['merge', winPath(paths[1])] }, { args: ['compact', winPath(paths[1])] }]);
    } finally {
      await letGo();
    }
    for (const r of refused) {
      expect(r.status, `${r.args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('LOCKED');
      expect(r.stderr).toContain(winPath(paths[1]));
    }
    for (const [i, p] of paths.entries()) assertSame(await readThrough(p), model.view(i), p);
    // Once the first process let go, the same write goes through.
    const [after] = await runCliBatch(wine, [{ args: write }]);
    expect(after.status, after.stderr).toBe(0);
    model.write(1, 5000, data);
    assertSame(await readThrough(paths[1]), model.view(1), 'after the lock was released');
    expect((await fsp.readdir(dir)).filter((n) => n.includes('lock'))).toEqual([]);
  });

  it('a disk another program holds open: compact and revert are refused IN_USE, naming it, and change nothing', async () => {
    scenarios++;
    const dir = nodePath.join(work, 'in-use');
    mkdirSync(dir);
    const { model, paths } = await buildTree(dir, 1202, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
    const names = (await fsp.readdir(dir)).sort();
    const letGo = await hold('open', paths[2], dir);
    let refused;
    try {
      refused = await runCliBatch(wine, [{ args: ['compact', winPath(paths[2])] }, { args: ['revert', winPath(paths[2]), '--keep'] }]);
    } finally {
      await letGo();
    }
    for (const r of refused) {
      expect(r.status, `${r.args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain('[IN_USE]');
      expect(r.stderr).toContain(winPath(paths[2]));
      expect(r.stderr).not.toContain('internal error');
    }
    // Undone on the spot: no journal or temp left for a later recover to roll forward.
    expect((await fsp.readdir(dir)).sort()).toEqual(names);
    for (const [i, p] of paths.entries()) assertSame(await readThrough(p), model.view(i), p);
    const [again] = await runCliBatch(wine, [{ args: ['compact', winPath(paths[2])] }]);
    expect(again.status, again.stderr).toBe(0);
    assertSame(await readThrough(paths[2]), model.view(2), 'compacted once the file was free');
  });

  for (const c of cases) {
    it(`${c.name}: SIGKILL of the Wine process at sampled steps, then recover under Wine`, async () => {
      scenarios++;
      const base = nodePath.join(work, c.name.replace(/\W+/g, '-'));
      const child = bundled(bundleDir, 'child');
      const tmp = nodePath.join(base, 'tmp');
      mkdirSync(tmp, { recursive: true });
      const env = caseEnv(c, tmp);
      // Dry run: counts the steps; a complete run must reach exactly `after`.
      const dry = nodePath.join(base, 'dry');
      mkdirSync(dry, { recursive: true });
      await c.setup(dry);
      const initial = new Set((await fsp.readdir(dry)).filter((n) => !/\.vhd$/i.test(n)));
      const before = (await readFolder(dry)).state;
      const expected = expectedAfter(before, c.after);
      const r0 = await runNode(wine, child, ['0', JSON.stringify(c.request(dry))], { env });
      const report = JSON.parse(r0.stdout.trim().split('\n').pop() ?? 'null') as {
        steps: number;
        kinds: Record<string, number>;
        error?: { message: string };
      } | null;
      expect(r0.status, `${r0.stdout}${r0.stderr}`).toBe(0);
      expect(report?.error).toBeUndefined();
      // Links really failed under Wine (the environment reached the Windows process): not one was made; with links, merge's locks make some.
      if (c.noHardLinks) expect(report?.kinds.link ?? 0, JSON.stringify(report?.kinds)).toBe(0);
      else if (c.name.startsWith('merge')) expect(report?.kinds.link ?? 0, JSON.stringify(report?.kinds)).toBeGreaterThan(0);
      const afterDry = (await readFolder(dry)).state;
      expect(sameState(afterDry, expected), `complete run left ${describeState(afterDry)}, expected ${describeState(expected)}`).toBe(true);
      expect(await leftovers(dry, initial)).toEqual([]);
      // The run kept its locks in the case's own temp folder: the environment reached the Windows process.
      const lockDirs = () => readdirSync(tmp).filter((n) => n.startsWith('vhdsnap-locks-'));
      expect(lockDirs(), 'the user lock folder in the private temp').toHaveLength(1);

      const points = chooseKillPoints(report!.steps, c.runs ?? RUNS, new Rng(seed));
      const dirs: string[] = [];
      for (const at of points) {
        const dir = nodePath.join(base, `kill-${at}`);
        mkdirSync(dir);
        await c.setup(dir);
        const halt = nodePath.join(base, `halt-${at}`);
        const proc = startNode(wine, child, [String(at), JSON.stringify(c.request(dir))], { env: { ...env, VHDSNAP_CRASH_HALT: winPath(halt) } });
        const halted = await waitForFile(halt, proc);
        proc.kill();
        const r = await proc.done;
        expect(halted, `kill point ${at} of ${report!.steps} was never reached: ${r.stdout}${r.stderr}`).toBe(true);
        expect(r.signal, `kill point ${at}`).toBe('SIGKILL');
        dirs.push(dir);
        kills++;
      }
      // One Wine start recovers every folder, then looks again: the second recover must find nothing.
      const rec = await runCliBatch(
        wine,
        dirs.flatMap((d) => [{ args: ['recover', winPath(d), '--json'] }, { args: ['recover', winPath(d), '--json'] }]),
        { env: { TEMP: winPath(tmp), TMP: winPath(tmp) } },
      );
      const failures: string[] = [];
      let rolledBack = 0;
      let finished = 0;
      let mixed = 0;
      for (const [i, dir] of dirs.entries()) {
        const where = `${c.name}: kill before step ${points[i]} of ${report!.steps} (seed ${seed})`;
        try {
          const [first, second] = [rec[2 * i], rec[2 * i + 1]];
          if (first.status !== 0) throw new Error(`recover exited ${first.status}: ${first.stderr}`);
          const done = JSON.parse(first.stdout) as RecoverReport;
          const notDone = done.recoveries.filter((x) => x.action !== 'completed' && x.action !== 'discarded' && x.action !== 'removed');
          if (notDone.length > 0 || done.kept.length > 0) throw new Error(`recover did not complete: ${JSON.stringify([...notDone, ...done.kept])}`);
          const again = second.status === 0 ? (JSON.parse(second.stdout) as RecoverReport) : null;
          if (!again || again.recoveries.length > 0 || again.removed.length > 0)
            throw new Error(`a second recover still found work: ${second.stdout}${second.stderr}`);
          if ((await findJournals(dir)).length > 0) throw new Error('journals left');
          const left = await leftovers(dir, initial);
          if (left.length > 0) throw new Error(`files left behind: ${left.join(', ')}`);
          const { state, paths } = await readFolder(dir);
          for (const [name, s] of state) {
            const b = before.get(name);
            const a = expected.get(name);
            const ok = (b && b.hash === s.hash && b.parent === s.parent) || (a && a.hash === s.hash && a.parent === s.parent);
            if (!ok) throw new Error(`${name} reads as neither before nor after: ${describeState(new Map([[name, s]]))}`);
          }
          for (const name of before.keys()) if (expected.has(name) && !state.has(name)) throw new Error(`${name} is missing`);
          const errors = (await checkPaths(paths, { deep: true })).flatMap((x) => x.errors.map((e) => `${nodePath.basename(x.path)}: ${e.code}`));
          if (errors.length > 0) throw new Error(`check reports errors: ${errors.join('; ')}`);
          if (sameState(state, before)) rolledBack++;
          else if (sameState(state, expected)) finished++;
          else mixed++; // each disk is before or after (checked above), as in the crash suite
        } catch (err) {
          failures.push(`${where}: ${(err as Error).message}`);
        }
      }
      // Recover removed the stale locks the kills left in the user lock folder along with each folder's own.
      const staleLocks = readdirSync(nodePath.join(tmp, lockDirs()[0]));
      if (staleLocks.length > 0) failures.push(`locks left in the user lock folder after recover: ${staleLocks.join(', ')}`);
      console.log(
        `windows tier: ${c.name}: ${report!.steps} steps, ${dirs.length} kill points under Wine, ${dirs.length - failures.length} verified (${rolledBack} rolled back, ${finished} finished, ${mixed} per-disk mixed; seed ${seed})`,
      );
      expect(failures).toEqual([]);
    }, 240_000);
  }
});

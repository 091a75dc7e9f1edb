// Fault sweeps: an operation is first run with counting only (its I/O steps
// through core/io/file.ts), then once per step N with step N failing (EIO,
// ENOSPC or a short write, rotating). Each failed run must report a typed
// error; `recover` must then resolve whatever was left (journal, lock, temp)
// and every disk must read through its chain as before or as after the
// operation (per disk), with `check --deep` clean. Disk states come from the
// crash harness (test/crash/harness.ts), which reads every disk in a folder.
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { expect } from 'vitest';
import { VhdError } from '../../core/errors.js';
import { findJournals } from '../../core/journal.js';
import { LOCK_PREFIX } from '../../core/lock.js';
import { SIDECAR_NAME } from '../../core/library/sidecar.js';
import { checkPaths } from '../../core/ops/check.js';
import { recover } from '../../core/ops/recover.js';
import { expectedAfter, readFolder, type CrashCase, type FolderState } from '../crash/harness.js';
import { newDescriptors, openDescriptors } from '../support/fds.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { injectFaults, kindFor } from './faulty.js';

export interface FaultCase {
  name: string;
  setup(dir: string): Promise<void>;
  run(dir: string): Promise<unknown>;
  /** As in the crash harness: null = gone; content/parent = what a complete run leaves. */
  after: CrashCase['after'];
  /** For plain writes (no journal): a disk may mix before and after bytes; this checks it. */
  mixed?(dir: string, state: FolderState, done: boolean): Promise<void>;
}

export interface SweepStats {
  steps: number;
  kinds: Record<string, number>;
  runs: number;
  failedTyped: number;
  succeeded: number;
  codes: Record<string, number>;
  recovered: Record<string, number>;
  failures: string[];
}

const isDisk = (n: string) => /\.vhd$/i.test(n) && !n.startsWith('.');

function same(a: FolderState, b: FolderState): boolean {
  if (a.size !== b.size) return false;
  for (const [n, s] of a) {
    const t = b.get(n);
    if (!t || t.hash !== s.hash || t.parent !== s.parent) return false;
  }
  return true;
}

function show(s: FolderState): string {
  return [...s].map(([n, d]) => `${n}=${d.hash.slice(0, 8)}<-${d.parent ?? '∅'}`).join(' ');
}

export async function sweep(c: FaultCase, opts: { maxRuns?: number } = {}): Promise<SweepStats> {
  const work = makeTmpDir('vhdsnap-faults-');
  try {
    const tpl = nodePath.join(work, 'tpl');
    // Built under another name, then moved: the disks' absolute locators name a folder that no
    // longer exists, so no run can resolve a parent in the template (or another run).
    const setupDir = nodePath.join(work, 'setup');
    await mkdir(setupDir);
    await c.setup(setupDir);
    await rename(setupDir, tpl);
    const initial = new Set(await readdir(tpl));
    const before = (await readFolder(tpl)).state;
    const expected = expectedAfter(before, c.after);
    const fresh = async (name: string) => {
      const d = nodePath.join(work, name);
      await cp(tpl, d, { recursive: true, preserveTimestamps: true });
      return d;
    };

    // Counting run: must complete and reach exactly `after`.
    const dry = await fresh('dry');
    const counter = injectFaults({ at: 0, kind: 'EIO' });
    try {
      await c.run(dry);
    } finally {
      counter.remove();
    }
    const afterDry = (await readFolder(dry)).state;
    if (c.mixed) await c.mixed(dry, afterDry, true);
    else if (!same(afterDry, expected)) throw new Error(`${c.name}: a clean run left ${show(afterDry)}, expected ${show(expected)}`);
    await rm(dry, { recursive: true, force: true });

    const stats: SweepStats = {
      steps: counter.log.steps,
      kinds: counter.log.kinds,
      runs: 0,
      failedTyped: 0,
      succeeded: 0,
      codes: {},
      recovered: {},
      failures: [],
    };
    const last = Math.min(stats.steps, opts.maxRuns ?? Infinity);
    for (let n = 1; n <= last; n++) {
      const kind = kindFor(n);
      const dir = await fresh(`run-${n}`);
      let where = `${c.name}: step ${n}/${stats.steps} (${kind})`;
      try {
        const baseline = openDescriptors();
        const f = injectFaults({ at: n, kind });
        let outcome: unknown = null;
        let ok = false;
        try {
          await c.run(dir);
          ok = true;
        } catch (err) {
          outcome = err;
        } finally {
          f.remove();
        }
        where += ` [${f.log.fired ?? 'not reached'}]`;
        // No handle outlives the operation, on success or failure: the opener's count and the real descriptors.
        if (f.log.open.size > 0) throw new Error(`handles left open after the operation ended: ${[...f.log.open.values()].join(', ')}`);
        const leaked = newDescriptors(baseline);
        if (leaked.length > 0) throw new Error(`descriptors left open after the operation ended: ${leaked.join(', ')}`);
        stats.runs++;
        if (ok) stats.succeeded++;
        else if (outcome instanceof VhdError) {
          stats.failedTyped++;
          stats.codes[outcome.code] = (stats.codes[outcome.code] ?? 0) + 1;
          // The injected failure must be what is reported, not a misleading other reason.
          if (outcome.code !== 'IO_EIO' && outcome.code !== 'NO_SPACE')
            throw new Error(`reported ${outcome.name} ${outcome.code} for an injected I/O error: ${outcome.message}`);
        } else throw new Error(`untyped failure: ${(outcome as Error)?.stack ?? String(outcome)}`);

        const rec = await recover(dir);
        const leakedByRecover = newDescriptors(baseline);
        if (leakedByRecover.length > 0) throw new Error(`descriptors left open after recover: ${leakedByRecover.join(', ')}`);
        for (const r of rec) stats.recovered[`${r.op}:${r.action}`] = (stats.recovered[`${r.op}:${r.action}`] ?? 0) + 1;
        const stuck = rec.filter((r) => r.action === 'left' || r.action === 'busy');
        if (stuck.length > 0) throw new Error(`recover could not resolve: ${JSON.stringify(stuck)}`);
        const again = await recover(dir);
        if (again.length > 0) throw new Error(`a second recover still found work: ${JSON.stringify(again)}`);
        if ((await findJournals(dir)).length > 0) throw new Error('journals left after recover');
        const names = await readdir(dir);
        // Temporaries, journals and locks (dot files) must be gone; a case with its own checks may leave outputs.
        const left = names.filter((x) => !initial.has(x) && !isDisk(x) && x !== SIDECAR_NAME && (x.startsWith('.') || !c.mixed));
        if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
        if (names.some((x) => x.startsWith(LOCK_PREFIX))) throw new Error('a lock file is left');

        const { state, inodes, paths } = await readFolder(dir);
        for (const group of inodes.values()) if (group.length > 1) throw new Error(`${group.join(' and ')} are one file`);
        if (c.mixed) await c.mixed(dir, state, ok);
        else {
          for (const name of before.keys()) if (expected.has(name) && !state.has(name)) throw new Error(`${name} is missing`);
          for (const [name, s] of state) {
            const b = before.get(name);
            const a = expected.get(name);
            const okB = b && b.hash === s.hash && b.parent === s.parent;
            const okA = a && a.hash === s.hash && a.parent === s.parent;
            if (!okB && !okA)
              throw new Error(
                `${name} reads as neither before nor after: ${show(new Map([[name, s]]))} (before ${b ? show(new Map([[name, b]])) : 'absent'}, after ${a ? show(new Map([[name, a]])) : 'absent'})`,
              );
          }
          if (ok && !same(state, expected)) throw new Error(`the run reported success but left ${show(state)}`);
        }
        const reports = await checkPaths(paths, { deep: true });
        const errors = reports.flatMap((r) => r.errors.map((e) => `${nodePath.basename(r.path)}: ${e.code}`));
        if (errors.length > 0) throw new Error(`check reports errors: ${errors.join('; ')}`);
        await rm(dir, { recursive: true, force: true });
      } catch (err) {
        stats.failures.push(`${where}: ${(err as Error).message}`);
      }
    }
    return stats;
  } finally {
    removeTmpDir(work);
  }
}

/** Prints the sweep's summary and asserts every fault point was exercised, reported as a typed error, and recovered. */
export function expectSweepClean(name: string, s: SweepStats, minSteps: number): void {
  const line = summary(name, s);
  console.log(line);
  process.stderr.write(`${line}\n`);
  expect(s.failures.slice(0, 4), `${s.failures.length} of ${s.runs} fault points failed`).toEqual([]);
  expect(s.runs).toBe(s.steps);
  expect(s.steps).toBeGreaterThan(minSteps);
  // No injected failure is swallowed: every run reports it (a skipped read could hide a child or a parent).
  expect(s.succeeded, 'runs that completed despite an injected I/O error').toBe(0);
  expect(s.failedTyped).toBe(s.runs);
}

export function summary(name: string, s: SweepStats): string {
  return `faults ${name}: ${s.runs} of ${s.steps} I/O steps failed in turn (${JSON.stringify(s.kinds)}); ${s.failedTyped} typed errors ${JSON.stringify(s.codes)}, ${s.succeeded} completed anyway; recover ${JSON.stringify(s.recovered)}`;
}

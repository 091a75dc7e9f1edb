// Crash-test harness: runs an operation in a child process that SIGKILLs
// itself right before its N-th mutating I/O step (see child.ts), then
// recovers the folder and checks what is left.
//
// Adding a case takes a few lines in a new test/crash/<op>.crash.test.ts:
//
//   crashSuite('revert', [{
//     name: 'revert (leaf to its parent)',
//     setup: treeSetup({ parents: [null, 0, 1], seed: 601 }),   // scenarios.ts: d0..d2, checked against the model
//     request: (dir) => ({ op: 'revert', disk: `${dir}/d2.vhd` }), // any OperationRequest, or { cli: [...argv] }
//     after: { 'd2.vhd': { content: 'd1.vhd' } },                  // what a complete run leaves
//   }]);
//
// When the after content is no existing disk's (resize, a write), let setup
// also build a reference disk holding it and name that: harness.crash.test.ts
// builds ref.vhd for its write. A reference disk the operation never touches
// is simply one more unchanged file.
//
// `after` lists, by file name, what a complete run changes: null = the file is
// gone; { content: 'x.vhd' } = it now shows what x.vhd showed before;
// { parent: 'y.vhd' | null } = its parent is now y.vhd (or none). Files not
// listed keep their content and parent; new files must give `content`, or
// `raw`: a plain file in the folder whose bytes the disk must read as
// (import, create).
// Generated names (-snap-<date>-<time>, -state-<date>-<time>) are written
// with <time> in place of the stamp: 'd1-snap-<time>.vhd'.
//
// Every run: a fresh folder from `setup` (must be deterministic), the child
// killed at a kill point, then `recover` (in-process, every fifth run through
// the bundled CLI, which must exit 0); every recovery must be 'completed' or
// 'discarded' (rolled back), never 'left' or 'busy'; a second recover must find
// nothing; and these checks:
// the folder lists exactly the files before or exactly the files of a
// complete run (the sidecar may be missing where the operation labels: it is
// written last), so a leftover temp, lock or journal fails with its name;
// no temp or lock name the operation makes ends in a disk extension (every
// name the child creates, and every name a kill leaves behind); every file that exists in both states still
// exists; every file reads through its chain exactly as before or exactly as
// after (content hash and parent name); no two disk paths are the same inode;
// `check --deep` has no errors; the case's own `verify`, if any.
// A dry run (no kill) first counts the steps and must reach exactly `after`.
//
// Env: CRASH_RUNS (kill points per operation kind, default 50, shared by its
// cases; a case with fewer steps than its share is killed at every step),
// CRASH_SEED (seed for choosing kill points; printed in every summary line).
// Exhaustive: CRASH_RUNS=100000 kills every case at every step.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReadableDisk } from '../../core/disk/chain.js';
import { hasDiskExtension } from '../../core/io/file.js';
import { findJournals } from '../../core/journal.js';
import { SIDECAR_NAME } from '../../core/library/sidecar.js';
import { checkPaths } from '../../core/ops/check.js';
import { recover, recoverFolder, type RecoverReport, type Recovery } from '../../core/ops/recover.js';
import type { OperationRequest } from '../../core/operations.js';
import { Rng } from '../support/model.js';
import { bundled, bundleEntries } from '../support/bundle.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { leakLines } from '../support/gc-close.js';

export type ChildRequest = OperationRequest | { cli: string[] } | { cancelAt: number; req: OperationRequest } | { interruptAt: number; req: OperationRequest };

export interface CrashCase {
  /** Label of the summary line, e.g. 'merge' or 'delete (fold, two children)'. */
  name: string;
  /** Builds the starting files in an empty folder. Must be deterministic. */
  setup(dir: string): Promise<void>;
  /** The operation, with paths inside `dir`. */
  request(dir: string): ChildRequest;
  after: Record<string, null | { content?: string; raw?: string; parent?: string | null }>;
  /** Plain files (no disks) that a complete run creates: export's raw output. `verify` checks their content. */
  outputs?: string[];
  /** Extra checks after each recovery; throw to fail. */
  verify?(dir: string, state: FolderState): Promise<void>;
  /** Kill points for this case, outside the kind's shared budget (see crashSuite). */
  runs?: number;
  /** Run the operation as in a folder without hard links (FAT, SMB): every link in the child fails with EPERM. */
  noHardLinks?: boolean;
  /** Check codes accepted after recovery (repair: the damage it fixes is still there when rolled back); `verify` must pin the state down instead. */
  tolerateCheck?: string[];
}

export interface DiskState {
  hash: string;
  parent: string | null;
}

export type FolderState = Map<string, DiskState>;

export interface CrashStats {
  /** Temp, lock and journal names seen: created by the complete run or left by a kill. */
  names: string[];
  steps: number;
  kinds: Record<string, number>;
  killPoints: number;
  verified: number;
  rolledBack: number;
  finished: number;
  mixed: number;
  viaCli: number;
  /** The operation changes no disk's content or parent (compact): finished and rolled back look alike. */
  alike: boolean;
  failures: string[];
}

export const DEFAULT_RUNS = 50;

export function crashRuns(): number {
  const n = Number(process.env.CRASH_RUNS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_RUNS;
}

export function crashSeed(): number {
  const n = Number(process.env.CRASH_SEED);
  return Number.isInteger(n) && n >= 0 ? n >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
}

export interface Bundle {
  dir: string;
  child: string;
  cli: string;
}

/** Bundles child.ts and the CLI entry once, so each spawn only loads one file. */
export async function bundleChild(): Promise<Bundle> {
  const dir = await bundleEntries({ child: 'test/crash/child.ts', vhdsnap: 'core/cli/bin.ts' }, 'vhdsnap-crash-bundle-');
  return { dir, child: bundled(dir, 'child'), cli: bundled(dir, 'vhdsnap') };
}

/** Snapshot and kept-state names carry the time they were taken; runs compare them as one name. */
export function normalName(name: string): string {
  return name.replace(/-(snap|state)-\d{8}-\d{6}(-\d+)?(\.[^.]*)$/i, '-$1-<time>$3');
}

function isDiskName(n: string): boolean {
  return /\.(vhd|vhdx|avhdx)$/i.test(n) && !n.startsWith('.');
}

/** Every disk in the folder read through its chain: content hash and parent name. Throws on a disk that does not open. */
export async function readFolder(dir: string): Promise<{ state: FolderState; inodes: Map<string, string[]>; paths: string[] }> {
  const state: FolderState = new Map();
  const paths: string[] = [];
  const inodes = new Map<string, string[]>();
  for (const name of (await fsp.readdir(dir)).filter(isDiskName).sort()) {
    const p = nodePath.join(dir, name);
    paths.push(p);
    const st = await fsp.stat(p);
    const key = `${st.dev}:${st.ino}`;
    inodes.set(key, [...(inodes.get(key) ?? []), name]);
    let d;
    try {
      d = await openReadableDisk(p);
    } catch (err) {
      throw new Error(`${name} does not open through its chain: ${(err as Error).message}`, { cause: err });
    }
    try {
      const content = await d.read(0, d.virtualSize);
      const hash = shortHash(content);
      const parent = d.layers[1] ? normalName(nodePath.basename(d.layers[1].path)) : null;
      state.set(normalName(name), { hash, parent });
    } finally {
      await d.close();
    }
  }
  return { state, inodes, paths };
}

const shortHash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

/** Content hashes of the plain files that `after` names as `raw` sources. */
async function rawHashes(after: CrashCase['after'], dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const spec of Object.values(after)) if (spec?.raw !== undefined) out.set(spec.raw, shortHash(await fsp.readFile(nodePath.join(dir, spec.raw))));
  return out;
}

/** The state a complete run must reach, from the state before and the case's `after` (`raw` sources hashed by rawHashes). */
export function expectedAfter(before: FolderState, after: CrashCase['after'], raw = new Map<string, string>()): FolderState {
  const out: FolderState = new Map();
  for (const [name, s] of before) {
    const spec = after[name];
    if (spec === null) continue;
    out.set(name, { ...s });
  }
  for (const [name, spec] of Object.entries(after)) {
    if (spec === null) continue;
    const base = out.get(name);
    if (spec.raw !== undefined) {
      const hash = raw.get(spec.raw);
      if (!hash) throw new Error(`case: ${name} needs the raw file ${spec.raw}`);
      out.set(name, { hash, parent: spec.parent ?? null });
      continue;
    }
    const from = spec.content !== undefined ? before.get(spec.content) : base;
    if (!from) throw new Error(`case: ${name} needs a content source that exists before the operation`);
    out.set(name, { hash: from.hash, parent: 'parent' in spec ? (spec.parent ?? null) : base ? base.parent : from.parent });
  }
  return out;
}

export function describeState(s: FolderState): string {
  return [...s].map(([n, d]) => `${n}=${d.hash.slice(0, 8)}<-${d.parent ?? '∅'}`).join(' ');
}

export function sameState(a: FolderState, b: FolderState): boolean {
  if (a.size !== b.size) return false;
  for (const [n, s] of a) {
    const t = b.get(n);
    if (!t || t.hash !== s.hash || t.parent !== s.parent) return false;
  }
  return true;
}

interface ChildOutcome {
  signal: NodeJS.Signals | null;
  status: number | null;
  report: { steps: number; kinds: Record<string, number>; created?: string[]; result?: unknown; error?: { code?: string; message: string } } | null;
  stderr: string;
}

function runChild(bundle: Bundle, killAt: number, req: ChildRequest, cwd: string, noHardLinks = false): ChildOutcome {
  const env = noHardLinks ? { ...process.env, VHDSNAP_CRASH_NO_HARDLINKS: '1' } : process.env;
  const r = spawnSync(process.execPath, [bundle.child, String(killAt), JSON.stringify(req)], { cwd, encoding: 'utf8', timeout: 120_000, env });
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  let report: ChildOutcome['report'];
  try {
    report = line ? JSON.parse(line) : null;
  } catch {
    report = null;
  }
  return { signal: r.signal, status: r.status, report, stderr: r.stderr };
}

function recoverViaCli(bundle: Bundle, dir: string, rollback = false): Recovery[] {
  const r = spawnSync(process.execPath, [bundle.cli, 'recover', dir, '--json', ...(rollback ? ['--rollback'] : [])], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`vhdsnap recover exited ${r.status}: ${r.stdout}${r.stderr}`);
  if (leakLines(r.stderr).length > 0) throw new Error(`vhdsnap recover leaked a file handle: ${leakLines(r.stderr).join('; ')}`);
  const rep = JSON.parse(r.stdout) as RecoverReport;
  return [...rep.recoveries, ...rep.removed.map((x): Recovery => ({ journal: x.path, op: x.kind, action: 'removed', detail: x.detail, bytes: x.bytes }))];
}

/** A folder's file names, generated time stamps normalized. */
async function listing(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).map(normalName).sort();
}

/**
 * Null when `names` is exactly the listing before or after (the sidecar may
 * lack where the operation labels: it is written last), else what differs.
 */
export function listingMismatch(names: string[], before: string[], after: string[]): string | null {
  const strip = (l: string[]) => l.filter((n) => n !== SIDECAR_NAME).join('/');
  const sidecarOk = !names.includes(SIDECAR_NAME) || before.includes(SIDECAR_NAME) || after.includes(SIDECAR_NAME);
  if (sidecarOk && (strip(names) === strip(before) || strip(names) === strip(after))) return null;
  const extra = names.filter((n) => !before.includes(n) && !after.includes(n));
  return `the folder lists [${names.join(', ')}], neither the files before [${before.join(', ')}] nor after [${after.join(', ')}]${extra.length ? `; left behind: ${extra.join(', ')}` : ''}`;
}

/** Names (temps, locks) that end in a disk extension without being a disk of the before or after state. */
function diskLookingNames(names: Iterable<string>, before: string[], after: string[]): string[] {
  return [...new Set(names)].filter((n) => hasDiskExtension(n) && !before.includes(normalName(n)) && !after.includes(normalName(n)));
}

/** Files the operation left that are neither disks nor present before it (journals, temp files). */
export async function leftovers(dir: string, initial: Set<string>): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => !isDiskName(n) && n !== SIDECAR_NAME && !initial.has(n));
}

/** Kill points: every step when there are few, else a seeded sample without repeats. */
export function chooseKillPoints(total: number, runs: number, rng: Rng): number[] {
  const all = Array.from({ length: total }, (_, i) => i + 1);
  if (runs >= total) return all;
  for (let i = 0; i < runs; i++) {
    const j = i + rng.int(total - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, runs).sort((a, b) => a - b);
}

/**
 * Points TMPDIR at a private folder in `work` and returns what puts it back:
 * a private per-user lock folder (core/lock.ts userLockDir) for the case, its
 * children and the in-process recovery alike. A stale identity lock another
 * test left in the shared one for a reused inode would otherwise be taken
 * over in one run and not in the next, and the step counts (hence the kill
 * points) would differ between the dry run and the kills.
 */
function privateTmp(work: string): () => void {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = nodePath.join(work, 'tmp');
  mkdirSync(process.env.TMPDIR);
  return () => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  };
}

/** `check --deep` of every disk finds no error (but those the case tolerates); throws naming them. */
async function expectNoCheckErrors(paths: string[], tolerate: string[] = []): Promise<void> {
  const reports = await checkPaths(paths, { deep: true });
  const errors = reports.flatMap((r) => r.errors.filter((e) => !tolerate.includes(e.code)).map((e) => `${nodePath.basename(r.path)}: ${e.code} ${e.message}`));
  if (errors.length > 0) throw new Error(`check reports errors: ${errors.join('; ')}`);
}

/** The case's folder for the run without a kill, set up: what it holds before (names that are not disks, the listing, every disk's state). */
async function setUpDry(work: string, setup: (dir: string) => Promise<void>) {
  const dryDir = nodePath.join(work, 'dry');
  mkdirSync(dryDir);
  await setup(dryDir);
  const initialNames = new Set((await fsp.readdir(dryDir)).filter((n) => !isDiskName(n)));
  return { dryDir, initialNames, beforeList: await listing(dryDir), before: (await readFolder(dryDir)).state };
}

/** The dry run's counts, nothing verified yet. */
function freshStats(report: NonNullable<ChildOutcome['report']>, names: string[], alike: boolean): CrashStats {
  return { names, steps: report.steps, kinds: report.kinds, killPoints: 0, verified: 0, rolledBack: 0, finished: 0, mixed: 0, viaCli: 0, alike, failures: [] };
}

/**
 * One folder per chosen kill point under `work`: `body` kills and checks
 * there; its failure is recorded under the kill point's name, the folder
 * removed once it passed.
 */
async function eachKillPoint(
  work: string,
  name: string,
  stats: CrashStats,
  runs: number,
  seed: number,
  body: (dir: string, at: number, i: number) => Promise<void>,
): Promise<void> {
  for (const [i, at] of chooseKillPoints(stats.steps, runs, new Rng(seed)).entries()) {
    const dir = nodePath.join(work, `kill-${at}`);
    mkdirSync(dir);
    try {
      await body(dir, at, i);
      await fsp.rm(dir, { recursive: true, force: true });
    } catch (err) {
      stats.failures.push(`${name}: kill before step ${at} of ${stats.steps} (seed ${seed}): ${(err as Error).message}`);
    }
  }
}

/** The kill really killed the child (SIGKILL, not an exit). */
function expectKilled(out: ChildOutcome, stats: CrashStats): void {
  if (out.signal !== 'SIGKILL') throw new Error(`the child was not killed (status ${out.status}): ${out.report?.error?.message ?? out.stderr}`);
  stats.killPoints++;
}

/** After a recovery: nothing more to recover, no journal, no file the job made. */
async function expectNothingLeft(dir: string, initialNames: Set<string>, what: string): Promise<void> {
  const again = await recover(dir);
  if (again.length > 0) throw new Error(`a second recover still found work: ${JSON.stringify(again)}`);
  const journals = await findJournals(dir);
  if (journals.length > 0) throw new Error(`journals left: ${journals.map((j) => nodePath.basename(j)).join(', ')}`);
  const left = await leftovers(dir, initialNames);
  if (left.length > 0) throw new Error(`files left behind after ${what}: ${left.join(', ')}`);
}

/** Runs one case: a dry run, then a kill at each chosen point with recovery and checks. */
export async function runCrashCase(bundle: Bundle, c: CrashCase, seed: number, runs = c.runs ?? crashRuns()): Promise<CrashStats> {
  const work = makeTmpDir('vhdsnap-crash-');
  const restoreTmp = privateTmp(work);
  try {
    // Dry run: counts the steps and must reach exactly the expected state.
    const { dryDir, initialNames, beforeList, before } = await setUpDry(work, c.setup);
    const expected = expectedAfter(before, c.after, await rawHashes(c.after, dryDir));
    const dry = runChild(bundle, 0, c.request(dryDir), dryDir, c.noHardLinks);
    if (leakLines(dry.stderr).length > 0) throw new Error(`${c.name}: the operation leaked a file handle: ${leakLines(dry.stderr).join('; ')}`);
    if (dry.status !== 0 || !dry.report || dry.report.error) {
      throw new Error(`${c.name}: the operation fails without any kill: ${dry.report?.error?.code ?? ''} ${dry.report?.error?.message ?? dry.stderr}`);
    }
    const afterDry = (await readFolder(dryDir)).state;
    if (!sameState(afterDry, expected)) {
      throw new Error(
        `${c.name}: a complete run left\n  ${describeState(afterDry)}\nexpected\n  ${describeState(expected)}\n(before: ${describeState(before)})`,
      );
    }
    for (const n of c.outputs ?? []) initialNames.add(n);
    const dryLeft = await leftovers(dryDir, initialNames);
    if (dryLeft.length > 0) throw new Error(`${c.name}: a complete run left ${dryLeft.join(', ')}`);
    const afterList = await listing(dryDir);
    // Every name the operation created on its way (temps, locks, journals) is checked, not only what is left.
    const created = dry.report.created ?? [];
    if (created.length === 0) throw new Error(`${c.name}: the child reported no created names`);
    const badNames = diskLookingNames(created, beforeList, afterList);
    if (badNames.length > 0) throw new Error(`${c.name}: temp or lock names ending in a disk extension: ${badNames.join(', ')}`);

    const stats = freshStats(
      dry.report,
      [...new Set(created)].filter((n) => !afterList.includes(normalName(n)) && !beforeList.includes(normalName(n))).sort(),
      sameState(before, expected),
    );
    await eachKillPoint(work, c.name, stats, runs, seed, async (dir, at, i) => {
      await c.setup(dir);
      expectKilled(runChild(bundle, at, c.request(dir), dir, c.noHardLinks), stats);
      const atKill = await fsp.readdir(dir);
      const badAtKill = diskLookingNames(atKill, beforeList, afterList);
      if (badAtKill.length > 0) throw new Error(`files ending in a disk extension left by the kill: ${badAtKill.join(', ')}`);
      for (const n of atKill) if (!beforeList.includes(normalName(n)) && !afterList.includes(normalName(n)) && !stats.names.includes(n)) stats.names.push(n);
      const viaCli = i % 5 === 4;
      const recovered = viaCli ? recoverViaCli(bundle, dir) : await recover(dir);
      if (viaCli) stats.viaCli++;
      const notDone = recovered.filter((r) => r.action !== 'completed' && r.action !== 'discarded' && r.action !== 'removed');
      if (notDone.length > 0) throw new Error(`recover did not complete: ${JSON.stringify(notDone)}`);
      await expectNothingLeft(dir, initialNames, 'recover');
      const mismatch = listingMismatch(await listing(dir), beforeList, afterList);
      if (mismatch) throw new Error(mismatch);
      const { state, inodes, paths } = await readFolder(dir);
      for (const names of inodes.values()) if (names.length > 1) throw new Error(`${names.join(' and ')} are the same file (hard links)`);
      for (const name of before.keys()) {
        if (expected.has(name) && !state.has(name)) throw new Error(`${name} is missing (it exists before and after)`);
      }
      for (const [name, s] of state) {
        const b = before.get(name);
        const a = expected.get(name);
        if (!b && !a) throw new Error(`unexpected disk ${name}`);
        const okB = b && b.hash === s.hash && b.parent === s.parent;
        const okA = a && a.hash === s.hash && a.parent === s.parent;
        if (!okB && !okA) {
          throw new Error(
            `${name} reads as neither before nor after: ${describeState(new Map([[name, s]]))}; before ${b ? describeState(new Map([[name, b]])) : 'absent'}, after ${a ? describeState(new Map([[name, a]])) : 'absent'}`,
          );
        }
      }
      await expectNoCheckErrors(paths, c.tolerateCheck);
      await c.verify?.(dir, state);
      if (sameState(state, before)) stats.rolledBack++;
      else if (sameState(state, expected)) stats.finished++;
      else stats.mixed++;
      stats.verified++;
    });
    return stats;
  } finally {
    restoreTmp();
    removeTmpDir(work);
  }
}

/** A temp name with its pid and random part as placeholders, for the summary. */
const nameShape = (n: string): string => n.replace(/\.\d+-[0-9a-f]{8}(?=\.)/g, '.<pid>-<hex>').replace(/-(snap|state)-\d{8}-\d{6}(-\d+)?/, '-$1-<time>');

export function summaryLine(name: string, s: CrashStats, seed: number): string {
  const outcome = s.alike ? 'before and after read alike' : `${s.finished} finished, ${s.rolledBack} rolled back, ${s.mixed} per-disk mixed`;
  const kinds = Object.entries(s.kinds)
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  return `crash ${name}: ${s.killPoints} kill points (of ${s.steps} I/O steps), ${s.verified} recoveries verified (${outcome}; ${s.viaCli} via the CLI; seed ${seed}) [steps: ${kinds}] [${s.names.length} temp/lock/journal names, none ending in a disk extension: ${[...new Set(s.names.map(nameShape))].join(' ')}]`;
}

/**
 * One describe per operation kind, one test per case, a summary line per case
 * and one for the kind. The kind's kill budget (CRASH_RUNS, default 50) is
 * shared by its cases without their own `runs`: each takes an even share of
 * what is left, so a case with fewer steps than its share (killed at every
 * step) leaves the rest to the next.
 */
export function crashSuite(kind: string, cases: CrashCase[]): void {
  describe(`crash: ${kind}`, () => {
    let bundle: Bundle;
    const seed = crashSeed();
    const budget = crashRuns();
    const shared = cases.filter((c) => c.runs === undefined);
    let used = 0;
    let sharedDone = 0;
    const total = { kills: 0, verified: 0 };
    beforeAll(async () => {
      bundle = await bundleChild();
    });
    afterAll(() => {
      if (bundle) removeTmpDir(bundle.dir);
      if (total.kills > 0) {
        const line = `crash ${kind} (all cases): ${total.kills} kill points, ${total.verified} recoveries verified (seed ${seed})`;
        console.log(line);
        process.stderr.write(`${line}\n`);
      }
    });
    for (const c of cases) {
      it(
        `${c.name}: killed at random I/O steps (every step when few), every recovery leaves the before or after state`,
        { timeout: 120_000 + (c.runs ?? budget) * 5_000 },
        async () => {
          const runs = c.runs ?? Math.max(1, Math.ceil((budget - used) / (shared.length - sharedDone)));
          let stats: CrashStats;
          try {
            stats = await runCrashCase(bundle, c, seed, runs);
          } finally {
            if (c.runs === undefined) sharedDone++;
          }
          if (c.runs === undefined) used += stats.killPoints;
          total.kills += stats.killPoints;
          total.verified += stats.verified;
          const line = summaryLine(c.name, stats, seed);
          console.log(line);
          process.stderr.write(`${line}\n`);
          expect(stats.failures.slice(0, 5), `${stats.failures.length} of ${stats.killPoints || runs} kill points failed`).toEqual([]);
          expect(stats.killPoints).toBe(Math.min(runs, stats.steps));
          expect(stats.verified).toBe(stats.killPoints);
        },
      );
    }
  });
}

/**
 * Kill points during Cancel and during Roll back. 'cancel': the operation is
 * cancelled at its `at`-th progress report (it rolls back at once) and killed
 * at any step of the run, its own copy or the cancel's rollback. 'rollback':
 * the operation is cut short at its `at`-th report (its journal left, as a
 * crash leaves it), then `recover --rollback` is killed at any step. Either
 * way a `recover --rollback` afterwards must give exactly the before state:
 * every disk's content and parent, the folder's listing, no journal, temp or
 * undo record left, `check --deep` clean.
 */
export interface RollbackCase {
  name: string;
  setup(dir: string): Promise<void>;
  request(dir: string): OperationRequest;
  mode: 'cancel' | 'rollback';
  /** The progress report at which the cancel, or the interruption, comes (mid-copy). */
  at: number;
  runs?: number;
}

export async function runRollbackCase(bundle: Bundle, c: RollbackCase, seed: number, runs = c.runs ?? crashRuns()): Promise<CrashStats> {
  const work = makeTmpDir('vhdsnap-crash-');
  const restoreTmp = privateTmp(work);
  /** The run that is killed: the cancelled operation, or the rollback of its interrupted journal. */
  const prepare = async (dir: string): Promise<ChildRequest> => {
    await c.setup(dir);
    if (c.mode === 'cancel') return { cancelAt: c.at, req: c.request(dir) };
    const cut = runChild(bundle, 0, { interruptAt: c.at, req: c.request(dir) }, dir);
    if (cut.report?.error?.message !== 'interrupted')
      throw new Error(`the operation was not cut short at report ${c.at}: ${JSON.stringify(cut.report)} ${cut.stderr}`);
    if ((await findJournals(dir)).length === 0) throw new Error('the interrupted operation left no journal');
    return { cli: ['recover', '--rollback', dir] };
  };
  try {
    const { dryDir, initialNames, beforeList, before } = await setUpDry(work, c.setup);
    await fsp.rm(dryDir, { recursive: true, force: true });
    mkdirSync(dryDir);
    const dry = runChild(bundle, 0, await prepare(dryDir), dryDir);
    if (c.mode === 'cancel' ? dry.report?.error?.code !== 'CANCELLED' : dry.status !== 0 || dry.report?.error) {
      throw new Error(`${c.name}: the ${c.mode} itself did not work: ${JSON.stringify(dry.report?.error ?? dry.report)} ${dry.stderr}`);
    }
    const afterDry = (await readFolder(dryDir)).state;
    if (!sameState(afterDry, before))
      throw new Error(`${c.name}: the ${c.mode} left\n  ${describeState(afterDry)}\nnot the before state\n  ${describeState(before)}`);
    const dryLeft = await leftovers(dryDir, initialNames);
    if (dryLeft.length > 0) throw new Error(`${c.name}: the ${c.mode} left ${dryLeft.join(', ')}`);
    const stats = freshStats(dry.report!, [], false);
    await eachKillPoint(work, c.name, stats, runs, seed, async (dir, at, i) => {
      expectKilled(runChild(bundle, at, await prepare(dir), dir), stats);
      const viaCli = i % 5 === 4;
      const recovered = viaCli ? recoverViaCli(bundle, dir, true) : (await recoverFolder(dir, { rollback: true })).recoveries;
      if (viaCli) stats.viaCli++;
      const notBack = recovered.filter((r) => r.action !== 'discarded' && r.action !== 'removed');
      if (notBack.length > 0) throw new Error(`recover --rollback did not roll back: ${JSON.stringify(notBack)}`);
      await expectNothingLeft(dir, initialNames, 'recover --rollback');
      const names = await listing(dir);
      if (names.filter((n) => n !== SIDECAR_NAME).join('/') !== beforeList.filter((n) => n !== SIDECAR_NAME).join('/'))
        throw new Error(`the folder lists [${names.join(', ')}], not the files before [${beforeList.join(', ')}]`);
      const { state, paths } = await readFolder(dir);
      if (!sameState(state, before)) throw new Error(`not the before state: ${describeState(state)}; before ${describeState(before)}`);
      await expectNoCheckErrors(paths);
      stats.rolledBack++;
      stats.verified++;
    });
    return stats;
  } finally {
    restoreTmp();
    removeTmpDir(work);
  }
}

/** One describe of rollback cases (see RollbackCase), a summary line each. */
export function rollbackSuite(kind: string, cases: RollbackCase[]): void {
  describe(`crash: ${kind}`, () => {
    let bundle: Bundle;
    const seed = crashSeed();
    beforeAll(async () => {
      bundle = await bundleChild();
    });
    afterAll(() => {
      if (bundle) removeTmpDir(bundle.dir);
    });
    for (const c of cases) {
      const runs = c.runs ?? Math.max(10, Math.ceil(crashRuns() / cases.length));
      it(`${c.name}: killed at random I/O steps, recover --rollback always gives the before state`, { timeout: 120_000 + runs * 5_000 }, async () => {
        const stats = await runRollbackCase(bundle, c, seed, runs);
        const line = `crash ${c.name}: ${stats.killPoints} kill points (of ${stats.steps} I/O steps), ${stats.verified} rollbacks verified to the before state (${stats.viaCli} via the CLI; seed ${seed}) [steps: ${Object.entries(
          stats.kinds,
        )
          .map(([k, n]) => `${k}×${n}`)
          .join(' ')}]`;
        console.log(line);
        process.stderr.write(`${line}\n`);
        expect(stats.failures.slice(0, 5), `${stats.failures.length} of ${stats.killPoints || runs} kill points failed`).toEqual([]);
        expect(stats.killPoints).toBe(Math.min(runs, stats.steps));
      });
    }
  });
}

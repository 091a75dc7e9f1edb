// The fuzz corpus through the CLI: `vhdsnap info|check|tree` (bundled from
// the current sources, as scripts/build.mjs bundles dist/cli/vhdsnap.cjs) on
// the first FUZZ_CLI_CASES (default 200) cases. Every run exits 0, 1 or 2;
// a failure prints exactly one line on stderr ending in its [CODE]; never a
// stack trace, never "internal error"; --json output always parses.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeeds, makeCase, writeCase, fuzzSeed, type SeedSet } from './generator.js';
import { bundle } from './runner.js';
import { makeTmpDir, removeTmpDir } from '../support/tmp.js';
import { leakLines } from '../support/gc-close.js';

let bundleDir: string;
let work: string;
let sets: SeedSet[];

beforeAll(async () => {
  bundleDir = await bundle({ vhdsnap: 'core/cli/bin.ts' });
  work = makeTmpDir('vhdsnap-fuzz-cli-');
  mkdirSync(nodePath.join(work, 'seeds'));
  sets = await buildSeeds(nodePath.join(work, 'seeds'));
}, 60_000);

afterAll(() => {
  if (bundleDir) removeTmpDir(bundleDir);
  if (work) removeTmpDir(work);
});

interface Run {
  argv: string[];
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function vhdsnap(argv: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [nodePath.join(bundleDir, 'vhdsnap.cjs'), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ argv, status, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function problems(r: Run): string[] {
  const out: string[] = [];
  if (r.signal) out.push(`killed (${r.signal}) after ${r.ms} ms: a hang`);
  if (r.status !== 0 && r.status !== 1 && r.status !== 2) out.push(`exit ${r.status}`);
  if (/internal error/i.test(r.stderr)) out.push('internal error');
  if (leakLines(r.stderr).length > 0) out.push('a file handle closed on garbage collection (leaked)');
  if (/\n\s+at .+[:(]/.test(r.stderr) || /\bat .+\.c?js:\d+/.test(r.stderr)) out.push('stack trace');
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  if (r.status === 0 && lines.length > 0) out.push('stderr output on success');
  if (r.status === 2 && (lines.length !== 1 || !/\[[A-Z0-9_]+\]$/.test(lines[0])))
    out.push(`stderr is not one line ending in [CODE]: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  if (r.status === 1 && lines.length > 1) out.push(`stderr has ${lines.length} lines`);
  if (r.argv.includes('--json') && r.status !== 2) {
    try {
      JSON.parse(r.stdout);
    } catch {
      out.push('--json output does not parse');
    }
  }
  return out;
}

describe('fuzzed files through the CLI', () => {
  it('info, check and tree exit 0/1/2 with at most one line on stderr, never a stack trace', { timeout: 600_000 }, async () => {
    const seed = fuzzSeed();
    const n = Number(process.env.FUZZ_CLI_CASES) > 0 ? Number(process.env.FUZZ_CLI_CASES) : 200;
    const failures: string[] = [];
    const exits: Record<string, number> = {};
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next++;
        const c = makeCase(sets, seed, i);
        const dir = nodePath.join(work, `case-${i}`);
        mkdirSync(dir);
        await writeCase(c, dir);
        const leaf = nodePath.join(dir, c.leaf);
        const json = i % 2 === 0 ? ['--json'] : [];
        const cmd = i % 3 === 0 ? ['info', leaf, ...json] : i % 3 === 1 ? ['check', leaf, '--deep', ...json] : ['tree', dir, ...json];
        const r = await vhdsnap(cmd);
        exits[`${cmd[0]}:${r.status}`] = (exits[`${cmd[0]}:${r.status}`] ?? 0) + 1;
        const p = problems(r);
        if (p.length > 0) failures.push(`case ${i} (${c.set}: ${c.mutations.join('; ')}): vhdsnap ${cmd[0]}: ${p.join(', ')}\n${r.stderr.slice(0, 400)}`);
        rmSync(dir, { recursive: true, force: true });
      }
    };
    await Promise.all([lane(), lane()]);
    const line = `fuzz CLI: ${n} cases (seed ${seed}); exits ${JSON.stringify(exits)}`;
    console.log(line);
    process.stderr.write(`${line}\n`);
    expect(failures.slice(0, 5), `${failures.length} CLI runs misbehaved (seed ${seed})`).toEqual([]);
    // The corpus exercises every exit path of each command.
    expect(exits['info:0']).toBeGreaterThan(0);
    expect(exits['info:2']).toBeGreaterThan(0);
    expect(exits['check:1']).toBeGreaterThan(0);
    expect(exits['tree:0']).toBeGreaterThan(0);
    // tree exits 1 when it lists orphans or unreadable files, as check does for problems.
    expect(exits['tree:1']).toBeGreaterThan(0);
  });
});

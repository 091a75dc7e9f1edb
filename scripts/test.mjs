// `npm test` (after the build) and `npm run test:unit`: the static checks
// (each an npm script: typecheck, lint) and Vitest, passing extra CLI args
// through. Prints `N passed, N failed, N skipped` as the very last line and
// exits non-zero if a check or a test failed. Each check counts as one passed
// or one failed entry of that line, so a type error or a lint finding can
// never read as "0 failed". The test counts come from
// test/support/summary-reporter.ts via a temp file, so nothing Vitest prints
// on shutdown can land after them.
//
// Vitest runs a worker per core (its default leaves one idle): most test
// files wait on fsync, child processes, Wine or Chromium, so two workers on
// 2 cores take the whole suite from 29 to about 20 minutes. The checks run
// beside it, not before it; their output is held and printed after
// Vitest's, just above the closing line.
//
//   node scripts/test.mjs [--unit] [--checks=typecheck,lint | --no-checks] [vitest args…]
//
// --unit runs the fast subset (UNIT below) with the typecheck only.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const win = process.platform === 'win32';
const bin = (name) => path.join(root, 'node_modules', '.bin', win ? `${name}.cmd` : name);

/**
 * The fast subset (no build needed): codecs, I/O, library, check, the
 * smaller operation tests, hostile input, the renderer and the import-graph
 * test. Left to the full run: the property tests (long random sequences),
 * the in-use guard (real qemu-io holders), the heaviest operation tests
 * (large multi-layer chains: compact, resize, delete, merge; cross-process
 * locks), and the suites that need dist/ or drive whole programs (build,
 * cli, crash, faults, fuzz, interop, electron, e2e, windows).
 */
const UNIT_SLOW = [
  'test/**/*.property.test.ts',
  'test/core/inuse.test.ts',
  'test/core/compact.test.ts',
  'test/core/resize.test.ts',
  'test/core/delete.test.ts',
  'test/core/merge.test.ts',
  'test/core/lock.test.ts',
];
const UNIT = {
  checks: ['typecheck'],
  vitest: ['test/core', 'test/hostile', 'test/renderer', ...UNIT_SLOW.flatMap((glob) => ['--exclude', glob])],
};
/** A worker per core, not Vitest's cores - 1 (see the top). */
const WORKERS = `--maxWorkers=${os.availableParallelism()}`;
const ALL_CHECKS = ['typecheck', 'lint'];

let checks = ALL_CHECKS;
const vitestArgs = [];
for (const arg of process.argv.slice(2)) {
  if (arg === '--unit') {
    checks = UNIT.checks;
    vitestArgs.push(...UNIT.vitest);
  } else if (arg === '--no-checks') checks = [];
  else if (arg.startsWith('--checks=')) checks = arg.slice('--checks='.length).split(',').filter(Boolean);
  else vitestArgs.push(arg);
}

const children = new Set();
// Forward Ctrl-C / termination to the children rather than orphaning them.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => children.forEach((c) => c.kill(sig)));

/**
 * Runs a command; resolves with its exit code (1 when it cannot start or is
 * killed) and, when `capture`, its interleaved stdout and stderr.
 */
function run(cmd, args, { env = process.env, capture = false } = {}) {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd, args, { cwd: root, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', env, shell: win });
    children.add(child);
    if (capture) for (const stream of [child.stdout, child.stderr]) stream.on('data', (d) => (output += d));
    let done = false;
    const finish = (code) => {
      if (done) return;
      done = true;
      children.delete(child);
      resolve({ code, output });
    };
    child.on('error', (err) => {
      output += `test: cannot start ${cmd}: ${err.message}\n`;
      if (!capture) console.error(output);
      finish(1);
    });
    child.on('close', (code) => finish(code ?? 1)); // null: killed by a signal
  });
}

const pendingChecks = checks.map(async (name) => {
  const started = Date.now();
  const r = await run(win ? 'npm.cmd' : 'npm', ['run', '--silent', name], { capture: true });
  return { name, ok: r.code === 0, output: r.output, seconds: (Date.now() - started) / 1000 };
});

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vhdsnap-summary-'));
const summaryFile = path.join(tmp, 'summary.json');
const workers = vitestArgs.some((a) => a.startsWith('--maxWorkers')) ? [] : [WORKERS];
const { code } = await run(bin('vitest'), ['run', '--config', 'vitest.config.ts', ...workers, ...vitestArgs], {
  env: { ...process.env, VHDSNAP_TEST_SUMMARY_FILE: summaryFile },
});
const checkResults = await Promise.all(pendingChecks);

let s = { passed: 0, failed: 0, skipped: 0 };
try {
  s = JSON.parse(readFileSync(summaryFile, 'utf8'));
} catch {
  console.error('test: vitest ended without a summary');
}
rmSync(tmp, { recursive: true, force: true });
// A failed run (config error, crash, no test files…) must never read as "0 failed".
if (code !== 0 && s.failed === 0) s.failed = 1;
for (const c of checkResults) {
  console.log(`\n> check: npm run ${c.name}`);
  if (c.output.trim()) console.log(c.output.trimEnd());
  console.log(`check ${c.name}: ${c.ok ? 'passed' : 'FAILED'} (${c.seconds.toFixed(1)} s)`);
  if (c.ok) s.passed++;
  else s.failed++;
}
console.log(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
process.exit(code !== 0 ? code : checkResults.every((c) => c.ok) ? 0 : 1);

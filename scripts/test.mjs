// `npm test` (after the build): runs Vitest, passing extra CLI args through,
// then prints `N passed, N failed, N skipped` as the very last line and exits
// with Vitest's code. The counts come from test/support/summary-reporter.ts
// via a temp file, so nothing Vitest prints on shutdown can land after them.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vitest = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vitest.cmd' : 'vitest');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vhdsnap-summary-'));
const summaryFile = path.join(tmp, 'summary.json');

const child = spawn(vitest, ['run', '--config', 'vitest.config.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, VHDSNAP_TEST_SUMMARY_FILE: summaryFile },
  shell: process.platform === 'win32',
});

// Forward Ctrl-C / termination to Vitest rather than orphaning it.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));

child.on('error', (err) => {
  console.error(`test: cannot start vitest: ${err.message}`);
  finish(1);
});
child.on('exit', (code) => finish(code ?? 1)); // null: killed by a signal

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  let s = { passed: 0, failed: 0, skipped: 0 };
  try {
    s = JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    console.error('test: vitest ended without a summary');
  }
  rmSync(tmp, { recursive: true, force: true });
  // A failed run (config error, crash, no test files…) must never read as "0 failed".
  if (code !== 0 && s.failed === 0) s.failed = 1;
  console.log(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  process.exit(code);
}

// scripts/test.mjs: a failed check counts in the closing line and fails the
// run, and the closing line stays last. Runs the script on one small test file.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const SUMMARY = /^(\d+) passed, (\d+) failed, (\d+) skipped$/;

function runScript(...args: string[]) {
  // The inner Vitest must not think it is a worker of this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const r = spawnSync(process.execPath, ['scripts/test.mjs', ...args, 'test/core/format/bytes.test.ts'], {
    cwd: root,
    encoding: 'utf8',
    env,
    timeout: 110_000,
  });
  const lines = r.stdout.trimEnd().split('\n');
  const m = SUMMARY.exec(lines[lines.length - 1]);
  expect(m, `last line of:\n${r.stdout}\n${r.stderr}`).not.toBeNull();
  return { status: r.status, stdout: r.stdout, passed: Number(m![1]), failed: Number(m![2]), skipped: Number(m![3]) };
}

describe('scripts/test.mjs', () => {
  it('counts a failing check as one failure and exits non-zero, tests still counted', { timeout: 240_000 }, () => {
    const clean = runScript('--no-checks');
    expect(clean.status).toBe(0);
    expect(clean.failed).toBe(0);
    expect(clean.passed).toBeGreaterThan(0);

    // An npm script that does not exist fails like a check that finds problems.
    const broken = runScript('--checks=no-such-check-script');
    expect(broken.status).not.toBe(0);
    expect(broken.passed).toBe(clean.passed);
    expect(broken.failed).toBe(1);
    expect(broken.skipped).toBe(clean.skipped);
    expect(broken.stdout).toMatch(/^check no-such-check-script: FAILED/m);
  });
});

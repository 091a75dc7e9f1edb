// Counts test cases for the closing `N passed, N failed, N skipped` line.
// A file that fails to load, a failing hook and an unhandled error each count
// as one failure, so a broken run can never read as "0 failed".
import { writeFileSync } from 'node:fs';
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
}

/** scripts/test.mjs sets this to print the line itself, after Vitest has exited. */
export const SUMMARY_FILE_ENV = 'VHDSNAP_TEST_SUMMARY_FILE';

export function formatSummary(s: Summary): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

export function summarize(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): Summary {
  const s: Summary = { passed: 0, failed: 0, skipped: 0 };
  for (const mod of modules) {
    // Errors outside any test: import/syntax errors, failing beforeAll/afterAll.
    if (mod.errors().length > 0) s.failed++;
    for (const suite of mod.children.allSuites()) if (suite.errors().length > 0) s.failed++;
    for (const test of mod.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') s.passed++;
      else if (state === 'failed') s.failed++;
      else if (state === 'skipped') s.skipped++;
    }
  }
  s.failed += unhandled.length;
  return s;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    const summary = summarize(modules, unhandled);
    const file = process.env[SUMMARY_FILE_ENV];
    if (file) writeFileSync(file, JSON.stringify(summary));
    else console.log(formatSummary(summary));
  }
}

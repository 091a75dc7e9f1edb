// Fresh temporary directories for tests: one per test, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** Creates a new empty directory under os.tmpdir(); the caller removes it. */
export function makeTmpDir(prefix = 'vhdsnap-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTmpDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TmpDir {
  /** The current test's directory (valid inside a test). */
  readonly dir: string;
  /** A path inside the current test's directory. */
  file(...parts: string[]): string;
}

/**
 * Registers beforeEach/afterEach hooks in the calling describe (or file):
 * every test gets its own fresh directory, deleted when the test ends.
 */
export function useTmpDir(prefix?: string): TmpDir {
  let current: string | undefined;
  beforeEach(() => {
    current = makeTmpDir(prefix);
  });
  afterEach(() => {
    if (current) removeTmpDir(current);
    current = undefined;
  });
  return {
    get dir() {
      if (!current) throw new Error('useTmpDir: no test is running');
      return current;
    },
    file(...parts: string[]) {
      return path.join(this.dir, ...parts);
    },
  };
}

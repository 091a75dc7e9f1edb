// `check --deep` must find no error in any of these files (warnings allowed).
import { expect } from 'vitest';
import { checkPaths } from '../../core/ops/check.js';

export async function expectCheckClean(paths: string[]): Promise<void> {
  for (const r of await checkPaths(paths, { deep: true })) expect(r.errors, `${r.path}: ${JSON.stringify(r.errors)}`).toEqual([]);
}

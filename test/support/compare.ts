// Byte comparisons for tests: a failure names the first differing byte
// instead of dumping two large buffers.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { expect } from 'vitest';

export function assertSame(actual: Uint8Array, expected: Uint8Array, where: string): void {
  expect(actual.length, `${where}: length`).toBe(expected.length);
  if (Buffer.compare(actual, expected) === 0) return;
  let i = 0;
  while (actual[i] === expected[i]) i++;
  let j = i;
  while (j < actual.length && actual[j] !== expected[j]) j++;
  throw new Error(`${where}: first difference at +${i} (${j - i} bytes differ from there): got ${actual[i]}, expected ${expected[i]}`);
}

/** sha256 (hex) of a whole file's bytes. */
export const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** sha256 of every file in a folder, by name: an operation that refused must leave it identical. */
export function folderState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const p = nodePath.join(dir, n);
    if (statSync(p).isFile()) out[n] = sha(p);
  }
  return out;
}

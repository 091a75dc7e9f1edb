// Setup file (vitest.config.ts): a test fails when Node closes a leaked file
// handle on garbage collection. Node reports that only as a process warning
// ("Closing file descriptor N on garbage collection", then DEP0137 once), and
// only when a GC happens to run, so each test ends with a forced GC (the
// workers run with --expose-gc) and a wait for the warning to be delivered.
import { afterAll, afterEach } from 'vitest';
import { isGcCloseWarning } from './gc-close.js';

const leaked: string[] = [];
process.on('warning', (w: Error & { code?: string }) => {
  if (isGcCloseWarning(w)) leaked.push(w.message);
});

/** Collects garbage (when exposed) and lets pending warnings arrive; returns the leak warnings seen since the last call. */
async function collectLeaks(): Promise<string[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    // FileHandle destructors run after the collection; their warning is emitted on a later tick.
    await new Promise((r) => setImmediate(r));
    gc();
  }
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setImmediate(r));
  return leaked.splice(0);
}

function fail(found: string[], where: string): void {
  const fds = [...new Set(found.filter((m) => !m.startsWith('Closing a FileHandle')))];
  throw new Error(`a file handle was left open and closed by the garbage collector ${where}: ${fds.join('; ')}`);
}

afterEach(async () => {
  const found = await collectLeaks();
  if (found.length > 0) fail(found, 'during this test (or just before it)');
});

afterAll(async () => {
  const found = await collectLeaks();
  if (found.length > 0) fail(found, 'after the last test of this file');
});

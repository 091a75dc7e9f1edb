// The process's open file descriptors, counted from /proc/self/fd (Linux).
// Elsewhere there is no cheap way to list them: null, and callers rely on
// the opener's own count (test/faults/faulty.ts) alone.
import { readdirSync, readlinkSync } from 'node:fs';

const FD_DIR = '/proc/self/fd';
const hasProc = (() => {
  try {
    readdirSync(FD_DIR);
    return true;
  } catch {
    return false;
  }
})();

/** What each open descriptor points at (fd → target), or null where /proc is absent. */
export function openDescriptors(): Map<number, string> | null {
  if (!hasProc) return null;
  const out = new Map<number, string>();
  for (const name of readdirSync(FD_DIR)) {
    // The listing itself holds one descriptor while it runs; it is gone by the readlink.
    let target: string;
    try {
      target = readlinkSync(`${FD_DIR}/${name}`);
    } catch {
      continue;
    }
    out.set(Number(name), target);
  }
  return out;
}

/** Descriptors open now that were not in `baseline` (empty where /proc is absent). */
export function newDescriptors(baseline: Map<number, string> | null): string[] {
  const now = openDescriptors();
  if (!baseline || !now) return [];
  const extra: string[] = [];
  for (const [fd, target] of now) if (baseline.get(fd) !== target) extra.push(`fd ${fd} → ${target}`);
  return extra;
}

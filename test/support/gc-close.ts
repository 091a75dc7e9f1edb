// How Node reports a file handle it closed itself on garbage collection (a
// leak): "Closing file descriptor N on garbage collection", then DEP0137.
// In-process tests fail on it through test/support/fd-guard.ts; tests that
// capture a CLI's stderr check it with leakLines.

export const GC_CLOSE = /Closing file descriptor \d+ on garbage collection|DEP0137/;

/** True for the process warnings Node emits when it closes a leaked FileHandle. */
export function isGcCloseWarning(w: { message: string; code?: string }): boolean {
  return GC_CLOSE.test(w.message) || w.code === 'DEP0137';
}

/** The lines of a subprocess's stderr that report a leaked handle (empty when clean). */
export function leakLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => GC_CLOSE.test(l));
}

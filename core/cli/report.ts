// How a failed command is reported: one line on stderr and an exit code.
// Its own module so the separately bundled `serve` command (see
// scripts/build.mjs) reports its errors exactly as every other command.
import { CancelledError, fromSystemError, isSystemError, RefusedError, UsageError, VhdError } from '../errors.js';

/**
 * A system error that reached the command unmapped (a permission, a full
 * disk, a missing folder) is the environment's, never "internal": typed here
 * naming the path the system call names (core/errors.ts fromSystemError).
 */
function typed(err: unknown): unknown {
  return isSystemError(err) ? fromSystemError(err) : err;
}

export function exitCodeFor(err: unknown): number {
  // Cancelled (Ctrl-C, SIGTERM) and rolled back: the shell's code for an interrupt.
  if (err instanceof CancelledError) return 130;
  if (err instanceof RefusedError) return 1;
  return 2;
}

/**
 * The one JSON document a --json run prints on stdout when it fails, so
 * scripts read every outcome from stdout: `{ "error": { code, message, path?, field? } }`.
 */
export function errorDocument(raw: unknown): { error: { code: string; message: string; path?: string; field?: string } } {
  const err = typed(raw);
  if (err instanceof VhdError) return { error: { code: err.code, message: err.message, path: err.path, field: err.field } };
  return { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } };
}

/** Writes the error for command `name` (with `json`, also its document on stdout) and returns the exit code. */
export function reportError(name: string, raw: unknown, stderr: (s: string) => void, json?: (s: string) => void): number {
  const err = typed(raw);
  json?.(JSON.stringify(errorDocument(err), null, 2) + '\n');
  if (err instanceof VhdError) {
    stderr(`vhdsnap ${name}: ${err.message} [${err.code}]\n`);
    if (err instanceof UsageError && err.code === 'USAGE') stderr(`run "vhdsnap --help" for usage\n`);
    return exitCodeFor(err);
  }
  const e = err as Error;
  stderr(`vhdsnap ${name}: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.VHDSNAP_DEBUG) stderr(`${e?.stack}\n`);
  return 2;
}

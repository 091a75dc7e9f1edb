// How a failed command is reported: one line on stderr and an exit code.
// Its own module so the separately bundled `serve` command (see
// scripts/build.mjs) reports its errors exactly as every other command.
import { CancelledError, RefusedError, UsageError, VhdError } from '../errors.js';

export function exitCodeFor(err: unknown): number {
  if (err instanceof RefusedError || err instanceof CancelledError) return 1;
  return 2;
}

/** Writes the error for command `name` and returns the exit code. */
export function reportError(name: string, err: unknown, stderr: (s: string) => void): number {
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

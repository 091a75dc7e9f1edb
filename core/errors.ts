// Typed errors. Every failure the core reports carries a stable `code` (for
// JSON output, tests and UI) and, for format problems, the field at fault.
import type { Finding } from './shapes.js';

export type { Finding };

export type Severity = 'error' | 'warning';

export class VhdError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly path?: string;
  constructor(code: string, message: string, opts: { field?: string; path?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.field = opts.field;
    this.path = opts.path;
  }
}

/** The bytes on disk violate the format (corrupt, truncated or crafted file). */
export class FormatError extends VhdError {}

/** A differencing disk's parent is missing, mismatched or forms a cycle. */
export class ChainError extends VhdError {}

/** The operation would endanger data (children would change, wrong target id...). */
export class RefusedError extends VhdError {}

/**
 * RefusedError code: another program has the disk open (core/inuse.ts scans
 * for it; on Windows the I/O layer maps sharing violations to it).
 */
export const IN_USE = 'IN_USE';

/** The caller asked for something invalid (bad size, bad offset, bad option). */
export class UsageError extends VhdError {}

/** The operating system failed an I/O call. */
export class IoError extends VhdError {}

/** A long operation was cancelled through its AbortSignal. */
export class CancelledError extends VhdError {
  constructor(message = 'operation cancelled') {
    super('CANCELLED', message);
  }
}

export function toIoError(err: unknown, path: string, what: string): VhdError {
  if (err instanceof VhdError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e && typeof e.code === 'string' ? e.code : 'EIO';
  return new IoError(`IO_${code}`, `${what} ${path}: ${e?.message ?? String(err)}`, { path, cause: err });
}

// Errors as they cross to the page: a stable code and words for people. No
// stack, no class name, no cause chain ever leaves main.
import { z } from 'zod';
import { fromSystemError, isSystemError, VhdError } from '../core/errors.js';
import type { ApiError } from './api.js';
import { describeIssues } from './contract.js';

/** A refusal raised by main itself (not by core): bad grant, busy disk, unknown job... */
export class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiFailure || err instanceof VhdError) return { code: err.code, message: err.message };
  if (err instanceof z.ZodError) return { code: 'BAD_ARGS', message: `invalid arguments: ${describeIssues(err)}` };
  // The same typed code and words as the CLI prints (core/errors.ts fromSystemError).
  if (isSystemError(err)) {
    const typed = fromSystemError(err);
    return { code: typed.code, message: typed.message };
  }
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    return { code: /^E[A-Z]+$/.test(e.code) ? `IO_${e.code}` : e.code, message: e.message };
  }
  const message = e instanceof Error ? e.message : String(err);
  return { code: 'INTERNAL', message: message.split('\n')[0] || 'internal error' };
}

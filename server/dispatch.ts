// One checked call, as both Electron's IPC binding (electron/register.ts) and
// the WebSocket bridge (serve.ts) run it: the arguments are validated with the
// channel's zod schema, then the handler runs, and the answer is always an
// Envelope so errors cross as {code, message} only.
import type { Envelope } from './api.js';
import { contract, describeIssues, type ApiMethod, type Handlers } from './contract.js';
import { toApiError } from './errors.js';

export async function dispatch(handlers: Handlers, method: ApiMethod, rawArgs: unknown[]): Promise<Envelope<unknown>> {
  const spec = contract[method];
  const parsed = spec.args.safeParse(rawArgs);
  if (!parsed.success) return { ok: false, error: { code: 'BAD_ARGS', message: `${method}: invalid arguments: ${describeIssues(parsed.error)}` } };
  try {
    const fn = handlers[method] as (...a: unknown[]) => Promise<unknown>;
    const value = await fn(...(parsed.data as unknown[]));
    return { ok: true, value: value === undefined ? null : value };
  } catch (err) {
    return { ok: false, error: toApiError(err) };
  }
}

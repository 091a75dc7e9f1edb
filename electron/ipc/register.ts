// Binds the handlers to an ipcMain-like object: each channel first checks the
// sender, then the arguments (zod), then calls the handler, and always answers
// with an Envelope so errors reach the page as {code, message} only.
import type { Envelope, Handlers } from './contract.js';
import { contract, describeIssues, type ApiMethod } from './contract.js';
import { toApiError } from './errors.js';

export interface IpcMainLike<E> {
  handle(channel: string, listener: (event: E, ...args: unknown[]) => Promise<unknown> | unknown): void;
  removeHandler(channel: string): void;
}

/** One checked call: what both the IPC binding and the WebSocket bridge run. */
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

export const methodOfChannel = new Map<string, ApiMethod>(Object.entries(contract).map(([m, s]) => [s.channel, m as ApiMethod]));

/** Registers every channel; returns a function that removes them again. */
export function registerIpc<E>(ipc: IpcMainLike<E>, handlers: Handlers, isTrustedSender: (event: E) => boolean): () => void {
  const channels: string[] = [];
  for (const [method, spec] of Object.entries(contract) as [ApiMethod, (typeof contract)[ApiMethod]][]) {
    ipc.handle(spec.channel, async (event, ...args): Promise<Envelope<unknown>> => {
      if (!isTrustedSender(event)) return { ok: false, error: { code: 'FORBIDDEN', message: 'IPC refused: the request did not come from the app window' } };
      return dispatch(handlers, method, args);
    });
    channels.push(spec.channel);
  }
  return () => channels.forEach((c) => ipc.removeHandler(c));
}

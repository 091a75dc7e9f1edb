// Binds the handlers to an ipcMain-like object: each channel first checks the
// sender, then runs the same checked call as the WebSocket bridge (dispatch:
// zod arguments, handler, Envelope), so errors reach the page as {code, message} only.
import type { Envelope } from '../server/api.js';
import { contract, type ApiMethod, type Handlers } from '../server/contract.js';
import { dispatch } from '../server/dispatch.js';

export interface IpcMainLike<E> {
  handle(channel: string, listener: (event: E, ...args: unknown[]) => Promise<unknown> | unknown): void;
  removeHandler(channel: string): void;
}

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

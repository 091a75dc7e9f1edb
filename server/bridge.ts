// The page's API built from the one list of calls (api.ts RequestChannels),
// for both transports: the preload (invoke = ipcRenderer.invoke) and the
// WebSocket client of `vhdsnap serve` (invoke = a message on the socket). No
// runtime imports but api.ts and no Node: it is bundled into the sandboxed
// preload by esbuild and into the page by Vite.
import { AppCommands, RequestChannels, type ApiError, type ApiMethod, type Envelope, type MenuCommand, type VhdsnapApi } from './api.js';

/** Sends one call and resolves with its envelope (or rejects with an ApiError-shaped object). */
export type Invoke = (method: ApiMethod, channel: string, args: unknown[]) => Promise<Envelope<unknown> | undefined>;

/**
 * One function per call, taking the contract's arguments. The page's API is
 * these plus what each transport does itself: dropFolder (a File becomes a
 * path only in the preload) and onJobEvent (a subscription, not a call).
 */
export type BridgeCalls = { [K in ApiMethod]: (...args: CallArgs<K>) => ReturnType<VhdsnapApi[K]> };

/** A call's arguments as they travel: the page's, but for dropFolder, whose File the preload turns into a path. */
export type CallArgs<K extends ApiMethod> = K extends 'dropFolder' ? [path: string] : Parameters<VhdsnapApi[K]>;

/** What crosses to the page on a failure: a plain object (Error subclasses lose their fields crossing the context bridge). */
export type BridgeError = ApiError & { name: 'ApiError' };

export const apiError = (code: string, message: string): BridgeError => ({ name: 'ApiError', code, message });

/**
 * True for a menu command's shape (api.ts MenuCommand): the preload passes
 * on nothing else. The page still runs only actions it knows.
 */
export function isMenuCommand(c: unknown): c is MenuCommand {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (o.kind === 'action') return keys === 'action,kind' && typeof o.action === 'string' && /^[a-z][a-z-]{0,31}$/.test(o.action);
  return o.kind === 'app' && keys === 'command,kind' && (AppCommands as readonly unknown[]).includes(o.command);
}

/** An envelope's value, or its error thrown as a BridgeError. */
export function unwrap(r: Envelope<unknown> | undefined): unknown {
  if (r && r.ok) return r.value;
  const error = r && !r.ok ? r.error : { code: 'INTERNAL', message: 'no answer from the app' };
  throw apiError(error.code, error.message);
}

export function bridgeApi(invoke: Invoke): BridgeCalls {
  const calls: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [method, channel] of Object.entries(RequestChannels)) {
    calls[method] = async (...args) => {
      // An optional argument left out travels as nothing: JSON would turn `undefined` into null, which the schema refuses.
      let n = args.length;
      while (n > 0 && args[n - 1] === undefined) n--;
      return unwrap(await invoke(method as ApiMethod, channel, args.slice(0, n)));
    };
  }
  // The loop above defines exactly the keys of RequestChannels, each forwarding its arguments.
  return calls as BridgeCalls;
}

// The app's API over a WebSocket, for the page served by `vhdsnap serve` in a
// plain browser (no Electron, no preload). Same calls, same {code, message}
// rejections and job events as window.vhdsnap inside the app: the calls are
// built from the same channel list as the preload's (server/bridge.ts).
import type { ApiMethod, Envelope, JobEvent, VhdsnapApi, WsMessage, WsRequest } from '../../../server/api';
import { apiError, bridgeApi } from '../../../server/bridge';

/** The little of the WebSocket interface this uses (the DOM's, or the `ws` package's in tests). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  // Events are never read here, so their type stays open.
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

const OPEN = 1;
/** Either kind of WsMessage, read without assuming which it is. */
type Incoming = Partial<Extract<WsMessage, { result: unknown }> & Extract<WsMessage, { event: unknown }>>;
const TOKEN_KEY = 'vhdsnap.serve-token';

/** An API whose calls travel as {id, method, args} over a socket opened (and re-opened) on demand. */
export function createWsApi(url: string, connect: (url: string) => SocketLike): VhdsnapApi & { close(): void } {
  let socket: SocketLike | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Envelope<unknown>) => void; reject: (e: unknown) => void; text: string }>();
  const listeners = new Set<(e: JobEvent) => void>();

  const open = (): SocketLike => {
    if (socket) return socket;
    const s = connect(url);
    socket = s;
    s.onopen = () => {
      for (const p of pending.values()) s.send(p.text);
    };
    s.onmessage = (ev) => {
      let msg: Incoming;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (msg.event) {
        for (const l of listeners) l(msg.event);
        return;
      }
      const p = typeof msg.id === 'number' ? pending.get(msg.id) : undefined;
      if (!p || !msg.result) return;
      pending.delete(msg.id as number);
      p.resolve(msg.result);
    };
    s.onclose = () => {
      if (socket === s) socket = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(apiError('DISCONNECTED', 'lost the connection to vhdsnap serve (is it still running?)'));
      }
    };
    s.onerror = () => {
      // onclose follows and rejects what is pending
    };
    return s;
  };

  /** One call as {id, method, args}; bridgeApi turns the envelope that answers it into a value or a rejection. */
  const send = (method: ApiMethod, args: unknown[]) =>
    new Promise<Envelope<unknown>>((resolve, reject) => {
      const id = nextId++;
      const text = JSON.stringify({ id, method, args } satisfies WsRequest);
      pending.set(id, { resolve, reject, text });
      const s = open();
      if (s.readyState === OPEN) s.send(text);
    });

  return {
    ...bridgeApi((method, _channel, args) => send(method, args)),
    dropFolder: () =>
      Promise.reject(apiError('UNSUPPORTED', 'a browser does not reveal where a dropped folder is: start `vhdsnap serve --folder <dir>` instead')),
    onJobEvent: (listener) => {
      listeners.add(listener);
      open();
      return () => {
        listeners.delete(listener);
      };
    },
    close: () => {
      socket?.close();
      socket = null;
    },
  };
}

/**
 * Call before mounting the app. Inside Electron (window.vhdsnap set by the
 * preload) it does nothing; in a page served by `vhdsnap serve` it installs the
 * WebSocket API as window.vhdsnap. The token comes from the address (kept for
 * reloads in sessionStorage, then dropped from the address bar).
 */
export function installWsApiIfNeeded(): boolean {
  const w = globalThis as unknown as { vhdsnap?: VhdsnapApi; location?: Location; sessionStorage?: Storage; history?: History; WebSocket?: typeof WebSocket };
  if (w.vhdsnap || !w.location || !w.WebSocket || !/^https?:$/.test(w.location.protocol)) return false;
  const params = new URLSearchParams(w.location.search);
  let token = params.get('token');
  try {
    if (token) w.sessionStorage?.setItem(TOKEN_KEY, token);
    else token = w.sessionStorage?.getItem(TOKEN_KEY) ?? null;
  } catch {
    // storage disabled: the token in the address still works for this load
  }
  if (!token) return false;
  if (params.has('token') && w.history) {
    params.delete('token');
    const q = params.toString();
    w.history.replaceState(w.history.state, '', `${w.location.pathname}${q ? `?${q}` : ''}${w.location.hash}`);
  }
  const scheme = w.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const Ctor = w.WebSocket;
  const api = createWsApi(`${scheme}//${w.location.host}/ws?token=${encodeURIComponent(token)}`, (url) => new Ctor(url) as unknown as SocketLike);
  Object.defineProperty(globalThis, 'vhdsnap', { value: api, configurable: true, enumerable: true, writable: false });
  return true;
}

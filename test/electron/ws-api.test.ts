// @vitest-environment happy-dom
/// <reference lib="dom" />
// The browser shim's install hook: only when the preload is absent and the
// page came with a token; the token moves out of the address bar into
// sessionStorage and into the WebSocket URL.
import { afterEach, describe, expect, it } from 'vitest';
import { installWsApiIfNeeded } from '../../renderer/src/bridge/ws-api';

class FakeSocket {
  static urls: string[] = [];
  readyState = 0;
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: unknown) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  sent: string[] = [];
  constructor(url: string) {
    FakeSocket.urls.push(url);
    FakeSocket.last = this;
  }
  static last: FakeSocket | null = null;
  send(t: string) {
    this.sent.push(t);
  }
  close() {}
}

const g = globalThis as any;

afterEach(() => {
  delete g.vhdsnap;
  FakeSocket.urls = [];
  sessionStorage.clear();
});

describe('installWsApiIfNeeded', () => {
  it('does nothing inside the app (the preload already set window.vhdsnap)', () => {
    const preload = { appVersion: () => Promise.resolve('x') };
    Object.defineProperty(globalThis, 'vhdsnap', { value: preload, configurable: true });
    history.replaceState(null, '', '/?token=abc');
    expect(installWsApiIfNeeded()).toBe(false);
    expect(g.vhdsnap).toBe(preload);
  });

  it('does nothing without a token', () => {
    g.WebSocket = FakeSocket;
    history.replaceState(null, '', '/');
    expect(installWsApiIfNeeded()).toBe(false);
    expect(g.vhdsnap).toBeUndefined();
  });

  it('installs the socket API, hides the token, and round-trips a call and an event', async () => {
    g.WebSocket = FakeSocket;
    history.replaceState(null, '', '/?token=t0k3n&x=1#/tree');
    expect(installWsApiIfNeeded()).toBe(true);
    expect(location.search).toBe('?x=1');
    expect(location.hash).toBe('#/tree');
    expect(sessionStorage.getItem('vhdsnap.serve-token')).toBe('t0k3n');

    const events: unknown[] = [];
    g.vhdsnap.onJobEvent((e: unknown) => events.push(e));
    const version = g.vhdsnap.appVersion();
    const failing = g.vhdsnap.scan('nope');
    const sock = FakeSocket.last!;
    expect(FakeSocket.urls).toEqual([`ws://${location.host}/ws?token=t0k3n`]);
    sock.readyState = 1;
    sock.onopen!({});
    const sent = sock.sent.map((t) => JSON.parse(t));
    expect(sent.map((m) => [m.method, m.args])).toEqual([
      ['appVersion', []],
      ['scan', ['nope']],
    ]);
    sock.onmessage!({ data: JSON.stringify({ id: sent[0].id, result: { ok: true, value: '1.0.0' } }) });
    sock.onmessage!({ data: JSON.stringify({ id: sent[1].id, result: { ok: false, error: { code: 'BAD_ARGS', message: 'no' } } }) });
    sock.onmessage!({ data: JSON.stringify({ event: { jobId: 'j', kind: 'cancelled', message: 'm' } }) });
    expect(await version).toBe('1.0.0');
    await expect(failing).rejects.toMatchObject({ code: 'BAD_ARGS', message: 'no' });
    expect(events).toEqual([{ jobId: 'j', kind: 'cancelled', message: 'm' }]);

    // A dropped connection rejects what is pending, and the next call reconnects.
    const pending = g.vhdsnap.recentFolders();
    sock.onclose!({});
    await expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' });
    void g.vhdsnap.appVersion().catch(() => {});
    expect(FakeSocket.urls).toHaveLength(2);

    // A reload keeps working from sessionStorage.
    delete g.vhdsnap;
    history.replaceState(null, '', '/');
    expect(installWsApiIfNeeded()).toBe(true);
  });
});

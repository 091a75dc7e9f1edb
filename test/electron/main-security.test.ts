// electron/main.ts against a stand-in `electron` module: every security
// setting it applies (sandbox, isolation, CSP header, navigation, popups,
// permissions, IPC sender checks) is observed through the calls it makes.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Channels, EventChannels } from '../../server/api';
import { SECURE_WEB_PREFERENCES } from './secure-prefs';

const state = vi.hoisted(() => ({
  sandboxEnabled: false,
  appHandlers: new Map<string, (...a: any[]) => void>(),
  ipc: new Map<string, (event: any, ...args: any[]) => any>(),
  windows: [] as any[],
  loaded: [] as string[],
  permissionRequest: null as null | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
  permissionCheck: null as null | ((...a: unknown[]) => boolean),
  headers: null as null | ((details: any, cb: (r: any) => void) => void),
  userData: '',
  menu: null as any[] | null,
  about: null as any,
}));

vi.mock('electron', () => {
  class BrowserWindow {
    webContents: any;
    constructor(readonly options: any) {
      const mainFrame = { url: '' };
      this.webContents = { mainFrame, send: vi.fn() };
      state.windows.push(this);
    }
    once() {}
    on() {}
    isDestroyed() {
      return false;
    }
    loadFile(p: string) {
      state.loaded.push(p);
      this.webContents.mainFrame.url = pathToFileURL(p).href;
      return Promise.resolve();
    }
    static getAllWindows() {
      return state.windows;
    }
  }
  return {
    app: {
      requestSingleInstanceLock: () => true,
      enableSandbox: () => {
        state.sandboxEnabled = true;
      },
      on: (name: string, fn: (...a: any[]) => void) => state.appHandlers.set(name, fn),
      getVersion: () => '4.5.6',
      getAppPath: () => path.resolve(import.meta.dirname, '..', '..'),
      isPackaged: true,
      setAboutPanelOptions: (o: any) => (state.about = o),
      getPath: (name: string) => (name === 'userData' ? state.userData : os.tmpdir()),
      whenReady: () => Promise.resolve(),
      quit: vi.fn(),
    },
    BrowserWindow,
    dialog: { showOpenDialog: vi.fn(async () => ({ canceled: true, filePaths: [] })), showSaveDialog: vi.fn(async () => ({ canceled: true })) },
    ipcMain: {
      handle: (ch: string, fn: any) => state.ipc.set(ch, fn),
      removeHandler: (ch: string) => state.ipc.delete(ch),
    },
    Menu: { buildFromTemplate: (t: any[]) => ((state.menu = t), {}), setApplicationMenu: () => {} },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: any) => (state.permissionRequest = fn),
        setPermissionCheckHandler: (fn: any) => (state.permissionCheck = fn),
        webRequest: { onHeadersReceived: (fn: any) => (state.headers = fn) },
      },
    },
  };
});

/** "script-src 'self'; ..." → Map of directive → sources. */
function parseCsp(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const part of text.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) m.set(name, sources);
  }
  return m;
}

let win: any;

beforeAll(async () => {
  state.userData = (await import('node:fs')).mkdtempSync(path.join(os.tmpdir(), 'vhdsnap-userdata-'));
  await import('../../electron/main');
  await new Promise((r) => setTimeout(r, 0)); // whenReady().then(...)
  win = state.windows[0];
});

describe('electron/main.ts security baseline', () => {
  it('enables the sandbox for every renderer and opens one window on the bundled page', () => {
    expect(state.sandboxEnabled).toBe(true);
    expect(state.windows).toHaveLength(1);
    expect(state.loaded).toHaveLength(1);
    expect(state.loaded[0]).toMatch(/renderer[/\\]index\.html$/);
  });

  it.each(SECURE_WEB_PREFERENCES)('window webPreferences.%s is %s', (key, value) => {
    expect(win.options.webPreferences[key]).toBe(value);
    expect(win.options.webPreferences.preload).toMatch(/preload\.cjs$/);
  });

  it('denies every permission request and check', () => {
    const answers: boolean[] = [];
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal'])
      state.permissionRequest!(win.webContents, p, (ok) => answers.push(ok));
    expect(answers).toEqual([false, false, false, false, false]);
    expect(state.permissionCheck!(win.webContents, 'media', 'file://', {})).toBe(false);
  });

  it('sets a strict CSP header at least as strict as the page meta tag', () => {
    let out: any;
    state.headers!({ responseHeaders: { 'content-security-policy': ['default-src *'], 'X-Other': ['1'] } }, (r) => (out = r));
    const keys = Object.keys(out.responseHeaders).filter((k) => k.toLowerCase() === 'content-security-policy');
    expect(keys).toHaveLength(1); // a weaker policy from the response is replaced, not added to
    expect(out.responseHeaders['X-Other']).toEqual(['1']);
    const header = parseCsp(out.responseHeaders[keys[0]][0]);
    const html = readFileSync(path.resolve(import.meta.dirname, '../../renderer/index.html'), 'utf8');
    const metaText = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    expect(metaText).toBeTruthy();
    const meta = parseCsp(metaText!);
    for (const [directive, sources] of meta) expect(header.get(directive), directive).toEqual(sources);
    expect(header.get('frame-ancestors')).toEqual(["'none'"]);
    for (const text of [metaText!, out.responseHeaders[keys[0]][0]]) expect(text).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('blocks navigation away, popups and webviews in every webContents', () => {
    const handlers = new Map<string, (...a: any[]) => void>();
    let openHandler: any;
    const contents = { on: (n: string, fn: any) => handlers.set(n, fn), setWindowOpenHandler: (fn: any) => (openHandler = fn) };
    state.appHandlers.get('web-contents-created')!({}, contents);
    const navigate = (name: string, url: string) => {
      const event = { preventDefault: vi.fn() };
      handlers.get(name)!(event, url);
      return event.preventDefault.mock.calls.length > 0;
    };
    const own = pathToFileURL(state.loaded[0]).href;
    expect(navigate('will-navigate', 'https://evil.example/')).toBe(true);
    expect(navigate('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(navigate('will-redirect', 'https://evil.example/')).toBe(true);
    expect(navigate('will-navigate', own + '#/disk')).toBe(false);
    expect(openHandler({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    const attach = { preventDefault: vi.fn() };
    handlers.get('will-attach-webview')!(attach);
    expect(attach.preventDefault).toHaveBeenCalled();
  });

  it('registers every IPC channel and answers only the main frame of its own window', async () => {
    const expected = Object.entries(Channels)
      .filter(([k]) => !(k in EventChannels))
      .map(([, v]) => v);
    expect([...state.ipc.keys()].sort()).toEqual(expected.sort());
    const call = (event: any) => state.ipc.get(Channels.appVersion)!(event);
    const good = { sender: win.webContents, senderFrame: win.webContents.mainFrame };
    expect(await call(good)).toEqual({ ok: true, value: '4.5.6' });
    const forbidden = { ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } };
    expect(await call({ sender: { mainFrame: {} }, senderFrame: win.webContents.mainFrame })).toEqual(forbidden);
    expect(await call({ sender: win.webContents, senderFrame: { url: win.webContents.mainFrame.url } })).toEqual(forbidden); // a subframe
    win.webContents.mainFrame.url = 'https://evil.example/';
    try {
      expect(await call(good)).toEqual(forbidden); // navigated elsewhere somehow
    } finally {
      win.webContents.mainFrame.url = pathToFileURL(state.loaded[0]).href;
    }
  });

  it('validates arguments behind the sender check (no dialog for a bad call)', async () => {
    const good = { sender: win.webContents, senderFrame: win.webContents.mainFrame };
    const r = await state.ipc.get(Channels.scan)!(good, { folder: 'x' });
    expect(r).toMatchObject({ ok: false, error: { code: 'BAD_ARGS' } });
    const { dialog } = await import('electron');
    expect(await state.ipc.get(Channels.openFolder)!(good)).toEqual({ ok: true, value: null });
    expect(dialog.showOpenDialog).toHaveBeenCalledTimes(1);
  });

  it('has the native menu, whose items send their command to its own page only, and an About panel', () => {
    const items = state.menu!.flatMap((m: any) => m.submenu ?? []);
    expect(state.menu!.map((m: any) => m.label ?? m.role)).toEqual(expect.arrayContaining(['File', 'Edit', 'View', 'Snapshot', 'help']));
    // Packaged: no developer tools in the View menu.
    expect(items.some((i: any) => i.role === 'toggleDevTools')).toBe(false);
    const send = win.webContents.send as ReturnType<typeof vi.fn>;
    send.mockClear();
    items.find((i: any) => i.id === 'action:snapshot').click();
    expect(send).toHaveBeenCalledWith(Channels.menuCommand, { kind: 'action', action: 'snapshot' });
    win.webContents.mainFrame.url = 'https://evil.example/';
    try {
      items.find((i: any) => i.id === 'app:open-folder').click();
      expect(send).toHaveBeenCalledTimes(1);
    } finally {
      win.webContents.mainFrame.url = pathToFileURL(state.loaded[0]).href;
    }
    expect(state.about.applicationName).toBe('VHD Snapshot Manager');
    expect(state.about.applicationVersion).toMatch(/^4\.5\.6 \(Electron .* · Node .* · Chrome .*\)$/);
    expect(state.about.copyright).toBe('MIT License');
  });
});

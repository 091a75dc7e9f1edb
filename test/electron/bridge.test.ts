// Both page APIs are generated from the one list of calls: the preload's
// window.vhdsnap (against a stand-in `electron` module) and the WebSocket
// client have exactly the contract's calls plus onJobEvent, and each call
// reaches its own channel (IPC) or method name (socket) with its arguments.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { EventChannels, RequestChannels } from '../../server/api';
import { contract } from '../../server/contract';
import { createWsApi, type SocketLike } from '../../renderer/src/bridge/ws-api';

const state = vi.hoisted(() => ({
  exposed: new Map<string, any>(),
  invoked: [] as { channel: string; args: unknown[] }[],
  listeners: new Map<string, (...a: any[]) => void>(),
}));

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, value: unknown) => state.exposed.set(key, value) },
  ipcRenderer: {
    invoke: async (channel: string, ...args: unknown[]) => {
      state.invoked.push({ channel, args });
      // Echo the call back, so the test sees what arrived at which channel.
      return channel === RequestChannels.cancel ? { ok: false, error: { code: 'NO_JOB', message: 'gone' } } : { ok: true, value: { channel, args } };
    },
    on: (channel: string, fn: (...a: any[]) => void) => state.listeners.set(channel, fn),
    removeListener: (channel: string) => state.listeners.delete(channel),
  },
  webUtils: { getPathForFile: () => '' },
}));

/** The calls of the contract, by name, plus the one event subscription. */
const expectedKeys = [...Object.keys(contract), 'onJobEvent'].sort();
/** An argument list each call's schema accepts (what the page would send). */
const sample: Record<string, unknown[]> = {
  appVersion: [],
  openFolder: [],
  recentFolders: [],
  openRecent: ['/data/lab'],
  closeFolder: ['0123456789abcdef'],
  scan: ['0123456789abcdef'],
  details: [{ folder: '0123456789abcdef', file: 'a.vhd' }],
  costs: [[{ folder: '0123456789abcdef', file: 'a.vhd' }]],
  setLabel: [{ folder: '0123456789abcdef', file: 'a.vhd' }, { name: 'n' }],
  chooseOutput: ['out.vhd', '0123456789abcdef'],
  chooseInput: ['image.raw', '0123456789abcdef'],
  plan: [{ op: 'merge', disk: { folder: '0123456789abcdef', file: 'a.vhd' } }],
  start: [{ op: 'merge', disk: { folder: '0123456789abcdef', file: 'a.vhd' } }],
  cancel: ['0123456789abcdef'],
  resume: [{ folder: '0123456789abcdef', file: '.vhdsnap-journal-a.vhd.json' }],
  rollback: [{ folder: '0123456789abcdef', file: '.vhdsnap-journal-a.vhd.json' }],
};

let preloadApi: Record<string, (...a: unknown[]) => Promise<unknown>>;

beforeAll(async () => {
  await import('../../electron/preload');
  preloadApi = state.exposed.get('vhdsnap');
});

describe('the channel list', () => {
  it('is the contract: same calls, same channel names, and every sample passes its schema', () => {
    expect(Object.keys(contract).sort()).toEqual(Object.keys(RequestChannels).sort());
    for (const [method, spec] of Object.entries(contract)) {
      expect(spec.channel).toBe(RequestChannels[method as keyof typeof RequestChannels]);
      if (method !== 'dropFolder') expect(spec.args.safeParse(sample[method]).success, method).toBe(true);
    }
  });
});

describe('the preload (window.vhdsnap in the app)', () => {
  it('exposes exactly the contract calls, onJobEvent and (the desktop app only) onMenuCommand', () => {
    expect(Object.keys(preloadApi).sort()).toEqual([...expectedKeys, 'onMenuCommand'].sort());
  });

  it('relays the native menu’s commands, and drops anything else sent on that channel', () => {
    const seen: unknown[] = [];
    const off = preloadApi.onMenuCommand((c: unknown) => seen.push(c)) as unknown as () => void;
    const send = (c: unknown) => state.listeners.get(EventChannels.menuCommand)!({}, c);
    send({ kind: 'action', action: 'snapshot' });
    send({ kind: 'app', command: 'open-folder' });
    send({ kind: 'app', command: 'format-disk' });
    send({ kind: 'action', action: 'snapshot', extra: 1 });
    send({ kind: 'action', action: '../x' });
    send('snapshot');
    send(null);
    off();
    expect(state.listeners.has(EventChannels.menuCommand)).toBe(false);
    expect(seen).toEqual([
      { kind: 'action', action: 'snapshot' },
      { kind: 'app', command: 'open-folder' },
    ]);
  });

  it('sends each call on its channel with its arguments, and rejects an error answer as {code, message}', async () => {
    for (const method of Object.keys(sample)) {
      if (method === 'cancel') continue;
      const channel = RequestChannels[method as keyof typeof RequestChannels];
      expect(await preloadApi[method](...sample[method]), method).toEqual({ channel, args: sample[method] });
    }
    await expect(preloadApi.cancel('0123456789abcdef')).rejects.toEqual({ name: 'ApiError', code: 'NO_JOB', message: 'gone' });
  });

  it('leaves an omitted optional argument out instead of sending undefined', async () => {
    expect(await preloadApi.chooseOutput('out.vhd')).toEqual({ channel: RequestChannels.chooseOutput, args: ['out.vhd'] });
    expect(await preloadApi.chooseOutput('out.vhd', undefined)).toEqual({ channel: RequestChannels.chooseOutput, args: ['out.vhd'] });
  });

  it('refuses a drop that is not a real file before asking main, and relays job events', async () => {
    const before = state.invoked.length;
    await expect(preloadApi.dropFolder({})).rejects.toMatchObject({ code: 'NOT_A_FOLDER' });
    expect(state.invoked.length).toBe(before);
    const seen: unknown[] = [];
    const off = preloadApi.onJobEvent((e: unknown) => seen.push(e)) as unknown as () => void;
    state.listeners.get(EventChannels.jobEvent)!({}, { jobId: 'j', kind: 'cancelled', message: 'm' });
    off();
    expect(state.listeners.has(EventChannels.jobEvent)).toBe(false);
    expect(seen).toEqual([{ jobId: 'j', kind: 'cancelled', message: 'm' }]);
  });
});

describe('the WebSocket client (window.vhdsnap under vhdsnap serve)', () => {
  function socketApi() {
    const sent: { id: number; method: string; args: unknown[] }[] = [];
    const sock: SocketLike = {
      readyState: 1,
      send: (t) => sent.push(JSON.parse(t)),
      close: () => {},
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
    };
    return { api: createWsApi('ws://127.0.0.1:1/ws?token=t', () => sock), sent, sock };
  }

  it('has exactly the contract calls and onJobEvent (and close, its own)', () => {
    const { api } = socketApi();
    expect(
      Object.keys(api)
        .filter((k) => k !== 'close')
        .sort(),
    ).toEqual(expectedKeys);
  });

  it('sends each call as its method name with its arguments and answers with the envelope value', async () => {
    const { api, sent, sock } = socketApi();
    const calls = api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const method of Object.keys(sample)) {
      const answer = calls[method](...sample[method]);
      const msg = sent.at(-1)!;
      expect([msg.method, msg.args], method).toEqual([method, sample[method]]);
      sock.onmessage!({ data: JSON.stringify({ id: msg.id, result: { ok: true, value: `${method}!` } }) });
      expect(await answer).toBe(`${method}!`);
    }
    void calls.chooseOutput('out.vhd', undefined);
    expect(sent.at(-1)!.args).toEqual(['out.vhd']);
  });
});

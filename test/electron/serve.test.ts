// `vhdsnap serve`'s bridge: token, Host and Origin checks on HTTP and on the
// WebSocket, and the browser shim round-tripping real calls and job events.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FolderGrant, FolderView, JobEvent } from '../../server/api';
import { startServer, type RunningServer } from '../../server/serve';
import { createDynamic } from '../../core/ops/create';
import { createWsApi, type SocketLike } from '../../renderer/src/bridge/ws-api';
import { useTmpDir } from '../support/tmp';
import { bundledWorker } from './support';

const tmp = useTmpDir('vhdsnap-serve-');
let server: RunningServer | null = null;

beforeAll(async () => {
  await bundledWorker();
});

afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(): Promise<{ s: RunningServer; disks: string; origin: string }> {
  const dist = tmp.file('dist');
  mkdirSync(path.join(dist, 'assets'), { recursive: true });
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(tmp.file('secret.txt'), 'not for the browser');
  const disks = tmp.file('disks');
  mkdirSync(disks);
  server = await startServer({ port: 0, folders: [disks], distDir: dist, workerPath: await bundledWorker(), version: '1.2.3' });
  return { s: server, disks, origin: `http://127.0.0.1:${server.port}` };
}

function get(
  port: number,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

/** The HTTP status a WebSocket handshake gets (101 when it opens). */
function handshake(url: string, origin?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => resolve(-1));
  });
}

describe('vhdsnap serve', () => {
  it('listens on 127.0.0.1 and prints a URL carrying a long random token', async () => {
    const { s } = await start();
    expect(s.url).toBe(`http://127.0.0.1:${s.port}/?token=${s.token}`);
    expect(s.token).toMatch(/^[0-9a-f]{48}$/);
  });

  it('serves the page only with the token, then its assets by cookie', async () => {
    const { s } = await start();
    expect((await get(s.port, '/')).status).toBe(401);
    expect((await get(s.port, '/?token=' + 'a'.repeat(48))).status).toBe(401);
    expect((await get(s.port, '/assets/app.js')).status).toBe(401);
    const page = await get(s.port, `/?token=${s.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>app</title>');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const cookie = String(page.headers['set-cookie']).split(';')[0];
    expect(cookie).toBe(`vhdsnap_token=${s.token}`);
    const asset = await get(s.port, '/assets/app.js', { cookie });
    expect(asset).toMatchObject({ status: 200, body: 'console.log(1)' });
    expect(asset.headers['content-type']).toMatch(/javascript/);
    expect((await get(s.port, '/assets/app.js', { cookie: 'vhdsnap_token=nope' })).status).toBe(401);
  });

  it('refuses a foreign Host or Origin, and paths outside the app', async () => {
    const { s } = await start();
    const q = `/?token=${s.token}`;
    expect((await get(s.port, q, { host: `evil.example:${s.port}` })).status).toBe(403);
    expect((await get(s.port, q, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(s.port, q, { origin: `http://127.0.0.1:${s.port}` })).status).toBe(200);
    const escaped = await get(s.port, `/%2e%2e/secret.txt?token=${s.token}`);
    expect([403, 404]).toContain(escaped.status);
    expect(escaped.body).not.toContain('not for the browser');
  });

  it('opens the WebSocket only with the token and our Origin', async () => {
    const { s, origin } = await start();
    const ws = `ws://127.0.0.1:${s.port}/ws`;
    expect(await handshake(ws, origin)).toBe(401);
    expect(await handshake(`${ws}?token=${'0'.repeat(48)}`, origin)).toBe(401);
    expect(await handshake(`${ws}?token=${s.token}`, 'http://evil.example')).toBe(403);
    expect(await handshake(`${ws}?token=${s.token}`, `http://127.0.0.1:${s.port + 1}`)).toBe(403);
    expect(await handshake(`${ws}?token=${s.token}`)).toBe(403); // no Origin: not a browser page of ours
    expect(await handshake(`${ws}?token=${s.token}`, origin)).toBe(101);
  });

  it('round-trips calls and job events through the browser shim', async () => {
    const { s, disks, origin } = await start();
    await createDynamic(path.join(disks, 'a.vhd'), 8 * 1024 * 1024);
    const api = createWsApi(`ws://127.0.0.1:${s.port}/ws?token=${s.token}`, (url) => new WebSocket(url, { origin }) as unknown as SocketLike);
    try {
      expect(await api.appVersion()).toBe('1.2.3');
      expect(await api.recentFolders()).toEqual([{ path: disks, name: 'disks' }]);
      await expect(api.openFolder()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      await expect(api.openRecent('/')).rejects.toMatchObject({ code: 'NOT_RECENT' });
      const g = (await api.openRecent(disks)) as FolderGrant;
      const view = (await api.scan(g.id)) as FolderView;
      expect(view.roots.map((r) => r.ref)).toEqual([{ folder: g.id, file: 'a.vhd' }]);
      await expect(api.details({ folder: g.id, file: '../a.vhd' })).rejects.toMatchObject({ code: 'BAD_ARGS' });

      writeFileSync(path.join(disks, 'flat.vhd'), 'taken');
      const out = await api.chooseOutput('flat.vhd', g.id);
      expect(out).toMatchObject({ path: path.join(disks, 'flat-1.vhd'), name: 'flat-1.vhd' });

      const events: JobEvent[] = [];
      const done = new Promise<JobEvent>((resolve) => {
        api.onJobEvent((e) => {
          events.push(e);
          if (e.kind !== 'progress') resolve(e);
        });
      });
      const { jobId } = await api.start({ op: 'check', disk: view.roots[0].ref, deep: false });
      const end = await done;
      expect(end).toMatchObject({ jobId, kind: 'done', outcome: { op: 'check' } });
      if (end.kind !== 'done' || end.outcome.op !== 'check') throw new Error('not a check result');
      expect(end.outcome.result.map((r) => r.path)).toEqual([path.join(disks, 'a.vhd')]);
    } finally {
      api.close();
    }
  });
});

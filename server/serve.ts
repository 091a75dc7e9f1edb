// `vhdsnap serve`: the app in a browser, for machines without a desktop. An
// HTTP server on 127.0.0.1 only serves the built renderer, and a WebSocket
// carries the same API calls and job events to the same handlers as Electron's
// IPC. Nothing is reachable without the random token printed on start; the
// Host and Origin headers must name this server (no other site, no DNS
// rebinding). There is no folder dialog here: folders given on the command
// line are granted up front and listed as recent.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as nodePath from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Envelope, JobEvent, WsMessage, WsRequest } from './api.js';
import { freeName, Grants } from './grants.js';
import { contract, type ApiMethod } from './contract.js';
import { ApiFailure } from './errors.js';
import { createHandlers, type Dialogs } from './handlers.js';
import { dispatch } from './dispatch.js';
import { JobManager, workerRunner, type JobRunner } from './jobs.js';
import { RecentFolders } from './recent.js';
import { CONTENT_SECURITY_POLICY } from './csp.js';

export interface ServeOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Folders granted up front (and listed as recent). */
  folders?: string[];
  /** The built renderer (dist/renderer). */
  distDir: string;
  /** The bundled job worker (dist/electron/job-worker.cjs), or a runner of one's own. */
  workerPath?: string;
  runner?: JobRunner;
  version?: string;
}

export interface RunningServer {
  /** Open this in a browser: it carries the token. */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

export const WS_PATH = '/ws';
const COOKIE = 'vhdsnap_token';
const MAX_MESSAGE = 1024 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

function sameSecret(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: http.IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return null;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const token = randomBytes(24).toString('hex');
  const distDir = nodePath.resolve(opts.distDir);
  const grants = new Grants();
  const recent = new RecentFolders(null);
  for (const f of [...(opts.folders ?? [])].reverse()) {
    const g = await grants.grantFolder(nodePath.resolve(f));
    await recent.add(g.path, g.name);
  }
  const dialogs: Dialogs = {
    async pickFolder() {
      throw new ApiFailure(
        'UNSUPPORTED',
        'there is no folder dialog in the browser: start `vhdsnap serve --folder <dir>`; those folders are in the recent list',
      );
    },
    async pickOutput(suggested, near) {
      const folder = near ?? grants.listFolders()[0];
      if (!folder) throw new ApiFailure('UNSUPPORTED', 'open a folder first: the output is written next to the disks');
      return freeName(folder.path, suggested);
    },
    // No dialog: the file the page names, inside an open folder (the page cannot reach any other).
    async pickInput(name, near) {
      const folder = near ?? grants.listFolders()[0];
      if (!folder) throw new ApiFailure('UNSUPPORTED', 'open a folder first: the file to write is read from it');
      if (name === undefined) throw new ApiFailure('UNSUPPORTED', 'name the file to write: there is no open dialog here');
      const p = nodePath.join(folder.path, name);
      const st = await fsp.stat(p).catch(() => null);
      if (!st?.isFile()) throw new ApiFailure('NOT_FOUND', `${name} is not a file in ${folder.name}`);
      return p;
    },
  };
  const runner = opts.runner ?? (opts.workerPath ? workerRunner(opts.workerPath) : null);
  if (!runner) throw new Error('startServer: workerPath or runner is required');
  const jobs = new JobManager(runner);
  const handlers = createHandlers({ version: opts.version ?? '0.0.0', grants, recent, jobs, dialogs });

  const server = http.createServer();
  let port = 0;
  const hosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const origins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  /** The Host header must be ours (DNS rebinding), and an Origin, when sent, too. */
  const rightPlace = (req: http.IncomingMessage, originRequired: boolean) => {
    if (!hosts().has(req.headers.host ?? '')) return false;
    const origin = req.headers.origin;
    if (origin === undefined) return !originRequired;
    return origins().has(origin);
  };

  const refuse = (res: http.ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(text + '\n');
  };

  server.on('request', (req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method not allowed');
      if (!rightPlace(req, false)) return refuse(res, 403, 'wrong host or origin');
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      const fromQuery = url.searchParams.get('token');
      const authorised = sameSecret(fromQuery, token) || sameSecret(cookieToken(req), token);
      if (!authorised) return refuse(res, 401, 'this address needs the token printed by `vhdsnap serve`');
      let rel: string;
      try {
        rel = decodeURIComponent(url.pathname);
      } catch {
        return refuse(res, 400, 'bad path');
      }
      if (rel.includes('\0')) return refuse(res, 400, 'bad path');
      if (rel === '/' || rel === '') rel = '/index.html';
      const file = nodePath.resolve(distDir, '.' + rel);
      if (file !== distDir && !file.startsWith(distDir + nodePath.sep)) return refuse(res, 403, 'outside the app');
      let body: Buffer;
      try {
        body = await fsp.readFile(file);
      } catch {
        return refuse(res, 404, 'not found');
      }
      const headers: http.OutgoingHttpHeaders = {
        'Content-Type': TYPES[nodePath.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
        'Content-Security-Policy': CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`),
        'X-Content-Type-Options': 'nosniff',
        'X-Frame-Options': 'DENY',
        // The token is in the page's URL: never send it on as a referrer.
        'Referrer-Policy': 'no-referrer',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Resource-Policy': 'same-origin',
      };
      // The page's own assets are fetched without the query: a cookie carries the token for them.
      if (fromQuery) headers['Set-Cookie'] = `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch(() => {
      if (!res.headersSent) refuse(res, 500, 'internal error');
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  const clients = new Set<WebSocket>();

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const deny = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== WS_PATH) return deny(404, 'Not Found');
    // A browser always sends Origin on a WebSocket: require it to be this server.
    if (!rightPlace(req, true)) return deny(403, 'Forbidden');
    if (!sameSecret(url.searchParams.get('token'), token)) return deny(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data, isBinary) => {
      void (async () => {
        let msg: WsRequest;
        try {
          if (isBinary) throw new Error('binary');
          msg = JSON.parse(data.toString()) as WsRequest;
          if (!msg || typeof msg !== 'object' || typeof msg.id !== 'number' || typeof msg.method !== 'string' || !Array.isArray(msg.args))
            throw new Error('shape');
        } catch {
          ws.send(
            JSON.stringify({ id: null, result: { ok: false, error: { code: 'BAD_MESSAGE', message: 'expected {id, method, args}' } } } satisfies WsMessage),
          );
          return;
        }
        const result: Envelope<unknown> = Object.hasOwn(contract, msg.method)
          ? await dispatch(handlers, msg.method as ApiMethod, msg.args)
          : { ok: false, error: { code: 'NO_METHOD', message: `no such call: ${msg.method}` } };
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id: msg.id, result } satisfies WsMessage));
      })();
    });
  });

  const unsubscribe = jobs.subscribe((event: JobEvent) => {
    const text = JSON.stringify({ event } satisfies WsMessage);
    for (const c of clients) if (c.readyState === c.OPEN) c.send(text);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    token,
    port,
    async close() {
      unsubscribe();
      for (const c of clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

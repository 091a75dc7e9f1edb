// The built `vhdsnap serve` (npm test builds first): serves dist/renderer with
// its assets, answers API calls over the WebSocket, and stops cleanly on SIGINT.
// It is bundled apart from the rest of the CLI (scripts/build.mjs).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useTmpDir } from '../support/tmp';

const root = path.resolve(import.meta.dirname, '..', '..');
const tmp = useTmpDir('vhdsnap-serve-cli-');
let child: ChildProcess | null = null;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = null;
});

function startCli(args: string[]): Promise<{ url: string; proc: ChildProcess; output: () => string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(root, 'bin/vhdsnap.cjs'), 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no address: ${out}`)), 15_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], proc, output: () => out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

describe('vhdsnap serve (built CLI)', () => {
  it('serves the built renderer and the API, and stops on SIGINT', async () => {
    expect(existsSync(path.join(root, 'dist/cli/vhdsnap.cjs')), 'run npm run build').toBe(true);
    const folder = tmp.file('disks');
    mkdirSync(folder);
    const { url, proc, output } = await startCli(['--port', '0', '--folder', folder]);

    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toBe(readFileSync(path.join(root, 'dist/renderer/index.html'), 'utf8'));
    const cookie = page.headers.get('set-cookie')!.split(';')[0];
    const script = /<script[^>]+src="\.\/([^"]+)"/.exec(html)![1];
    const asset = await fetch(new URL(script, url.split('?')[0]), { headers: { cookie } });
    expect(asset.status).toBe(200);
    expect(await asset.text()).toBe(readFileSync(path.join(root, 'dist/renderer', script), 'utf8'));
    expect((await fetch(url.split('?')[0])).status).toBe(401);

    const origin = new URL(url).origin;
    const token = new URL(url).searchParams.get('token');
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws?token=${token}`, { origin });
    const reply = await new Promise<any>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => ws.send(JSON.stringify({ id: 7, method: 'recentFolders', args: [] })));
      ws.on('message', (d) => resolve(JSON.parse(d.toString())));
    });
    ws.close();
    expect(reply).toEqual({ id: 7, result: { ok: true, value: [{ path: folder, name: 'disks' }] } });

    const code = await new Promise<number | null>((resolve) => {
      proc.removeAllListeners('exit');
      proc.on('exit', (c) => resolve(c));
      proc.kill('SIGINT');
    });
    expect(code).toBe(0);
    expect(output()).toContain('stopped');
  });

  it('lives in a bundle of its own: the main CLI bundle carries neither classic zod nor ws (only zod/mini, for the descriptors)', () => {
    const main = readFileSync(path.join(root, 'dist/cli/vhdsnap.cjs'), 'utf8');
    const serve = readFileSync(path.join(root, 'dist/cli/vhdsnap-serve.cjs'), 'utf8');
    // Classic zod's schema classes (zod/mini names them ZodMini…; zod's shared core names them $Zod…).
    const classic = /[^$\w]ZodObject\b/;
    expect(classic.test(main), 'classic zod in vhdsnap.cjs').toBe(false);
    expect(classic.test(serve), 'classic zod in vhdsnap-serve.cjs').toBe(true);
    expect(main.includes('WebSocketServer'), 'ws in vhdsnap.cjs').toBe(false);
    expect(serve.includes('WebSocketServer'), 'ws in vhdsnap-serve.cjs').toBe(true);
    expect(main).toContain('ZodMiniObject');
    expect(main).toContain('./vhdsnap-serve.cjs');
  });

  it('refuses a bad port as a usage error (exit 2)', async () => {
    const proc = spawn(process.execPath, [path.join(root, 'bin/vhdsnap.cjs'), 'serve', '--port', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (c) => (err += c));
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(2);
    // Reported by the serve bundle itself, in the same one-line form as every command.
    expect(err).toBe('vhdsnap serve: --port must be a number from 0 to 65535, not "x" [USAGE]\nrun "vhdsnap --help" for usage\n');
  });
});

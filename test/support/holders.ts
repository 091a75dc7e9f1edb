// Other programs holding a disk open, for the in-use guard's tests
// (core/inuse.ts): an interactive `qemu-io -f vpc` (OFD locks plus a
// descriptor, like a running VM) and a plain Node child with one descriptor
// and no lock. Each is ready only once the kernel shows it holding the file,
// checked here without the code under test. `useHolders` kills them after
// every test.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { afterEach } from 'vitest';

export interface Holder {
  pid: number;
  /** What /proc/PID/comm says, as the guard must name it. */
  program: string;
  kill(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
}

async function waitFor(what: string, child: ChildProcess, ok: () => boolean, log: () => string): Promise<void> {
  const until = Date.now() + READY_TIMEOUT_MS;
  while (!ok()) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before holding the file: ${log()}`);
    if (Date.now() > until) throw new Error(`${what} did not hold the file within ${READY_TIMEOUT_MS} ms: ${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when /proc/locks lists a lock of pid `pid` (or an OFD lock, pid -1) on the inode of `path`. */
export function lockShown(path: string, pid: number): boolean {
  const ino = statSync(path).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((l) => {
      const f = l.trim().split(/\s+/);
      const i = f[1] === '->' ? 1 : 0;
      return (f[4 + i] === String(pid) || f[4 + i] === '-1') && f[5 + i]?.split(':')[2] === String(ino);
    });
}

/**
 * `qemu-io -f vpc <path>` at its prompt, reading commands from a pipe kept
 * open (so it waits, holding the image), ready once its lock is in /proc/locks.
 */
export async function holdWithQemuIo(path: string): Promise<Holder> {
  const child = spawn('qemu-io', ['-f', 'vpc', path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const h: Holder = { pid: child.pid!, program: 'qemu-io', kill: stopper(child) };
  try {
    await waitFor(
      'qemu-io',
      child,
      () => lockShown(path, child.pid!),
      () => log,
    );
  } catch (err) {
    await h.kill();
    throw err;
  }
  return h;
}

/** True when descriptor `fd` of `pid` leads to `path` (/proc/PID/fd/FD names the file it has open). */
export function fdShown(pid: number, fd: number, path: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`) === realpathSync(path);
  } catch {
    return false;
  }
}

/** A Node child holding `path` open read-only (a descriptor, no lock), ready once /proc/PID/fd shows it. */
export async function holdWithNode(path: string): Promise<Holder> {
  const code = 'const fd = require("fs").openSync(process.argv[1], "r"); process.stdout.write("open " + fd + "\\n"); setInterval(() => {}, 1 << 30);';
  const child = spawn(process.execPath, ['-e', code, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const h: Holder = { pid: child.pid!, program: 'node', kill: stopper(child) };
  try {
    await waitFor(
      'node',
      child,
      () => /^open \d+\n/.test(log) && fdShown(child.pid!, Number(/^open (\d+)/.exec(log)![1]), path),
      () => log,
    );
  } catch (err) {
    await h.kill();
    throw err;
  }
  return h;
}

/** Registers an afterEach that kills every holder started in the test. */
export function useHolders(): { qemuIo(path: string): Promise<Holder>; node(path: string): Promise<Holder> } {
  const live: Holder[] = [];
  afterEach(async () => {
    await Promise.all(live.splice(0).map((h) => h.kill()));
  });
  const track = async (h: Promise<Holder>) => {
    const x = await h;
    live.push(x);
    return x;
  };
  return { qemuIo: (p) => track(holdWithQemuIo(p)), node: (p) => track(holdWithNode(p)) };
}

// The in-use guard: is another program using a disk we are about to change?
// A VM writing into a file we rename into a read-only snapshot (or merge
// into, or delete) keeps writing into that inode, and the chain silently
// loses its writes. So every operation that writes, renames, links or deletes
// a disk asks here first, for all its paths in one scan.
//
// "Using" is decided by file identity (dev+ino, core/io/identity.ts), never by
// name: a hard link or a symlink to the file is the file.
// - Linux: an open descriptor in another process (/proc/*/fd/*), or a POSIX,
//   flock or OFD lock on the inode (/proc/locks). QEMU holds OFD locks, whose
//   owner pid the kernel shows as -1, but it also holds the descriptor.
// - macOS: lsof, when present, with a short timeout (open descriptors of the
//   processes this user may inspect).
// - Windows: nothing is scanned. A hypervisor opens its disks without sharing,
//   so our own open or rename fails with a sharing violation; the I/O layer
//   maps that to the same IN_USE refusal.
// This process never counts: the app's own handles must not refuse its jobs.
import { promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { IN_USE, RefusedError, type Finding } from './errors.js';
import { fileIdentityOrNull, identityKey, type FileIdentity } from './io/identity.js';

export interface Holder {
  /** null when the kernel does not say (an OFD lock seen without its descriptor). */
  pid: number | null;
  /** The program's name (/proc/PID/comm, lsof's command), null when unreadable. */
  program: string | null;
}

export interface InUse {
  /** The path as the caller gave it. */
  path: string;
  holders: Holder[];
}

/** What a platform scan is given: the identities to look for, keyed by identityKey. */
export interface Wanted {
  ids: Map<string, FileIdentity>;
  /** Absolute path per key (lsof is given paths, not identities). */
  paths: Map<string, string>;
}

export type Scanner = (w: Wanted) => Promise<Map<string, Holder[]>>;

/**
 * Other processes using each of `paths` (one scan for all of them). Paths
 * that do not exist (yet) are not in use. Only paths with holders are listed.
 * `scanner` is this platform's; tests pass another platform's to run it here.
 */
export async function findInUse(paths: string[], scanner: Scanner = platformScanner()): Promise<InUse[]> {
  const ids = new Map<string, FileIdentity>();
  const absOf = new Map<string, string>();
  const keyOf: [string, string][] = [];
  for (const p of paths) {
    const id = await fileIdentityOrNull(p);
    // Inode 0: identity unknown on this filesystem; nothing can be matched.
    if (!id || id.ino === 0n) continue;
    const key = identityKey(id, p);
    ids.set(key, id);
    absOf.set(key, nodePath.resolve(p));
    keyOf.push([p, key]);
  }
  if (ids.size === 0) return [];
  const found = await scanner({ ids, paths: absOf });
  const out: InUse[] = [];
  const seen = new Set<string>();
  for (const [p, key] of keyOf) {
    const holders = found.get(key);
    if (!holders || holders.length === 0 || seen.has(p)) continue;
    seen.add(p);
    out.push({ path: p, holders });
  }
  return out;
}

function platformScanner(): Scanner {
  if (process.platform === 'linux') return (w) => scanProc(w);
  if (process.platform === 'darwin') return scanLsof;
  if (process.platform === 'win32') return scanWindows;
  return async () => new Map();
}

/**
 * The Windows hook. Nothing is scanned yet: a hypervisor opens its disks
 * without sharing, so our open or rename fails with a sharing violation, and
 * the I/O layer (fsError in core/io/file.ts) refuses it as IN_USE. A scan (the Restart
 * Manager names the holders) would go here.
 */
const scanWindows: Scanner = async () => new Map();

// --- the words -------------------------------------------------------------

const VM_PROGRAM = /qemu|kvm|virtualbox|vbox|vmware|vmx|hyper-?v|vmwp|bhyve|xen|crosvm|firecracker|cloud-hypervisor|utm/i;

/**
 * The IN_USE refusal for held files, in the person's words (file name,
 * program, pid). The I/O layer's refusal of a sharing violation (fsError in
 * core/io/file.ts) has the same code but its own words: it names the full
 * path and the call that failed.
 */
export function inUseError(path: string, holders: Holder[] = []): RefusedError {
  const u: InUse = { path, holders };
  const message =
    holders.length > 0 ? inUseMessage(u) : `‘${nodePath.basename(path)}’ is in use by another program: shut the VM down or close the program first`;
  return new RefusedError(IN_USE, message, { path });
}

function holderText(h: Holder): string {
  if (h.pid === null) return 'a process the system does not name (it holds a lock on the file)';
  return `${h.program ?? 'a process'} (pid ${h.pid})`;
}

function listText(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** `‘win10.vhd’ is in use by qemu-system-x86 (pid 4242)` */
function inUseText(u: InUse): string {
  return `‘${nodePath.basename(u.path)}’ is in use by ${listText(u.holders.map(holderText))}`;
}

/** The refusal, in the words a person would use: file, program, pid, and what to do. */
export function inUseMessage(u: InUse): string {
  const vm = u.holders.some((h) => h.program !== null && VM_PROGRAM.test(h.program));
  const what = vm ? 'shut the VM down first' : u.holders.length > 1 ? 'close those programs first' : 'close that program first';
  return `${inUseText(u)}: ${what}`;
}

export function movingTargetMessage(u: InUse): string {
  return `${inUseText(u)}: the result is a snapshot of a moving target (it may change while and after it is read)`;
}

/**
 * How long a refusal waits for holders to go: a passing reader (another
 * vhdsnap planning the same disk before its lock is refused, a backup tool
 * hashing it) closes within moments; a VM or an editor does not. Rescans
 * after each delay, and refuses only what is still held after the last.
 */
export const SETTLE_DELAYS_MS = [100, 300, 600];

async function stillInUse(used: InUse[], delays: readonly number[] = SETTLE_DELAYS_MS): Promise<InUse[]> {
  for (const ms of delays) {
    if (used.length === 0) break;
    await new Promise((r) => setTimeout(r, ms));
    used = await findInUse(used.map((u) => u.path));
  }
  return used;
}

/** Plan refusals (code IN_USE) for every one of `paths` another process keeps using. */
export async function inUseRefusals(paths: string[]): Promise<{ code: string; message: string }[]> {
  return (await stillInUse(await findInUse(paths))).map((u) => ({ code: IN_USE, message: inUseMessage(u) }));
}

/** Throws RefusedError IN_USE naming every held path and its holders. */
export async function assertNotInUse(paths: string[]): Promise<void> {
  await guardAndWarn(paths, []);
}

/**
 * One scan for an operation that writes some paths and reads others (flatten):
 * throws IN_USE when a written path is in use, else returns the readers' warnings.
 */
export async function guardAndWarn(writes: string[], reads: string[]): Promise<Finding[]> {
  const used = await findInUse([...writes, ...reads]);
  const written = new Set(writes.map((p) => nodePath.resolve(p)));
  const refused = await stillInUse(used.filter((u) => written.has(nodePath.resolve(u.path))));
  if (refused.length === 1) throw inUseError(refused[0].path, refused[0].holders);
  if (refused.length > 1) throw new RefusedError(IN_USE, refused.map(inUseMessage).join('; '), { path: refused[0].path });
  return used.map((u) => ({ code: IN_USE, message: movingTargetMessage(u) }));
}

/** Warnings (code IN_USE) for reading operations: the file may change under the reader. */
export async function movingTargetWarnings(paths: string[]): Promise<Finding[]> {
  return (await findInUse(paths)).map((u) => ({ code: IN_USE, message: movingTargetMessage(u) }));
}

/**
 * Adds the moving-target warning to the report of each of `given` that another
 * program uses (check's reports, info): one scan. Reports are matched by path.
 * Given the reports still being made, the scan runs while they are (it mostly
 * waits on the kernel: see scanProc).
 */
export async function warnIfMoving<R extends { path: string; warnings: Finding[] }>(making: R[] | Promise<R[]>, given: string[]): Promise<R[]> {
  const scan = findInUse(given);
  // Awaited below; when the reports fail, theirs is the error to report.
  scan.catch(() => undefined);
  const reports = await making;
  for (const u of await scan) {
    const abs = nodePath.resolve(u.path);
    const r = reports.find((x) => nodePath.resolve(x.path) === abs);
    if (r && !r.warnings.some((w) => w.code === IN_USE)) r.warnings.push({ code: IN_USE, message: movingTargetMessage(u) });
  }
  return reports;
}

// --- Linux -----------------------------------------------------------------

/** glibc's gnu_dev_major/minor: how Linux packs major:minor into st_dev. */
export function linuxMajorMinor(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  };
}

/** /proc/locks lines: `1: [-> ]KIND MODE ACCESS PID MAJ:MIN:INODE START END` (major, minor in hex). */
export function parseProcLocks(text: string): { pid: number | null; major: bigint; minor: bigint; ino: bigint }[] {
  const out: { pid: number | null; major: bigint; minor: bigint; ino: bigint }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(?:->\s+)?\S+\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/i.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    out.push({ pid: pid > 0 ? pid : null, major: BigInt(`0x${m[2]}`), minor: BigInt(`0x${m[3]}`), ino: BigInt(m[4]) });
  }
  return out;
}

function readComm(proc: string, pid: number): string | null {
  try {
    return readFileSync(`${proc}/${pid}/comm`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function addHolder(found: Map<string, Holder[]>, key: string, h: Holder): void {
  const list = found.get(key) ?? [];
  if (h.pid !== null ? list.some((x) => x.pid === h.pid) : list.length > 0) return;
  found.set(key, [...list, h]);
}

/** /proc/locks as text; empty where there is none (a restricted container): the descriptor pass then stands alone. */
function readLocks(proc: string): Promise<string> {
  if (proc === '/proc' && earlyLocks) {
    const text = earlyLocks;
    earlyLocks = null;
    return text;
  }
  return fsp.readFile(`${proc}/locks`, 'utf8').catch(() => '');
}

let earlyLocks: Promise<string> | null = null;

/**
 * Starts reading /proc/locks now, for the next scan of /proc to use (once).
 * The read mostly waits on the kernel (see scanProc), so the CLI starts it
 * before its modules load, for the moving-target warning of info and check
 * only: such a scan then sees the locks as they were a few ms earlier. A
 * writer's guard must see them as they are when it checks, so no writing
 * command calls this.
 */
export function prefetchLocks(): void {
  if (process.platform === 'linux') earlyLocks = readLocks('/proc');
}

/**
 * One pass over every process's descriptors, then /proc/locks. Synchronous
 * calls, because thousands of tiny stats cost far less without a thread-pool
 * round trip each; the loop yields between batches of processes so a caller's
 * event loop (the app's main process) is never held for long. /proc/locks is
 * read meanwhile on the thread pool: the kernel makes each reader of it wait
 * for an RCU grace period (10-20 ms on a busy VM), more than the whole
 * descriptor pass.
 */
export async function scanProc(w: Wanted, proc = '/proc'): Promise<Map<string, Holder[]>> {
  const locksText = readLocks(proc);
  const found = new Map<string, Holder[]>();
  // Lookup by "dev:ino" for the fd pass, by "major:minor:ino" for the locks.
  const byDevIno = new Map<string, string>();
  const byMajMinIno = new Map<string, string>();
  for (const [key, id] of w.ids) {
    byDevIno.set(`${id.dev}:${id.ino}`, key);
    const { major, minor } = linuxMajorMinor(id.dev);
    byMajMinIno.set(`${major}:${minor}:${id.ino}`, key);
  }
  let pids: number[];
  try {
    pids = readdirSync(proc)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((p) => p !== process.pid);
  } catch {
    await locksText;
    return found;
  }
  let n = 0;
  for (const pid of pids) {
    if (++n % 64 === 0) await new Promise((r) => setImmediate(r));
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or another user's process
    }
    for (const fd of fds) {
      let st;
      try {
        // stat follows the magic link to the open file itself, even when its name was unlinked or renamed.
        st = statSync(`${proc}/${pid}/fd/${fd}`, { bigint: true, throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      const key = byDevIno.get(`${st.dev}:${st.ino}`);
      if (key) addHolder(found, key, { pid, program: readComm(proc, pid) });
    }
  }
  for (const l of parseProcLocks(await locksText)) {
    if (l.pid === process.pid) continue;
    const key = byMajMinIno.get(`${l.major}:${l.minor}:${l.ino}`);
    if (key) addHolder(found, key, { pid: l.pid, program: l.pid !== null ? readComm(proc, l.pid) : null });
  }
  return found;
}

// --- macOS -----------------------------------------------------------------

const LSOF_TIMEOUT_MS = 2000;

/**
 * `lsof -F pcn` output: `p<pid>` starts a process, `c<command>` names it,
 * `n<name>` is one of its files matching the arguments.
 */
export function parseLsof(text: string): { pid: number; program: string | null; name: string }[] {
  const out: { pid: number; program: string | null; name: string }[] = [];
  let pid = 0;
  let program: string | null = null;
  for (const line of text.split('\n')) {
    const tag = line[0];
    const v = line.slice(1);
    if (tag === 'p') {
      pid = Number(v);
      program = null;
    } else if (tag === 'c') program = v || null;
    else if (tag === 'n' && pid > 0) out.push({ pid, program, name: v });
  }
  return out;
}

/** Best effort: no lsof, a timeout or an error means nothing is detected (see the README). */
export async function scanLsof(w: Wanted): Promise<Map<string, Holder[]>> {
  const paths = [...w.paths.values()];
  // Loaded here, not at the top: child_process costs every CLI start ~3 ms, and lsof is macOS's path only.
  const { execFile } = await import('node:child_process');
  const text = await new Promise<string>((resolve) => {
    // lsof exits 1 when no process has any of the files open; its output is still complete.
    execFile('lsof', ['-w', '-F', 'pcn', '--', ...paths], { timeout: LSOF_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (_err, stdout) =>
      resolve(typeof stdout === 'string' ? stdout : ''),
    );
  });
  const found = new Map<string, Holder[]>();
  const byPath = new Map([...w.paths].map(([k, p]) => [p, k]));
  for (const e of parseLsof(text)) {
    if (e.pid === process.pid) continue;
    // lsof names the file as it found it; map it back by identity when it is not one of our paths.
    let key = byPath.get(e.name);
    if (!key) {
      const id = await fileIdentityOrNull(e.name);
      if (id) key = [...w.ids].find(([, x]) => x.dev === id.dev && x.ino === id.ino)?.[0];
    }
    if (!key && w.ids.size === 1) key = [...w.ids.keys()][0];
    if (key) addHolder(found, key, { pid: e.pid, program: e.program });
  }
  return found;
}

// Child process of the crash suite (bundled by harness.ts, never imported by
// tests). Usage: node child.cjs <killAt> <request-json>
//
// Every mutating I/O step the operation makes is counted: writes, truncates
// and fsyncs on file handles (this covers core/io/file.ts, journals and the
// sidecar), opening a file for writing, and the fs.promises calls that change
// a folder (rename, unlink, link, writeFile, chmod, ...). Right before step
// `killAt` the process sends itself SIGKILL, so steps 1..killAt-1 happened and
// nothing after them did. killAt 0 is the dry run: the operation completes and
// one JSON line reports how many steps it took, by kind, and the name of every
// file it created or gave a name to (temps, locks, journals, outputs), so the
// harness can check the naming rules.
//
// A request { cancelAt: n, req } runs req with its signal aborted at its n-th
// progress report (a Cancel: the operation rolls back); { interruptAt: n, req }
// dies at the n-th report as a crash would, leaving its journal (rollback.crash.test.ts).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { runCli } from '../../core/cli/main.js';
import { setLinker } from '../../core/io/file.js';
import { runOperation, type OperationRequest } from '../../core/operations.js';

// VHDSNAP_CRASH_TMP: this run's temp folder, hence its user lock folder (core/lock.ts). Wine sets
// TEMP from its prefix's registry whatever the caller passes, so the Windows tier hands it over so.
if (process.env.VHDSNAP_CRASH_TMP) process.env.TEMP = process.env.TMP = process.env.VHDSNAP_CRASH_TMP;

const killAt = Number(process.argv[2]);
type ChildRequest = OperationRequest | { cli: string[] } | { cancelAt: number; req: OperationRequest } | { interruptAt: number; req: OperationRequest };
const request = JSON.parse(process.argv[3] ?? 'null') as ChildRequest;

let steps = 0;
const kinds: Record<string, number> = {};
const created = new Set<string>();

/** Records the file name that argument `i` of a call creates. */
function names(i: number): (args: unknown[]) => void {
  return (args) => {
    const p = args[i];
    if (typeof p === 'string') created.add(nodePath.basename(p));
  };
}

/**
 * VHDSNAP_CRASH_HALT=<file>: at the kill point, write <file> and wait there,
 * for the parent to SIGKILL this process from outside (the Windows tier kills
 * the Wine process so; a Windows process cannot send itself SIGKILL).
 */
const haltFile = process.env.VHDSNAP_CRASH_HALT;

function step(kind: string): void {
  steps++;
  kinds[kind] = (kinds[kind] ?? 0) + 1;
  if (steps !== killAt) return;
  if (!haltFile) process.kill(process.pid, 'SIGKILL');
  fs.writeFileSync(haltFile!, String(steps));
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

type AnyFn = (...args: unknown[]) => unknown;

function hook(obj: object, name: string, kind: string, when: (args: unknown[]) => boolean = () => true, record?: (args: unknown[]) => void): void {
  const target = obj as Record<string, AnyFn>;
  const orig = target[name];
  if (typeof orig !== 'function') return;
  target[name] = function (this: unknown, ...args: unknown[]) {
    if (when(args)) {
      record?.(args);
      step(kind);
    }
    return orig.apply(this, args);
  };
}

/** True for open flags that can create or change a file. */
function writesFile(flags: unknown): boolean {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === 'number') return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC)) !== 0;
  return String(flags) !== 'r' && String(flags) !== 'rs';
}

async function installHooks(): Promise<void> {
  // FileHandle has no public constructor: take its prototype from a real handle.
  const fh = await fs.promises.open(process.argv[1], 'r');
  const proto = Object.getPrototypeOf(fh) as object;
  await fh.close();
  for (const m of ['write', 'writev', 'writeFile', 'appendFile', 'truncate', 'sync', 'datasync', 'chmod']) hook(proto, m, `fh.${m}`);
  const p = fs.promises as unknown as object;
  hook(p, 'open', 'open-for-write', (a) => writesFile(a[1]), names(0));
  const creates: Record<string, number> = { rename: 1, link: 1, symlink: 1, copyFile: 1, cp: 1, writeFile: 0, appendFile: 0, mkdir: 0 };
  for (const m of ['rename', 'unlink', 'link', 'symlink', 'writeFile', 'appendFile', 'truncate', 'chmod', 'copyFile', 'rm', 'rmdir', 'mkdir', 'cp'])
    hook(p, m, m, undefined, m in creates ? names(creates[m]) : undefined);
}

async function main(): Promise<void> {
  await installHooks();
  if (process.env.VHDSNAP_CRASH_NO_HARDLINKS === '1') {
    // A folder without hard links (FAT, SMB): link fails as it does there, before touching anything.
    setLinker(async (a, b) => {
      throw Object.assign(new Error(`EPERM: operation not permitted, link '${a}' -> '${b}'`), { code: 'EPERM', syscall: 'link' });
    });
  }
  let result: unknown;
  if ('cli' in request) {
    let out = '';
    const code = await runCli(request.cli, { stdout: (s) => void (out += s), stderr: () => undefined, isTTY: false });
    result = { code, out };
    if (code !== 0) throw new Error(`vhdsnap ${request.cli.join(' ')} exited ${code}: ${out}`);
  } else if ('cancelAt' in request) {
    const ac = new AbortController();
    let reports = 0;
    result = await runOperation(request.req, {
      signal: ac.signal,
      progressEvery: 0,
      onProgress: () => {
        if (++reports === request.cancelAt) ac.abort();
      },
    });
  } else if ('interruptAt' in request) {
    let reports = 0;
    result = await runOperation(request.req, {
      progressEvery: 0,
      onProgress: () => {
        if (++reports === request.interruptAt) throw new Error('interrupted');
      },
    });
  } else {
    result = await runOperation(request);
  }
  process.stdout.write(JSON.stringify({ steps, kinds, created: [...created].sort(), result }) + '\n');
}

main().catch((err: unknown) => {
  const e = err as { name?: string; code?: string; message?: string };
  process.stdout.write(JSON.stringify({ steps, kinds, error: { name: e?.name, code: e?.code, message: e?.message ?? String(err) } }) + '\n');
  process.exitCode = 1;
});

// Child process of the crash suite (bundled by harness.ts, never imported by
// tests). Usage: node child.cjs <killAt> <request-json>
//
// Every mutating I/O step the operation makes is counted: writes, truncates
// and fsyncs on file handles (this covers core/io/file.ts, journals and the
// sidecar), opening a file for writing, and the fs.promises calls that change
// a folder (rename, unlink, link, writeFile, chmod, ...). Right before step
// `killAt` the process sends itself SIGKILL, so steps 1..killAt-1 happened and
// nothing after them did. killAt 0 is the dry run: the operation completes and
// one JSON line reports how many steps it took, by kind.
import * as fs from 'node:fs';
import { runCli } from '../../core/cli/main.js';
import { runOperation, type OperationRequest } from '../../core/operations.js';

const killAt = Number(process.argv[2]);
const request = JSON.parse(process.argv[3] ?? 'null') as OperationRequest | { cli: string[] };

let steps = 0;
const kinds: Record<string, number> = {};

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

function hook(obj: object, name: string, kind: string, when: (args: unknown[]) => boolean = () => true): void {
  const target = obj as Record<string, AnyFn>;
  const orig = target[name];
  if (typeof orig !== 'function') return;
  target[name] = function (this: unknown, ...args: unknown[]) {
    if (when(args)) step(kind);
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
  hook(p, 'open', 'open-for-write', (a) => writesFile(a[1]));
  for (const m of ['rename', 'unlink', 'link', 'symlink', 'writeFile', 'appendFile', 'truncate', 'chmod', 'copyFile', 'rm', 'rmdir', 'mkdir', 'cp']) hook(p, m, m);
}

async function main(): Promise<void> {
  await installHooks();
  let result: unknown;
  if ('cli' in request) {
    let out = '';
    const code = await runCli(request.cli, { stdout: (s) => void (out += s), stderr: () => undefined, isTTY: false });
    result = { code, out };
    if (code !== 0) throw new Error(`vhdsnap ${request.cli.join(' ')} exited ${code}: ${out}`);
  } else {
    result = await runOperation(request);
  }
  process.stdout.write(JSON.stringify({ steps, kinds, result }) + '\n');
}

main().catch((err: unknown) => {
  const e = err as { name?: string; code?: string; message?: string };
  process.stdout.write(JSON.stringify({ steps, kinds, error: { name: e?.name, code: e?.code, message: e?.message ?? String(err) } }) + '\n');
  process.exitCode = 1;
});

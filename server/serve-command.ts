// `vhdsnap serve [--port N] [--folder <dir>] [<dir>...]`: starts the browser
// bridge (serve.ts) on 127.0.0.1, prints the address with its token, and runs
// until interrupted. Needs the built app (dist/renderer, the job worker). The
// CLI (core/cli/main.ts) loads this module as '#serve': built, it is the
// bundle dist/cli/vhdsnap-serve.cjs beside the CLI's own.
import { existsSync, readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { UsageError } from '../core/errors.js';
import { defaultWorkerPath } from './jobs.js';
import { startServer } from './serve.js';
import type { ParsedArgs } from '../core/cli/args.js';
import type { ServeCommand } from '../core/cli/main.js';
import { reportError } from '../core/cli/report.js';

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Where the bundle sits: dist/cli/ when built (tests under an ESM loader fall back to the checkout). */
function distRoot(): string {
  const here = typeof __dirname === 'string' ? __dirname : nodePath.join(process.cwd(), 'dist', 'cli');
  return nodePath.resolve(here, '..');
}

function appVersion(dist: string): string {
  try {
    return (JSON.parse(readFileSync(nodePath.join(dist, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * The command as main.ts runs it: never throws. In the built CLI this module
 * is a separate bundle with its own copy of the error classes, so its errors
 * are reported here, where they are recognised.
 */
export const runServeCommand: ServeCommand = async (a, io) => {
  try {
    return await runServe(a, io);
  } catch (err) {
    return reportError('serve', err, io.stderr);
  }
};

export async function runServe(a: ParsedArgs, io: Io, opts: { until?: Promise<void> } = {}): Promise<number> {
  const portText = a.values.get('port') ?? '0';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new UsageError('USAGE', `--port must be a number from 0 to 65535, not "${portText}"`);
  // parseArgs keeps one value per flag, so further folders are positional.
  const folders = [...(a.values.has('folder') ? [a.values.get('folder')!] : []), ...a.positional];
  for (const f of folders) {
    if (!existsSync(f)) throw new UsageError('USAGE', `--folder ${f}: no such folder`);
  }
  const dist = distRoot();
  const distDir = nodePath.join(dist, 'renderer');
  // The same worker the app uses (outside app.asar when packaged).
  const workerPath = defaultWorkerPath(nodePath.join(dist, 'cli'));
  for (const p of [nodePath.join(distDir, 'index.html'), workerPath]) {
    if (!existsSync(p)) throw new UsageError('NOT_BUILT', `${p} is missing: run \`npm run build\` first`);
  }
  const server = await startServer({ port: Number(portText), folders, distDir, workerPath, version: appVersion(dist) });
  io.stdout(`vhdsnap serve: open ${server.url}\n(only this machine can connect; the token in the address is required. Ctrl+C stops.)\n`);
  await (opts.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    }));
  await server.close();
  io.stderr('vhdsnap serve: stopped\n');
  return 0;
}

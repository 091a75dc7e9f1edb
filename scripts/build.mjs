// `npm run build`: bundles the CLI and the Electron main/preload with esbuild,
// then builds the renderer with Vite. Quiet on success; exits 1 on failure.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { build as viteBuild } from 'vite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);

// Everything runs in Node (or Electron's Node), so one CommonJS profile fits all.
const nodeCjs = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};

/**
 * Binds the CLI's `import('#serve')` (core/cli/serve-module.d.ts) to
 * dist/cli/vhdsnap-serve.cjs, loaded at run time: core never imports server/,
 * and the other commands do not parse ~1 MB they never run.
 */
const serveApart = {
  name: 'serve-apart',
  setup(build) {
    build.onResolve({ filter: /^#serve$/ }, () => ({ path: './vhdsnap-serve.cjs', external: true }));
  },
};

/** The CLI's process entry: bin.ts calls runCli(); main.ts only exports it. */
function cliEntry() {
  return ['core/cli/bin.ts', 'core/cli/main.ts'].find((p) => existsSync(at(p)));
}

async function main() {
  await rm(at('dist'), { recursive: true, force: true });

  const jobs = [
    esbuild.build({
      ...nodeCjs,
      // job-worker (server/): the thread each long job runs in, for the app and for `vhdsnap serve`
      // alike; built beside main.cjs, where the packaged app unpacks it (build/electron-builder.yml).
      entryPoints: { main: 'electron/main.ts', preload: 'electron/preload.ts', 'job-worker': 'server/job-worker.ts' },
      outdir: 'dist/electron',
      outExtension: { '.js': '.cjs' },
      // The preload runs sandboxed: it may only require('electron'), so it must be one file
      // (server/bridge.ts, which builds its API from the channel list, is bundled into it).
      external: ['electron'],
    }),
  ];
  const cli = cliEntry();
  if (cli) {
    jobs.push(
      esbuild.build({
        ...nodeCjs,
        entryPoints: [cli],
        outfile: 'dist/cli/vhdsnap.cjs',
        plugins: [serveApart],
        // import() becomes require(): bin/vhdsnap.cjs runs this bundle as a vm.Script (for its code
        // cache), where an import() would need an experimental loader hook.
        supported: { 'dynamic-import': false },
      }),
      // `vhdsnap serve` and what only it needs (zod, ws: most of the code), loaded by vhdsnap.cjs on demand.
      esbuild.build({ ...nodeCjs, entryPoints: ['server/serve-command.ts'], outfile: 'dist/cli/vhdsnap-serve.cjs' }),
    );
  } else {
    console.warn('build: core/cli/main.ts not found, skipping dist/cli/vhdsnap.cjs');
  }
  // esbuild prints its own diagnostics (logLevel above), so its error adds nothing.
  const failed = (await Promise.allSettled(jobs)).some((r) => r.status === 'rejected');
  if (failed) return fail();

  try {
    await viteBuild({ configFile: at('renderer/vite.config.ts'), logLevel: 'warn' });
  } catch (err) {
    // At logLevel 'warn' Vite prints only "Build failed"; the details are in the error.
    console.error(err instanceof Error ? err.message : err);
    return fail();
  }
}

function fail() {
  console.error('build failed');
  process.exitCode = 1;
}

await main();

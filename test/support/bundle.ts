// Test entry points bundled once (esbuild, CommonJS) into a temp folder, so
// each spawned child process loads a single file and starts fast.
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { makeTmpDir } from './tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI's `import('#serve')` (core/cli/serve-module.d.ts), bound to the source as vitest.config.ts does. */
const serveFromSource: Plugin = {
  name: 'serve-from-source',
  setup(b) {
    b.onResolve({ filter: /^#serve$/ }, () => ({ path: nodePath.join(ROOT, 'server', 'serve-command.ts') }));
  },
};

/** Bundles `entries` (output name → source path from the repo root); returns the folder holding `<name>.cjs`. */
export async function bundleEntries(entries: Record<string, string>, prefix: string): Promise<string> {
  const dir = makeTmpDir(prefix);
  await build({
    absWorkingDir: ROOT,
    entryPoints: entries,
    outdir: dir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'silent',
    plugins: [serveFromSource],
  });
  return dir;
}

export const bundled = (dir: string, name: string) => nodePath.join(dir, `${name}.cjs`);

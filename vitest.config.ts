// Tests: Node environment by default; component tests opt into happy-dom with
// a `// @vitest-environment happy-dom` comment at the top of the file.
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [vue()],
  // The CLI's `vhdsnap serve` module (core/cli/serve-module.d.ts); the build binds it to its own bundle.
  resolve: { alias: { '#serve': fileURLToPath(new URL('./server/serve-command.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A leaked file handle fails the test it leaked in (test/support/fd-guard.ts forces a GC after each).
    execArgv: ['--expose-gc'],
    setupFiles: ['./test/support/fd-guard.ts'],
    // The summary reporter prints (or hands to scripts/test.mjs) the closing count line.
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});

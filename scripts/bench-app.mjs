// One run of the bench's app-open-2000 row: serves the app for `<folder>`
// with the built CLI (`vhdsnap serve`), opens it in Debian's headless
// Chromium, opens the folder from the recent list and prints, as JSON, the
// seconds from that click to the frame after the first tree row is in the
// page (timed in the page, as test/e2e/scale.e2e.test.ts does).
// Usage: node scripts/bench-app.mjs <folder> [<cli bundle>]
/* global document, requestAnimationFrame -- the page.evaluate callback runs in the page */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [folder, cli = path.join(root, 'dist/cli/vhdsnap.cjs')] = process.argv.slice(2);
if (!folder) throw new Error('usage: node scripts/bench-app.mjs <folder> [<cli bundle>]');

const server = spawn(process.execPath, [cli, 'serve', folder], { stdio: ['ignore', 'pipe', 'inherit'] });
let browser = null;
try {
  const url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (b) => {
      out += b;
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`vhdsnap serve exited (${code}) before it printed its address`)));
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    headless: true,
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  await page.getByTestId('recent-toggle').click();
  await page.getByTestId('recent-folder').first().waitFor();
  const ms = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const item = document.querySelector('[data-testid=recent-folder]');
        const t0 = performance.now();
        const tick = () => {
          if (document.querySelector('[role=treeitem]')) requestAnimationFrame(() => resolve(performance.now() - t0));
          else requestAnimationFrame(tick);
        };
        item.click();
        requestAnimationFrame(tick);
      }),
  );
  const rows = await page.locator('[role=treeitem]').count();
  process.stdout.write(JSON.stringify({ seconds: ms / 1000, rowsInPage: rows }) + '\n');
} finally {
  await browser?.close();
  server.kill('SIGTERM');
}

// The real app in real Electron (playwright-core's _electron): the window
// opens on the bundled page, the preload's API is there and nothing of Node
// or ipcRenderer is. Skipped, saying why, where the Electron binary is not
// installed (npm ci does not download it; it needs the network).
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');

/**
 * The binary `npm start` would run, or why there is none. Found the way the
 * electron package does, but without require('electron'), which would try to
 * download a missing binary.
 */
function electronBinary(): { path: string } | { missing: string } {
  const pkg = path.join(root, 'node_modules', 'electron');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const pathFile = path.join(pkg, 'path.txt');
  const name = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : null;
  if (!name && !override) return { missing: 'node_modules/electron/path.txt is absent (the binary was never downloaded)' };
  const p = override ? path.join(override, name ?? 'electron') : path.join(pkg, 'dist', name!);
  return existsSync(p) ? { path: p } : { missing: `${p} does not exist` };
}

const electron = electronBinary();

describe('real Electron smoke test', () => {
  it('opens the locked-down window with the preload API', async (ctx) => {
    if ('missing' in electron) {
      console.info(`skipped: no Electron binary here (${electron.missing})`);
      ctx.skip(`no Electron binary: ${electron.missing}`);
      return;
    }
    expect(existsSync(path.join(root, 'dist/electron/main.cjs')), 'run npm run build').toBe(true);
    const { _electron } = await import('playwright-core');
    const app = await _electron.launch({ executablePath: electron.path, args: [root], cwd: root, timeout: 60_000 });
    try {
      const page = await app.firstWindow();
      await page.waitForLoadState('domcontentloaded');
      expect(page.url()).toMatch(/dist\/renderer\/index\.html$/);
      const seen = await page.evaluate(async () => {
        const w = globalThis as unknown as { vhdsnap?: Record<string, unknown>; require?: unknown; process?: unknown };
        return {
          functions: Object.keys(w.vhdsnap ?? {}).sort(),
          hasRequire: typeof w.require !== 'undefined',
          hasProcess: typeof w.process !== 'undefined',
          version: await (w.vhdsnap!.appVersion as () => Promise<string>)(),
          badArgs: await (w.vhdsnap!.scan as (x: unknown) => Promise<unknown>)(42).catch((e: { code: string }) => e.code),
        };
      });
      expect(seen.functions).toEqual(
        [
          'appVersion',
          'cancel',
          'chooseOutput',
          'closeFolder',
          'details',
          'dropFolder',
          'onJobEvent',
          'openFolder',
          'openRecent',
          'plan',
          'recentFolders',
          'scan',
          'setLabel',
          'start',
        ].sort(),
      );
      expect(seen.hasRequire).toBe(false);
      expect(seen.hasProcess).toBe(false);
      expect(seen.version).toBe(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version);
      expect(seen.badArgs).toBe('BAD_ARGS');
      expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);
      // Navigation away is refused in main (will-navigate): the page stays.
      const before = page.url();
      await page.evaluate(() => {
        (globalThis as unknown as { location: { href: string } }).location.href = 'file:///etc/hostname';
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(page.url()).toBe(before);
    } finally {
      await app.close();
    }
  });
});

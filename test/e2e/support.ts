// Helpers for the end-to-end test: what it needs from the machine (Chromium,
// the built app), the temp folder of real VHDs, and reading disks back
// through core for comparison with the raw reference model.
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { scanLibrary, type TreeNode } from '../../core/library/scan';
import { startServer, type RunningServer } from '../../server/serve';
import { makeTmpDir, removeTmpDir } from '../support/tmp';

export const root = path.resolve(import.meta.dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const dist = {
  renderer: path.join(root, 'dist', 'renderer'),
  worker: path.join(root, 'dist', 'electron', 'job-worker.cjs'),
  cli: path.join(root, 'dist', 'cli', 'vhdsnap.cjs'),
};
export const artifactsDir = path.join(root, 'test-artifacts', 'e2e');

/** Why the test cannot run here, or null when it can. */
export function missingPrerequisite(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is not installed`;
  if (!existsSync(path.join(dist.renderer, 'index.html'))) return 'dist/renderer is missing (run `npm run build`)';
  if (!existsSync(dist.worker)) return 'dist/electron/job-worker.cjs is missing (run `npm run build`)';
  if (!existsSync(dist.cli)) return 'dist/cli/vhdsnap.cjs is missing (run `npm run build`)';
  return null;
}

export function ensureArtifactsDir(): string {
  mkdirSync(artifactsDir, { recursive: true });
  return artifactsDir;
}

/**
 * Waits until this process, which hosts `vhdsnap serve` and its job worker,
 * holds no descriptor on `file`: the page reads disks on its own after a
 * rescan (costs, details), and another vhdsnap rightly refuses to write a
 * disk that is open elsewhere. Linux only (/proc); elsewhere it returns.
 */
export async function untilClosedHere(file: string, timeout: number): Promise<void> {
  if (!existsSync('/proc/self/fd')) return;
  const target = realpathSync(file);
  const held = () =>
    readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === target;
      } catch {
        return false; // closed between the listing and the read
      }
    });
  await expect.poll(held, { timeout, message: `the server still holds ${path.basename(file)} open` }).toBe(false);
}

/** The whole virtual disk as seen through its chain. */
export async function readWhole(file: string): Promise<{ bytes: Buffer; layers: number; topType: string }> {
  const disk = await openDisk(file);
  try {
    return { bytes: await disk.read(0, disk.virtualSize), layers: disk.layers.length, topType: disk.top.type };
  } finally {
    await disk.close();
  }
}

/** The folder's forest as core sees it, by file name: child -> parent (null for roots). */
export async function parentsByFile(dir: string): Promise<Map<string, string | null>> {
  const forest = await scanLibrary([dir]);
  const out = new Map<string, string | null>();
  const walk = (n: TreeNode, parent: string | null) => {
    out.set(path.basename(n.path), parent);
    for (const c of n.children) walk(c, path.basename(n.path));
  };
  for (const r of forest.roots) walk(r, null);
  return out;
}

export async function labelOf(dir: string, file: string): Promise<string | null> {
  const forest = await scanLibrary([dir]);
  let found: string | null = null;
  const walk = (n: TreeNode) => {
    if (path.basename(n.path) === file) found = n.name;
    n.children.forEach(walk);
  };
  forest.roots.forEach(walk);
  return found;
}

export function vhdFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.vhd$/i.test(f))
    .sort();
}

/** First byte offset where two buffers differ, or -1 (a readable failure message beats a 16 MiB diff). */
export function firstDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const n = a.length;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Waits for the job in the result panel to end, expects it done (saying how it ended otherwise) and returns its headline. */
export async function resultDone(page: Page, timeout: number): Promise<string> {
  const panel = page.locator('[data-testid=result-panel]:not([data-status=running])');
  await panel.waitFor({ timeout });
  const status = await panel.getAttribute('data-status');
  const headline = (await page.getByTestId('result-headline').textContent()) ?? '';
  const error = (await page.getByTestId('result-error').count()) ? await page.getByTestId('result-error').textContent() : '';
  expect(status, `job ended ${status}: ${headline} ${error}`).toBe('done');
  return headline;
}

/** Dismisses the last result, so the next wait cannot see a stale one. */
export async function dismissResult(page: Page, timeout: number): Promise<void> {
  if (await page.getByTestId('result-panel').count()) await page.getByTestId('result-dismiss').click();
  await expect.poll(() => page.getByTestId('result-panel').count(), { timeout }).toBe(0);
}

/** Debian's Chromium, headless, with the flags this machine needs. */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
}

export interface PageOptions {
  width?: number;
  height?: number;
  colorScheme?: 'light' | 'dark';
  /** Default timeout of every wait on the page. */
  timeout: number;
  /** Where the page's errors go: uncaught errors always; console errors and failed requests unless turned off (a test that kills the server on purpose). */
  problems: string[];
  consoleErrors?: boolean;
  failedRequests?: boolean;
}

/** A page in a fresh context (1280×800, light, unless told), its errors collected in `problems`. */
export async function openPage(browser: Browser, o: PageOptions): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: o.width ?? 1280, height: o.height ?? 800 }, colorScheme: o.colorScheme ?? 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(o.timeout);
  page.on('pageerror', (err) => o.problems.push(`page error: ${err.message}`));
  if (o.consoleErrors !== false)
    page.on('console', (msg) => {
      if (msg.type() === 'error') o.problems.push(`console error: ${msg.text()} (${msg.location().url})`);
    });
  if (o.failedRequests !== false) page.on('requestfailed', (req) => o.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
  return page;
}

/** Ends what a suite started: its browser, its server, its temp folder, each whatever the others do. */
export async function closeSuite(browser: Browser | null, server: { close(): Promise<unknown> } | null, tmp: string): Promise<void> {
  await browser?.close().catch(() => undefined);
  await server?.close().catch(() => undefined);
  if (tmp) removeTmpDir(tmp);
}

/** Opens a folder from the recent list (the only way in without a folder dialog): the first, or the one named. */
export async function openRecent(page: Page, name?: string): Promise<void> {
  await page.getByTestId('recent-toggle').click();
  const items = page.getByTestId('recent-list').getByTestId('recent-folder');
  await (name === undefined ? items : items.filter({ hasText: name })).click();
}

/** The app's actions (renderer/src/actions, a module each), read from their files; with `toolbar`, only those the toolbar shows (not menuOnly). */
export function actionNames(o: { toolbar?: boolean } = {}): string[] {
  const dir = path.join(root, 'renderer', 'src', 'actions');
  return readdirSync(dir)
    .filter((f) => /\.(ts|vue)$/.test(f) && !['index.ts', 'define.ts'].includes(f))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .filter((text) => !o.toolbar || !/\bmenuOnly:\s*true/.test(text))
    .map((text) => /defineAction\(\{\s*name:\s*'([a-z-]+)'/.exec(text)?.[1] ?? 'unnamed action');
}

/** Whether a toolbar action is disabled, wherever it is: on the toolbar, or folded into its More menu (opened and closed again). */
export async function toolbarActionDisabled(page: Page, name: string): Promise<boolean> {
  const onBar = page.locator(`[role=toolbar] [data-testid=action-${name}]:not([role=menuitem])`);
  if (await onBar.isVisible().catch(() => false)) return onBar.isDisabled();
  await page.getByTestId('toolbar-more').click();
  const item = page.getByTestId('toolbar-more-menu').getByTestId(`action-${name}`);
  const disabled = (await item.getAttribute('aria-disabled')) === 'true';
  await page.keyboard.press('Escape');
  await page.getByTestId('toolbar-more-menu').waitFor({ state: 'hidden' });
  return disabled;
}

export interface E2eSuiteOptions {
  /** In the temp folder's name: vhdsnap-e2e-<name>-…. */
  name: string;
  /** The name of `folder` in the temp folder ('vms' unless told). */
  folderName?: string;
  /** The default timeout of every wait on the suite's pages (15 s unless told). */
  timeout?: number;
  /** Makes the suite's disks, once `tmp` and `folder` (tmp/vms, empty) exist. */
  setup?: (suite: E2eSuite) => Promise<void>;
  /** The folders `vhdsnap serve` grants (default: `folder`); false when the suite runs a server of its own. */
  serve?: false | ((suite: E2eSuite) => string[]);
  /** How long the set-up may take (60 s unless told). */
  setupTimeout?: number;
  /** A page opened once the browser runs, for suites that use one page throughout. */
  page?: Partial<Omit<PageOptions, 'problems'>>;
}

/** What every e2e suite holds: its temp folder, the server and the browser, the page in use and the errors pages reported. */
export interface E2eSuite {
  readonly tmp: string;
  /** tmp/vms (or tmp/<folderName>), the folder the server grants unless told otherwise. */
  readonly folder: string;
  readonly artifacts: string;
  readonly server: RunningServer;
  readonly browser: Browser;
  /** The page the last `open` made. */
  readonly page: Page;
  /** Errors the pages reported (uncaught, console, failed requests): a suite ends by expecting none. */
  readonly problems: string[];
  /** The element with this data-testid on the current page. */
  $(id: string): Locator;
  /** A fresh page (1280×800, light, unless told) that becomes `page`; with `goto`, at the server's address. */
  open(o?: Partial<Omit<PageOptions, 'problems'>> & { goto?: boolean }): Promise<Page>;
  /** A screenshot of the current page into test-artifacts/e2e/<name>.png. */
  shot(name: string, o?: { fullPage?: boolean }): Promise<void>;
}

/**
 * The suite state every e2e file shares, with its set-up and tear-down:
 * call it inside the describe. beforeAll makes the temp folder and its vms/
 * folder, runs `setup`, starts `vhdsnap serve` on the folders, launches
 * Chromium (and opens a page when told); afterAll ends them whatever failed
 * (closeSuite).
 */
export function useE2eSuite(o: E2eSuiteOptions): E2eSuite {
  let tmp = '';
  let folder = '';
  let artifacts = '';
  let server: RunningServer | null = null;
  let browser: Browser | null = null;
  let page: Page | null = null;
  const problems: string[] = [];
  const timeout = o.timeout ?? 15_000;
  const started = <T>(what: string, v: T | null): T => {
    if (v === null) throw new Error(`the e2e suite has no ${what} (not started, or started by the suite itself)`);
    return v;
  };
  const suite: E2eSuite = {
    get tmp() {
      return tmp;
    },
    get folder() {
      return folder;
    },
    get artifacts() {
      return artifacts;
    },
    get server() {
      return started('server', server);
    },
    get browser() {
      return started('browser', browser);
    },
    get page() {
      return started('page', page);
    },
    problems,
    $: (id) => suite.page.getByTestId(id),
    async open(p = {}) {
      page = await openPage(suite.browser, { timeout, problems, ...p });
      if (p.goto) await page.goto(suite.server.url);
      return page;
    },
    shot: (name, s = {}) => suite.page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: s.fullPage }).then(() => undefined),
  };
  beforeAll(async () => {
    artifacts = ensureArtifactsDir();
    tmp = makeTmpDir(`vhdsnap-e2e-${o.name}-`);
    folder = path.join(tmp, o.folderName ?? 'vms');
    mkdirSync(folder);
    await o.setup?.(suite);
    if (o.serve !== false) {
      const folders = o.serve ? o.serve(suite) : [folder];
      server = await startServer({ port: 0, folders, distDir: dist.renderer, workerPath: dist.worker, version: 'e2e' });
    }
    browser = await launchBrowser();
    if (o.page) await suite.open(o.page);
  }, o.setupTimeout ?? 60_000);
  afterAll(() => closeSuite(browser, server, tmp));
  return suite;
}

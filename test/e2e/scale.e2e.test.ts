// A folder of 2,000 small disks in Chromium over `vhdsnap serve` (issue 19's
// app target, the bench's tree-2000 folder: 400 chains of a base and 4
// children): the rows paint soon after the folder opens, the tree holds a
// bounded number of rows however many disks there are, End and Home reach the
// last and first disk, a scripted scroll keeps its frames close together,
// the costs fill in after the rows show, and the Cost column's "would free"
// is the delete plan's own figure. The figures measured are printed.
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VhdFile } from '../../core/disk/vhd-file';
import { scanLibrary, type TreeNode } from '../../core/library/scan';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { planDelete } from '../../core/ops/delete';
import { exactBytes, formatBytes } from '../../renderer/src/lib/format';
import { startServer, type RunningServer } from '../../server/serve';
import { makeTmpDir } from '../support/tmp';
import { closeSuite, dist, ensureArtifactsDir, launchBrowser, missingPrerequisite, openPage } from './support';

const MiB = 2 ** 20;
const FILES = 2000;
const CHAIN = 5;
const UI_TIMEOUT = 30_000;
/**
 * Issue 19's target is 1.5 s from opening to painted rows. This 2-core
 * machine runs other suites beside this one, so the assertion is a generous
 * bound; the figure itself is printed on every run.
 */
const PAINT_BOUND_MS = 4000;
/**
 * Frame gaps while scrolling. Headless Chromium here paints in software on 2
 * cores shared with other suites: idle frames are 16.7 ms (worst 20-80 ms
 * under load), and a scroll step repaints the pane: a median of 28 ms (worst
 * 105 ms, quiet machine) with every row in the page, before virtualising; 25-34
 * ms median, worst 113-490 ms (load 1-8) since. The worst gap follows the
 * machine's load more than the page, so its bound only catches a stall of a
 * second (a frame drawing thousands of rows); the median and p95 say the
 * scroll keeps moving. The figures are printed on every run.
 */
const MEDIAN_GAP_BOUND_MS = 50;
const P95_GAP_BOUND_MS = 250;
const WORST_GAP_BOUND_MS = 1000;
/** Pixels per frame: 12,000 px/s, a fast wheel. */
const SCROLL_STEP = 200;
const MAX_ROWS_IN_DOM = 200;
const missing = missingPrerequisite();

/** The forest's disks depth first, by file name (the tree's unsorted order). */
function depthFirst(roots: readonly TreeNode[]): string[] {
  const out: string[] = [];
  const walk = (n: TreeNode) => {
    out.push(path.basename(n.path));
    n.children.forEach(walk);
  };
  roots.forEach(walk);
  return out;
}

describe.skipIf(missing !== null)(
  'a 2,000-disk folder in the app (Chromium over `vhdsnap serve`)',
  () => {
    let tmp = '';
    let folder = '';
    let artifacts = '';
    let server: RunningServer | null = null;
    let browser: Browser | null = null;
    let page: Page;
    const problems: string[] = [];
    let order: string[] = [];
    const $ = (id: string) => page.getByTestId(id);

    beforeAll(async () => {
      artifacts = ensureArtifactsDir();
      tmp = makeTmpDir('vhdsnap-e2e-scale-');
      folder = path.join(tmp, 'many');
      mkdirSync(folder);
      let prev = '';
      for (let i = 0; i < FILES; i++) {
        const f = path.join(folder, `f${String(i).padStart(4, '0')}.vhd`);
        if (i % CHAIN === 0) await createDynamic(f, 8 * MiB);
        else await createDifferencing(f, prev);
        // A few sectors each, in a block of their own for some: the costs and the plans' figures differ per disk.
        const v = await VhdFile.open(f, { writable: true, sync: false });
        try {
          await v.writeSectors(((i * 7) % 4) * 4096 + (i % 3) * 16, Buffer.alloc(512 * (1 + (i % 4)), (i % 250) + 1));
        } finally {
          await v.close();
        }
        prev = f;
      }
      order = depthFirst((await scanLibrary([folder])).roots);
      expect(order).toHaveLength(FILES);
      server = await startServer({ port: 0, folders: [folder], distDir: dist.renderer, workerPath: dist.worker, version: 'e2e' });
      browser = await launchBrowser();
      page = await openPage(browser, { timeout: UI_TIMEOUT, problems });
      await page.goto(server.url);
    }, 300_000);

    afterAll(() => closeSuite(browser, server, tmp));

    const domRows = () => page.locator('[role=treeitem]').count();
    const activeFile = () =>
      page.evaluate(() => {
        const tree = document.querySelector('[role=tree]');
        const id = tree?.getAttribute('aria-activedescendant');
        return id ? (document.getElementById(id)?.getAttribute('data-file') ?? null) : null;
      });
    /** Whether the row of `file` lies whole inside the scrolling pane's visible part. */
    const rowInView = (file: string) =>
      page.evaluate((f) => {
        const row = document.querySelector(`[role=treeitem][data-file="${f}"]`);
        const pane = document.querySelector('main.folders');
        if (!row || !pane) return false;
        const r = row.getBoundingClientRect();
        const p = pane.getBoundingClientRect();
        return r.top >= p.top - 0.5 && r.bottom <= p.bottom + 0.5;
      }, file);

    it('paints the rows of the folder soon after it opens, with a bounded number of rows in the tree', async () => {
      await $('recent-toggle').click();
      // Timed in the page: from the click on the folder to the frame after the first row is in the tree.
      const ms = await page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            const item = document.querySelector<HTMLElement>('[data-testid=recent-folder]')!;
            const t0 = performance.now();
            const tick = () => {
              if (document.querySelector('[role=treeitem]')) requestAnimationFrame(() => resolve(performance.now() - t0));
              else requestAnimationFrame(tick);
            };
            item.click();
            requestAnimationFrame(tick);
          }),
      );
      console.log(`scale e2e: open → rows painted: ${ms.toFixed(0)} ms (target 1500 ms, asserted bound ${PAINT_BOUND_MS} ms)`);
      expect(ms).toBeLessThan(PAINT_BOUND_MS);
      const rows = await domRows();
      console.log(`scale e2e: rows in the DOM: ${rows} of ${FILES}`);
      expect(rows).toBeGreaterThan(5);
      expect(rows).toBeLessThan(MAX_ROWS_IN_DOM);
      const first = page.locator('[role=treeitem]').first();
      expect(await first.getAttribute('data-file')).toBe(order[0]);
      // The roots: 400 chains, each a base; the tree's height is that of every row.
      expect(await first.getAttribute('aria-setsize')).toBe(String(FILES / CHAIN));
      expect(await first.getAttribute('aria-posinset')).toBe('1');
      expect(await first.getAttribute('aria-level')).toBe('1');
      expect(await first.getAttribute('aria-expanded')).toBe('true');
      expect(await $('folder-tree').getAttribute('data-rows')).toBe(String(FILES));
      await page.screenshot({ path: path.join(artifacts, 'scale-open.png') });
    });

    it('reaches the last and first disk with End and Home, the focused row scrolled into view', async () => {
      await $('folder-tree').focus();
      await page.keyboard.press('End');
      await expect.poll(activeFile).toBe(order[FILES - 1]);
      await expect.poll(() => rowInView(order[FILES - 1])).toBe(true);
      const last = page.locator(`[role=treeitem][data-file="${order[FILES - 1]}"]`);
      expect(await last.getAttribute('aria-selected')).toBe('true');
      expect(await last.getAttribute('aria-level')).toBe(String(CHAIN));
      expect(await domRows()).toBeLessThan(MAX_ROWS_IN_DOM);
      await page.keyboard.press('ArrowUp');
      await expect.poll(activeFile).toBe(order[FILES - 2]);
      await page.keyboard.press('PageUp');
      const afterPageUp = await activeFile();
      const at = order.indexOf(afterPageUp ?? '');
      expect(at).toBeLessThan(FILES - 10);
      await expect.poll(() => rowInView(order[at])).toBe(true);
      await page.keyboard.press('PageDown');
      await expect.poll(activeFile).toBe(order[FILES - 2]);
      await page.keyboard.press('Home');
      await expect.poll(activeFile).toBe(order[0]);
      await expect.poll(() => rowInView(order[0])).toBe(true);
      // The first row brings the column headers above it back into view.
      expect(await $('sort-cost').isVisible()).toBe(true);
      expect(await page.evaluate(() => document.querySelector<HTMLElement>('main.folders')!.scrollTop)).toBeLessThan(120);
      await page.screenshot({ path: path.join(artifacts, 'scale-home.png') });
    });

    it('computes every cost after the rows show, and then knows the folder total', async () => {
      const t0 = Date.now();
      await expect.poll(() => $('cost-total').getAttribute('data-known'), { timeout: 120_000 }).toBe('true');
      console.log(`scale e2e: folder total known ${Date.now() - t0} ms after the End/Home test`);
      expect(await $('cost-total').textContent()).toMatch(/\d/);
    });

    it('scrolls the whole folder with no long frame gap', async () => {
      // The page's own frame rate when nothing moves, for comparison (headless Chromium, software compositing).
      const idle = await page.evaluate(
        () =>
          new Promise<number[]>((resolve) => {
            const gaps: number[] = [];
            let last = performance.now();
            const step = () => {
              const now = performance.now();
              gaps.push(now - last);
              last = now;
              if (gaps.length > 60) resolve(gaps.slice(1));
              else requestAnimationFrame(step);
            };
            requestAnimationFrame(step);
          }),
      );
      const idleSorted = [...idle].sort((a, b) => a - b);
      console.log(`scale e2e: idle frames: median gap ${idleSorted[30].toFixed(1)} ms, worst ${idleSorted[idleSorted.length - 1].toFixed(1)} ms`);
      // A scripted scroll: a fixed step each frame, from the top to the bottom, timing every frame.
      const { gaps, rowsSeen, maxRows } = await page.evaluate(
        (px) =>
          new Promise<{ gaps: number[]; rowsSeen: number; maxRows: number }>((resolve) => {
            const pane = document.querySelector<HTMLElement>('main.folders')!;
            pane.scrollTop = 0;
            const gaps: number[] = [];
            const seen = new Set<string>();
            let maxRows = 0;
            let last = performance.now();
            const step = () => {
              const now = performance.now();
              gaps.push(now - last);
              last = now;
              const rows = document.querySelectorAll('[role=treeitem]');
              maxRows = Math.max(maxRows, rows.length);
              rows.forEach((r) => seen.add(r.getAttribute('data-file') ?? ''));
              if (pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 1) resolve({ gaps: gaps.slice(1), rowsSeen: seen.size, maxRows });
              else {
                pane.scrollTop += px;
                requestAnimationFrame(step);
              }
            };
            requestAnimationFrame(step);
          }),
        SCROLL_STEP,
      );
      const sorted = [...gaps].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      const worst = sorted[sorted.length - 1];
      const p95 = sorted[Math.floor(sorted.length * 0.95)];
      console.log(
        `scale e2e: scroll of ${gaps.length} frames, ${SCROLL_STEP} px each: median gap ${median.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, worst ${worst.toFixed(1)} ms; most rows at once ${maxRows}`,
      );
      // Every disk was drawn on the way down, never all at once.
      expect(rowsSeen).toBe(FILES);
      expect(maxRows).toBeLessThan(MAX_ROWS_IN_DOM);
      expect(median).toBeLessThan(MEDIAN_GAP_BOUND_MS);
      expect(p95).toBeLessThan(P95_GAP_BOUND_MS);
      expect(worst).toBeLessThan(WORST_GAP_BOUND_MS);
      await page.screenshot({ path: path.join(artifacts, 'scale-bottom.png') });
    });

    it("shows what deleting a snapshot frees: its delete plan's exact figure, the one the delete dialog shows", async () => {
      // f0001: the second disk of the first chain, a snapshot with one child (a fold).
      const snap = order[1];
      await $('folder-tree').focus();
      await page.keyboard.press('Home');
      const cell = page.locator(`[role=treeitem][data-file="${snap}"] [data-testid=cost-cell]`);
      const t0 = Date.now();
      await cell.hover();
      await expect
        .poll(async () => (await cell.getAttribute('data-frees')) ?? `none yet: ${await cell.getAttribute('title')}`, { timeout: UI_TIMEOUT })
        .toMatch(/^-?\d+$/);
      console.log(`scale e2e: hover → the delete plan's figure shown: ${Date.now() - t0} ms`);
      const shown = Number(await cell.getAttribute('data-frees'));
      expect(await cell.getAttribute('title')).toContain(`frees ${formatBytes(shown)} (${exactBytes(shown)}), as its plan says`);
      // The oracle: core's own plan for the same disk.
      const plan = await planDelete(path.join(folder, snap));
      expect(shown).toBe(plan.frees);
      // The dialog's plan says the same.
      await page.keyboard.press('ArrowDown');
      await expect.poll(activeFile).toBe(snap);
      await page.keyboard.press('Delete');
      await $('dialog-delete').waitFor();
      expect(Number(await $('plan-frees').getAttribute('data-bytes'))).toBe(shown);
      expect(await $('plan-frees').textContent()).toBe(formatBytes(Math.abs(shown)));
      await page.screenshot({ path: path.join(artifacts, 'scale-delete-plan.png') });
      await page.keyboard.press('Escape');
      await $('dialog-delete').waitFor({ state: 'hidden' });
    });

    it('at 1024×640 in the dark theme: still a bounded window, the selection in view', async () => {
      await page.setViewportSize({ width: 1024, height: 640 });
      await page.emulateMedia({ colorScheme: 'dark' });
      await $('folder-tree').focus();
      await page.keyboard.press('End');
      await expect.poll(activeFile).toBe(order[FILES - 1]);
      await expect.poll(() => rowInView(order[FILES - 1])).toBe(true);
      for (let i = 0; i < 3; i++) await page.keyboard.press('PageUp');
      const at = order.indexOf((await activeFile()) ?? '');
      expect(at).toBeLessThan(FILES - 30);
      await expect.poll(() => rowInView(order[at])).toBe(true);
      expect(await domRows()).toBeLessThan(MAX_ROWS_IN_DOM);
      await page.screenshot({ path: path.join(artifacts, 'scale-1024-dark.png') });
    });

    it('left no errors in the page', () => {
      expect(problems).toEqual([]);
    });
  },
  600_000,
);

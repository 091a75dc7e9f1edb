// Layout that never hides what matters, measured in Chromium on real files at
// 1280×800 and 1024×640, light and dark: every toolbar action is visible or in
// the More menu (which the keyboard works), the Now marker sits whole inside
// its cell at depth 18, every column's cells stay inside the tree's box, a
// long file name shows its distinguishing end, the job area is one line when
// idle and shows a long result whole; plus the Cost column, the date column
// and sorting siblings, the name filter, collapse/expand all, Check all and
// the deep-chain warning.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDynamic } from '../../core/ops/create';
import { planDelete } from '../../core/ops/delete';
import { getInfo } from '../../core/ops/info';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { allocationOf } from '../../server/library';
import { formatBytes } from '../../renderer/src/lib/format';
import { actionNames, missingPrerequisite, openRecent, resultDone, vhdFiles, useE2eSuite } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 15_000;
const ACTIVE = 'windows-server-2022-datacenter.vhd';
/** Snapshots below the active disk: a chain of 18 files, past the deep-chain warning's 16. */
const SNAPSHOTS = 17;
const missing = missingPrerequisite();

type Box = { left: number; top: number; right: number; bottom: number; width: number; height: number };
const inside = (a: Box, b: Box, slack = 0.5) =>
  a.left >= b.left - slack && a.right <= b.right + slack && a.top >= b.top - slack && a.bottom <= b.bottom + slack;

describe.skipIf(missing !== null)(
  'layout in the app (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'layout',
      timeout: UI_TIMEOUT,
      setupTimeout: 90_000,
      setup: async ({ folder }) => {
        const active = path.join(folder, ACTIVE);
        await createDynamic(active, 16 * MiB);
        // Each level stores a different amount of its own, so the costs differ: level i writes (i % 5 + 1) × 64 KiB.
        for (let i = 0; i < SNAPSHOTS; i++) {
          const disk = await openDisk(active, { writable: true });
          try {
            await disk.write((i % 8) * MiB, Buffer.alloc(((i % 5) + 1) * 64 * 1024, i + 1));
          } finally {
            await disk.close();
          }
          const s = await snapshot(active, { now: new Date(Date.UTC(2026, 0, 2, 3, 4, i)) });
          snapFiles.push(path.basename(s.snapshot));
        }
        await runOperation({ op: 'name', disk: active, name: 'Work in progress with a name long enough to need an ellipsis somewhere' });
        for (const f of vhdFiles(folder)) unique.set(f, (await allocationOf(path.join(folder, f))).uniqueBytes);
      },
    });
    const { $, problems } = e2e;
    /** Unique bytes per file as main's allocation read says (the details pane's figure). */
    const unique = new Map<string, number>();
    const snapFiles: string[] = [];

    async function open(width: number, height: number, colorScheme: 'light' | 'dark') {
      await e2e.open({ width, height, colorScheme });
      await e2e.page.goto(e2e.server.url);
      await openRecent(e2e.page);
      await $(`tree-row-${ACTIVE}`).waitFor();
      return e2e.page.context();
    }

    const box = (selector: string) =>
      e2e.page
        .locator(selector)
        .first()
        .evaluate((e) => e.getBoundingClientRect().toJSON() as Box);

    /** The words (runs of letters and digits) of an element's text that its lines split: drawn on more than one line. */
    const wordsSplit = (selector: string) =>
      e2e.page
        .locator(selector)
        .first()
        .evaluate((el) => {
          const split: string[] = [];
          const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          for (let n = walk.nextNode(); n; n = walk.nextNode())
            for (const m of n.textContent!.matchAll(/[\p{L}\p{N}]+/gu)) {
              const r = document.createRange();
              r.setStart(n, m.index);
              r.setEnd(n, m.index + m[0].length);
              const lines = new Set(
                Array.from(r.getClientRects())
                  .filter((b) => b.width > 0)
                  .map((b) => Math.round(b.top)),
              );
              if (lines.size > 1) split.push(m[0]);
            }
          return split;
        });

    /** Every toolbar action: shown whole inside the window and the toolbar, or an item of the More menu. */
    async function toolbarActionsReachable(): Promise<{ shown: string[]; folded: string[] }> {
      const bar = await box('[role=toolbar]');
      const inBar = await e2e.page.$$eval('[role=toolbar] [role=group] [data-action]', (els) =>
        els.map((e) => {
          const group = e.closest('[role=group]')!.getBoundingClientRect();
          return { id: e.getAttribute('data-testid')!, box: e.getBoundingClientRect().toJSON() as Box, group: group.toJSON() as Box };
        }),
      );
      for (const b of inBar) {
        expect(inside(b.box, bar), `${b.id} inside the toolbar`).toBe(true);
        expect(inside(b.box, b.group), `${b.id} not clipped by its group`).toBe(true);
        expect(b.box.right, `${b.id} inside the window`).toBeLessThanOrEqual(e2e.page.viewportSize()!.width);
        expect(b.box.width).toBeGreaterThan(10);
      }
      const folded: string[] = [];
      if (await $('toolbar-more').count()) {
        const more = await box('[data-testid=toolbar-more]');
        expect(inside(more, bar)).toBe(true);
        // Keyboard: focus More, ArrowDown opens the menu on its first item, Escape closes it back onto More.
        await $('toolbar-more').focus();
        await e2e.page.keyboard.press('ArrowDown');
        await $('toolbar-more-menu').waitFor();
        const items = await e2e.page.$$eval('[data-testid=toolbar-more-menu] [role=menuitem]', (els) => els.map((e) => e.getAttribute('data-testid')!));
        folded.push(...items);
        expect(await e2e.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(items[0]);
        if (items.length > 1) {
          await e2e.page.keyboard.press('ArrowDown');
          expect(await e2e.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(items[1]);
        }
        const menu = await box('[data-testid=toolbar-more-menu]');
        expect(menu.right).toBeLessThanOrEqual(e2e.page.viewportSize()!.width);
        expect(menu.bottom).toBeLessThanOrEqual(e2e.page.viewportSize()!.height);
        await e2e.page.keyboard.press('Escape');
        await expect.poll(() => $('toolbar-more-menu').count()).toBe(0);
        expect(await e2e.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('toolbar-more');
      }
      return { shown: inBar.map((b) => b.id), folded };
    }

    async function assertLayout(label: string, width: number) {
      // Every action is reachable, each exactly once (the toolbar's list is the actions' own: renderer/src/actions).
      const { shown, folded } = await toolbarActionsReachable();
      const all = [...shown, ...folded];
      expect(new Set(all).size).toBe(all.length);
      // Exactly the toolbar's actions (renderer/src/actions, all but the menu-only ones), each shown or folded.
      const toolbar = actionNames({ toolbar: true });
      expect(toolbar).toEqual(expect.arrayContaining(['snapshot', 'revert', 'delete', 'merge', 'flatten', 'check', 'compact', 'resize', 'rename', 'repair']));
      expect([...all].sort(), label).toEqual(toolbar.map((a) => `action-${a}`).sort());
      if (width <= 1024) expect(folded.length, 'a narrow window folds some actions').toBeGreaterThan(0);

      // The Now marker is whole inside its cell and its row, at the bottom of an 18-file chain.
      const now = await e2e.page.locator(`[data-testid="tree-row-${ACTIVE}"] [data-testid=now-marker]`).evaluate((e) => {
        const cell = e.closest('[data-col=name]')!.getBoundingClientRect();
        return {
          marker: e.getBoundingClientRect().toJSON() as Box,
          cell: cell.toJSON() as Box,
          text: e.textContent,
          scrollW: (e as HTMLElement).scrollWidth,
          clientW: (e as HTMLElement).clientWidth,
        };
      });
      expect(now.text).toBe('Now');
      expect(now.marker.width).toBeGreaterThan(12);
      expect(inside(now.marker, now.cell), `${label}: Now inside its cell ${JSON.stringify(now)}`).toBe(true);
      expect(now.scrollW).toBeLessThanOrEqual(now.clientW);

      // Every shown cell of every row (and the header) stays inside the tree's box.
      const spill = await e2e.page.$eval('[data-testid=tree-box]', (tree) => {
        const t = tree.getBoundingClientRect();
        const out: string[] = [];
        for (const cell of Array.from(tree.querySelectorAll<HTMLElement>('[data-col]'))) {
          const b = cell.getBoundingClientRect();
          if (b.width === 0 && b.height === 0) continue; // a column this width leaves out
          if (b.left < t.left - 0.5 || b.right > t.right + 0.5)
            out.push(
              `${cell.dataset.col} of ${cell.closest('[data-file]')?.getAttribute('data-file') ?? 'header'}: ${b.left}–${b.right} outside ${t.left}–${t.right}`,
            );
        }
        return {
          out,
          cols: new Set(
            Array.from(tree.querySelectorAll<HTMLElement>('[role=treeitem] [data-col]'))
              .filter((c) => c.getBoundingClientRect().width > 0)
              .map((c) => c.dataset.col),
          ).size,
        };
      });
      expect(spill.out, label).toEqual([]);
      // Name, file, cost, date and health at least, at any width.
      expect(spill.cols).toBeGreaterThanOrEqual(5);
      const box = await e2e.page.$eval('[data-testid=tree-box]', (t) => t.getBoundingClientRect().right);
      expect(box).toBeLessThanOrEqual(await e2e.page.$eval('main.folders', (m) => m.getBoundingClientRect().right));

      // A long file name shows its end: the tail (where the folder's names differ) is whole inside the cell.
      const file = await e2e.page.locator(`[data-testid="tree-row-${snapFiles[3]}"] [data-testid=file-cell]`).evaluate((cell) => {
        const tail = cell.querySelector('[data-testid=file-tail]')!;
        const head = cell.querySelector<HTMLElement>('.file-head')!;
        return {
          cell: cell.getBoundingClientRect().toJSON() as Box,
          tail: tail.getBoundingClientRect().toJSON() as Box,
          tailText: tail.textContent ?? '',
          headClipped: head.scrollWidth > head.clientWidth,
          title: cell.getAttribute('title') ?? '',
        };
      });
      expect(inside(file.tail, file.cell), `${label}: the name's end is inside its cell ${JSON.stringify(file)}`).toBe(true);
      expect(snapFiles[3].endsWith(file.tailText)).toBe(true);
      // The seconds tell these names apart ("…030403.vhd"): they are in the part that shows.
      expect(file.tailText).toContain('030403.vhd');
      expect(file.title.endsWith(snapFiles[3])).toBe(true);
    }

    for (const [width, height] of [
      [1280, 800],
      [1024, 640],
    ] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        it(`nothing that matters is hidden at ${width}×${height}, ${scheme}`, async () => {
          const context = await open(width, height, scheme);
          await $(`tree-row-${ACTIVE}`).click();
          await e2e.page.screenshot({ path: path.join(e2e.artifacts, `layout-01-tree-${width}-${scheme}.png`) });
          await assertLayout(`${width} ${scheme}`, width);
          // The More menu, open, for the screenshot.
          if (await $('toolbar-more').count()) {
            await $('toolbar-more').click();
            await $('toolbar-more-menu').waitFor();
            await e2e.page.screenshot({ path: path.join(e2e.artifacts, `layout-02-more-${width}-${scheme}.png`) });
            await e2e.page.keyboard.press('Escape');
          }
          // Idle, the job area is one line at the window's bottom (its height goes to the folders), "No job running." whole in it.
          const idle = await e2e.page.$eval('[data-testid=job-area]', (area) => ({
            area: area.getBoundingClientRect().toJSON() as Box,
            text: area.querySelector('[data-testid=job-body] p')!.getBoundingClientRect().toJSON() as Box,
            line: parseFloat(getComputedStyle(area).lineHeight),
          }));
          expect(idle.area.height, `${width}×${height} ${scheme}: idle job area height`).toBeLessThanOrEqual(30);
          expect(idle.area.height).toBeLessThan(2 * idle.line);
          expect(inside(idle.text, idle.area), `${width}×${height} ${scheme}: idle line inside the job area`).toBe(true);
          expect(idle.area.bottom).toBeCloseTo(height, 0);
          // A multi-line result (a check of the 18-file chain: a line per file) shows whole in the job area.
          await $(`tree-row-${ACTIVE}`).click();
          await $('action-check').click();
          await $('opt-run-check').click();
          await resultDone(e2e.page, UI_TIMEOUT);
          const job = await e2e.page.$eval('[data-testid=job-area]', (area) => {
            const body = area.querySelector<HTMLElement>('[data-testid=job-body]')!;
            const lines = Array.from(area.querySelectorAll('[data-testid=result-reports] li')).map((l) => l.getBoundingClientRect().toJSON() as Box);
            return { area: area.getBoundingClientRect().toJSON() as Box, lines, scroll: body.scrollHeight, client: body.clientHeight };
          });
          expect(job.lines.length).toBe(SNAPSHOTS + 1);
          if (job.scroll > job.client + 1) {
            // Taller than its share of the window: Show all expands it to show every line.
            await $('job-expand').click();
            await expect.poll(() => e2e.page.$eval('[data-testid=job-body]', (b) => b.scrollHeight <= b.clientHeight + 1)).toBe(true);
          }
          const after = await e2e.page.$eval('[data-testid=job-area]', (area) => ({
            area: area.getBoundingClientRect().toJSON() as Box,
            lines: Array.from(area.querySelectorAll('[data-testid=result-reports] li')).map((l) => l.getBoundingClientRect().toJSON() as Box),
          }));
          for (const l of after.lines) expect(inside(l, after.area), `${width} ${scheme}: result line inside the job area`).toBe(true);
          expect(after.area.height, `${width} ${scheme}: the job area grows for a result`).toBeGreaterThan(idle.area.height + 2 * idle.line);
          expect(after.area.bottom).toBeLessThanOrEqual(height + 0.5);
          await e2e.page.screenshot({ path: path.join(e2e.artifacts, `layout-03-result-${width}-${scheme}.png`) });
          await context.close();
        });
      }
    }

    it('the Cost column shows what each disk stores itself, the folder total, and sorts siblings by it', async () => {
      const context = await open(1280, 800, 'light');
      const total = [...unique.values()].reduce((a, b) => a + b, 0);
      await expect.poll(() => $('cost-total').textContent()).toBe(formatBytes(total));
      for (const f of [snapFiles[0], snapFiles[4], ACTIVE]) {
        const cell = e2e.page.locator(`[data-testid="tree-row-${f}"] [data-testid=cost-cell]`);
        await expect.poll(() => cell.textContent().then((t) => t?.trim())).toBe(formatBytes(unique.get(f)!));
      }
      // The details pane says the same for the same disk.
      await $(`tree-row-${snapFiles[4]}`).click();
      await expect.poll(() => $('detail-unique').textContent()).toBe(formatBytes(unique.get(snapFiles[4])!));
      // Its tooltip says what deleting it frees (a snapshot with a child, folded into it): its delete plan's figure, asked once it is selected.
      const costCell = e2e.page.locator(`[data-testid="tree-row-${snapFiles[4]}"] [data-testid=cost-cell]`);
      await expect.poll(() => costCell.getAttribute('data-frees')).toBe(String((await planDelete(path.join(e2e.folder, snapFiles[4]))).frees));
      const title = (await costCell.getAttribute('title')) ?? '';
      expect(title).toContain(`Stores ${formatBytes(unique.get(snapFiles[4])!)} of its own`);
      expect(title).toContain('Deleting this snapshot frees');
      // Sorting a single chain keeps it a chain: each disk has one child, so the rows do not move.
      const order = () => e2e.page.$$eval('[role=treeitem]', (rs) => rs.map((r) => r.getAttribute('data-file')));
      const before = await order();
      await $('sort-cost').click();
      expect(await $('sort-cost').textContent()).toContain('▼');
      expect(await order()).toEqual(before);
      await $('sort-cost').click();
      await $('sort-cost').click();
      expect(await $('sort-cost').textContent()).not.toContain('▲');
      await context.close();
    });

    it('the date column, the filter, collapse and expand all, the deep-chain warning and Check all', async () => {
      const context = await open(1024, 640, 'light');
      // The absolute date: the disk's own timestamp, exact to the second, in UTC, so the order shows.
      const stamp = (await getInfo(path.join(e2e.folder, snapFiles[2]))).timestamp;
      expect((await e2e.page.locator(`[data-testid="tree-row-${snapFiles[2]}"] [data-testid=created-cell]`).textContent())?.trim()).toBe(
        new Date(stamp).toISOString().slice(0, 19).replace('T', ' '),
      );
      // Filter: the match and its chain above it, nothing below.
      await $('tree-filter').fill('030405');
      await expect.poll(() => e2e.page.locator('[role=treeitem]').count()).toBe(6);
      expect(await e2e.page.locator('[role=treeitem]').last().getAttribute('data-file')).toBe(snapFiles[5]);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'layout-04-filter-1024.png') });
      await $('tree-filter').fill('no such disk');
      await expect.poll(() => $('tree-empty').textContent()).toContain('no such disk');
      await $('tree-filter').fill('');
      await $('collapse-all').click();
      await expect.poll(() => e2e.page.locator('[role=treeitem]').count()).toBe(1);
      await $('expand-all').click();
      await expect.poll(() => e2e.page.locator('[role=treeitem]').count()).toBe(SNAPSHOTS + 1);
      // The chain is 18 files deep: the warning says so and offers to consolidate with merge.
      expect(await $('deep-chain-warning').textContent()).toContain(`a chain of ${SNAPSHOTS + 1} files`);
      await $('deep-chain-merge').click();
      await e2e.page.locator('[role=dialog]').waitFor();
      expect(await e2e.page.locator('[role=dialog]').textContent()).toContain('Merge');
      // Long names wrap between words in the dialog's title and the details' heading, never inside a word ("enou|gh").
      expect(await wordsSplit('[role=dialog] h2')).toEqual([]);
      expect(await wordsSplit('[data-testid=detail-name]')).toEqual([]);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'layout-05-deep-merge-1024.png') });
      await e2e.page.locator('[role=dialog] button', { hasText: 'Cancel' }).first().click();
      // Check all: every disk's badge ends up checked (ok).
      await $('check-all').click();
      await expect.poll(() => e2e.page.locator('[role=tree] [data-testid=health-badge][data-health=ok]').count(), { timeout: 30_000 }).toBe(SNAPSHOTS + 1);
      await expect.poll(() => $('check-all').textContent()).toBe('Check all');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'layout-06-checked-1024.png') });
      await context.close();
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  240_000,
);

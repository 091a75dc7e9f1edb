// The timeline view in Chromium over `vhdsnap serve` on real VHDs (the graph
// suite's folders: a 9-deep chain, a branched tree, 300 disks), at 1280×800
// and 1024×640 in light and dark: one dot per disk on a date axis, one lane
// per branch, no two names or dots meeting (in a lane or anywhere), and the
// selected disk inside the window. Zoom by button, key and Ctrl+wheel changes
// the scale, the ticks follow it (finer steps, never crowded), and the
// selection stays in view; filter, collapse and expand all act here too.
// Screenshots: timeline-*.png.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BIG_LAST, closeFolderIn, LINEAR_LEAF, openFolderIn, useGraphSuite } from './graph-support';
import { missingPrerequisite } from './support';

const UI_TIMEOUT = 20_000;
const missing = missingPrerequisite();

describe.skipIf(missing !== null)(
  'the timeline view in Chromium',
  () => {
    const e2e = useGraphSuite('timeline', UI_TIMEOUT);
    const { $, problems } = e2e;
    let page: Page;
    const dot = (file: string) => page.locator(`[data-testid=timeline-dot][data-file="${file}"]`);
    const shown = () => $('detail-file').textContent();
    const openFolder = (name: string, select: string) => openFolderIn(page, 'timeline', name, select);
    const closeFolder = () => closeFolderIn(page);

    /** Every meeting of two dots or names, those of one lane first; and whether the selected dot and its name are inside the window. */
    const readTimeline = () =>
      page.evaluate(() => {
        const meet = (a: DOMRect, b: DOMRect) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
        const boxes = Array.from(document.querySelectorAll<SVGGElement>('[data-testid=timeline-dot]')).flatMap((g) => {
          const label = g.querySelector('[data-testid=timeline-label]');
          const lane = g.dataset.lane!;
          return [
            { what: `${g.dataset.file} dot`, lane, r: g.querySelector('.mark')!.getBoundingClientRect() },
            ...(label ? [{ what: `${g.dataset.file} label`, lane, r: label.getBoundingClientRect() }] : []),
          ];
        });
        const inLane: string[] = [];
        const anywhere: string[] = [];
        for (let i = 0; i < boxes.length; i++)
          for (let j = i + 1; j < boxes.length; j++)
            if (meet(boxes[i].r, boxes[j].r)) (boxes[i].lane === boxes[j].lane ? inLane : anywhere).push(`${boxes[i].what} × ${boxes[j].what}`);
        const v = document.querySelector('[data-testid=timeline-viewport]')!.getBoundingClientRect();
        const sel = document.querySelector<SVGGElement>('[data-testid=timeline-dot][aria-pressed=true]');
        const r = sel?.querySelector('.mark')?.getBoundingClientRect();
        // The lane names cover the window's left 138 px: a dot there is hidden.
        const selectedInView = !!r && r.left >= v.left + 138 && r.right <= v.right && r.top >= v.top && r.bottom <= v.bottom;
        const ticks = Array.from(document.querySelectorAll<SVGTextElement>('[data-testid=timeline-tick]')).map((t) => ({
          time: Number(t.dataset.time),
          r: t.getBoundingClientRect(),
        }));
        const tickClash = ticks.some((t, i) => i > 0 && meet(ticks[i - 1].r, t.r));
        const step = ticks.length > 1 ? ticks[1].time - ticks[0].time : 0;
        return {
          inLane,
          anywhere,
          selected: sel?.dataset.file ?? null,
          selectedInView,
          tickCount: ticks.length,
          tickClash,
          step,
          window: { bottom: v.bottom },
          pane: document.querySelector('main.folders')!.getBoundingClientRect().bottom,
        };
      });
    /**
     * After scrolling the window to `top` (px, or 'end'): the names (the dots' and the lanes') whose visible part meets the
     * date axis, and those cut at the window's top edge. What shows of a name is its box within the window's inside.
     */
    const underAxis = (top: number | 'end') =>
      page.evaluate(
        (top) =>
          new Promise<{ scrolled: number; under: string[]; cut: string[]; ticksOut: string[] }>((resolve) => {
            const el = document.querySelector<HTMLElement>('[data-testid=timeline-viewport]')!;
            el.scrollTop = top === 'end' ? el.scrollHeight : top;
            requestAnimationFrame(() =>
              requestAnimationFrame(() => {
                const b = el.getBoundingClientRect();
                // The inside: less the borders and the scroll bars.
                const inside = {
                  left: b.left + el.clientLeft,
                  top: b.top + el.clientTop,
                  right: b.left + el.clientLeft + el.clientWidth,
                  bottom: b.top + el.clientTop + el.clientHeight,
                };
                const axis = document.querySelector('[data-testid=timeline-axis]')!.getBoundingClientRect();
                const meet = (a: DOMRect | typeof inside, c: DOMRect | typeof inside) =>
                  a.left < c.right - 0.5 && c.left < a.right - 0.5 && a.top < c.bottom - 0.5 && c.top < a.bottom - 0.5;
                const under: string[] = [];
                const cut: string[] = [];
                const names = document.querySelectorAll<SVGTextElement>('[data-testid=timeline-label], [data-testid=timeline-lane]');
                for (const t of Array.from(names)) {
                  const r = t.getBoundingClientRect();
                  if (!meet(r, inside)) continue; // out of sight
                  const shown = {
                    left: Math.max(r.left, inside.left),
                    top: Math.max(r.top, inside.top),
                    right: Math.min(r.right, inside.right),
                    bottom: Math.min(r.bottom, inside.bottom),
                  };
                  // Its own words, not its tooltip's.
                  const words = Array.from(t.childNodes)
                    .filter((n) => n.nodeType === Node.TEXT_NODE)
                    .map((n) => n.textContent)
                    .join('')
                    .trim();
                  const what = `${t.dataset.testid} ${words} at ${Math.round(r.left)},${Math.round(r.top)}`;
                  if (meet(shown, axis)) under.push(what);
                  if (r.top < inside.top - 0.5) cut.push(what);
                }
                // The dates inside their strip, top to bottom.
                const ticksOut = Array.from(document.querySelectorAll('[data-testid=timeline-tick]'))
                  .map((t) => t.getBoundingClientRect())
                  .filter((r) => r.top < axis.top - 0.5 || r.bottom > axis.bottom + 0.5)
                  .map((r) => `${Math.round(r.top)}–${Math.round(r.bottom)}`);
                resolve({ scrolled: el.scrollTop, under, cut, ticksOut });
              }),
            );
          }),
        top,
      );
    /** No name is ever under the date axis: the window at its top (nothing cut there either) and at its end. */
    async function expectAxisClear(what: string) {
      const atTop = await underAxis(0);
      expect(atTop.under, `${what} at the top: names under the axis`).toEqual([]);
      expect(atTop.cut, `${what} at the top: names cut at the window's edge`).toEqual([]);
      expect(atTop.ticksOut, `${what}: dates out of their strip`).toEqual([]);
      const atEnd = await underAxis('end');
      expect(atEnd.under, `${what} at the end: names under the axis`).toEqual([]);
      return atEnd.scrolled;
    }
    const dx = async (a: string, b: string) => (await dot(b).boundingBox())!.x - (await dot(a).boundingBox())!.x;
    const zoomLevel = async () => parseInt((await $('timeline-zoom-level').textContent())!, 10);

    async function expectClean(what: string) {
      const t = await readTimeline();
      expect(t.inLane, `${what}: names in a lane`).toEqual([]);
      expect(t.anywhere, `${what}: names and dots`).toEqual([]);
      expect(t.selectedInView, `${what}: ${t.selected} in view`).toBe(true);
      expect(t.tickClash, `${what}: tick labels apart`).toBe(false);
      expect(t.window.bottom, `${what}: window inside the page`).toBeLessThanOrEqual(page.viewportSize()!.height);
      expect(t.window.bottom, `${what}: window inside the folders pane`).toBeLessThanOrEqual(t.pane + 0.5);
      return t;
    }

    const sizes: [number, number][] = [
      [1280, 800],
      [1024, 640],
    ];
    for (const [w, h] of sizes)
      for (const scheme of ['light', 'dark'] as const)
        it(`${w}×${h} ${scheme}: dots apart, zoom (buttons, keys, Ctrl+wheel) with the selection in view, filter and folding`, async () => {
          page = await e2e.open({ width: w, height: h, colorScheme: scheme, goto: true });
          const tag = `${w}-${scheme}`;
          const shot = (name: string) => e2e.shot(`timeline-${name}-${tag}`);

          // ---- branched
          await openFolder('branched', 's1.vhd');
          await expect.poll(() => $('timeline-dot').count()).toBe(8);
          expect(await $('timeline-lane').count()).toBe(5); // vm, test, try, other-os; lone
          await expectClean(`branched ${tag}`);
          expect(await dx('setup-base.vhd', 's1.vhd')).toBeGreaterThan(0);
          expect(await dx('s1.vhd', 's2.vhd')).toBeGreaterThan(0);
          await dot('test.vhd').locator('.mark').click();
          await expect.poll(shown).toBe('test.vhd');
          await page.keyboard.press('ArrowRight'); // the next disk in time: vm (day 9)
          await expect.poll(shown).toBe('vm.vhd');
          // Focus goes with the selection.
          await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.file)).toBe('vm.vhd');
          await shot('branched');
          // Zoom in with the button: three days (base → other-os) take 1.5 times the room, vm still in view.
          const span = await dx('setup-base.vhd', 'other-os.vhd');
          const before = await readTimeline();
          await page.getByRole('button', { name: 'Zoom in' }).click();
          await expect.poll(zoomLevel).toBe(150);
          expect((await dx('setup-base.vhd', 'other-os.vhd')) / span).toBeCloseTo(1.5, 1);
          await expectClean(`branched ${tag} zoomed in`);
          // Keys, on the focused dot: + twice more, the ticks finer; − back; 0 fits.
          await dot('vm.vhd').focus();
          await page.keyboard.press('+');
          await page.keyboard.press('+');
          await expect.poll(zoomLevel).toBe(338);
          const zoomed = await expectClean(`branched ${tag} zoomed ×3.4`);
          expect(zoomed.step, 'ticks follow the zoom').toBeLessThan(before.step);
          expect((await dx('setup-base.vhd', 'other-os.vhd')) / span).toBeCloseTo(3.375, 0);
          expect(await shown()).toBe('vm.vhd');
          await shot('branched-zoomed');
          await page.keyboard.press('-');
          await expect.poll(zoomLevel).toBe(225);
          await expectClean(`branched ${tag} zoomed out`);
          await page.keyboard.press('0');
          await expect.poll(zoomLevel).toBe(100);
          expect(await dx('setup-base.vhd', 'other-os.vhd')).toBeCloseTo(span, 0);
          // Ctrl+wheel zooms (a plain wheel only scrolls).
          const vp = (await $('timeline-viewport').boundingBox())!;
          await page.mouse.move(vp.x + vp.width / 2, vp.y + vp.height / 2);
          await page.mouse.wheel(0, -200);
          expect(await zoomLevel()).toBe(100);
          await page.keyboard.down('Control');
          await page.mouse.wheel(0, -200);
          await page.keyboard.up('Control');
          await expect.poll(zoomLevel).toBeGreaterThan(100);
          await expectClean(`branched ${tag} Ctrl+wheel`);
          await page.getByRole('button', { name: 'Zoom out' }).click();
          await $('timeline-fit').click();
          await expect.poll(zoomLevel).toBe(100);
          // Filter: the match and the disks before it (muted), nothing after it.
          await $('tree-filter').fill('office');
          await expect.poll(() => $('timeline-dot').count()).toBe(3);
          const dims = await page.locator('[data-testid=timeline-dot].dim').evaluateAll((els) => els.map((e) => e.getAttribute('data-file')).sort());
          expect(dims).toEqual(['s1.vhd', 'setup-base.vhd']);
          await dot('s2.vhd').locator('.mark').click();
          await expectClean(`branched ${tag} filtered`);
          await shot('branched-filter');
          await $('tree-filter').fill('');
          await expect.poll(() => $('timeline-dot').count()).toBe(8);
          // Collapse all: the bases, saying how many they hide; the selection moves to its base.
          await $('collapse-all').click();
          await expect.poll(() => $('timeline-dot').count()).toBe(2);
          await expect.poll(shown).toBe('setup-base.vhd');
          expect(await dot('setup-base.vhd').getAttribute('aria-label')).toContain('6 disks hidden');
          expect(await dot('setup-base.vhd').getByTestId('timeline-label').textContent()).toBe('setup base +6');
          await expectClean(`branched ${tag} collapsed`);
          await shot('branched-collapsed');
          await $('expand-all').click();
          await expect.poll(() => $('timeline-dot').count()).toBe(8);
          await closeFolder();

          // ---- linear
          await openFolder('linear', LINEAR_LEAF);
          await expect.poll(() => $('timeline-dot').count()).toBe(9);
          expect(await $('timeline-lane').count()).toBe(1);
          await expectClean(`linear ${tag}`);
          await expectAxisClear(`linear ${tag}`);
          await shot('linear');
          for (let i = 0; i < 4; i++) await page.getByRole('button', { name: 'Zoom in' }).click();
          await expect.poll(zoomLevel).toBe(506);
          await expectClean(`linear ${tag} zoomed`);
          await shot('linear-zoomed');
          await closeFolder();

          // ---- 300 disks
          await openFolder('big', BIG_LAST);
          await expect.poll(() => $('timeline-dot').count()).toBe(300);
          await expectClean(`300 disks ${tag}`);
          await shot('300');
          // Scrolled to the end (its last lanes in view) and back to the top: the axis covers no lane's names.
          expect(await expectAxisClear(`300 disks ${tag}`), 'the window scrolls').toBeGreaterThan(0);
          await shot('300-end');
          await page.getByRole('button', { name: 'Zoom in' }).click();
          await page.getByRole('button', { name: 'Zoom in' }).click();
          await expect.poll(zoomLevel).toBe(225);
          await expectClean(`300 disks ${tag} zoomed`);
          await shot('300-zoomed');
          await closeFolder();
          await page.context().close();
        });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  300_000,
);

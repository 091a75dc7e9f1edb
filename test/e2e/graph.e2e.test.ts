// The graph view as a map, in Chromium over `vhdsnap serve` on real VHDs:
// a 9-deep chain, a branched folder and a 300-disk folder, at 1280×800 and
// 1024×640 in light and dark. The page's own geometry is read
// (getBoundingClientRect of each dot, label and knob; points along each edge
// path in screen coordinates) and no two nodes or labels intersect, no edge
// runs through a label other than its own nodes', and the selected node is
// inside the visible window, in every state: as opened, fitted, filtered,
// collapsed and expanded. The 300-disk folder opens folded to what reads.
// Pan, zoom, fit, folding and the arrow keys are driven as a person would.
// Screenshots: graph-*.png.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BIG_LAST, closeFolderIn, collisions, contains, LINEAR_LEAF, linearSnap, openFolderIn, useGraphSuite, readDrawing, type Rect } from './graph-support';
import { missingPrerequisite } from './support';

const UI_TIMEOUT = 20_000;
const missing = missingPrerequisite();

describe.skipIf(missing !== null)(
  'the graph view in Chromium',
  () => {
    const e2e = useGraphSuite('graph', UI_TIMEOUT);
    const { $, problems } = e2e;
    let page: Page;
    const node = (file: string) => page.locator(`[data-testid=graph-node][data-file="${file}"]`);
    const shown = () => $('detail-file').textContent();
    const drawnFiles = async () => (await readDrawing(page)).nodes.map((n) => n.file).sort();
    const openFolder = (name: string, select: string) => openFolderIn(page, 'graph', name, select);
    const closeFolder = () => closeFolderIn(page);

    /** The box around every node's dot, label and knob, in screen pixels. */
    const spanOf = (nodes: { dot: Rect; label: Rect; knob: Rect | null }[]): Rect => {
      const boxes = nodes.flatMap((n) => [n.dot, n.label, ...(n.knob ? [n.knob] : [])]);
      return {
        left: Math.min(...boxes.map((b) => b.left)),
        top: Math.min(...boxes.map((b) => b.top)),
        right: Math.max(...boxes.map((b) => b.right)),
        bottom: Math.max(...boxes.map((b) => b.bottom)),
      };
    };
    /** No collisions, the selected node (dot and label) inside the graph's window, the window inside the page. */
    async function expectClean(what: string) {
      const d = await readDrawing(page);
      expect(collisions(d), what).toEqual([]);
      const sel = d.nodes.find((n) => n.file === d.selected);
      expect(sel, `${what}: a node is selected`).toBeDefined();
      expect(contains(d.viewport, sel!.dot), `${what}: selected dot in view`).toBe(true);
      expect(contains(d.viewport, sel!.label), `${what}: selected label in view`).toBe(true);
      const vp = page.viewportSize()!;
      expect(d.viewport.bottom, `${what}: graph window inside the page`).toBeLessThanOrEqual(vp.height);
      expect(d.viewport.right, `${what}: graph window inside the page`).toBeLessThanOrEqual(vp.width);
      // Whole inside the folders pane (not under the job area, no scrolling to reach its bottom), and filling it, but for its
      // margin, when the drawing is taller than the window.
      const pane = await page.$eval('main.folders', (m) => m.getBoundingClientRect().bottom);
      expect(d.viewport.bottom, `${what}: graph window inside the folders pane`).toBeLessThanOrEqual(pane + 0.5);
      if (spanOf(d.nodes).bottom > d.viewport.bottom) expect(pane - d.viewport.bottom, `${what}: room left under the graph`).toBeLessThan(24);
      return d;
    }
    /** Where the whole drawing fits the window: how near its nodes come to the window's sides (it should keep its padding). */
    const edgeRoom = (d: { nodes: { dot: Rect; label: Rect; knob: Rect | null }[]; viewport: Rect }) => {
      const s = spanOf(d.nodes);
      return Math.min(s.left - d.viewport.left, d.viewport.right - s.right, s.top - d.viewport.top, d.viewport.bottom - s.bottom);
    };
    const allInView = (d: { nodes: { file: string; dot: Rect; label: Rect }[]; viewport: Rect }) =>
      d.nodes.filter((n) => !contains(d.viewport, n.dot) || !contains(d.viewport, n.label)).map((n) => n.file);

    const sizes: [number, number][] = [
      [1280, 800],
      [1024, 640],
    ];
    for (const [w, h] of sizes)
      for (const scheme of ['light', 'dark'] as const) {
        it(`${w}×${h} ${scheme}: no overlaps and the selection in view, for linear, branched and 300-disk folders, opened, fitted, filtered, collapsed`, async () => {
          page = await e2e.open({ width: w, height: h, colorScheme: scheme, goto: true });
          const tag = `${w}-${scheme}`;
          const shot = (name: string) => e2e.shot(`graph-${name}-${tag}`);

          // ---- linear, 9 deep
          await openFolder('linear', LINEAR_LEAF);
          expect((await expectClean(`linear ${tag}`)).nodes).toHaveLength(9);
          await shot('linear');
          // Arrow keys walk back to the base, the selection staying in view at every step.
          await node(LINEAR_LEAF).focus();
          for (let i = 7; i >= 0; i--) {
            await page.keyboard.press('ArrowLeft');
            await expect.poll(shown).toBe(linearSnap(i));
            await expectClean(`linear ${tag} after ArrowLeft to ${i}`);
          }
          await page.keyboard.press('ArrowRight');
          await expect.poll(shown).toBe(linearSnap(1));
          await $('graph-fit').click();
          const linFit = await expectClean(`linear ${tag} fitted`);
          expect(allInView(linFit), `linear ${tag} fitted: every node in view`).toEqual([]);
          await shot('linear-fit');
          await closeFolder();

          // ---- branched
          await openFolder('branched', 'test.vhd');
          const br = await expectClean(`branched ${tag}`);
          expect(br.nodes).toHaveLength(8);
          expect(br.edges).toHaveLength(6);
          await node('test.vhd').focus();
          await page.keyboard.press('ArrowDown');
          await expect.poll(shown).toBe('vm.vhd');
          await page.keyboard.press('ArrowUp');
          await expect.poll(shown).toBe('test.vhd');
          await page.keyboard.press('ArrowLeft');
          await expect.poll(shown).toBe('s2.vhd');
          await page.keyboard.press('ArrowDown');
          await expect.poll(shown).toBe('try.vhd');
          const moved = await expectClean(`branched ${tag} after arrows`);
          // The whole tree fits the window (at 100 % or 72 %): walking it keeps it whole, off the window's edges.
          expect(allInView(moved), `branched ${tag} after arrows: every node in view`).toEqual([]);
          expect(edgeRoom(moved), `branched ${tag} after arrows: room to the window's sides`).toBeGreaterThanOrEqual(8);
          await shot('branched');
          // Filter: the match and the chain above it, muted; nothing below it, no fold knobs meanwhile.
          await node('s2.vhd').click();
          await $('tree-filter').fill('office');
          await expect.poll(drawnFiles).toEqual(['s1.vhd', 's2.vhd', 'setup-base.vhd']);
          const filtered = await expectClean(`branched ${tag} filtered`);
          expect(
            filtered.nodes
              .filter((n) => n.dim)
              .map((n) => n.file)
              .sort(),
          ).toEqual(['s1.vhd', 'setup-base.vhd']);
          expect(filtered.nodes.filter((n) => n.knob)).toEqual([]);
          expect(filtered.edges.map((e) => `${e.parent}>${e.child}`).sort()).toEqual(['s1.vhd>s2.vhd', 'setup-base.vhd>s1.vhd']);
          expect(await node('s1.vhd').getAttribute('aria-label')).toContain('leads to a match');
          await shot('branched-filter');
          await $('tree-filter').press('Escape');
          await expect.poll(() => $('graph-node').count()).toBe(8);
          // Collapse all leaves the bases, the selection moving to its own; Expand all brings all back.
          await $('collapse-all').click();
          await expect.poll(drawnFiles).toEqual(['lone.vhd', 'setup-base.vhd']);
          await expect.poll(shown).toBe('setup-base.vhd');
          await expect(node('setup-base.vhd').getByTestId('graph-knob').textContent()).resolves.toBe('+6');
          await expectClean(`branched ${tag} collapsed`);
          await shot('branched-collapsed');
          await $('expand-all').click();
          await expect.poll(() => $('graph-node').count()).toBe(8);
          await expectClean(`branched ${tag} expanded`);
          await closeFolder();

          // ---- 300 disks: opened folded to what reads, the selected disk drawn (its chain open) and in view.
          await openFolder('big', BIG_LAST);
          await expect.poll(() => $('graph-node').count()).toBeLessThan(300);
          const big = await expectClean(`300 disks ${tag}`);
          expect(big.selected).toBe(BIG_LAST);
          for (const f of ['d295.vhd', 'd296.vhd', 'd297.vhd', 'd298.vhd']) expect(big.nodes.map((n) => n.file)).toContain(f);
          await shot('300');
          // It opens fitted, not at 100%: whole in the window at 70% or more, the drawing spanning the window
          // on one axis; or, where even the bases alone do not fit that well (1024×640), at 70% exactly (the
          // smallest that reads), every other chain folded to its base, the drawing filling the window.
          const vpBox = big.viewport;
          const drawn = spanOf(big.nodes);
          const across = Math.max((drawn.right - drawn.left) / (vpBox.right - vpBox.left), (drawn.bottom - drawn.top) / (vpBox.bottom - vpBox.top));
          expect(big.zoom, `300 disks ${tag}: opened at`).toBeLessThan(1);
          if (w === 1280) expect(allInView(big), `300 disks ${tag}: opened whole`).toEqual([]);
          const whole = allInView(big).length === 0;
          if (whole) {
            expect(big.zoom, `300 disks ${tag}: opened at`).toBeGreaterThanOrEqual(0.7);
            expect(across, `300 disks ${tag}: the drawing spans the window`).toBeGreaterThan(0.85);
          } else {
            expect(big.zoom, `300 disks ${tag}: opened at`).toBe(0.7);
            expect(big.nodes.filter((n) => n.knob).length).toBeGreaterThanOrEqual(59);
            expect(big.nodes.length).toBe(59 + 5);
            // Wider or taller than the window, and no empty band inside it.
            expect(across, `300 disks ${tag}: larger than the window`).toBeGreaterThan(1);
            expect(drawn.left, `300 disks ${tag}: no empty band on the left`).toBeLessThanOrEqual(vpBox.left + 30);
            expect(drawn.right, `300 disks ${tag}: no empty band on the right`).toBeGreaterThanOrEqual(vpBox.right - 30);
            expect(drawn.bottom, `300 disks ${tag}: no empty band below`).toBeGreaterThanOrEqual(vpBox.bottom - 30);
          }
          await $('graph-fit').click();
          const fitted = await expectClean(`300 disks ${tag} fitted`);
          expect(allInView(fitted)).toEqual([]);
          if (w === 1280) expect(fitted.zoom, `300 disks ${tag}: fitted zoom`).toBeGreaterThanOrEqual(0.7);
          // Opened at 70% only because the whole forest reads at less.
          if (!whole) expect(fitted.zoom, `300 disks ${tag}: fitted zoom`).toBeLessThan(0.7);
          // And it uses the width: the trees are packed side by side, not one tall column.
          const lefts = new Set(fitted.nodes.filter((n) => !n.file.match(/^d(29[5-9])\.vhd$/)).map((n) => Math.round(n.dot.left)));
          expect(lefts.size, `300 disks ${tag}: columns of trees`).toBeGreaterThanOrEqual(3);
          await shot('300-fit');
          // The arrow keys still go to parent, child and sibling.
          await node(BIG_LAST).focus();
          await page.keyboard.press('ArrowLeft');
          await expect.poll(shown).toBe('d298.vhd');
          await page.keyboard.press('ArrowRight');
          await expect.poll(shown).toBe(BIG_LAST);
          await expectClean(`300 disks ${tag} after arrows`);
          // Expand all: 300 nodes, still apart, the selection still in view.
          await $('expand-all').click();
          await expect.poll(() => $('graph-node').count()).toBe(300);
          await expectClean(`300 disks ${tag} expanded`);
          await shot('300-expanded');
          await closeFolder();
          await page.context().close();
        });
      }

    it('pan, zoom, fit and folding work as a person uses them (1280×800)', async () => {
      page = await e2e.open({ width: 1280, height: 800, goto: true });
      await openFolder('big', 'd150.vhd');
      await $('expand-all').click();
      await expect.poll(() => $('graph-node').count()).toBe(300);
      const dotOf = async (file: string) => (await readDrawing(page)).nodes.find((n) => n.file === file)!.dot;
      const vp = (await readDrawing(page)).viewport;

      // Drag the background: the drawing moves with the pointer.
      const before = await dotOf('d150.vhd');
      await page.mouse.move(vp.right - 12, vp.bottom - 12);
      await page.mouse.down();
      await page.mouse.move(vp.right - 72, vp.bottom - 52, { steps: 5 });
      await page.mouse.up();
      const after = await dotOf('d150.vhd');
      expect(after.left - before.left).toBeCloseTo(-60, 0);
      expect(after.top - before.top).toBeCloseTo(-40, 0);
      expect(await shown()).toBe('d150.vhd'); // the drag selected nothing

      // Zoom: the buttons scale about the centre, the wheel about the pointer.
      const width = (r: Rect) => r.right - r.left;
      await $('graph-zoom-out').click();
      const zoomed = await $('graph-zoom-level').textContent();
      expect(width(await dotOf('d150.vhd')) / width(after)).toBeCloseTo(0.8, 1);
      await page.mouse.move(vp.left + 200, vp.top + 100);
      await page.mouse.wheel(0, 300);
      await expect.poll(() => $('graph-zoom-level').textContent()).not.toBe(zoomed);
      expect(parseInt((await $('graph-zoom-level').textContent())!, 10)).toBeLessThan(parseInt(zoomed!, 10));

      // Fit: all 300 dots inside the window.
      await $('graph-fit').click();
      const fitted = await readDrawing(page);
      expect(fitted.nodes.filter((n) => !contains(fitted.viewport, n.dot)).map((n) => n.file)).toEqual([]);
      await e2e.shot('graph-300-all-fit-1280-light');

      // Fold: a chain's first disk hides the 4 below it and says so; + brings them back.
      await $('collapse-all').click();
      await expect.poll(() => $('graph-node').count()).toBe(60);
      const d150root = node('d150.vhd');
      await expect(d150root.getByTestId('graph-knob').textContent()).resolves.toBe('+4');
      await expectClean('300 disks folded');
      await e2e.shot('graph-300-folded-1280-light');
      await d150root.focus();
      await page.keyboard.type('+');
      await expect.poll(() => $('graph-node').count()).toBe(61);
      await expect(node('d151.vhd').getByTestId('graph-knob').textContent()).resolves.toBe('+3');
      await page.keyboard.press('ArrowRight');
      await expect.poll(shown).toBe('d151.vhd');
      await node('d151.vhd').getByTestId('graph-knob').click();
      await expect.poll(() => $('graph-node').count()).toBe(63);
      await page.keyboard.type('-');
      await expect.poll(() => $('graph-node').count()).toBe(61);
      await $('expand-all').click();
      await expect.poll(() => $('graph-node').count()).toBe(300);
      await expectClean('300 disks unfolded');
      // The tree view shows the same folding: all open.
      await $('view-tree').click();
      // Its rows are virtualised: the list holds all 300 (drawn or not).
      await expect.poll(() => $('folder-tree').getAttribute('data-rows')).toBe('300');
      await page.context().close();
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  300_000,
);

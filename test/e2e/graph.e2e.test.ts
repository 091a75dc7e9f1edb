// The graph view as a map, in Chromium over `vhdsnap serve` on real VHDs:
// a 9-deep chain, a branched folder and a 300-disk folder, at 1280×800 and
// 1024×640 in light and dark. The page's own geometry is read
// (getBoundingClientRect of each dot, label and knob; points along each edge
// path in screen coordinates) and no two nodes or labels intersect, no edge
// runs through a label other than its own nodes', and the selected node is
// inside the visible window. Pan, zoom, fit, folding and the arrow keys are
// driven as a person would. The timeline view: one dot per disk on a date
// axis, a click selects the disk everywhere. Screenshots: graph-*.png, timeline-*.png.
import { mkdirSync, openSync, closeSync, readSync, writeSync, fstatSync, statSync, utimesSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { runOperation } from '../../core/operations';
import { decodeFooter, encodeFooter, FOOTER_SIZE } from '../../core/format/footer';
import { startServer, type RunningServer } from '../../server/serve';
import { makeTmpDir } from '../support/tmp';
import { closeSuite, dist, ensureArtifactsDir, launchBrowser, missingPrerequisite, openPage, openRecent } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 20_000;
const missing = missingPrerequisite();
const DAY = 86_400_000;

/** Sets a disk's creation time (both footer copies), keeping its mtime so its children's parent links stay as they were. */
function restamp(file: string, when: Date) {
  const st = statSync(file);
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const raw = Buffer.alloc(FOOTER_SIZE);
    readSync(fd, raw, 0, FOOTER_SIZE, size - FOOTER_SIZE);
    const footer = decodeFooter(raw);
    footer.timestamp = Math.floor(when.getTime() / 1000) - 946684800;
    const out = encodeFooter(footer);
    writeSync(fd, out, 0, FOOTER_SIZE, size - FOOTER_SIZE);
    writeSync(fd, out, 0, FOOTER_SIZE, 0); // dynamic and differencing disks keep a copy at 0
  } finally {
    closeSync(fd);
  }
  utimesSync(file, st.atime, st.mtime);
}

async function disk(dir: string, file: string, parent: string | null, when: Date, name?: string): Promise<string> {
  const p = path.join(dir, file);
  if (parent === null) await createDynamic(p, MiB);
  else await createDifferencing(p, path.join(dir, parent));
  if (name) await runOperation({ op: 'name', disk: p, name });
  return p;
}

/** What the page draws, in screen pixels. */
interface Drawn {
  nodes: { file: string; dot: DOMRectLike; label: DOMRectLike; knob: DOMRectLike | null }[];
  edges: { parent: string; child: string; points: { x: number; y: number }[] }[];
  viewport: DOMRectLike;
  selected: string | null;
}
interface DOMRectLike {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Reads every graph node's dot, label (both lines) and knob box, and points every 4 px along every edge. */
function readDrawing(page: Page): Promise<Drawn> {
  return page.evaluate(() => {
    const box = (r: DOMRect) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
    const union = (a: DOMRect, b: DOMRect) => ({
      left: Math.min(a.left, b.left),
      top: Math.min(a.top, b.top),
      right: Math.max(a.right, b.right),
      bottom: Math.max(a.bottom, b.bottom),
    });
    const nodes = Array.from(document.querySelectorAll<SVGGElement>('[data-testid=graph-node]')).map((g: SVGGElement) => {
      const texts = Array.from(g.querySelectorAll(':scope > text')).map((t) => t.getBoundingClientRect());
      const knob = g.querySelector('[data-testid=graph-knob] rect');
      return {
        file: g.dataset.file!,
        dot: box(g.querySelector('circle')!.getBoundingClientRect()),
        label: union(texts[0], texts[1]),
        knob: knob ? box(knob.getBoundingClientRect()) : null,
      };
    });
    const edges = Array.from(document.querySelectorAll<SVGPathElement>('[data-testid=graph-link]')).map((p: SVGPathElement) => {
      const m = p.getScreenCTM()!;
      const len = p.getTotalLength();
      const points: { x: number; y: number }[] = [];
      for (let s = 0; s <= len; s += 4) {
        const q = p.getPointAtLength(s);
        points.push({ x: m.a * q.x + m.c * q.y + m.e, y: m.b * q.x + m.d * q.y + m.f });
      }
      return { parent: p.dataset.parent!, child: p.dataset.child!, points };
    });
    const sel = document.querySelector<SVGGElement>('[data-testid=graph-node][aria-pressed=true]');
    return {
      nodes,
      edges,
      viewport: box(document.querySelector('[data-testid=graph-viewport]')!.getBoundingClientRect()),
      selected: sel?.dataset.file ?? null,
    };
  });
}

const EPS = 0.5;
const meets = (a: DOMRectLike, b: DOMRectLike) => a.left < b.right - EPS && b.left < a.right - EPS && a.top < b.bottom - EPS && b.top < a.bottom - EPS;
const within = (p: { x: number; y: number }, b: DOMRectLike) => p.x > b.left + EPS && p.x < b.right - EPS && p.y > b.top + EPS && p.y < b.bottom - EPS;
const contains = (outer: DOMRectLike, inner: DOMRectLike) =>
  inner.left >= outer.left - EPS && inner.right <= outer.right + EPS && inner.top >= outer.top - EPS && inner.bottom <= outer.bottom + EPS;

/** Every collision in a drawing, as readable strings. */
function collisions(d: Drawn): string[] {
  const out: string[] = [];
  const boxes = d.nodes.flatMap((n) => [
    { file: n.file, what: `${n.file} dot`, r: n.dot },
    { file: n.file, what: `${n.file} label`, r: n.label },
    ...(n.knob ? [{ file: n.file, what: `${n.file} knob`, r: n.knob }] : []),
  ]);
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) if (meets(boxes[i].r, boxes[j].r)) out.push(`${boxes[i].what} × ${boxes[j].what}`);
  for (const e of d.edges)
    for (const b of boxes) {
      // An edge touches its own two nodes (it leaves the parent's knob and ends at the child's dot).
      if (b.file === e.parent || b.file === e.child) continue;
      const hit = e.points.find((p) => within(p, b.r));
      if (hit) out.push(`edge ${e.parent}→${e.child} through ${b.what} at ${Math.round(hit.x)},${Math.round(hit.y)}`);
    }
  return out;
}

describe.skipIf(missing !== null)(
  'the graph and timeline views in Chromium',
  () => {
    let tmp = '';
    let artifacts = '';
    let server: RunningServer | null = null;
    let browser: Browser | null = null;
    let page: Page;
    const problems: string[] = [];
    const $ = (id: string) => page.getByTestId(id);
    const node = (file: string) => page.locator(`[data-testid=graph-node][data-file="${file}"]`);
    const shown = () => $('detail-file').textContent();
    const folders = { linear: '', branched: '', big: '' };
    const LINEAR_LEAF = 'win10.vhd';
    const BIG_LAST = 'd299.vhd';

    beforeAll(async () => {
      artifacts = ensureArtifactsDir();
      tmp = makeTmpDir('vhdsnap-e2e-graph-');
      for (const k of Object.keys(folders) as (keyof typeof folders)[]) {
        folders[k] = path.join(tmp, k);
        mkdirSync(folders[k]);
      }
      const start = new Date(2026, 10, 20, 9, 0, 0).getTime();
      // Linear: 8 snapshots a day apart with the same long prefix, and the disk in use on top (9 deep).
      let prev: string | null = null;
      for (let i = 0; i < 9; i++) {
        const file = i === 8 ? LINEAR_LEAF : `win10-snap-20261203-13065${i}.vhd`;
        const p = await disk(folders.linear, file, prev, new Date(start + i * DAY), i === 8 ? undefined : `Snapshot ${i + 1}`);
        restamp(p, new Date(start + i * DAY));
        prev = file;
      }
      // Branched: base ← s1 ← {s2 ← {vm, test}, try}, base ← other-os; a lone disk.
      const B = folders.branched;
      const tree: [string, string | null, string | undefined, number][] = [
        ['setup-base.vhd', null, 'setup base', 0],
        ['s1.vhd', 'setup-base.vhd', 'Drivers installed', 2],
        ['s2.vhd', 's1.vhd', 'Office 2024', 5],
        ['vm.vhd', 's2.vhd', undefined, 9],
        ['test.vhd', 's2.vhd', 'Try the beta update', 7],
        ['try.vhd', 's1.vhd', 'Clean registry attempt', 4],
        ['other-os.vhd', 'setup-base.vhd', 'Linux dual boot', 3],
        ['lone.vhd', null, 'Scratch disk', 6],
      ];
      for (const [file, parent, name, days] of tree) restamp(await disk(B, file, parent, new Date(start), name), new Date(start + days * DAY));
      // 300 tiny disks: 60 chains of 5, every third chain with a branch at its second disk.
      for (let c = 0; c < 60; c++) {
        for (let j = 0; j < 5; j++) {
          const i = c * 5 + j;
          const parent = j === 0 ? null : c % 3 === 0 && j === 4 ? `d${c * 5 + 1}` : `d${i - 1}`;
          restamp(await disk(folders.big, `d${i}.vhd`, parent === null ? null : `${parent}.vhd`, new Date(start)), new Date(start + i * 3_600_000));
        }
      }
      server = await startServer({
        port: 0,
        folders: [folders.big, folders.branched, folders.linear],
        distDir: dist.renderer,
        workerPath: dist.worker,
        version: 'e2e',
      });
      browser = await launchBrowser();
    }, 120_000);

    afterAll(() => closeSuite(browser, server, tmp));

    /** The tree draws only the rows in view (and a margin): its pane is scrolled down until the row of `file` is drawn. */
    async function drawnRow(file: string) {
      const row = $(`tree-row-${file}`);
      // The folder's scan first: until its rows are in, there is nothing to scroll.
      await page.locator('[role=treeitem]').first().waitFor();
      for (let top = 0; (await row.count()) === 0; top += 400) {
        const more = await page.evaluate(
          (t) =>
            new Promise<boolean>((resolve) => {
              const pane = document.querySelector('main.folders')!;
              pane.scrollTop = t;
              requestAnimationFrame(() => requestAnimationFrame(() => resolve(t < pane.scrollHeight)));
            }),
          top,
        );
        if (!more) break;
      }
      return row;
    }

    async function openFolder(name: string, select: string) {
      await openRecent(page, name);
      await $(`folder-${name}`).waitFor();
      if ((await $('view-tree').getAttribute('aria-checked')) !== 'true') await $('view-tree').click();
      await (await drawnRow(select)).click();
      await expect.poll(shown).toBe(select);
      await $('view-graph').click();
      await $('graph-viewport').waitFor();
    }
    async function closeFolder() {
      await $('close-folder').click();
      await $('open-folder').waitFor();
    }

    async function expectClean(what: string) {
      const d = await readDrawing(page);
      expect(collisions(d), what).toEqual([]);
      const sel = d.nodes.find((n) => n.file === d.selected);
      expect(sel, `${what}: a node is selected`).toBeDefined();
      expect(contains(d.viewport, sel!.dot), `${what}: selected dot in view`).toBe(true);
      expect(contains(d.viewport, sel!.label), `${what}: selected label in view`).toBe(true);
      // And the window itself is on screen.
      const vp = page.viewportSize()!;
      expect(d.viewport.bottom, `${what}: graph window inside the page`).toBeLessThanOrEqual(vp.height);
      return d;
    }

    const sizes: [number, number][] = [
      [1280, 800],
      [1024, 640],
    ];
    for (const [w, h] of sizes)
      for (const scheme of ['light', 'dark'] as const) {
        it(`${w}×${h} ${scheme}: no overlaps and the selection in view for linear, branched and 300-disk folders`, async () => {
          page = await openPage(browser!, { width: w, height: h, colorScheme: scheme, timeout: UI_TIMEOUT, problems });
          await page.goto(server!.url);
          const tag = `${w}-${scheme}`;

          await openFolder('linear', LINEAR_LEAF);
          const lin = await expectClean(`linear ${tag}`);
          expect(lin.nodes).toHaveLength(9);
          await page.screenshot({ path: path.join(artifacts, `graph-linear-${tag}.png`) });
          // Arrow keys walk back to the base, the selection staying in view at every step.
          await node(LINEAR_LEAF).focus();
          for (let i = 7; i >= 0; i--) {
            await page.keyboard.press('ArrowLeft');
            await expect.poll(shown).toBe(`win10-snap-20261203-13065${i}.vhd`);
            await expectClean(`linear ${tag} after ArrowLeft to ${i}`);
          }
          await page.keyboard.press('ArrowRight');
          await expect.poll(shown).toBe('win10-snap-20261203-130651.vhd');
          await closeFolder();

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
          await expectClean(`branched ${tag} after arrows`);
          await page.screenshot({ path: path.join(artifacts, `graph-branched-${tag}.png`) });
          await closeFolder();

          await openFolder('big', BIG_LAST);
          const big = await expectClean(`300 disks ${tag}`);
          expect(big.nodes).toHaveLength(300);
          await page.screenshot({ path: path.join(artifacts, `graph-300-${tag}.png`) });
          await closeFolder();
          await page.context().close();
        });
      }

    it('pan, zoom, fit and folding work as a person uses them (1280×800)', async () => {
      page = await openPage(browser!, { width: 1280, height: 800, timeout: UI_TIMEOUT, problems });
      await page.goto(server!.url);
      await openFolder('big', 'd150.vhd');
      const dotOf = async (file: string) => (await readDrawing(page)).nodes.find((n) => n.file === file)!.dot;
      const vp = (await readDrawing(page)).viewport;

      // Drag the background: the drawing moves with the pointer.
      const before = await dotOf('d150.vhd');
      await page.mouse.move(vp.left + 40, vp.bottom - 20);
      await page.mouse.down();
      await page.mouse.move(vp.left + 100, vp.bottom - 60, { steps: 5 });
      await page.mouse.up();
      const after = await dotOf('d150.vhd');
      expect(after.left - before.left).toBeCloseTo(60, 0);
      expect(after.top - before.top).toBeCloseTo(-40, 0);
      expect(await shown()).toBe('d150.vhd'); // the drag selected nothing

      // Zoom: the buttons scale about the centre, the wheel about the pointer.
      const width = (r: DOMRectLike) => r.right - r.left;
      await $('graph-zoom-in').click();
      expect(width(await dotOf('d150.vhd')) / width(after)).toBeCloseTo(1.25, 1);
      const zoomed = await $('graph-zoom-level').textContent();
      await page.mouse.move(vp.left + 200, vp.top + 100);
      await page.mouse.wheel(0, 300);
      await expect.poll(() => $('graph-zoom-level').textContent()).not.toBe(zoomed);
      expect(parseInt((await $('graph-zoom-level').textContent())!, 10)).toBeLessThan(parseInt(zoomed!, 10));

      // Fit: all 300 dots inside the window.
      await $('graph-fit').click();
      const fitted = await readDrawing(page);
      expect(fitted.nodes.filter((n) => !contains(fitted.viewport, n.dot)).map((n) => n.file)).toEqual([]);
      await page.screenshot({ path: path.join(artifacts, 'graph-300-fit-1280-light.png') });

      // Fold: a chain's first disk hides the 4 below it and says so; + brings them back.
      await $('graph-fold-all').click();
      await expect.poll(() => $('graph-node').count()).toBe(60);
      const d150root = node('d150.vhd');
      await expect(d150root.getByTestId('graph-knob').textContent()).resolves.toBe('+4');
      await expectClean('300 disks folded');
      await page.screenshot({ path: path.join(artifacts, 'graph-300-folded-1280-light.png') });
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
      await $('graph-unfold-all').click();
      await expect.poll(() => $('graph-node').count()).toBe(300);
      await expectClean('300 disks unfolded');
      await page.context().close();
    });

    for (const [w, h, scheme] of [
      [1280, 800, 'light'],
      [1024, 640, 'dark'],
    ] as const)
      it(`timeline ${w}×${h} ${scheme}: a dot per disk, names apart, and a click selects the same disk everywhere`, async () => {
        page = await openPage(browser!, { width: w, height: h, colorScheme: scheme, timeout: UI_TIMEOUT, problems });
        await page.goto(server!.url);
        const tag = `${w}-${scheme}`;
        const dot = (file: string) => page.locator(`[data-testid=timeline-dot][data-file="${file}"]`);
        /** Label and dot boxes of the timeline; none may meet another. */
        const timelineCollisions = () =>
          page.evaluate(() => {
            const boxes = Array.from(document.querySelectorAll('[data-testid=timeline-dot]')).flatMap((g) => {
              const file = (g as SVGGElement).dataset.file!;
              const label = g.querySelector('[data-testid=timeline-label]');
              return [
                { what: `${file} dot`, r: g.querySelector('.mark')!.getBoundingClientRect() },
                ...(label ? [{ what: `${file} label`, r: label.getBoundingClientRect() }] : []),
              ];
            });
            const out: string[] = [];
            for (let i = 0; i < boxes.length; i++)
              for (let j = i + 1; j < boxes.length; j++) {
                const a = boxes[i].r;
                const b = boxes[j].r;
                if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
                  out.push(`${boxes[i].what} × ${boxes[j].what}`);
              }
            return out;
          });
        const inView = (file: string) =>
          page.evaluate((f) => {
            const v = document.querySelector('[data-testid=timeline-viewport]')!.getBoundingClientRect();
            const r = document.querySelector(`[data-testid=timeline-dot][data-file="${f}"] .mark`)!.getBoundingClientRect();
            return r.left >= v.left && r.right <= v.right && r.top >= v.top && r.bottom <= v.bottom;
          }, file);

        await openFolder('branched', 's1.vhd');
        await $('view-timeline').click();
        await $('timeline').waitFor();
        await expect.poll(() => $('timeline-dot').count()).toBe(8);
        expect(await $('timeline-lane').count()).toBe(5); // vm, test, try, other-os; lone
        expect(await timelineCollisions()).toEqual([]);
        // Days apart on the axis: the base (day 0) is left of s1 (day 2), left of s2 (day 5).
        const xOf = async (file: string) => (await dot(file).boundingBox())!.x;
        expect(await xOf('setup-base.vhd')).toBeLessThan(await xOf('s1.vhd'));
        expect(await xOf('s1.vhd')).toBeLessThan(await xOf('s2.vhd'));
        expect(await dot('s1.vhd').getAttribute('aria-pressed')).toBe('true');
        await dot('test.vhd').locator('.mark').click();
        await expect.poll(shown).toBe('test.vhd');
        await page.keyboard.press('ArrowRight'); // the next disk in time: vm (day 9)
        await expect.poll(shown).toBe('vm.vhd');
        await page.screenshot({ path: path.join(artifacts, `timeline-branched-${tag}.png`) });
        await $('view-tree').click();
        expect(await page.locator('[role=treeitem][aria-selected=true]').getAttribute('data-file')).toBe('vm.vhd');
        await closeFolder();

        await openFolder('linear', LINEAR_LEAF);
        await $('view-timeline').click();
        await expect.poll(() => $('timeline-dot').count()).toBe(9);
        expect(await $('timeline-lane').count()).toBe(1);
        expect(await timelineCollisions()).toEqual([]);
        await page.screenshot({ path: path.join(artifacts, `timeline-linear-${tag}.png`) });
        await closeFolder();

        await openFolder('big', BIG_LAST);
        await $('view-timeline').click();
        await expect.poll(() => $('timeline-dot').count()).toBe(300);
        expect(await timelineCollisions()).toEqual([]);
        await expect.poll(() => inView(BIG_LAST)).toBe(true);
        await page.screenshot({ path: path.join(artifacts, `timeline-300-${tag}.png`) });
        await closeFolder();
        await page.context().close();
      });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  300_000,
);

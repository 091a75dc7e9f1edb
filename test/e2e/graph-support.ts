// What the graph and timeline suites share: their folders of real VHDs (a
// 9-deep chain, a branched tree, 300 disks), and reading the page's drawing
// back as boxes and edge points in screen pixels, to check for collisions.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, utimesSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { decodeFooter, encodeFooter, FOOTER_SIZE } from '../../core/format/footer';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { runOperation } from '../../core/operations';
import { openRecent, useE2eSuite, type E2eSuite } from './support';

const MiB = 2 ** 20;
export const DAY = 86_400_000;
export const LINEAR_LEAF = 'win10.vhd';
export const BIG_LAST = 'd299.vhd';
export const linearSnap = (i: number) => `win10-snap-20261203-13065${i}.vhd`;

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

async function disk(dir: string, file: string, parent: string | null, when: Date, name?: string): Promise<void> {
  const p = path.join(dir, file);
  if (parent === null) await createDynamic(p, MiB);
  else await createDifferencing(p, path.join(dir, parent));
  if (name) await runOperation({ op: 'name', disk: p, name });
  restamp(p, when);
}

export interface GraphFolders {
  linear: string;
  branched: string;
  big: string;
}

/** The three folders under `tmp`. Linear: 8 named snapshots a day apart and the disk in use on top. Branched: base ← s1 ← {s2 ← {vm, test}, try}, base ← other-os, and a lone disk. Big: 60 chains of 5, every third with a branch at its second disk, an hour apart. */
export async function makeGraphFolders(tmp: string): Promise<GraphFolders> {
  const folders: GraphFolders = { linear: path.join(tmp, 'linear'), branched: path.join(tmp, 'branched'), big: path.join(tmp, 'big') };
  for (const dir of Object.values(folders)) mkdirSync(dir);
  const start = new Date(2026, 10, 20, 9, 0, 0).getTime();
  let prev: string | null = null;
  for (let i = 0; i < 9; i++) {
    const file = i === 8 ? LINEAR_LEAF : linearSnap(i);
    await disk(folders.linear, file, prev, new Date(start + i * DAY), i === 8 ? undefined : `Snapshot ${i + 1}`);
    prev = file;
  }
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
  for (const [file, parent, name, days] of tree) await disk(folders.branched, file, parent, new Date(start + days * DAY), name);
  for (let c = 0; c < 60; c++)
    for (let j = 0; j < 5; j++) {
      const i = c * 5 + j;
      const parent = j === 0 ? null : c % 3 === 0 && j === 4 ? `d${c * 5 + 1}` : `d${i - 1}`;
      await disk(folders.big, `d${i}.vhd`, parent === null ? null : `${parent}.vhd`, new Date(start + i * 3_600_000));
    }
  return folders;
}

export interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

const EPS = 0.5;
export const meets = (a: Rect, b: Rect) => a.left < b.right - EPS && b.left < a.right - EPS && a.top < b.bottom - EPS && b.top < a.bottom - EPS;
const within = (p: { x: number; y: number }, b: Rect) => p.x > b.left + EPS && p.x < b.right - EPS && p.y > b.top + EPS && p.y < b.bottom - EPS;
export const contains = (outer: Rect, inner: Rect) =>
  inner.left >= outer.left - EPS && inner.right <= outer.right + EPS && inner.top >= outer.top - EPS && inner.bottom <= outer.bottom + EPS;

/** What the graph draws, in screen pixels. */
export interface Drawn {
  nodes: { file: string; dot: Rect; label: Rect; knob: Rect | null; dim: boolean }[];
  edges: { parent: string; child: string; points: { x: number; y: number }[] }[];
  viewport: Rect;
  selected: string | null;
  zoom: number;
}

/** Reads every graph node's dot, label (both lines) and knob box, and points every 4 px along every edge. */
export function readDrawing(page: Page): Promise<Drawn> {
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
        dim: g.classList.contains('dim'),
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
      zoom: parseInt(document.querySelector('[data-testid=graph-zoom-level]')?.textContent ?? '0', 10) / 100,
    };
  });
}

/** Every collision in a drawing, as readable strings: two boxes (dot, label, knob) meeting, or an edge through a box not its own nodes'. */
export function collisions(d: Drawn): string[] {
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

/** The tree draws only the rows in view (and a margin): its pane is scrolled down until the row of `file` is drawn. */
export async function drawnRow(page: Page, file: string) {
  const row = page.getByTestId(`tree-row-${file}`);
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

/** Opens a folder in the tree view (so no graph has folded it yet), selects a disk there, then shows the graph or the timeline. */
export async function openFolderIn(page: Page, view: 'graph' | 'timeline', name: string, select: string): Promise<void> {
  const $ = (id: string) => page.getByTestId(id);
  if ((await $('view-tree').getAttribute('aria-checked')) !== 'true') await $('view-tree').click();
  await openRecent(page, name);
  await $(`folder-${name}`).waitFor();
  await (await drawnRow(page, select)).click();
  await expect.poll(() => $('detail-file').textContent()).toBe(select);
  await $(`view-${view}`).click();
  await $(`${view}-viewport`).waitFor();
}

export async function closeFolderIn(page: Page): Promise<void> {
  await page.getByTestId('close-folder').click();
  await page.getByTestId('open-folder').waitFor();
}

/** The graph and timeline suites' state: the three folders (makeGraphFolders) under its temp folder, served. */
export function useGraphSuite(name: string, timeout: number): E2eSuite {
  let folders: GraphFolders;
  return useE2eSuite({
    name,
    timeout,
    setupTimeout: 120_000,
    setup: async ({ tmp }) => {
      folders = await makeGraphFolders(tmp);
    },
    serve: () => [folders.big, folders.branched, folders.linear],
  });
}

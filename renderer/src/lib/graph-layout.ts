// The snapshot graph's geometry, apart from Vue: a layered left-to-right
// layout of a forest where every node, label, collapse knob and edge has a
// box computed here, so that nothing overlaps by construction:
// - each generation is a column as wide as its widest node (circle + label +
//   knob), with a gap between columns that only edges use;
// - d3-hierarchy's tidy tree orders the rows, at least ROW apart in a column,
//   which is more than a node is tall;
// - an edge leaves its parent's right end, runs level to the column's edge,
//   then curves through the gap to the child's circle: it never enters
//   another node's box, and edges of one gap keep their order, so never cross.
// For a window, many trees are packed in rows (shelves) so the drawing takes
// the window's shape instead of one tall column; each tree keeps its own box,
// so packing adds no overlap. overviewFolds chooses what to fold so a large
// folder starts readable.
import { hierarchy, tree, type HierarchyPointNode } from 'd3-hierarchy';

export interface GraphDisk {
  key: string;
  /** First line: the disk's name. */
  name: string;
  /** Second line: Now, saved state, or the file name. */
  sub: string;
  /** Whether a line is a file name: those lose their middle, so the distinguishing end stays. */
  nameIsFile?: boolean;
  subIsFile?: boolean;
  /** The active disk: a larger circle. */
  active?: boolean;
  /** Shown only because a disk below it matches the filter: drawn muted. */
  dim?: boolean;
  children: GraphDisk[];
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface LaidNode {
  key: string;
  depth: number;
  parent: string | null;
  /** Visible children (none when collapsed). */
  children: string[];
  /** Circle centre and radius. */
  x: number;
  y: number;
  r: number;
  /** The circle's box. */
  box: Box;
  /** Both text lines, as drawn (shortened to fit with … where needed). */
  label: Box;
  name: string;
  sub: string;
  /** Full texts when shortened (for the tooltip). */
  shortened: boolean;
  /** The collapse knob of a node with children; null for a leaf. */
  knob: Box | null;
  knobText: string;
  collapsed: boolean;
  /** Disks hidden below a collapsed node. */
  hidden: number;
  dim: boolean;
}

export interface LaidEdge {
  key: string;
  parent: string;
  child: string;
  /** Level run from the parent's right end to `bend`, then a curve to `to`. */
  from: Point;
  bend: Point;
  to: Point;
  d: string;
}

export interface GraphLayout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  width: number;
  height: number;
}

/** Text width in px at a font size; the component measures with the page's font. */
export type Measure = (text: string, size: number) => number;

export const NAME_SIZE = 12;
export const SUB_SIZE = 10;
export const KNOB_SIZE = 10;
const ROW = 42; // centre to centre within a column; a node is 30 tall
const GAP = 64; // between columns, for the edges
const PAD = 16; // around the whole drawing
const R = 7;
const R_ACTIVE = 8;
const LABEL_DX = 14; // circle centre to label start
const LABEL_HALF = 15; // label box above and below the centre
const KNOB_DX = 8; // label end to knob
const KNOB_H = 16;
const RUN = 12; // past the column's edge before the curve
const MAX_TEXT = 210;

/** A rough width for tests and for pages without a canvas. */
export const estimateWidth: Measure = (text, size) => text.length * size * 0.6;

/** `text` shortened to `max` px: the end cut (names) or the middle (file names). */
export function fitText(text: string, max: number, size: number, measure: Measure, middle: boolean): string {
  if (measure(text, size) <= max) return text;
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  const cut = (keep: number) => {
    if (!middle) return chars.slice(0, keep).join('').trimEnd() + '…';
    const tail = Math.ceil(keep / 2);
    return chars.slice(0, keep - tail).join('') + '…' + chars.slice(chars.length - tail).join('');
  };
  // Largest number of kept characters that still fits.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(cut(mid), size) <= max) lo = mid;
    else hi = mid - 1;
  }
  return cut(lo);
}

function countAll(d: GraphDisk): number {
  return d.children.reduce((n, c) => n + 1 + countAll(c), 0);
}

type Datum = { disk: GraphDisk | null; children: Datum[] };

export interface LayoutOptions {
  /** The window the drawing is for: trees are packed in rows to suit its shape. Without one, one tree below the other. */
  view?: { w: number; h: number } | null;
  /** False: no fold knobs (while filtering, what is drawn is what matches, whatever is folded). */
  foldable?: boolean;
}

const SHELF_GAP_X = 4; // between trees of a row, on top of both trees' PADs
const SHELF_GAP_Y = -12; // rows share most of their PADs: 20 px between labels, more than a tree's own 12

/** The scale at which a w×h drawing fits the window, never above 1. */
export function fitScale(w: number, h: number, view: { w: number; h: number }): number {
  return Math.min(1, view.w / Math.max(1, w), view.h / Math.max(1, h));
}

function edgePath(from: Point, bend: Point, to: Point): string {
  const mid = (bend.x + to.x) / 2;
  return `M${from.x},${from.y} H${bend.x} C${mid},${bend.y} ${mid},${to.y} ${to.x},${to.y}`;
}

function shifted(l: GraphLayout, dx: number, dy: number): GraphLayout {
  const p = (q: Point): Point => ({ x: q.x + dx, y: q.y + dy });
  const b = (q: Box): Box => ({ ...q, x: q.x + dx, y: q.y + dy });
  return {
    nodes: l.nodes.map((n) => ({ ...n, x: n.x + dx, y: n.y + dy, box: b(n.box), label: b(n.label), knob: n.knob ? b(n.knob) : null })),
    edges: l.edges.map((e) => {
      const [from, bend, to] = [p(e.from), p(e.bend), p(e.to)];
      return { ...e, from, bend, to, d: edgePath(from, bend, to) };
    }),
    width: l.width + dx,
    height: l.height + dy,
  };
}

/** Trees left to right in rows no wider than `target` (a wider tree gets a row of its own). */
function shelves(trees: GraphLayout[], target: number): GraphLayout {
  const out: GraphLayout = { nodes: [], edges: [], width: 0, height: 0 };
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const t of trees) {
    if (x > 0 && x + t.width > target) {
      x = 0;
      y += rowH + SHELF_GAP_Y;
      rowH = 0;
    }
    const s = shifted(t, x, y);
    out.nodes.push(...s.nodes);
    out.edges.push(...s.edges);
    out.width = Math.max(out.width, x + t.width);
    out.height = Math.max(out.height, y + t.height);
    rowH = Math.max(rowH, t.height);
    x += t.width + SHELF_GAP_X;
  }
  return out;
}

export function layoutForest(roots: GraphDisk[], collapsed: ReadonlySet<string>, measure: Measure = estimateWidth, o: LayoutOptions = {}): GraphLayout {
  const stacked = layoutStack(roots, collapsed, measure, o.foldable ?? true);
  const view = o.view;
  if (!view || view.w <= 0 || view.h <= 0 || roots.length < 2) return stacked;
  // Rows of trees at a few widths; the one shown largest wins. The stack (whose
  // generations line up across trees) unless packing shows it clearly larger.
  const trees = roots.map((r) => layoutStack([r], collapsed, measure, o.foldable ?? true));
  let best = stacked;
  let bestScale = fitScale(stacked.width, stacked.height, view) * 1.03;
  for (let k = 1; k >= 0.1; k -= 0.05) {
    const packed = shelves(trees, view.w / k);
    const scale = fitScale(packed.width, packed.height, view);
    if (scale > bestScale) {
      best = packed;
      bestScale = scale;
    }
  }
  return best;
}

/** What to fold so the fitted drawing reads at `readable` scale or more: every
 * subtree below the deepest generation that still fits (the roots' children
 * at worst), never an ancestor of `keep` (the selected disk stays drawn). */
export function overviewFolds(
  roots: GraphDisk[],
  collapsed: ReadonlySet<string>,
  view: { w: number; h: number },
  measure: Measure = estimateWidth,
  keep: string | null = null,
  readable = 0.7,
): string[] {
  const path = new Set<string>();
  const findPath = (d: GraphDisk): boolean => {
    const on = d.key === keep || d.children.some(findPath);
    if (on) path.add(d.key);
    return on;
  };
  roots.forEach(findPath);
  path.delete(keep ?? '');
  let deepest = 0;
  const depthOf = (d: GraphDisk, depth: number): void => {
    deepest = Math.max(deepest, depth);
    if (!collapsed.has(d.key)) d.children.forEach((c) => depthOf(c, depth + 1));
  };
  roots.forEach((r) => depthOf(r, 0));
  const foldsAt = (cut: number): string[] => {
    const out: string[] = [];
    const walk = (d: GraphDisk, depth: number) => {
      if (collapsed.has(d.key) || d.children.length === 0) return;
      if (depth >= cut && !path.has(d.key)) out.push(d.key);
      else d.children.forEach((c) => walk(c, depth + 1));
    };
    roots.forEach((r) => walk(r, 0));
    return out;
  };
  const fits = (folds: string[]) => {
    const l = layoutForest(roots, new Set([...collapsed, ...folds]), measure, { view });
    return fitScale(l.width, l.height, view) >= readable;
  };
  if (fits([])) return [];
  for (let cut = deepest - 1; cut > 0; cut--) {
    const folds = foldsAt(cut);
    if (fits(folds)) return folds;
  }
  return foldsAt(0);
}

function layoutStack(roots: GraphDisk[], collapsed: ReadonlySet<string>, measure: Measure, foldable: boolean): GraphLayout {
  const datum = (disk: GraphDisk): Datum => ({ disk, children: collapsed.has(disk.key) ? [] : disk.children.map(datum) });
  // The forest hangs off a hidden root so one tidy layout places every tree.
  const root = hierarchy<Datum>({ disk: null, children: roots.map(datum) });
  const laid = tree<Datum>()
    .nodeSize([ROW, 1])
    .separation((a, b) => (a.parent === b.parent ? 1 : 1.25))(root);
  const shown = laid.descendants().filter((n) => n.data.disk);
  if (shown.length === 0) return { nodes: [], edges: [], width: 0, height: 0 };

  // Texts and widths first: a column is as wide as its widest node.
  const parts = shown.map((n) => {
    const disk = n.data.disk!;
    const name = fitText(disk.name, MAX_TEXT, NAME_SIZE, measure, !!disk.nameIsFile);
    const sub = fitText(disk.sub, MAX_TEXT, SUB_SIZE, measure, !!disk.subIsFile);
    const textW = Math.ceil(Math.max(measure(name, NAME_SIZE), measure(sub, SUB_SIZE))) + 2;
    const isCollapsed = collapsed.has(disk.key) && disk.children.length > 0;
    const hidden = isCollapsed ? countAll(disk) : 0;
    const knobText = disk.children.length === 0 || !foldable ? '' : isCollapsed ? `+${hidden}` : '−';
    const knobW = knobText ? Math.max(KNOB_H, Math.ceil(measure(knobText, KNOB_SIZE)) + 10) : 0;
    const right = LABEL_DX + textW + (knobW ? KNOB_DX + knobW : 0); // from the centre
    return { n, disk, name, sub, textW, knobText, knobW, right, isCollapsed, hidden };
  });
  const depths = Math.max(...shown.map((n) => n.depth));
  const colWidth = new Array<number>(depths + 1).fill(0);
  for (const p of parts) colWidth[p.n.depth] = Math.max(colWidth[p.n.depth], R_ACTIVE + p.right);
  const colLeft = new Array<number>(depths + 1).fill(PAD);
  for (let d = 2; d <= depths; d++) colLeft[d] = colLeft[d - 1] + colWidth[d - 1] + GAP;
  const minRow = Math.min(...shown.map((n) => n.x));
  const centre = (n: HierarchyPointNode<Datum>): Point => ({ x: colLeft[n.depth] + R_ACTIVE, y: n.x - minRow + PAD + LABEL_HALF });

  const nodes: LaidNode[] = parts.map((p) => {
    const c = centre(p.n);
    const r = p.disk.active ? R_ACTIVE : R;
    const labelX = c.x + LABEL_DX;
    return {
      key: p.disk.key,
      depth: p.n.depth - 1,
      parent: p.n.parent?.data.disk?.key ?? null,
      children: (p.n.children ?? []).map((k) => k.data.disk!.key),
      x: c.x,
      y: c.y,
      r,
      box: { x: c.x - r - 1, y: c.y - r - 1, w: 2 * r + 2, h: 2 * r + 2 },
      label: { x: labelX, y: c.y - LABEL_HALF, w: p.textW, h: 2 * LABEL_HALF },
      name: p.name,
      sub: p.sub,
      shortened: p.name !== p.disk.name || p.sub !== p.disk.sub,
      knob: p.knobW ? { x: labelX + p.textW + KNOB_DX, y: c.y - KNOB_H / 2, w: p.knobW, h: KNOB_H } : null,
      knobText: p.knobText,
      collapsed: p.isCollapsed,
      hidden: p.hidden,
      dim: !!p.disk.dim,
    };
  });
  const byKey = new Map(nodes.map((n) => [n.key, n]));

  const edges: LaidEdge[] = [];
  for (const n of nodes) {
    const colRight = colLeft[n.depth + 1] + colWidth[n.depth + 1];
    for (const k of n.children) {
      const c = byKey.get(k)!;
      const from = { x: n.knob ? n.knob.x + n.knob.w : n.label.x + n.label.w, y: n.y };
      const bend = { x: colRight + RUN, y: n.y };
      const to = { x: c.x - c.r - 1, y: c.y };
      edges.push({ key: `${n.key}>${k}`, parent: n.key, child: k, from, bend, to, d: edgePath(from, bend, to) });
    }
  }

  const width = Math.max(...nodes.map((n) => (n.knob ? n.knob.x + n.knob.w : n.label.x + n.label.w))) + PAD;
  const height = Math.max(...nodes.map((n) => n.label.y + n.label.h)) + PAD;
  return { nodes, edges, width: Math.ceil(width), height: Math.ceil(height) };
}

/** Points along an edge: its level run, then its curve sampled `steps` times. */
export function edgePoints(e: LaidEdge, steps = 24): Point[] {
  const out: Point[] = [e.from];
  const mid = (e.bend.x + e.to.x) / 2;
  const c1 = { x: mid, y: e.bend.y };
  const c2 = { x: mid, y: e.to.y };
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    out.push({
      x: u * u * u * e.bend.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * e.to.x,
      y: u * u * u * e.bend.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * e.to.y,
    });
  }
  return out;
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

export function inside(p: Point, b: Box): boolean {
  return p.x > b.x && p.x < b.x + b.w && p.y > b.y && p.y < b.y + b.h;
}

/** The pan and zoom that show `box` whole in a `view`-sized window, no larger than `maxScale`. */
export function fitTransform(box: Box, view: { w: number; h: number }, maxScale = 1, minScale = 0.05): { x: number; y: number; k: number } {
  const k = Math.max(minScale, Math.min(maxScale, view.w / Math.max(1, box.w), view.h / Math.max(1, box.h)));
  return { k, x: (view.w - box.w * k) / 2 - box.x * k, y: (view.h - box.h * k) / 2 - box.y * k };
}

/** The smallest pan that brings `box` (drawing coordinates) inside the window with a margin; the same pan when it already is. */
export function panToShow(box: Box, t: { x: number; y: number; k: number }, view: { w: number; h: number }, margin = 24): { x: number; y: number; k: number } {
  const shift = (lo: number, hi: number, size: number) => {
    const m = Math.min(margin, Math.max(0, (size - (hi - lo)) / 2));
    if (hi - lo > size - 2 * m || lo < m) return m - lo;
    if (hi > size - m) return size - m - hi;
    return 0;
  };
  const left = box.x * t.k + t.x;
  const top = box.y * t.k + t.y;
  return {
    k: t.k,
    x: t.x + shift(left, left + box.w * t.k, view.w),
    y: t.y + shift(top, top + box.h * t.k, view.h),
  };
}

// The graph's geometry (renderer/src/lib/graph-layout.ts): for a 9-deep chain,
// a branched tree and a 300-disk forest no two of the node, label and knob
// boxes overlap, no edge passes through any box, edges of different parents
// never cross, and everything lies inside the computed extent; folding hides
// a subtree and counts it; the window helpers bring a box into view. For a
// window, trees pack into rows and a large folder gets folded to what reads.
import { describe, expect, it } from 'vitest';
import {
  edgePoints,
  estimateWidth,
  fitText,
  fitTransform,
  inside,
  fitScale,
  layoutForest,
  overlaps,
  overviewFolds,
  panToShow,
  type Box,
  type GraphDisk,
  type GraphLayout,
  type Point,
} from '../../renderer/src/lib/graph-layout';
import { Rng } from '../support/model';

const disk = (key: string, children: GraphDisk[] = [], name = key): GraphDisk => ({ key, name, sub: `${key}.vhd`, subIsFile: true, children });

function chain(depth: number): GraphDisk[] {
  let top: GraphDisk | null = null;
  for (let i = depth - 1; i >= 0; i--) top = disk(`win10-snap-20261203-13065${i}`, top ? [top] : [], i === depth - 1 ? 'Now' : `Snapshot ${i + 1}`);
  return [top!];
}

function branched(): GraphDisk[] {
  return [
    disk('base', [
      disk('a', [disk('a1', [], 'A very long snapshot name that goes on and on and on past any column'), disk('a2'), disk('a3', [disk('a3x'), disk('a3y')])]),
      disk('b', [disk('b1')]),
      disk('c'),
    ]),
    disk('lone'),
    disk('other', [disk('o1', [disk('o2', [disk('o3')])]), disk('o4')]),
  ];
}

/** 300 disks: chains of a random length with random branching, seeded. */
function forest(count: number): GraphDisk[] {
  const rng = new Rng(300);
  const all: GraphDisk[] = [];
  const roots: GraphDisk[] = [];
  for (let i = 0; i < count; i++) {
    const d = disk(`d${i}`, [], `Disk ${i}${'x'.repeat(rng.int(20))}`);
    if (all.length === 0 || rng.int(6) === 0) roots.push(d);
    else all[all.length - 1 - rng.int(Math.min(all.length, 4))].children.push(d);
    all.push(d);
  }
  return roots;
}

function countDisks(roots: GraphDisk[]): number {
  return roots.reduce((n, r) => n + 1 + countDisks(r.children), 0);
}

interface Named {
  what: string;
  box: Box;
}
function boxesOf(l: GraphLayout): Named[] {
  return l.nodes.flatMap((n) => [
    { what: `${n.key} node`, box: n.box },
    { what: `${n.key} label`, box: n.label },
    ...(n.knob ? [{ what: `${n.key} knob`, box: n.knob }] : []),
  ]);
}

function crosses(p1: Point, p2: Point, q1: Point, q2: Point): boolean {
  const side = (a: Point, b: Point, c: Point) => Math.sign((b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x));
  return side(p1, p2, q1) * side(p1, p2, q2) < 0 && side(q1, q2, p1) * side(q1, q2, p2) < 0;
}

/** Every way two things could collide, as readable strings (empty when none). */
function collisions(l: GraphLayout): string[] {
  const out: string[] = [];
  const boxes = boxesOf(l);
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) if (overlaps(boxes[i].box, boxes[j].box)) out.push(`${boxes[i].what} × ${boxes[j].what}`);
  const polylines = l.edges.map((e) => ({ e, pts: edgePoints(e) }));
  for (const { e, pts } of polylines)
    for (const b of boxes) {
      const hit = pts.find((p) => inside(p, b.box));
      if (hit) out.push(`edge ${e.key} through ${b.what} at ${hit.x},${hit.y}`);
    }
  for (let i = 0; i < polylines.length; i++)
    for (let j = i + 1; j < polylines.length; j++) {
      const a = polylines[i];
      const b = polylines[j];
      if (a.e.parent === b.e.parent) continue; // siblings share their start
      for (let s = 1; s < a.pts.length; s++)
        for (let u = 1; u < b.pts.length; u++)
          if (crosses(a.pts[s - 1], a.pts[s], b.pts[u - 1], b.pts[u])) {
            out.push(`edge ${a.e.key} crosses ${b.e.key}`);
            s = a.pts.length;
            break;
          }
    }
  for (const b of boxes) {
    if (b.box.x < 0 || b.box.y < 0 || b.box.x + b.box.w > l.width || b.box.y + b.box.h > l.height) out.push(`${b.what} outside the extent`);
  }
  return out;
}

describe('graph layout', () => {
  const cases: [string, GraphDisk[]][] = [
    ['a linear 9-deep chain', chain(9)],
    ['a branched tree', branched()],
    ['a 300-disk forest', forest(300)],
  ];
  for (const [what, roots] of cases) {
    it(`${what}: one node per disk, one edge per link, nothing overlaps, all inside the extent`, () => {
      const l = layoutForest(roots, new Set());
      expect(l.nodes).toHaveLength(countDisks(roots));
      expect(l.edges).toHaveLength(countDisks(roots) - roots.length);
      expect(collisions(l)).toEqual([]);
      // Layered: a child's column is right of its parent's whole node.
      const byKey = new Map(l.nodes.map((n) => [n.key, n]));
      for (const n of l.nodes)
        for (const c of n.children) {
          const p = byKey.get(n.key)!;
          expect(byKey.get(c)!.box.x).toBeGreaterThan((p.knob ?? p.label).x + (p.knob ?? p.label).w);
          expect(byKey.get(c)!.depth).toBe(p.depth + 1);
        }
    });
  }

  it('the collision check itself finds overlaps (a label moved onto its neighbour, an edge through a label)', () => {
    const l = layoutForest(branched(), new Set());
    const [a, b] = l.nodes.filter((n) => n.depth === 1);
    const moved: GraphLayout = { ...l, nodes: l.nodes.map((n) => (n === b ? { ...n, label: { ...n.label, y: a.label.y + 5 } } : n)) };
    expect(collisions(moved).some((c) => c.includes(`${b.key} label`))).toBe(true);
    const e = l.edges[0];
    const target = l.nodes.find((n) => n.key !== e.parent && n.key !== e.child)!;
    const through: GraphLayout = { ...l, edges: [{ ...e, bend: { x: target.label.x + 2, y: target.y } }] };
    expect(collisions(through).some((c) => c.startsWith(`edge ${e.key} through`))).toBe(true);
  });

  it('long names are cut to fit: names at the end, file names in the middle so the end stays', () => {
    const long = 'win10-snap-20261203-130657-and-some-more-words.vhd';
    const cutMiddle = fitText(long, 120, 12, estimateWidth, true);
    expect(estimateWidth(cutMiddle, 12)).toBeLessThanOrEqual(120);
    expect(cutMiddle).toContain('…');
    expect(cutMiddle.endsWith('.vhd')).toBe(true);
    expect(cutMiddle.startsWith('win10')).toBe(true);
    const cutEnd = fitText(long, 120, 12, estimateWidth, false);
    expect(cutEnd.endsWith('…')).toBe(true);
    expect(fitText('short', 120, 12, estimateWidth, true)).toBe('short');
    const l = layoutForest(branched(), new Set());
    const a1 = l.nodes.find((n) => n.key === 'a1')!;
    expect(a1.shortened).toBe(true);
    expect(a1.label.w).toBeLessThanOrEqual(212);
  });

  it('a folded node hides its subtree, says how many disks, and the drawing shrinks', () => {
    const roots = forest(300);
    const open = layoutForest(roots, new Set());
    const big = roots.reduce((a, b) => (countDisks(b.children) > countDisks(a.children) ? b : a));
    const hidden = countDisks(big.children);
    const folded = layoutForest(roots, new Set([big.key]));
    const n = folded.nodes.find((x) => x.key === big.key)!;
    expect(n.collapsed).toBe(true);
    expect(n.hidden).toBe(hidden);
    expect(n.knobText).toBe(`+${hidden}`);
    expect(n.children).toEqual([]);
    expect(folded.nodes).toHaveLength(open.nodes.length - hidden);
    expect(folded.height).toBeLessThan(open.height);
    expect(collisions(folded)).toEqual([]);
    // Every root folded: 300 disks become one column.
    const all = layoutForest(roots, new Set(roots.map((r) => r.key)));
    expect(all.nodes).toHaveLength(roots.length);
    expect(all.edges).toHaveLength(0);
    expect(all.nodes.reduce((s, x) => s + x.hidden, 0)).toBe(300 - roots.length);
  });

  it('for a window, many trees pack into rows: shown larger than one tall column, each tree whole, nothing colliding', () => {
    const roots = forest(300);
    const folded = new Set(roots.map((r) => r.key));
    const view = { w: 880, h: 600 };
    for (const [collapsed, gain] of [
      [new Set<string>(), 1.1],
      [folded, 2],
    ] as const) {
      const stack = layoutForest(roots, collapsed);
      const packed = layoutForest(roots, collapsed, estimateWidth, { view });
      expect(packed.nodes).toHaveLength(stack.nodes.length);
      expect(packed.edges).toHaveLength(stack.edges.length);
      expect(collisions(packed)).toEqual([]);
      expect(fitScale(packed.width, packed.height, view)).toBeGreaterThan(gain * fitScale(stack.width, stack.height, view));
      // Still a layered drawing: every child right of its parent, on the parent's tree.
      const byKey = new Map(packed.nodes.map((n) => [n.key, n]));
      for (const n of packed.nodes) for (const c of n.children) expect(byKey.get(c)!.x).toBeGreaterThan(n.x);
    }
    // One tree, or a window that fits it all: nothing to pack, the stack as it was.
    expect(layoutForest(chain(9), new Set(), estimateWidth, { view })).toEqual(layoutForest(chain(9), new Set()));
  });

  it('overviewFolds folds a large folder below the deepest generation that still reads, never the way to the selection', () => {
    const roots = forest(300);
    const view = { w: 880, h: 600 };
    const keep = 'd299';
    const folds = overviewFolds(roots, new Set(), view, estimateWidth, keep, 0.7);
    expect(folds.length).toBeGreaterThan(0);
    const laid = layoutForest(roots, new Set(folds), estimateWidth, { view });
    expect(laid.nodes.map((n) => n.key)).toContain(keep);
    expect(collisions(laid)).toEqual([]);
    // Each fold is a disk with children, and none hides another fold.
    const parentOf = new Map<string, string>();
    const all = new Map<string, GraphDisk>();
    const walk = (d: GraphDisk) => {
      all.set(d.key, d);
      d.children.forEach((c) => (parentOf.set(c.key, d.key), walk(c)));
    };
    roots.forEach(walk);
    const set = new Set(folds);
    for (const f of folds) {
      expect(all.get(f)!.children.length).toBeGreaterThan(0);
      for (let p = parentOf.get(f); p; p = parentOf.get(p)) expect(set.has(p), `${f} under ${p}`).toBe(false);
    }
    for (let p = parentOf.get(keep); p; p = parentOf.get(p)) expect(set.has(p)).toBe(false);
    // Either it reads at 0.7, or nothing but the roots (and the selection's chain) is left to fold.
    const scale = fitScale(laid.width, laid.height, view);
    if (scale < 0.7)
      for (const r of roots)
        if (
          r.children.length &&
          !r.children.some(function has(c): boolean {
            return c.key === keep || c.children.some(has);
          })
        )
          expect(set.has(r.key)).toBe(true);
    // A folder that reads whole is left alone.
    expect(overviewFolds(branched(), new Set(), { w: 1600, h: 900 })).toEqual([]);
    // A bigger window folds less (or the same).
    const wide = overviewFolds(roots, new Set(), { w: 2400, h: 1400 }, estimateWidth, keep, 0.7);
    expect(layoutForest(roots, new Set(wide)).nodes.length).toBeGreaterThanOrEqual(laid.nodes.length);
  });

  it('fit shows the whole drawing; a pan brings an off-screen box into view and leaves a visible one alone', () => {
    const l = layoutForest(forest(300), new Set());
    const view = { w: 800, h: 500 };
    const f = fitTransform({ x: 0, y: 0, w: l.width, h: l.height }, view);
    expect(l.width * f.k).toBeLessThanOrEqual(view.w + 0.01);
    expect(l.height * f.k).toBeLessThanOrEqual(view.h + 0.01);
    expect(f.x).toBeGreaterThanOrEqual(-0.01);
    expect(f.y).toBeGreaterThanOrEqual(-0.01);
    const last = l.nodes[l.nodes.length - 1];
    const t = { x: 0, y: 0, k: 1 };
    const moved = panToShow(last.label, t, view);
    const left = last.label.x + moved.x;
    const top = last.label.y + moved.y;
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left + last.label.w).toBeLessThanOrEqual(view.w);
    expect(top).toBeGreaterThanOrEqual(0);
    expect(top + last.label.h).toBeLessThanOrEqual(view.h);
    expect(panToShow(l.nodes[0].label, t, view)).toEqual(t);
  });
});

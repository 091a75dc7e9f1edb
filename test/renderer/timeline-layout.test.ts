// The timeline's geometry (renderer/src/lib/timeline-layout.ts): a dot per
// disk at its time, a lane per branch with the disk in use on its tree's first
// lane, children right of their parents, names only where they fit, and a
// date axis in order.
import { describe, expect, it } from 'vitest';
import { estimateWidth } from '../../renderer/src/lib/graph-layout';
import { layoutTimeline, tickTimes, type TimelineDisk } from '../../renderer/src/lib/timeline-layout';

const DAY = 86_400_000;
const T0 = new Date(2026, 10, 20, 9, 0, 0).getTime();
const d = (key: string, day: number, children: TimelineDisk[] = [], active = false): TimelineDisk => ({
  key,
  name: `Disk ${key}`,
  time: T0 + day * DAY,
  active,
  children,
});

function forest(): TimelineDisk[] {
  // base ← s1 ← {s2 ← {vm (in use), test}, try}; base ← other; and a lone disk.
  return [d('base', 0, [d('s1', 2, [d('try', 4), d('s2', 5, [d('test', 7), d('vm', 9, [], true)])]), d('other', 3)]), d('lone', 6, [], true)];
}

describe('timeline layout', () => {
  it('one dot per disk, one lane per branch, the disk in use on its tree’s first lane', () => {
    const l = layoutTimeline(forest(), 800, estimateWidth);
    expect(l.dots).toHaveLength(8);
    expect(l.lanes).toHaveLength(5); // vm, test, try, other; lone
    const dot = (k: string) => l.dots.find((x) => x.key === k)!;
    expect(['base', 's1', 's2', 'vm'].map((k) => dot(k).lane)).toEqual([0, 0, 0, 0]);
    expect(new Set(['test', 'try', 'other'].map((k) => dot(k).lane)).size).toBe(3);
    expect(l.lanes[0].name).toBe('Disk vm');
    expect(dot('lone').lane).toBe(4);
    expect(l.lanes[4].tree).not.toBe(l.lanes[0].tree);
    expect(l.links).toHaveLength(6);
  });

  it('orders the trees by their first disk’s time, whatever order they come in (names sorted as text put d29 after d249)', () => {
    const roots = [d('d249', 5, [d('d249a', 6)]), d('d29', 1, [d('d29a', 2), d('d29b', 3)]), d('d254', 4)];
    const l = layoutTimeline(roots, 800, estimateWidth);
    const lane = (k: string) => l.dots.find((x) => x.key === k)!.lane;
    // d29's tree (two lanes: its branch below it) first, then d254, then d249.
    expect([lane('d29'), lane('d29b'), lane('d254'), lane('d249')]).toEqual([0, 1, 2, 3]);
    expect(l.lanes.map((x) => x.tree)).toEqual([0, 0, 1, 2]);
    // Equal times keep the order they came in.
    const same = layoutTimeline([d('b', 1), d('a', 1)], 800, estimateWidth);
    expect(same.dots.map((x) => [x.key, x.lane])).toEqual([
      ['b', 0],
      ['a', 1],
    ]);
  });

  it('places dots by time on the axis: later is right, children right of parents, the axis ticks in order', () => {
    const l = layoutTimeline(forest(), 800, estimateWidth);
    const sorted = [...l.dots].sort((a, b) => a.time - b.time);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i].x).toBeGreaterThan(sorted[i - 1].x);
    const byKey = new Map(l.dots.map((x) => [x.key, x]));
    for (const x of l.dots) if (x.parent) expect(x.x).toBeGreaterThan(byKey.get(x.parent)!.x);
    // Linear in time where nothing needed spreading: base (day 0) to vm (day 9) spans the plot.
    const perDay = (byKey.get('vm')!.x - byKey.get('base')!.x) / 9;
    expect(byKey.get('s1')!.x - byKey.get('base')!.x).toBeCloseTo(2 * perDay, 5);
    expect(l.ticks.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < l.ticks.length; i++) expect(l.ticks[i].x).toBeGreaterThan(l.ticks[i - 1].x);
    for (const t of l.ticks) expect(t.x).toBeGreaterThanOrEqual(l.left);
    expect(l.ticks.every((t) => t.text.length > 0)).toBe(true);
  });

  it('disks made in the same second are spread along their lane, and names are written only where they fit', () => {
    const same: TimelineDisk[] = [{ key: 'a', name: 'First snapshot with a long name', time: T0, children: [] }];
    let top = same[0];
    for (const k of ['b', 'c', 'e']) {
      const n: TimelineDisk = { key: k, name: `Snapshot ${k}`, time: T0, children: [] };
      top.children.push(n);
      top = n;
    }
    const l = layoutTimeline(same, 600, estimateWidth);
    const xs = l.dots.map((x) => x.x);
    for (let i = 1; i < xs.length; i++) expect(xs[i] - xs[i - 1]).toBeGreaterThanOrEqual(16);
    // No two drawn names overlap on a lane, and a name that does not fit is left to the tooltip.
    const lanes = new Map<number, typeof l.dots>();
    for (const x of l.dots) lanes.set(x.lane, [...(lanes.get(x.lane) ?? []), x]);
    for (const dots of lanes.values()) {
      const drawn = dots.filter((x) => x.label).sort((a, b) => a.x - b.x);
      for (let i = 1; i < drawn.length; i++) expect(drawn[i - 1].x - 4 + drawn[i - 1].labelW).toBeLessThan(drawn[i].x - 4);
    }
    expect(l.dots.find((x) => x.key === 'a')!.label).toBe('');
    expect(l.dots.find((x) => x.key === 'e')!.label).toBe('Snapshot e');
  });

  it('ticks are round steps that cover the span', () => {
    const { times, step } = tickTimes(T0, T0 + 9 * DAY, 8);
    expect(step).toBe(2 * DAY);
    expect(times.length).toBeGreaterThanOrEqual(4);
    for (const t of times) expect(new Date(t).getHours()).toBe(0);
    // 10 minutes in at most 6 ticks: 2-minute steps (1-minute ones would make 10).
    const minutes = tickTimes(T0, T0 + 10 * 60_000, 6);
    expect(minutes.step).toBe(2 * 60_000);
  });

  it('whatever the room (a zoom), the ticks never outnumber it and fill at least 40% of it', () => {
    for (const span of [30_000, 7 * 60_000, 5 * 3_600_000, 12.5 * DAY, 40 * DAY, 300 * DAY])
      for (const count of [3, 6, 12, 40, 200]) {
        const { times, step } = tickTimes(T0, T0 + span, count);
        const steps = span / step;
        if (steps < 1) continue; // a span shorter than the finest step
        expect(steps, `${span} ms in ${count}`).toBeLessThanOrEqual(count);
        // Calendar months are not 30 days: allow their slack.
        if (step < 30 * DAY && count <= span / 1000) expect(steps, `${span} ms in ${count}`).toBeGreaterThanOrEqual(count * 0.4 - 1);
        expect(times.length).toBeGreaterThanOrEqual(Math.floor(steps) - 1);
        for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
      }
  });
});

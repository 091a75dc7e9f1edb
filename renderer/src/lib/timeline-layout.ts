// The timeline view's geometry, apart from Vue: each disk a dot at its
// creation time, each branch a lane. A disk's first child (the one leading to
// the disk in use, if any) carries its lane on; every other child starts a new
// lane below, so a lane reads as one line of history from its first disk to
// its last. Dots closer than a dot's width on one lane are spread apart (the
// axis stays in order), and a name is written only where it fits before the
// lane's next dot; the full text is the dot's tooltip.

export interface TimelineDisk {
  key: string;
  name: string;
  /** Creation time, ms since the epoch. */
  time: number;
  active?: boolean;
  /** Shown only because a disk after it matches the filter: drawn muted. */
  dim?: boolean;
  /** Disks folded away below it (not drawn); its name says how many. */
  hidden?: number;
  children: TimelineDisk[];
}

export interface TimelineDot {
  key: string;
  lane: number;
  parent: string | null;
  x: number;
  y: number;
  time: number;
  /** The name as drawn above the dot (with "+N" when it hides folded disks), or '' where it does not fit. */
  label: string;
  labelW: number;
  dim: boolean;
  hidden: number;
}

export interface TimelineLane {
  index: number;
  y: number;
  /** The name of the lane's last disk: what the branch leads to. */
  name: string;
  /** The tree the lane belongs to (its first root lane), for the separators. */
  tree: number;
}

export interface TimelineTick {
  x: number;
  time: number;
  text: string;
}

export interface TimelineLink {
  key: string;
  parent: string;
  child: string;
  d: string;
}

export interface TimelineLayout {
  dots: TimelineDot[];
  lanes: TimelineLane[];
  ticks: TimelineTick[];
  links: TimelineLink[];
  width: number;
  height: number;
  /** Where the plot starts (right of the lane names). */
  left: number;
}

export type Measure = (text: string, size: number) => number;
export const LABEL_SIZE = 11;
const LANE = 40;
// Room above the first lane for its names (drawn 11 px above a dot); the date axis is a strip of its own above the window (TimelineView).
const TOP = 4;
const LEFT = 150; // lane names
const RIGHT = 16;
const DOT_GAP = 16; // least distance between dots on one lane
const PAD_BOTTOM = 14;

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
// Round steps; none more than 2.5 times the one before, so a zoom always finds one near the room it has.
const STEPS = [
  1000,
  2000,
  5000,
  10_000,
  15_000,
  30_000,
  MIN,
  2 * MIN,
  5 * MIN,
  10 * MIN,
  15 * MIN,
  30 * MIN,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  4 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  61 * DAY,
  91 * DAY,
  182 * DAY,
  365 * DAY,
];
/** Least room per tick label: "Nov 27 09:00" and a gap. */
export const TICK_ROOM = 90;

/** Tick times from t0 to t1, about `count` of them, on round steps (local time). */
export function tickTimes(t0: number, t1: number, count: number): { times: number[]; step: number } {
  const span = Math.max(1000, t1 - t0);
  const step = STEPS.find((s) => span / s <= count) ?? STEPS[STEPS.length - 1];
  const first = new Date(t0);
  if (step >= DAY) first.setHours(0, 0, 0, 0);
  else if (step >= HOUR) first.setMinutes(0, 0, 0);
  else first.setSeconds(0, 0);
  const times: number[] = [];
  if (step >= 30 * DAY) {
    // Months and years are not a fixed number of ms: step by the calendar.
    const months = Math.round(step / (30 * DAY));
    first.setDate(1);
    for (const d = new Date(first); d.getTime() <= t1; d.setMonth(d.getMonth() + months)) if (d.getTime() >= t0) times.push(d.getTime());
  } else {
    for (let t = first.getTime(); t <= t1; t += step) if (t >= t0) times.push(t);
  }
  return { times, step };
}

const pad = (n: number) => String(n).padStart(2, '0');
/** A tick's words: a date for steps of a day and more, else a time (with the date where the day changes). */
export function tickText(t: number, step: number, prev: number | null): string {
  const d = new Date(t);
  const date = d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', ...(step >= 91 * DAY ? { year: 'numeric' } : {}) });
  if (step >= DAY) return date;
  const time = step < MIN ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const newDay = prev === null || new Date(prev).toDateString() !== d.toDateString();
  return newDay ? `${date} ${time}` : time;
}

function leadsToActive(d: TimelineDisk): boolean {
  return !!d.active || d.children.some(leadsToActive);
}

export function layoutTimeline(roots: TimelineDisk[], plotWidth: number, measure: Measure): TimelineLayout {
  // Lanes: depth first, the first child (towards the disk in use) on its parent's lane.
  const placed: { disk: TimelineDisk; lane: number; parent: string | null }[] = [];
  const lanes: { disks: TimelineDisk[]; tree: number }[] = [];
  const walk = (disk: TimelineDisk, lane: number, parent: string | null) => {
    placed.push({ disk, lane, parent: parent });
    lanes[lane].disks.push(disk);
    const kids = [...disk.children].sort((a, b) => Number(leadsToActive(b)) - Number(leadsToActive(a)) || a.time - b.time);
    kids.forEach((c, i) => {
      let l = lane;
      if (i > 0) {
        lanes.push({ disks: [], tree: lanes[lane].tree });
        l = lanes.length - 1;
      }
      walk(c, l, disk.key);
    });
  };
  // Trees by their first disk's time (a stable sort), so the lanes read as history from top to bottom whatever the folder's order.
  [...roots]
    .sort((a, b) => a.time - b.time)
    .forEach((r, i) => {
      lanes.push({ disks: [], tree: i });
      walk(r, lanes.length - 1, null);
    });
  if (placed.length === 0) return { dots: [], lanes: [], ticks: [], links: [], width: 0, height: 0, left: LEFT };

  const times = placed.map((p) => p.disk.time);
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t1 - t0 < MIN) {
    // All at once (or nearly): a minute around them, so the axis still reads as time.
    t0 -= MIN / 2;
    t1 += MIN / 2;
  }
  const w = Math.max(200, plotWidth);
  const xOf = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * w;
  const laneY = (l: number) => TOP + l * LANE + LANE / 2;

  // Dots: at their time, pushed right where a lane's previous dot is too close.
  const dotOf = new Map<string, TimelineDot>();
  lanes.forEach((lane, l) => {
    // A child is never left of its parent, even on a lane it starts.
    const first = lane.disks[0];
    const parentDot = placed.find((p) => p.disk === first)?.parent;
    let last = parentDot ? (dotOf.get(parentDot)?.x ?? -Infinity) : -Infinity;
    // In chain order: a later disk on a lane is a descendant, so it is drawn to the right even if its clock said otherwise.
    for (const disk of lane.disks) {
      const x = Math.max(xOf(disk.time), last + DOT_GAP);
      last = x;
      dotOf.set(disk.key, {
        key: disk.key,
        lane: l,
        parent: null,
        x,
        y: laneY(l),
        time: disk.time,
        label: '',
        labelW: 0,
        dim: !!disk.dim,
        hidden: disk.hidden ?? 0,
      });
    }
  });
  for (const p of placed) dotOf.get(p.disk.key)!.parent = p.parent;

  // Names where they fit: from a dot up to the lane's next dot (or the plot's end).
  // A lane's last name always fits: the drawing grows to hold it.
  lanes.forEach((lane) => {
    const dots = lane.disks.map((d) => dotOf.get(d.key)!).sort((a, b) => a.x - b.x);
    dots.forEach((dot, i) => {
      const room = i + 1 < dots.length ? dots[i + 1].x - dot.x - 12 : Infinity;
      const disk = lane.disks.find((d) => d.key === dot.key)!;
      const name = disk.hidden ? `${disk.name} +${disk.hidden}` : disk.name;
      const width = measure(name, LABEL_SIZE);
      if (width <= room) {
        dot.label = name;
        dot.labelW = Math.ceil(width);
      }
    });
  });

  const dots = placed.map((p) => dotOf.get(p.disk.key)!);
  const plotRight = Math.max(LEFT + w, ...dots.map((d) => d.x + Math.max(10, d.labelW - 4))) + RIGHT;
  const links: TimelineLink[] = [];
  for (const d of dots) {
    if (!d.parent) continue;
    const p = dotOf.get(d.parent)!;
    // Along the lane, or down from the parent to the new lane and on to the child.
    const path = p.lane === d.lane ? `M${p.x},${p.y} H${d.x}` : `M${p.x},${p.y} V${d.y - 8} Q${p.x},${d.y} ${p.x + 8},${d.y} H${d.x}`;
    links.push({ key: `${p.key}>${d.key}`, parent: p.key, child: d.key, d: path });
  }

  const { times: tickAt, step } = tickTimes(t0, t1, Math.max(2, Math.floor(w / TICK_ROOM)));
  const ticks = tickAt.map((t, i) => ({ x: xOf(t), time: t, text: tickText(t, step, i === 0 ? null : tickAt[i - 1]) }));

  return {
    dots,
    lanes: lanes.map((lane, i) => ({ index: i, y: laneY(i), name: lane.disks[lane.disks.length - 1].name, tree: lane.tree })),
    ticks,
    links,
    width: Math.ceil(plotRight),
    height: TOP + lanes.length * LANE + PAD_BOTTOM,
    left: LEFT,
  };
}

// The tree's windowing: which rows are in view, when the window is recut,
// how far to scroll to show a row, and how far PageUp/PageDown move.
import { describe, expect, it } from 'vitest';
import { nextWindow, pageRows, revealDelta, rowsInView } from '../../renderer/src/lib/virtual-rows.js';

const H = 27.2;

describe('rowsInView', () => {
  it('gives the rows at least partly inside the view, clamped to the list', () => {
    // A 272 px view from the top: exactly 10 rows.
    expect(rowsInView(2000, H, 0, 10 * H)).toEqual({ start: 0, end: 10 });
    // Half a row scrolled: the 11th shows in part.
    expect(rowsInView(2000, H, H / 2, 10 * H)).toEqual({ start: 0, end: 11 });
    expect(rowsInView(2000, H, 100 * H, 10 * H)).toEqual({ start: 100, end: 110 });
    // The list starts below the view's top (a header above it): negative top.
    expect(rowsInView(2000, H, -5 * H, 10 * H)).toEqual({ start: 0, end: 5 });
    // Past the end: only the last rows, then none.
    expect(rowsInView(2000, H, 1995 * H, 10 * H)).toEqual({ start: 1995, end: 2000 });
    expect(rowsInView(2000, H, 2500 * H, 10 * H)).toEqual({ start: 2000, end: 2000 });
    // The list entirely below the view.
    expect(rowsInView(2000, H, -20 * H, 10 * H)).toEqual({ start: 0, end: 0 });
    expect(rowsInView(0, H, 0, 500)).toEqual({ start: 0, end: 0 });
  });
});

describe('nextWindow', () => {
  const M = 24;
  const S = 16;
  it('is the rows in view with a margin either side, clamped', () => {
    expect(nextWindow({ start: 0, end: 0 }, { start: 100, end: 130 }, 2000, M, S)).toEqual({ start: 76, end: 154 });
    expect(nextWindow({ start: 0, end: 0 }, { start: 0, end: 30 }, 2000, M, S)).toEqual({ start: 0, end: 54 });
    expect(nextWindow({ start: 0, end: 0 }, { start: 1980, end: 2000 }, 2000, M, S)).toEqual({ start: 1956, end: 2000 });
  });

  it('keeps the window while the view stays slack rows inside it, then recuts', () => {
    const w = { start: 76, end: 154 };
    // Scrolled 8 rows down: still 16 rows of slack below (154 - 138), the same window, nothing redrawn.
    expect(nextWindow(w, { start: 108, end: 138 }, 2000, M, S)).toBe(w);
    // 9 rows: the slack is gone, recut around the view.
    expect(nextWindow(w, { start: 109, end: 139 }, 2000, M, S)).toEqual({ start: 85, end: 163 });
    // Upwards alike.
    expect(nextWindow(w, { start: 92, end: 122 }, 2000, M, S)).toBe(w);
    expect(nextWindow(w, { start: 91, end: 121 }, 2000, M, S)).toEqual({ start: 67, end: 145 });
  });

  it('recuts a window wider than wanted or past a shorter list, and empties for a list out of view', () => {
    // The list got shorter (a collapse): the window may not reach past it.
    expect(nextWindow({ start: 0, end: 154 }, { start: 0, end: 30 }, 40, M, S)).toEqual({ start: 0, end: 40 });
    // A view grown smaller: the window shrinks with it.
    expect(nextWindow({ start: 0, end: 300 }, { start: 0, end: 10 }, 2000, M, S)).toEqual({ start: 0, end: 34 });
    expect(nextWindow({ start: 5, end: 60 }, { start: 0, end: 0 }, 2000, M, S)).toEqual({ start: 0, end: 0 });
    const empty = { start: 0, end: 0 };
    expect(nextWindow(empty, { start: 0, end: 0 }, 2000, M, S)).toBe(empty);
  });
});

describe('revealDelta', () => {
  it('scrolls the least that shows the row whole, nothing when it shows', () => {
    const view = { top: 100 * H, height: 10 * H };
    expect(revealDelta(105, H, view.top, view.height)).toBe(0);
    expect(revealDelta(100, H, view.top, view.height)).toBe(0);
    expect(revealDelta(109, H, view.top, view.height)).toBeCloseTo(0);
    // Just above: up by one row; far below: down so the row is the last one shown.
    expect(revealDelta(99, H, view.top, view.height)).toBeCloseTo(-H);
    expect(revealDelta(1999, H, view.top, view.height)).toBeCloseTo((1999 - 109) * H);
    // A row cut by the top edge.
    expect(revealDelta(100, H, view.top + 3, view.height)).toBeCloseTo(-3);
    // A view lower than one row: the row's top goes to the view's top.
    expect(revealDelta(50, H, 0, H / 2)).toBeCloseTo(50 * H);
  });
});

describe('pageRows', () => {
  it('moves a view less one row, at least one', () => {
    expect(pageRows(H, 20 * H)).toBe(19);
    expect(pageRows(H, 20.5 * H)).toBe(19);
    expect(pageRows(H, H / 2)).toBe(1);
    expect(pageRows(0, 500)).toBe(1);
  });
});

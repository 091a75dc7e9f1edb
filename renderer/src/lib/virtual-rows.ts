// Windowing for a list of fixed-height rows: which rows to put in the page
// (those in view plus a margin, so a scroll shows drawn rows before the next
// window is computed), and how far to scroll to bring one row whole into view.
// Positions are in pixels from the list's top; the view may start above the
// list (negative top) or past it.

/** Rows [start, end) of the list. */
export interface RowRange {
  start: number;
  end: number;
}

/** The rows at least partly inside [viewTop, viewTop + viewHeight), clamped to the list (empty when the list is out of view). */
export function rowsInView(count: number, rowHeight: number, viewTop: number, viewHeight: number): RowRange {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const start = Math.max(0, Math.min(count, Math.floor(viewTop / rowHeight)));
  const end = Math.max(start, Math.min(count, Math.ceil((viewTop + Math.max(0, viewHeight)) / rowHeight)));
  return { start, end };
}

/**
 * The rows to render: the rows in view with `margin` rows either side. The
 * current window is kept while it still has `slack` rows beyond each edge of
 * the view (a small scroll redraws nothing); past that it is recut, so a
 * scroll redraws a few rows per frame, not a whole window at once.
 */
export function nextWindow(current: RowRange, inView: RowRange, count: number, margin: number, slack = 0): RowRange {
  if (inView.start === inView.end)
    return current.start === current.end && current.start === inView.start ? current : { start: inView.start, end: inView.start };
  const wanted = { start: Math.max(0, inView.start - margin), end: Math.min(count, inView.end + margin) };
  const need = { start: Math.max(0, inView.start - slack), end: Math.min(count, inView.end + slack) };
  const covers = current.start <= need.start && current.end >= need.end && current.end <= count;
  // A window grown past what is wanted (the list got shorter, the view smaller) is recut.
  const tooWide = current.end - current.start > wanted.end - wanted.start;
  return covers && !tooWide ? current : wanted;
}

/** The change to the scroll position that brings row `index` whole into view, the least move possible (0 when it already is). */
export function revealDelta(index: number, rowHeight: number, viewTop: number, viewHeight: number): number {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < viewTop) return top - viewTop;
  if (bottom > viewTop + viewHeight) return Math.min(top - viewTop, bottom - (viewTop + viewHeight));
  return 0;
}

/** Rows a PageUp or PageDown moves: what fits in the view less one, so one row stays in sight; at least one. */
export function pageRows(rowHeight: number, viewHeight: number): number {
  if (rowHeight <= 0) return 1;
  return Math.max(1, Math.floor(viewHeight / rowHeight) - 1);
}

// The toolbar's actions fold into a "More" menu instead of being clipped:
// how many of them fit, from their measured widths.

/**
 * How many items (widths in px, in order) fit in `available` px with `gap`
 * between them; when not all fit, room is kept for the "More" button
 * (`moreWidth`) after the ones shown.
 */
export function fitCount(widths: readonly number[], available: number, gap: number, moreWidth: number): number {
  const total = widths.reduce((s, w, i) => s + w + (i > 0 ? gap : 0), 0);
  if (total <= available) return widths.length;
  let used = moreWidth;
  let n = 0;
  for (const w of widths) {
    const next = used + gap + w;
    if (next > available) break;
    used = next;
    n++;
  }
  return n;
}

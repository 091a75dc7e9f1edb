// File names that share a long prefix ("disk-snap-20200101-0…") differ at
// their end: the tree shows such a name as a head that CSS ellipsizes and a
// tail that always shows, so a narrow column still tells the rows apart.

/** Characters (code points, so a surrogate pair is never split) shared at the start of every name. */
export function commonPrefixLength(names: readonly string[]): number {
  if (names.length < 2) return 0;
  const chars = names.map((n) => Array.from(n));
  let i = 0;
  for (; i < chars[0].length; i++) {
    const c = chars[0][i];
    if (!chars.every((n) => n[i] === c)) break;
  }
  return i;
}

/**
 * How many trailing characters of `name` always show: what follows the
 * prefix the folder's names share (that is where they differ), at least
 * `min` (an extension alone says nothing) and at most `max` (the head must
 * keep room to show where the name starts). The tail then starts at a word:
 * it reaches back to a separator if one is near, else starts after one inside
 * it ("…010203.vhd", not "…10203.vhd" or "…2-030403.vhd").
 */
export function tailLength(name: string, sharedPrefix: number, min = 8, max = 12): number {
  const chars = Array.from(name);
  const n = chars.length;
  const t = Math.min(n, Math.max(min, Math.min(max, n - sharedPrefix)));
  for (let i = n - t - 1; i >= n - max - 1 && i >= 0; i--) if (SEPARATORS.has(chars[i])) return n - i - 1;
  for (let i = n - t; i < n - min; i++) if (SEPARATORS.has(chars[i])) return n - i - 1;
  return t;
}

const SEPARATORS = new Set(['-', '_', ' ', '.', '(', '[']);

/** `name` as a head (ellipsized by CSS when the column is narrow) and a tail of `tail` characters that always shows. */
export function middleSplit(name: string, tail: number): { head: string; tail: string } {
  const chars = Array.from(name);
  const cut = Math.max(0, chars.length - Math.max(0, tail));
  return { head: chars.slice(0, cut).join(''), tail: chars.slice(cut).join('') };
}

/**
 * `name` cut to at most `max` characters by dropping its middle ("Windows
 * 11 bef…-20261203-010203.vhd"), for text CSS cannot ellipsize (a select's
 * options). The end that tells names apart stays.
 */
export function middleShorten(name: string, max: number): string {
  const chars = Array.from(name);
  if (chars.length <= max) return name;
  const tail = Math.min(tailLength(name, 0, Math.floor(max / 3), Math.floor(max / 2)), max - 2);
  return `${chars.slice(0, max - 1 - tail).join('')}…${chars.slice(chars.length - tail).join('')}`;
}

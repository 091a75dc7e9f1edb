// The allocation map as a grid a person can read: a large disk's blocks are
// grouped so the grid has at most MAX_CELLS cells, each cell a range of
// blocks shaded by the fraction of it that holds data.

export const MAX_CELLS = 512;

export interface GridCell {
  /** First block of the range, and how many blocks it covers. */
  first: number;
  count: number;
  /** Fraction of the range that holds data: a partly present block counts half. */
  fill: number;
  full: number;
  partial: number;
}

export interface Grid {
  cells: GridCell[];
  /** Blocks per grid cell. */
  blocksPerCell: number;
  /** Blocks in all. */
  blocks: number;
}

/**
 * Groups the map main sent (one entry per `sourcePerCell` blocks: 0 none,
 * 1 part, 2 all present) into at most `maxCells` cells. The group size is a
 * power of two times the source's, so every cell covers a round number.
 */
export function gridOf(map: readonly number[], sourcePerCell: number, maxCells = MAX_CELLS): Grid {
  const per = Math.max(1, sourcePerCell);
  let group = 1;
  while (Math.ceil(map.length / group) > maxCells) group *= 2;
  const cells: GridCell[] = [];
  for (let at = 0; at < map.length; at += group) {
    let full = 0;
    let partial = 0;
    const end = Math.min(at + group, map.length);
    for (let i = at; i < end; i++) {
      if (map[i] === 2) full++;
      else if (map[i] === 1) partial++;
    }
    const n = end - at;
    cells.push({ first: at * per, count: n * per, fill: (full + partial / 2) / n, full, partial });
  }
  return { cells, blocksPerCell: group * per, blocks: map.length * per };
}

/** Shade steps, lightest to darkest: a cell shows the nearest one (0 only when nothing is there). */
export const SHADES = 5;

export function shadeOf(fill: number): number {
  if (fill <= 0) return 0;
  return Math.max(1, Math.min(SHADES - 1, Math.round(fill * (SHADES - 1))));
}

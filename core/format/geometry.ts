// CHS geometry as the VHD specification computes it (integer division throughout).

export interface Geometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

export function chsForSize(sizeBytes: number): Geometry {
  const total = Math.min(Math.floor(sizeBytes / 512), 65535 * 16 * 255);
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

/** Bytes addressed by a geometry (what Virtual PC and QEMU's vpc driver take as the size). */
export function chsCapacity(g: Geometry): number {
  return g.cylinders * g.heads * g.sectorsPerTrack * 512;
}

export function geometryEqual(a: Geometry, b: Geometry): boolean {
  return a.cylinders === b.cylinders && a.heads === b.heads && a.sectorsPerTrack === b.sectorsPerTrack;
}

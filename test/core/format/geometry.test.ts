import { describe, expect, it } from 'vitest';
import { chsCapacity, chsForSize, geometryEqual, type Geometry } from '../../../core/format/geometry.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const g = (cylinders: number, heads: number, sectorsPerTrack: number): Geometry => ({ cylinders, heads, sectorsPerTrack });

/** Direct transcription of the spec's pseudo-code (vhd-format.md), in BigInt so no float can creep in. */
function specChs(sizeBytes: number): Geometry {
  let total = BigInt(sizeBytes) / 512n;
  if (total > 65535n * 16n * 255n) total = 65535n * 16n * 255n;
  let spt: bigint, heads: bigint, cth: bigint;
  if (total >= 65535n * 16n * 63n) {
    spt = 255n;
    heads = 16n;
    cth = total / spt;
  } else {
    spt = 17n;
    cth = total / spt;
    heads = (cth + 1023n) / 1024n;
    if (heads < 4n) heads = 4n;
    if (cth >= heads * 1024n || heads > 16n) {
      spt = 31n;
      heads = 16n;
      cth = total / spt;
    }
    if (cth >= heads * 1024n) {
      spt = 63n;
      heads = 16n;
      cth = total / spt;
    }
  }
  return g(Number(cth / heads), Number(heads), Number(spt));
}

describe('chsForSize', () => {
  // Hand-verified (integer arithmetic worked through on paper, cross-checked in Python).
  it.each([
    ['4 MiB', 4 * MiB, g(120, 4, 17)],
    ['64 MiB', 64 * MiB, g(963, 8, 17)],
    ['QEMU 64M (67,125,248)', 67_125_248, g(964, 8, 17)],
    ['42.5 MiB: cth = heads·1024 forces 31 spt', 44_564_480, g(175, 16, 31)],
    ['1 GiB', GiB, g(2080, 16, 63)],
    ['127 GiB', 127 * GiB, g(65278, 16, 255)],
    ['exactly 65535·16·63 sectors', 65535 * 16 * 63 * 512, g(16191, 16, 255)],
    ['one sector less', (65535 * 16 * 63 - 1) * 512, g(65534, 16, 63)],
    ['2040 GiB (clamped)', 2040 * GiB, g(65535, 16, 255)],
    ['one sector', 512, g(0, 4, 17)],
  ])('%s', (_name, size, want) => {
    expect(chsForSize(size)).toEqual(want);
    expect(specChs(size)).toEqual(want);
  });

  it('QEMU rounds 64M up to the CHS capacity 67,125,248; the spec algorithm maps that size onto itself', () => {
    expect(chsCapacity(chsForSize(67_125_248))).toBe(67_125_248);
    expect(chsCapacity(chsForSize(64 * MiB))).toBe(67_055_616); // rounds down: 64 MiB is not a CHS size
    expect(chsCapacity(g(65535, 16, 255))).toBe(136_899_993_600);
  });

  it('matches the transcription on many sizes, around every branch boundary', () => {
    const sizes: number[] = [];
    for (let s = 1; s < 4096; s += 37) sizes.push(s * 512);
    for (const sectors of [17 * 4096, 17 * 5120, 17 * 16384, 17 * 16385, 31 * 16384, 63 * 16384 * 16, 65535 * 16 * 63, 65535 * 16 * 255]) {
      for (let d = -40; d <= 40; d++) sizes.push((sectors + d) * 512);
    }
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      sizes.push(((x * 997) % (2100 * 2 ** 21)) * 512);
    }
    for (const s of sizes) {
      if (s <= 0) continue;
      const got = chsForSize(s);
      const want = specChs(s);
      if (!geometryEqual(got, want)) expect(got, `size ${s}`).toEqual(want);
      expect(chsCapacity(got)).toBeLessThanOrEqual(s);
    }
  });

  it('geometryEqual', () => {
    expect(geometryEqual(g(1, 2, 3), g(1, 2, 3))).toBe(true);
    expect(geometryEqual(g(1, 2, 3), g(1, 2, 4))).toBe(false);
    expect(geometryEqual(g(1, 2, 3), g(1, 3, 3))).toBe(false);
    expect(geometryEqual(g(1, 2, 3), g(2, 2, 3))).toBe(false);
  });
});

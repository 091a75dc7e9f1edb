// core/size.ts: the one size formatter the CLI, the plans and the page share.
import { describe, expect, it } from 'vitest';
import { sizeText, sizeWithBytes } from '../../core/size.js';

const KiB = 1024;
const MiB = KiB * KiB;
const GiB = MiB * KiB;

describe('sizeText', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * KiB + 512, '10.5 KiB'],
    [123.4 * MiB, '123 MiB'],
    [2684354560, '2.5 GiB'],
    [2 * GiB, '2 GiB'],
    [1.25 * 2 ** 40, '1.25 TiB'],
    [3 * 2 ** 50, '3 PiB'],
    [2 ** 60, '1024 PiB'],
    [-2048, '-2 KiB'],
  ])('%d → %s', (n, text) => {
    expect(sizeText(n)).toBe(text);
  });

  it('rounds up into the next unit instead of showing 1024 of this one', () => {
    expect(sizeText(MiB - 1)).toBe('1 MiB');
    expect(sizeText(1023.7)).toBe('1 KiB');
    expect(sizeText(GiB - 1)).toBe('1 GiB');
    expect(sizeText(1023.4 * MiB)).toBe('1023 MiB');
  });

  it('keeps three significant digits, whole numbers from 100 up', () => {
    expect(sizeText(1.234 * MiB)).toBe('1.23 MiB');
    expect(sizeText(12.34 * MiB)).toBe('12.3 MiB');
    expect(sizeText(999.6 * KiB)).toBe('1000 KiB');
  });
});

describe('sizeWithBytes', () => {
  it('adds the exact count where the unit rounds it, and only there', () => {
    expect(sizeWithBytes(2684354560)).toBe('2.5 GiB (2684354560 bytes)');
    expect(sizeWithBytes(MiB)).toBe('1 MiB (1048576 bytes)');
    expect(sizeWithBytes(512)).toBe('512 B');
    expect(sizeWithBytes(0)).toBe('0 B');
  });
});

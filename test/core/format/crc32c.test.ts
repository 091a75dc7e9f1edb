import { describe, expect, it } from 'vitest';
import { crc32c, crc32cWithZeroField } from '../../../core/format/vhdx/crc32c.js';

// A bit-at-a-time reference, independent of the sliced tables.
function slow(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the published check value of "123456789"', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });
  it('matches the RFC 3720 vectors (32 zero bytes, 32 0xFF bytes)', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });
  it('agrees with a bitwise reference on random lengths, and chains across pieces', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
    for (let n = 0; n < 300; n += 1 + (rnd() % 23)) {
      const b = Uint8Array.from({ length: n }, () => rnd() & 0xff);
      expect(crc32c(b)).toBe(slow(b));
      const cut = n >> 1;
      expect(crc32c(b.subarray(cut), crc32c(b.subarray(0, cut)))).toBe(slow(b));
    }
  });
  it('computes a checksum with its own field taken as zero', () => {
    const b = Uint8Array.from({ length: 64 }, (_, i) => i * 7);
    const zeroed = b.slice();
    zeroed.fill(0, 4, 8);
    expect(crc32cWithZeroField(b, 4)).toBe(slow(zeroed));
  });
});

import { describe, expect, it } from 'vitest';
import { bitmapBytes, bitRuns, clearBits, countSet, isEmpty, isFull, newBitmap, setBits, testBit, type BitRun } from '../../../core/format/bitmap.js';

// Reference: sector i is bit 7 - i%8 of byte i/8 (MSB first), written bit by bit.
const refGet = (bm: Uint8Array, i: number) => ((bm[Math.floor(i / 8)] >> (7 - (i % 8))) & 1) === 1;
const refSet = (bm: Uint8Array, i: number) => (bm[Math.floor(i / 8)] |= 1 << (7 - (i % 8)));

function refRuns(bm: Uint8Array, from: number, to: number): BitRun[] {
  const out: BitRun[] = [];
  for (let i = from; i < to; i++) {
    const set = refGet(bm, i);
    const last = out[out.length - 1];
    if (last && last.set === set) last.length++;
    else out.push({ start: i, length: 1, set });
  }
  return out;
}

/** Small deterministic PRNG so failures replay. */
function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n) | 0;
  };
}

describe('bitmap layout', () => {
  it('bitmapBytes: one bit per sector, rounded up to whole sectors', () => {
    expect(bitmapBytes(512)).toBe(512);
    expect(bitmapBytes(4096)).toBe(512);
    expect(bitmapBytes(512 * 1024)).toBe(512);
    expect(bitmapBytes(2 * 1024 * 1024)).toBe(512);
    expect(bitmapBytes(4 * 1024 * 1024)).toBe(1024);
    expect(bitmapBytes(32 * 1024 * 1024)).toBe(8192);
  });

  it('is MSB first', () => {
    const bm = new Uint8Array(4);
    setBits(bm, 0, 1);
    expect(Array.from(bm)).toEqual([0x80, 0, 0, 0]);
    setBits(bm, 7, 1);
    expect(Array.from(bm)).toEqual([0x81, 0, 0, 0]);
    setBits(bm, 9, 1);
    expect(Array.from(bm)).toEqual([0x81, 0x40, 0, 0]);
    setBits(bm, 20, 7); // bits 20..26: byte 2 low nibble, byte 3 top three bits
    expect(Array.from(bm)).toEqual([0x81, 0x40, 0x0f, 0xe0]);
    expect(testBit(bm, 0)).toBe(true);
    expect(testBit(bm, 1)).toBe(false);
    expect(testBit(bm, 9)).toBe(true);
    expect(testBit(bm, 26)).toBe(true);
    expect(testBit(bm, 27)).toBe(false);
  });

  it('newBitmap: full sets exactly blockSize/512 bits', () => {
    expect(Array.from(newBitmap(512, true).subarray(0, 2))).toEqual([0x80, 0]);
    expect(newBitmap(512, true).length).toBe(512);
    const b4k = newBitmap(4096, true);
    expect(b4k[0]).toBe(0xff);
    expect(b4k.subarray(1).every((x) => x === 0)).toBe(true);
    expect(newBitmap(2 * 1024 * 1024, true).every((x) => x === 0xff)).toBe(true);
    expect(newBitmap(2 * 1024 * 1024, false).every((x) => x === 0)).toBe(true);
  });
});

describe('setBits / clearBits against the reference', () => {
  it('random ranges, odd boundaries', () => {
    const r = prng(7);
    for (let iter = 0; iter < 400; iter++) {
      const n = 1 + r(200);
      const bm = new Uint8Array(Math.ceil(n / 8) + 2);
      const ref = new Uint8Array(bm.length);
      for (let k = 0; k < 4; k++) {
        const start = r(n);
        const count = r(n - start + 1);
        setBits(bm, start, count);
        for (let i = start; i < start + count; i++) refSet(ref, i);
        expect(bm, `iter ${iter} set ${start}+${count}`).toEqual(ref);
      }
      const start = r(n);
      const count = r(n - start + 1);
      clearBits(bm, start, count);
      for (let i = start; i < start + count; i++) ref[i >> 3] &= ~(1 << (7 - (i & 7)));
      expect(bm, `iter ${iter} clear ${start}+${count}`).toEqual(ref);
      for (let i = 0; i < bm.length * 8; i++) if (testBit(bm, i) !== refGet(ref, i)) throw new Error(`testBit ${i}`);
    }
  });

  it('count 0 changes nothing; bits outside the range are untouched', () => {
    const bm = new Uint8Array(3);
    setBits(bm, 5, 0);
    expect(Array.from(bm)).toEqual([0, 0, 0]);
    setBits(bm, 3, 10); // bits 3..12
    expect(Array.from(bm)).toEqual([0x1f, 0xf8, 0]);
    bm.fill(0xff);
    clearBits(bm, 6, 4); // bits 6..9
    expect(Array.from(bm)).toEqual([0xfc, 0x3f, 0xff]);
  });
});

describe('isFull / isEmpty / countSet', () => {
  it('look only at the first `sectors` bits', () => {
    const bm = new Uint8Array(4);
    setBits(bm, 0, 13);
    expect(isFull(bm, 13)).toBe(true);
    expect(isFull(bm, 14)).toBe(false);
    expect(isFull(bm, 8)).toBe(true);
    expect(isEmpty(bm, 13)).toBe(false);
    expect(countSet(bm, 32)).toBe(13);
    bm[3] = 0x01; // beyond sector 13
    expect(isFull(bm, 13)).toBe(true);
    expect(countSet(bm, 32)).toBe(14);
    const z = new Uint8Array(4);
    z[1] = 0x04; // bit 13
    expect(isEmpty(z, 13)).toBe(true);
    expect(isEmpty(z, 14)).toBe(false);
    expect(isEmpty(new Uint8Array(4), 32)).toBe(true);
    expect(isFull(new Uint8Array(4).fill(0xff), 32)).toBe(true);
  });

  it('a single clear bit anywhere breaks fullness (also inside the last partial byte)', () => {
    for (const sectors of [1, 7, 8, 9, 15, 16, 4096]) {
      for (const hole of [0, sectors - 1, Math.floor(sectors / 2)]) {
        const bm = newBitmap(sectors * 512, true);
        expect(isFull(bm, sectors)).toBe(true);
        clearBits(bm, hole, 1);
        expect(isFull(bm, sectors), `sectors ${sectors} hole ${hole}`).toBe(false);
        const e = new Uint8Array(bm.length);
        setBits(e, hole, 1);
        expect(isEmpty(e, sectors), `sectors ${sectors} bit ${hole}`).toBe(false);
      }
    }
  });
});

describe('bitRuns', () => {
  it('matches the bit-by-bit reference on random bitmaps and ranges', () => {
    const r = prng(99);
    for (let iter = 0; iter < 300; iter++) {
      const bytes = 1 + r(40);
      const bm = new Uint8Array(bytes);
      const style = r(4);
      for (let i = 0; i < bytes; i++) {
        if (style === 0) bm[i] = r(256);
        else if (style === 1)
          bm[i] = r(3) === 0 ? r(256) : r(2) ? 0xff : 0; // mostly whole bytes
        else if (style === 2) bm[i] = r(2) ? 0xff : 0;
        else bm[i] = [0x80, 0x01, 0x7f, 0xfe, 0x0f, 0xf0][r(6)];
      }
      const from = r(bytes * 8);
      const to = from + r(bytes * 8 - from + 1);
      const runs = bitRuns(bm, from, to);
      expect(runs, `iter ${iter} ${Buffer.from(bm).toString('hex')} [${from}, ${to})`).toEqual(refRuns(bm, from, to));
    }
  });

  it('known cases', () => {
    const bm = Uint8Array.from([0xff, 0xff, 0x00, 0x0f]);
    expect(bitRuns(bm, 0, 32)).toEqual([
      { start: 0, length: 16, set: true },
      { start: 16, length: 12, set: false },
      { start: 28, length: 4, set: true },
    ]);
    expect(bitRuns(bm, 3, 19)).toEqual([
      { start: 3, length: 13, set: true },
      { start: 16, length: 3, set: false },
    ]);
    expect(bitRuns(bm, 5, 5)).toEqual([]);
    expect(bitRuns(Uint8Array.from([0xa5]), 0, 8).map((x) => [x.set, x.length])).toEqual([
      [true, 1],
      [false, 1],
      [true, 1],
      [false, 2],
      [true, 1],
      [false, 1],
      [true, 1],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { batBytes, BAT_UNUSED, decodeBat, encodeBat, encodeBatRange } from '../../../core/format/bat.js';

describe('BAT codec', () => {
  it('batBytes rounds the table up to whole sectors', () => {
    expect(batBytes(0)).toBe(0);
    expect(batBytes(1)).toBe(512);
    expect(batBytes(128)).toBe(512);
    expect(batBytes(129)).toBe(1024);
    expect(batBytes(1020)).toBe(4096);
  });

  it('encodes big-endian entries padded to 512 with 0xFF', () => {
    const bat = Uint32Array.from([3, 0x12345678, BAT_UNUSED]);
    const b = Buffer.from(encodeBat(bat));
    expect(b.length).toBe(512);
    expect(b.subarray(0, 12)).toEqual(Buffer.from('00000003' + '12345678' + 'ffffffff', 'hex'));
    expect(b.subarray(12).every((x) => x === 0xff)).toBe(true);
    const exact = encodeBat(new Uint32Array(128));
    expect(exact.length).toBe(512);
    expect(exact.every((x) => x === 0)).toBe(true);
    const more = encodeBat(new Uint32Array(129));
    expect(more.length).toBe(1024);
    expect(more.subarray(516).every((x) => x === 0xff)).toBe(true);
    expect(more.subarray(0, 516).every((x) => x === 0)).toBe(true);
  });

  it('round-trips, also from an unaligned view', () => {
    const bat = new Uint32Array(300);
    for (let i = 0; i < bat.length; i++) bat[i] = i % 7 === 0 ? BAT_UNUSED : (i * 2_654_435_761) >>> 0;
    const enc = encodeBat(bat);
    expect(decodeBat(enc, 300)).toEqual(bat);
    const shifted = new Uint8Array(enc.length + 3);
    shifted.set(enc, 3);
    expect(decodeBat(shifted.subarray(3), 300)).toEqual(bat);
    expect(decodeBat(enc, 10)).toEqual(bat.slice(0, 10));
  });

  it('encodes a range [from, to) with the bytes of the whole table', () => {
    const bat = new Uint32Array(200);
    for (let i = 0; i < bat.length; i++) bat[i] = (i * 977 + 5) >>> 0;
    const whole = encodeBat(bat);
    for (const [from, to] of [
      [0, 1],
      [5, 6],
      [17, 130],
      [199, 200],
      [0, 200],
    ]) {
      const part = encodeBatRange(bat, from, to);
      expect(part.length).toBe((to - from) * 4);
      expect(Buffer.from(part)).toEqual(Buffer.from(whole.subarray(from * 4, to * 4)));
    }
    expect(encodeBatRange(bat, 4, 4).length).toBe(0);
  });
});

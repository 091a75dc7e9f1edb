// @vitest-environment happy-dom
// Format helpers: sizes, rates, durations, relative/absolute times, size
// parsing, and errors reduced to words.
import { describe, expect, it } from 'vitest';
import { absoluteTime, errorText, formatBytes, formatDuration, formatRate, parseSize, relativeTime } from '../../renderer/src/lib/format.js';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 + 512, '10.5 KiB'],
    [2 ** 30 * 2, '2 GiB'],
    [123.4 * 2 ** 20, '123 MiB'],
    [1.25 * 2 ** 40, '1.25 TiB'],
    [-2048, '-2 KiB'],
  ])('%d → %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('shows unknown sizes as a dash', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });

  it('formats rates per second', () => {
    expect(formatRate(3 * 2 ** 20)).toBe('3 MiB/s');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 s'],
    [44.6, '45 s'],
    [200, '3 min 20 s'],
    [2 * 3600 + 5 * 60 + 9, '2 h 05 min'],
  ])('%d s → %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });

  it('shows an unknown ETA as a dash', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('relativeTime', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const ago = (secs: number) => new Date(now - secs * 1000).toISOString();

  it.each([
    [3, 'just now'],
    [45, '45 seconds ago'],
    [60, '1 minute ago'],
    [5 * 60 + 59, '5 minutes ago'],
    [3600, '1 hour ago'],
    [26 * 3600, '1 day ago'],
    [40 * 86400, '1 month ago'],
    [800 * 86400, '2 years ago'],
    [-2 * 86400, 'in 2 days'],
  ])('%d s before now → %s', (secs, text) => {
    expect(relativeTime(ago(secs), now)).toBe(text);
  });

  it('says when it cannot read the time', () => {
    expect(relativeTime('not a date', now)).toBe('unknown time');
  });

  it('absolute time is UTC and locale independent', () => {
    expect(absoluteTime('2026-11-24T17:49:05.123Z')).toBe('2026-11-24 17:49:05 UTC');
  });
});

describe('parseSize', () => {
  it.each([
    ['40G', 40 * 2 ** 30],
    ['512 MiB', 512 * 2 ** 20],
    ['1.5T', 1.5 * 2 ** 40],
    ['4096', 4096],
    ['64k', 64 * 1024],
  ])('%s → %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'big', '-5G', '0', '5X'])('rejects %j', (text) => {
    expect(parseSize(text)).toBeNull();
  });
});

describe('errorText', () => {
  it('keeps code and message of an API error', () => {
    expect(errorText({ code: 'BUSY', message: 'another job is using base.vhd' })).toEqual({ code: 'BUSY', message: 'another job is using base.vhd' });
  });

  it('drops the Electron invoke prefix and any stack lines', () => {
    const err = new Error(
      "Error invoking remote method 'job:plan': RefusedError: snap.vhd has children\n    at planDelete (/app/core/ops/delete.ts:10:5)\n    at async x (/app/y.js:1:1)",
    );
    const t = errorText(err);
    expect(t.message).toBe('snap.vhd has children');
    expect(t.message).not.toMatch(/\bat\s|\.ts:\d/);
  });

  it('falls back to words for odd values', () => {
    expect(errorText(undefined).message).toBe('Something went wrong.');
    expect(errorText('disk full')).toEqual({ code: 'ERROR', message: 'disk full' });
  });
});

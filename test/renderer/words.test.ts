// @vitest-environment happy-dom
// The small pure modules behind the app's words: counts, the smoothed ETA,
// phases, creators, the allocation grid and default snapshot names.
import { describe, expect, it } from 'vitest';
import { gridOf, shadeOf } from '../../renderer/src/lib/allocation-grid.js';
import { creatorText } from '../../renderer/src/lib/creator.js';
import { EtaEstimator, etaText } from '../../renderer/src/lib/eta.js';
import { countOf, exactBytes, formatCount } from '../../renderer/src/lib/format.js';
import { nextSnapshotName } from '../../renderer/src/lib/names.js';
import { phaseText } from '../../renderer/src/lib/phase.js';
import { jobPhrase, outcomeSentences, sentenceText } from '../../renderer/src/lib/words.js';

const MiB = 2 ** 20;

describe('counts', () => {
  it.each([
    [0, '0'],
    [999, '999'],
    [10240, '10,240'],
    [2684354560, '2,684,354,560'],
    [-1234567, '-1,234,567'],
    [1234.5, '1,234.5'],
  ])('%d → %s', (n, text) => expect(formatCount(n)).toBe(text));

  it('says exact bytes and counted things', () => {
    expect(exactBytes(2684354560)).toBe('2,684,354,560 bytes');
    expect(exactBytes(1)).toBe('1 byte');
    expect(countOf(1, 'block')).toBe('1 block');
    expect(countOf(10240, 'block')).toBe('10,240 blocks');
  });
});

describe('EtaEstimator', () => {
  const feed = (e: EtaEstimator, steps: [seconds: number, done: number][], total: number) => {
    for (const [t, d] of steps) e.sample(d, total, t * 1000);
  };

  it('says nothing until it has two seconds and some progress to go on', () => {
    const e = new EtaEstimator();
    feed(e, [[0, 0]], 1000);
    expect(e.eta()).toBeNull();
    feed(e, [[1, 100]], 1000);
    expect(e.eta()).toBeNull();
    feed(e, [[2, 200]], 1000);
    expect(e.eta()).toBeCloseTo(8, 5);
  });

  it('follows the recent rate after a slow start, within twice the overall estimate', () => {
    const e = new EtaEstimator();
    // 10 s at 10 units/s, then 10 s at 100 units/s.
    const steps: [number, number][] = [];
    for (let t = 0; t <= 10; t++) steps.push([t, t * 10]);
    for (let t = 11; t <= 20; t++) steps.push([t, 100 + (t - 10) * 100]);
    feed(e, steps, 5000);
    const left = 5000 - 1100;
    // The cumulative average (55 units/s) would say 71 s; the recent rate is close to 100 units/s (39 s).
    expect(e.eta()!).toBeLessThan(left / 55 / 1.2);
    expect(e.eta()!).toBeGreaterThanOrEqual(left / 100);
    expect(e.smoothedRate!).toBeGreaterThan(80);
  });

  it('never says minutes one second before the end, even after a stall', () => {
    const e = new EtaEstimator();
    // Steady 100 units/s for 59 s, then a stall of 5 s with no progress, at 99.9 %.
    const steps: [number, number][] = [];
    for (let t = 0; t <= 59; t++) steps.push([t, Math.min(5994, t * 101.6)]);
    for (let t = 60; t <= 64; t++) steps.push([t, 5994]);
    feed(e, steps, 6000);
    // The overall average says well under a second; a stall may stretch that at most twice.
    expect(e.eta()!).toBeLessThan(1);
    expect(etaText(e.eta())).toBe('a few seconds left');
  });

  it('starts afresh when the count goes back (a new phase) and after reset()', () => {
    const e = new EtaEstimator();
    feed(
      e,
      [
        [0, 0],
        [1, 500],
        [2, 900],
        [3, 100],
      ],
      1000,
    );
    expect(e.eta()).toBeNull();
    expect(e.smoothedRate).toBeNull();
    feed(
      e,
      [
        [4, 200],
        [5, 300],
      ],
      1000,
    );
    expect(e.eta()).toBeCloseTo(7, 5);
    e.reset();
    expect(e.eta()).toBeNull();
  });

  it.each([
    [null, 'estimating time left…'],
    [3, 'a few seconds left'],
    [8, 'about 10 s left'],
    [41, 'about 45 s left'],
    [92, 'about 2 min left'],
    [3600 + 25 * 60, 'about 1 h 25 min left'],
    [2 * 3600 + 58 * 60, 'about 3 h left'],
  ])('%s s → %s', (s, text) => expect(etaText(s)).toBe(text));
});

describe('phaseText', () => {
  const p = (phase: string, done: number, total: number, finishing?: boolean) => ({ phase, done, total, rate: 0, eta: null, finishing });
  it.each([
    [null, 'Starting…'],
    [p('merge', 1.2 * 1024 * MiB, 2.5 * 1024 * MiB), 'Copying 1.2 of 2.5 GiB'],
    [p('merge', 512 * MiB, 1024 * MiB), 'Copying 512 MiB of 1 GiB'],
    [p('check', 3, 7), 'Checking 3 of 7 blocks'],
    [p('fold into d1.vhd', MiB, 4 * MiB), 'Folding into d1.vhd: 1 of 4 MiB'],
    [p('compact', 0, 0), 'Compacting…'],
    [p('merge', 5, 5, true), 'Finishing…'],
  ] as const)('%j → %s', (progress, text) => expect(phaseText(progress)).toBe(text));
});

describe('creatorText', () => {
  it.each([
    ['win ', '10.0', 'Wi2k', 'Windows (Hyper-V / Disk Management) 10.0'],
    ['qemu', '5.3', 'Wi2k', 'QEMU 5.3'],
    ['vbox', '1.1', 'Mac ', 'VirtualBox 1.1 on macOS'],
    ['tap\0', '1.3', '', 'Xen (blktap) 1.3'],
    ['vhds', '0.1', 'Wi2k', 'vhdsnap 0.1'],
    ['abcd', '2.0', 'Wi2k', 'unknown program ‘abcd’ 2.0'],
    ['', null, null, 'unknown program'],
  ])('%j %s %j → %s', (app, version, host, text) => expect(creatorText(app, version, host)).toBe(text));
});

describe('gridOf', () => {
  it('keeps a small map one block per cell', () => {
    const g = gridOf([0, 1, 2], 1);
    expect(g.blocksPerCell).toBe(1);
    expect(g.cells.map((c) => c.fill)).toEqual([0, 0.5, 1]);
  });

  it('groups 10,240 blocks (20 GiB of 2 MiB) by the smallest power of two that fits 512 cells: 32 blocks a cell, 320 cells', () => {
    const map = Array.from({ length: 10240 }, (_, i) => (i < 64 ? 2 : i === 100 ? 1 : 0));
    const g = gridOf(map, 1);
    expect(g.blocksPerCell).toBe(32);
    expect(g.cells).toHaveLength(320);
    expect(g.blocks).toBe(10240);
    expect(g.cells[0]).toEqual({ first: 0, count: 32, fill: 1, full: 32, partial: 0 });
    expect(g.cells[3]).toEqual({ first: 96, count: 32, fill: 0.5 / 32, full: 0, partial: 1 });
    // The last cell of an uneven map covers only what is left.
    const odd = gridOf(
      Array.from({ length: 1030 }, () => 2),
      3,
      512,
    );
    expect(odd.blocksPerCell).toBe(12);
    expect(odd.cells.at(-1)).toMatchObject({ first: 1028 * 3, count: 6, fill: 1 });
  });

  it('shades nothing only when nothing is stored, full only when all is', () => {
    expect(shadeOf(0)).toBe(0);
    expect(shadeOf(0.001)).toBe(1);
    expect(shadeOf(0.5)).toBe(2);
    expect(shadeOf(0.99)).toBe(4);
    expect(shadeOf(1)).toBe(4);
  });
});

describe('nextSnapshotName', () => {
  interface T {
    name: string | null;
    children: T[];
  }
  const n = (name: string | null, ...children: T[]): T => ({ name, children });
  it('is one past the highest "Snapshot N" of the tree', () => {
    expect(nextSnapshotName(n(null))).toBe('Snapshot 1');
    expect(nextSnapshotName(n('Base', n('Snapshot 1'), n('Snapshot 3'), n('Snapshot 12b')))).toBe('Snapshot 4');
  });
});

describe('words', () => {
  const names: Record<string, string> = { '/d/s1.vhd': 'Before upgrade', 's1.vhd': 'Before upgrade' };
  const nameOf = (p: string) => names[p] ?? null;
  it('names jobs by snapshot name, else by file', () => {
    expect(jobPhrase({ op: 'merge', disk: { folder: 'f', file: 's1.vhd' } }, nameOf)).toBe('Merge of ‘Before upgrade’ into its parent');
    expect(jobPhrase({ op: 'snapshot', disk: { folder: 'f', file: 'win10.vhd' } }, nameOf)).toBe('Snapshot of win10.vhd');
  });

  it('says sizes in human units, exact bytes on hover', () => {
    const [line] = outcomeSentences({ op: 'resize', result: { path: '/d/s1.vhd', oldSize: 10 * 2 ** 30, newSize: 20 * 2 ** 30 } }, nameOf);
    expect(sentenceText(line)).toBe('‘Before upgrade’ grew from 10 GiB to 20 GiB; the new space reads as zeros.');
    expect(line.filter((g) => g.title).map((g) => g.title)).toEqual(['s1.vhd', '10,737,418,240 bytes', '21,474,836,480 bytes']);
  });
});

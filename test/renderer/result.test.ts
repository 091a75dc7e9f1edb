// @vitest-environment happy-dom
// Results and errors in words: failed jobs show the message and code, never a
// stack; check results list each file; the health badge shows the codes.
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import HealthBadge from '../../renderer/src/components/HealthBadge.vue';
import ResultView from '../../renderer/src/components/ResultView.vue';
import type { Job } from '../../renderer/src/stores/jobs.js';

function job(over: Partial<Job>): Job {
  return {
    jobId: 'j1',
    args: { op: 'merge', disk: { folder: 'lab', file: 'snap-a.vhd' } },
    status: 'done',
    progress: null,
    outcome: null,
    error: null,
    message: null,
    cancelling: false,
    ...over,
  };
}

describe('ResultView', () => {
  it('a failure shows words and the code, not a stack trace', () => {
    const w = mount(ResultView, {
      props: {
        job: job({
          status: 'failed',
          error: {
            code: 'IO_ERROR',
            message: 'write failed: no space left on device\n    at write (/app/core/io/file.ts:80:11)\n    at merge (/app/core/ops/merge.ts:12:3)',
          },
        }),
      },
    });
    expect(w.get('[data-testid="result-panel"]').attributes('data-status')).toBe('failed');
    expect(w.get('[data-testid="result-headline"]').text()).toBe('Merge of snap-a.vhd into its parent failed.');
    expect(w.get('[data-testid="result-error"]').text()).toBe('write failed: no space left on device (IO_ERROR)');
    expect(w.text()).not.toMatch(/\bat \w|\.ts:\d+/);
  });

  it('a success says what it did in sentences, by snapshot name, sizes with their exact bytes on hover', async () => {
    const w = mount(ResultView, {
      props: {
        job: job({
          args: { op: 'flatten', disk: { folder: 'lab', file: 'snap-a.vhd' }, out: 'g1' },
          outcome: { op: 'flatten', result: { path: '/d/flat.vhd', format: 'dynamic', virtualSize: 3 * 2 ** 20, allocatedBlocks: 2, warnings: [] } },
          names: { '/d/lab/snap-a.vhd': 'Before upgrade', 'snap-a.vhd': 'Before upgrade' },
        }),
      },
    });
    expect(w.get('[data-testid="result-headline"]').text()).toBe('Flattening ‘Before upgrade’ to a file finished.');
    expect(w.get('[data-testid="result-sentences"]').text()).toBe('Wrote flat.vhd: a standalone dynamic VHD disk of 3 MiB, 2 blocks stored.');
    expect(w.get('[data-testid="result-sentences"] [title]').attributes('title')).toBe('3,145,728 bytes');
    await w.get('[data-testid="result-dismiss"]').trigger('click');
    expect(w.emitted('dismiss')).toHaveLength(1);
  });

  it('a merge and a delete name the snapshots they changed, with no field names or raw byte counts', () => {
    const names = { '/d/snap-a.vhd': 'After 6 months', '/d/base.vhd': 'Clean build', '/d/leaf.vhd': 'Today', 'snap-a.vhd': 'After 6 months' };
    const merge = mount(ResultView, {
      props: {
        job: job({ names, outcome: { op: 'merge', result: { merged: '/d/base.vhd', removed: ['/d/snap-a.vhd'], relinked: ['/d/leaf.vhd'], steps: [] } } }),
      },
    });
    expect(merge.get('[data-testid="result-headline"]').text()).toBe('Merge of ‘After 6 months’ into its parent finished.');
    expect(merge.get('[data-testid="result-sentences"]').text()).toBe(
      'The content of ‘After 6 months’ is now part of ‘Clean build’, and its file is gone.‘Today’ now points at ‘Clean build’ as its parent.',
    );
    // The file behind each name is on hover.
    expect(merge.findAll('[data-testid="result-sentences"] [title]').map((e) => e.attributes('title'))).toEqual([
      'snap-a.vhd',
      'base.vhd',
      'leaf.vhd',
      'base.vhd',
    ]);
    const del = mount(ResultView, {
      props: {
        job: job({
          args: { op: 'delete', disk: { folder: 'lab', file: 'snap-a.vhd' } },
          names,
          outcome: { op: 'delete', result: { strategy: 'merge-child', removed: '/d/snap-a.vhd', changed: ['/d/leaf.vhd'] } },
        }),
      },
    });
    const text = del.text();
    expect(text).toContain('Deletion of the snapshot ‘After 6 months’ finished.');
    expect(text).toContain('The snapshot ‘After 6 months’ no longer exists.');
    expect(text).toContain('It was merged into its only child ‘Today’, which shows exactly what it showed before.');
    expect(text).not.toMatch(/strategy|merge-child|relinked|remaining|\d{5,}/);
    const removed = mount(ResultView, {
      props: {
        job: job({
          args: { op: 'delete', disk: { folder: 'lab', file: 'leaf.vhd' } },
          names,
          outcome: { op: 'delete', result: { strategy: 'remove', removed: '/d/leaf.vhd', changed: [] } },
        }),
      },
    });
    expect(removed.get('[data-testid="result-sentences"]').text()).toBe('The saved state ‘Today’ no longer exists; no other disk changed.');
  });

  it('a cancelled job says so, with main’s message', () => {
    const w = mount(ResultView, { props: { job: job({ status: 'cancelled', message: 'cancelled; nothing was changed' }) } });
    expect(w.get('[data-testid="result-headline"]').text()).toBe('Merge of snap-a.vhd into its parent was cancelled.');
    expect(w.text()).toContain('cancelled; nothing was changed');
  });

  it('check results list each file', () => {
    const w = mount(ResultView, {
      props: {
        job: job({
          args: { op: 'check', disk: { folder: 'lab', file: 'leaf.vhd' }, deep: true },
          outcome: {
            op: 'check',
            result: [
              { path: '/d/leaf.vhd', ok: false, type: 'differencing', errors: [{ code: 'BAD_BITMAP', message: 'bitmap of block 2 is short' }], warnings: [] },
              { path: '/d/base.vhd', ok: true, type: 'dynamic', errors: [], warnings: [] },
            ],
          },
        }),
      },
    });
    const items = w.findAll('[data-testid="result-reports"] li').map((li) => li.text());
    expect(items[0]).toContain('leaf.vhd');
    expect(items[0]).toContain('1 error, 0 warnings');
    expect(items[0]).toContain('bitmap of block 2 is short');
    expect(items[1]).toBe('base.vhd: no problems');
    // A check that found an error ran to its end but did not succeed: it does not read as "finished".
    expect(w.get('[data-testid="result-headline"]').text()).toBe('Check of leaf.vhd found 1 problem.');
    expect(w.get('[data-testid="result-panel"]').attributes('data-tone')).toBe('problems');
  });

  it('a clean check and a repair that fixed everything read as finished; a repair that left errors, as problems', () => {
    const clean = mount(ResultView, {
      props: {
        job: job({
          args: { op: 'check', disk: { folder: 'lab', file: 'base.vhd' } },
          outcome: { op: 'check', result: [{ path: '/d/base.vhd', ok: true, type: 'dynamic', errors: [], warnings: [{ code: 'W', message: 'w' }] }] },
        }),
      },
    });
    expect(clean.get('[data-testid="result-panel"]').attributes('data-tone')).toBe('done');
    expect(clean.get('[data-testid="result-headline"]').text()).toContain('finished.');
    const repaired = (remaining: { code: string; message: string }[]) =>
      mount(ResultView, {
        props: {
          job: job({
            args: { op: 'repair', disk: { folder: 'lab', file: 'base.vhd' } },
            outcome: { op: 'repair', result: { path: '/d/base.vhd', fixed: [{ code: 'FOOTER_CHECKSUM', message: 'fixed' }], remaining, notes: [] } },
          }),
        },
      }).get('[data-testid="result-panel"]');
    expect(repaired([]).attributes('data-tone')).toBe('done');
    const left = repaired([
      { code: 'BAT_OVERLAP', message: 'blocks overlap' },
      { code: 'BAD_BITMAP', message: 'short' },
    ]);
    expect(left.attributes('data-tone')).toBe('problems');
    expect(left.text()).toContain('Repair of base.vhd left 2 problems it cannot fix.');
  });
});

describe('HealthBadge', () => {
  it.each([
    [null, 'unknown', 'not checked'],
    [{ path: 'a', ok: true, type: 'dynamic', errors: [], warnings: [] }, 'ok', 'ok'],
    [{ path: 'a', ok: true, type: 'dynamic', errors: [], warnings: [{ code: 'ODD_CREATOR', message: 'odd' }] }, 'warnings', '1 warning(s)'],
    [
      {
        path: 'a',
        ok: false,
        type: 'dynamic',
        errors: [
          { code: 'BAT_OVERLAP', message: 'x' },
          { code: 'BAD_CHECKSUM', message: 'y' },
        ],
        warnings: [{ code: 'W1', message: 'z' }],
      },
      'errors',
      '2 error(s)',
    ],
  ] as const)('%#: state %s', (report, state, label) => {
    const w = mount(HealthBadge, { props: { report: report as never } });
    const badge = w.get('[data-testid="health-badge"]');
    expect(badge.attributes('data-health')).toBe(state);
    expect(badge.text()).toBe(label);
    if (report) for (const f of [...report.errors, ...report.warnings]) expect(badge.attributes('title')).toContain(f.code);
  });
});

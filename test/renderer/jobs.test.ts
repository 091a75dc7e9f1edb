// @vitest-environment happy-dom
// Running jobs: progress (bytes, rate, ETA, phase) from job events, Cancel
// calling api.cancel with the job id, busy disks losing their actions, and
// the end of a job rescanning the folder or recording check results.
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import JobProgress from '../../renderer/src/components/JobProgress.vue';
import Toolbar from '../../renderer/src/components/Toolbar.vue';
import { refKey } from '../../renderer/src/lib/operations.js';
import { useJobsStore } from '../../renderer/src/stores/jobs.js';
import { removeBridge } from './fake-api.js';
import { openLab } from './support.js';

afterEach(() => {
  useJobsStore().stopListening();
  removeBridge();
});

async function startedJob(op: 'merge' | 'check' = 'merge') {
  const ctx = await openLab();
  const jobs = useJobsStore();
  jobs.listen();
  const disk = { folder: 'lab', file: 'leaf-b.vhd' };
  ctx.fake.nextStart = { jobId: 'job-42' };
  await jobs.start(op === 'merge' ? { op, disk } : { op, disk, deep: false });
  return { ...ctx, jobs, disk };
}

describe('JobProgress', () => {
  it('shows the phase in words, the percentage, a smoothed rate and ETA from progress events', async () => {
    const { fake, jobs, pinia } = await startedJob();
    let now = 1000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    const w = mount(JobProgress, { props: { job: jobs.jobs['job-42'] }, global: { plugins: [pinia] } });
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Starting…');
    expect(w.text()).toContain('Merge of leaf-b.vhd into its parent');
    const progress = async (done: number, rate = 64 * 2 ** 20) => {
      fake.emit({ jobId: 'job-42', kind: 'progress', progress: { phase: 'merge', done, total: 2 ** 30, rate, eta: 99 } });
      await flushPromises();
    };
    await progress(256 * 2 ** 20);
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Copying 256 MiB of 1 GiB (25%)');
    expect(w.get('[data-testid="progress-rate"]').text()).toBe('64 MiB/s');
    // One report is not enough to say how long the rest takes.
    expect(w.get('[data-testid="progress-eta"]').text()).toBe('estimating time left…');
    // 64 MiB/s for 4 s more: 512 MiB of 1 GiB, 8 s left at that rate (core's own eta of 99 s is not shown).
    for (let i = 1; i <= 4; i++) {
      now += 1000;
      await progress((256 + 64 * i) * 2 ** 20);
    }
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Copying 512 MiB of 1 GiB (50%)');
    expect(w.get('[data-testid="progress-rate"]').text()).toBe('64 MiB/s');
    expect(w.get('[data-testid="progress-eta"]').text()).toBe('about 10 s left');
    const bar = w.get('[data-testid="progress-bar"]');
    expect(Number(bar.attributes('value'))).toBe(512 * 2 ** 20);
    expect(Number(bar.attributes('max'))).toBe(2 ** 30);
    // Events for other jobs leave this one alone.
    fake.emit({ jobId: 'other', kind: 'progress', progress: { phase: 'x', done: 1, total: 2, rate: 1, eta: 1 } });
    await flushPromises();
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Copying 512 MiB of 1 GiB (50%)');
    clock.mockRestore();
  });

  it('a check counts blocks, not bytes, and has no byte rate', async () => {
    const { fake, jobs, pinia } = await startedJob('check');
    const w = mount(JobProgress, { props: { job: jobs.jobs['job-42'] }, global: { plugins: [pinia] } });
    fake.emit({ jobId: 'job-42', kind: 'progress', progress: { phase: 'check', done: 300, total: 10240, rate: 50, eta: 3 } });
    await flushPromises();
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Checking 300 of 10,240 blocks (2%)');
    expect(w.get('[data-testid="progress-rate"]').text()).toBe('');
  });

  it('Cancel calls api.cancel with the job id', async () => {
    const { fake, jobs, pinia } = await startedJob();
    const w = mount(JobProgress, { props: { job: jobs.jobs['job-42'] }, global: { plugins: [pinia] } });
    await w.get('[data-testid="job-cancel"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('cancel')).toEqual([['job-42']]);
    expect(w.get('[data-testid="job-cancel"]').text()).toBe('Rolling back…');
  });

  it('past the point of no return the button says Finishing… and is disabled', async () => {
    const { fake, jobs, pinia } = await startedJob();
    const w = mount(JobProgress, { props: { job: jobs.jobs['job-42'] }, global: { plugins: [pinia] } });
    expect(w.get('[data-testid="job-cancel"]').attributes('disabled')).toBeUndefined();
    fake.emit({ jobId: 'job-42', kind: 'progress', progress: { phase: 'merge', done: 2, total: 2, rate: 1, eta: 0, finishing: true } });
    await flushPromises();
    const b = w.get('[data-testid="job-cancel"]');
    expect(b.text()).toBe('Finishing…');
    expect(b.attributes('disabled')).toBeDefined();
    await b.trigger('click');
    expect(fake.callsOf('cancel')).toEqual([]);
  });
});

describe('jobs store', () => {
  it('marks the disk busy while its job runs and disables its actions', async () => {
    const { fake, jobs, library, pinia, disk } = await startedJob();
    library.select(refKey(disk));
    const w = mount(Toolbar, { global: { plugins: [pinia] } });
    expect(jobs.busyKeys.has(refKey(disk))).toBe(true);
    expect(w.get('[data-testid="action-merge"]').attributes('disabled')).toBeDefined();
    expect(w.get('[data-testid="action-snapshot"]').attributes('disabled')).toBeDefined();
    expect(w.get('[data-testid="action-rename"]').attributes('disabled')).toBeUndefined();
    // Another disk stays usable.
    library.select(refKey({ folder: 'lab', file: 'leaf-a1.vhd' }));
    await flushPromises();
    expect(w.get('[data-testid="action-merge"]').attributes('disabled')).toBeUndefined();

    const scansBefore = fake.callsOf('scan').length;
    fake.emit({
      jobId: 'job-42',
      kind: 'done',
      outcome: { op: 'merge', result: { merged: '/data/lab/snap-b.vhd', removed: ['/data/lab/leaf-b.vhd'], relinked: [], steps: [] } },
    });
    await flushPromises();
    expect(jobs.busyKeys.size).toBe(0);
    expect(jobs.jobs['job-42'].status).toBe('done');
    expect(fake.callsOf('scan').length).toBe(scansBefore + 1);
    library.select(refKey(disk));
    await flushPromises();
    expect(w.get('[data-testid="action-merge"]').attributes('disabled')).toBeUndefined();
  });

  it('a finished check records health per file and does not rescan', async () => {
    const { fake, jobs, library } = await startedJob('check');
    const scansBefore = fake.callsOf('scan').length;
    fake.emit({
      jobId: 'job-42',
      kind: 'done',
      outcome: {
        op: 'check',
        result: [
          { path: '/data/lab/leaf-b.vhd', ok: false, type: 'differencing', errors: [{ code: 'BAT_OVERLAP', message: 'blocks 3 and 4 overlap' }], warnings: [] },
          { path: '/data/lab/snap-b.vhd', ok: true, type: 'differencing', errors: [], warnings: [] },
        ],
      },
    });
    await flushPromises();
    expect(fake.callsOf('scan').length).toBe(scansBefore);
    const node = (file: string) => library.index.get(refKey({ folder: 'lab', file }))!.node;
    expect(library.healthOf(node('leaf-b.vhd'))!.errors.map((e) => e.code)).toEqual(['BAT_OVERLAP']);
    expect(library.healthOf(node('snap-b.vhd'))!.ok).toBe(true);
    expect(library.healthOf(node('base.vhd'))).toBeNull();
    expect(jobs.lastFinished?.jobId).toBe('job-42');
  });

  it('badges never outlive the job that may have changed the disk: a repair records what it left, any other job clears its folder', async () => {
    const { fake, jobs, library } = await openLab().then(async (ctx) => ({ ...ctx, jobs: useJobsStore() }));
    jobs.listen();
    const node = (file: string) => library.index.get(refKey({ folder: 'lab', file }))!.node;
    const bad = (path: string) => ({ path, ok: false, type: 'differencing' as const, errors: [{ code: 'BAD_FOOTER', message: 'checksum' }], warnings: [] });
    library.recordChecks([bad('/data/lab/leaf-b.vhd'), bad('/data/lab/snap-b.vhd')]);
    fake.nextStart = { jobId: 'r1' };
    await jobs.start({ op: 'repair', disk: { folder: 'lab', file: 'leaf-b.vhd' } });
    fake.emit({
      jobId: 'r1',
      kind: 'done',
      outcome: { op: 'repair', result: { path: '/data/lab/leaf-b.vhd', fixed: [{ code: 'BAD_FOOTER', message: 'restored' }], remaining: [], notes: [] } },
    });
    await flushPromises();
    expect(library.healthOf(node('leaf-b.vhd'))).toMatchObject({ ok: true, errors: [] });
    // snap-b was not what the repair re-checked: not "1 error(s)" any more, but not ok either — not checked.
    expect(library.healthOf(node('snap-b.vhd'))).toBeNull();
    library.recordChecks([bad('/data/lab/leaf-b.vhd')]);
    fake.nextStart = { jobId: 'm1' };
    await jobs.start({ op: 'merge', disk: { folder: 'lab', file: 'leaf-b.vhd' } });
    fake.emit({ jobId: 'm1', kind: 'failed', error: { code: 'IO_ERROR', message: 'x' } });
    await flushPromises();
    expect(library.healthOf(node('leaf-b.vhd'))).toBeNull();
  });

  it('events that arrive before start() answers are kept', async () => {
    const ctx = await openLab();
    const jobs = useJobsStore();
    jobs.listen();
    ctx.fake.start = async (args) => {
      ctx.fake.calls.push({ method: 'start', args: [args] });
      ctx.fake.emit({ jobId: 'fast', kind: 'failed', error: { code: 'IO_ERROR', message: 'read failed' } });
      return { jobId: 'fast' };
    };
    await jobs.start({ op: 'compact', disk: { folder: 'lab', file: 'base.vhd' } });
    await flushPromises();
    expect(jobs.jobs.fast.status).toBe('failed');
    expect(jobs.jobs.fast.args?.op).toBe('compact');
    expect(jobs.running).toHaveLength(0);
  });
});

describe('argRefs', () => {
  it('finds every disk an operation names, whatever the field (merge into, revert to, reparent parent)', async () => {
    const { argRefs } = await import('../../renderer/src/lib/operations');
    const a = { folder: 'lab', file: 'a.vhd' };
    const b = { folder: 'lab', file: 'b.vhd' };
    expect(argRefs({ op: 'merge', disk: a, into: b })).toEqual([a, b]);
    expect(argRefs({ op: 'revert', disk: a, to: b, keep: true })).toEqual([a, b]);
    expect(argRefs({ op: 'reparent', disk: a, parent: b })).toEqual([a, b]);
    expect(argRefs({ op: 'flatten', disk: a, out: '0123456789abcdef', format: 'raw' })).toEqual([a]);
    expect(argRefs({ op: 'snapshot', disk: a, name: 'x' })).toEqual([a]);
  });
});

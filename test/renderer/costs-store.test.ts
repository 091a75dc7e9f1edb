// The Cost column's store: costs are asked after the folder shows, in chunks,
// the rows in view before the rest; the total is unknown ("computing…") until
// every disk's figure is in; a new scan asks again but keeps what it showed;
// the would-free figure is the plan's, asked once per disk and scan.
import { flushPromises } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DiskNode, FolderView } from '../../server/api.js';
import { COST_CHUNK, useCostsStore } from '../../renderer/src/stores/costs.js';
import { disk, installFake, okPlan, type FakeApi } from './fake-api.js';

/** A folder of `n` standalone disks d0 … d(n-1), each costing its index in KiB. */
function bigView(n: number): FolderView {
  const roots: DiskNode[] = Array.from({ length: n }, (_, i) => disk('big', `d${i}.vhd`, { type: 'dynamic' }));
  return { folder: { id: 'big', path: '/data/big', name: 'big' }, roots, orphans: [], unreadable: [], pending: [] };
}

describe('the costs store', () => {
  let fake: FakeApi;
  beforeEach(() => {
    fake = installFake();
    setActivePinia(createPinia());
    for (let i = 0; i < 200; i++) fake.costsByFile[`d${i}.vhd`] = i * 1024;
  });
  const asked = () => fake.callsOf('costs').map((c) => (c[0] as { file: string }[]).map((r) => r.file));

  it('asks in chunks, the rows in view first, and knows the total once every disk is in', async () => {
    const costs = useCostsStore();
    const view = bigView(200);
    costs.load(view);
    // The first chunk is in flight; the rows in view (150 … 159) go before the rest of the queue.
    costs.want(view, view.roots.slice(150, 160));
    expect(costs.totalOf(view)).toBeNull();
    await flushPromises();
    const calls = asked();
    expect(calls.every((c) => c.length <= COST_CHUNK)).toBe(true);
    expect(calls[0]).toEqual(view.roots.slice(0, COST_CHUNK).map((d) => d.ref.file));
    expect(calls[1].slice(0, 10)).toEqual(view.roots.slice(150, 160).map((d) => d.ref.file));
    // Every disk asked exactly once.
    expect(calls.flat().sort()).toEqual(view.roots.map((d) => d.ref.file).sort());
    expect(costs.of(view.roots[150])).toBe(150 * 1024);
    expect(costs.totalOf(view)).toBe(((199 * 200) / 2) * 1024);
  });

  it('keeps the figures shown while a new scan asks again, and drops disks that are gone', async () => {
    const costs = useCostsStore();
    const view = bigView(10);
    costs.load(view);
    await flushPromises();
    const again = bigView(9);
    costs.load(again);
    // Before main answers: the kept figure, not "…"; d9 is gone from the folder.
    expect(costs.of(again.roots[3])).toBe(3 * 1024);
    expect(costs.bytes['big\u0000d9.vhd']).toBeUndefined();
    await flushPromises();
    expect(asked()).toHaveLength(2);
    expect(asked()[1]).toHaveLength(9);
  });

  it('asks the plan for the would-free figure once per disk and scan', async () => {
    const costs = useCostsStore();
    const view = bigView(3);
    costs.load(view);
    const child = disk('big', 'c.vhd');
    const snap = disk('big', 's.vhd', { children: [child] });
    fake.nextPlan = okPlan({ frees: 12345 });
    await costs.wantFree(snap);
    await costs.wantFree(snap);
    expect(fake.callsOf('plan')).toEqual([[{ op: 'delete', disk: snap.ref }]]);
    expect(costs.freeOf(snap)).toEqual({ bytes: 12345, how: 'delete' });
    // A leaf: its merge plan; a refusal is the reason shown.
    fake.nextPlan = okPlan({ refusals: [{ code: 'SAVED_STATE', message: 'its parent is in a saved state' }] });
    await costs.wantFree(child);
    expect(fake.callsOf('plan')[1]).toEqual([{ op: 'merge', disk: child.ref }]);
    expect(costs.freeOf(child)).toEqual({ refused: 'its parent is in a saved state' });
    // A disk of its own: no plan asked.
    await costs.wantFree(view.roots[0]);
    expect(fake.callsOf('plan')).toHaveLength(2);
    expect(costs.freeOf(view.roots[0])).toEqual({ refused: expect.stringMatching(/disk of its own/) });
    // A new scan: asked again.
    costs.load(view);
    expect(costs.freeOf(snap)).toBeUndefined();
    fake.nextPlan = okPlan({ frees: 999 });
    await costs.wantFree(snap);
    expect(costs.freeOf(snap)).toEqual({ bytes: 999, how: 'delete' });
  });

  it('runs one plan at a time, the newest asked first, and drops the oldest past a few', async () => {
    const costs = useCostsStore();
    const view = bigView(1);
    costs.load(view);
    const snaps = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => disk('big', `${n}.vhd`, { children: [disk('big', `${n}-child.vhd`)] }));
    fake.nextPlan = okPlan({ frees: 1 });
    // A pointer sweeping down the column: a's plan runs, b … f wait behind it.
    const first = costs.wantFree(snaps[0]);
    for (const s of snaps.slice(1)) void costs.wantFree(s);
    await first;
    await flushPromises();
    expect(fake.callsOf('plan').map((c) => (c[0] as { disk: { file: string } }).disk.file)).toEqual(['a.vhd', 'f.vhd', 'e.vhd', 'd.vhd']);
    // b and c were dropped, not answered: a later hover asks again.
    expect(costs.freeOf(snaps[1])).toBeUndefined();
    expect(costs.freeOf(snaps[5])).toEqual({ bytes: 1, how: 'delete' });
    await costs.wantFree(snaps[1]);
    expect(fake.callsOf('plan')).toHaveLength(5);
  });
});

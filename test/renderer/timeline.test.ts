// @vitest-environment happy-dom
// The timeline view: one dot per disk, one lane per branch, and the one
// selection (a click, the arrow keys, Enter for details).
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import TimelineView from '../../renderer/src/components/TimelineView.vue';
import { useTreeViewStore } from '../../renderer/src/stores/tree-view';
import { allDisks, labView, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);
afterEach(() => removeBridge());

async function mountTimeline() {
  const ctx = await openLab();
  const wrapper = mount(TimelineView, { props: { view: ctx.library.folders[0].view! }, global: { plugins: [ctx.pinia] }, attachTo: 'body' });
  return { ...ctx, wrapper };
}

describe('TimelineView', () => {
  it('draws a dot per disk and a lane per branch (a leaf ends each lane)', async () => {
    const { wrapper } = await mountTimeline();
    const files = wrapper.findAll('[data-testid="timeline-dot"]').map((d) => d.attributes('data-file'));
    expect(files.sort()).toEqual(
      allDisks(labView())
        .map((d) => d.ref.file)
        .sort(),
    );
    const leaves = allDisks(labView()).filter((d) => d.children.length === 0).length;
    expect(wrapper.findAll('[data-testid="timeline-lane"]')).toHaveLength(leaves);
    // The active leaf-a1 shares the lane of its ancestors; its sibling leaf-a2 has its own.
    const lane = (file: string) => wrapper.get(`[data-testid="timeline-dot"][data-file="${file}"]`).attributes('data-lane');
    expect(lane('leaf-a1.vhd')).toBe(lane('base.vhd'));
    expect(lane('leaf-a2.vhd')).not.toBe(lane('base.vhd'));
  });

  it('a click selects the disk for the whole app; arrows move through time; Enter opens details', async () => {
    const { wrapper, library, fake } = await mountTimeline();
    const dot = (file: string) => wrapper.get(`[data-testid="timeline-dot"][data-file="${file}"]`);
    await dot('snap-a.vhd').trigger('click');
    expect(library.selectedNode?.ref.file).toBe('snap-a.vhd');
    expect(dot('snap-a.vhd').attributes('aria-pressed')).toBe('true');
    expect(dot('snap-a.vhd').attributes('tabindex')).toBe('0');
    // All lab disks share one time: the order is along the lanes, spread apart; Right goes to a later dot.
    const x = (file: string) => Number(/translate\(([-\d.]+),/.exec(dot(file).attributes('transform')!)![1]);
    await dot('snap-a.vhd').trigger('keydown', { key: 'ArrowRight' });
    await flushPromises();
    const next = library.selectedNode!.ref.file;
    expect(next).not.toBe('snap-a.vhd');
    expect(x(next)).toBeGreaterThanOrEqual(x('snap-a.vhd'));
    await dot(next).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(fake.callsOf('details').at(-1)).toEqual([{ folder: 'lab', file: next }]);
  });

  it('zooms the axis with the buttons and + / - / 0, and says by how much', async () => {
    const { wrapper } = await mountTimeline();
    const level = () => wrapper.get('[data-testid="timeline-zoom-level"]').text();
    const width = () => Number(wrapper.get('[data-testid="timeline-viewport"] svg').attributes('width'));
    const fitted = width();
    expect(level()).toBe('100%');
    expect(wrapper.get('[data-testid="timeline-zoom-out"]').attributes('disabled')).toBeDefined(); // never narrower than the window
    await wrapper.get('[data-testid="timeline-zoom-in"]').trigger('click');
    expect(level()).toBe('150%');
    expect(width()).toBeGreaterThan(fitted);
    const dot = wrapper.get('[data-testid="timeline-dot"]');
    await dot.trigger('keydown', { key: '+' });
    expect(level()).toBe('225%');
    await dot.trigger('keydown', { key: '-' });
    expect(level()).toBe('150%');
    await dot.trigger('keydown', { key: '0' });
    expect(level()).toBe('100%');
    expect(width()).toBe(fitted);
    expect(wrapper.get('[data-testid="timeline-zoom-in"]').attributes('aria-label')).toBe('Zoom in');
  });

  it('follows the name filter (the disks before a match muted) and the folding (a folded disk says how many it hides)', async () => {
    const { wrapper, pinia, library } = await mountTimeline();
    const files = () =>
      wrapper
        .findAll('[data-testid="timeline-dot"]')
        .map((n) => n.attributes('data-file'))
        .sort();
    useTreeViewStore(pinia).query = 'before';
    await flushPromises();
    expect(files()).toEqual(['base.vhd', 'snap-a.vhd']);
    expect(wrapper.get('[data-testid="timeline-dot"][data-file="base.vhd"]').classes()).toContain('dim');
    useTreeViewStore(pinia).query = '';
    library.toggle('lab\u0000snap-a.vhd', false);
    await flushPromises();
    expect(files()).not.toContain('leaf-a1.vhd');
    expect(files()).not.toContain('leaf-a2.vhd');
    expect(wrapper.get('[data-testid="timeline-dot"][data-file="snap-a.vhd"]').attributes('aria-label')).toContain('2 disks hidden');
    useTreeViewStore(pinia).expandAll();
    await flushPromises();
    expect(files()).toHaveLength(allDisks(labView()).length);
  });
});

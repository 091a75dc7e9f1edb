// @vitest-environment happy-dom
// The layout's components against the fake bridge: the toolbar folds what does
// not fit into a keyboard-operable More menu; the tree's Cost column and its
// folder total come from main's costs call, its headers sort siblings, the
// filter and collapse/expand all act on the rows; App's Check all runs one
// check job per leaf, in turn.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, describe, expect, it, vi } from 'vitest';
import App from '../../renderer/src/App.vue';
import FolderTree from '../../renderer/src/components/FolderTree.vue';
import Toolbar from '../../renderer/src/components/Toolbar.vue';
import TreeTools from '../../renderer/src/components/TreeTools.vue';
import { formatBytes } from '../../renderer/src/lib/format.js';
import { useTreeViewStore } from '../../renderer/src/stores/tree-view.js';
import { installFake, okPlan, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);
afterEach(() => {
  removeBridge();
  vi.restoreAllMocks();
});

const MiB = 2 ** 20;
const rowFiles = (w: { findAll: (s: string) => { attributes: (a: string) => string | undefined }[] }) =>
  w.findAll('[role="treeitem"]').map((r) => r.attributes('data-file'));

describe('Toolbar overflow', () => {
  /** Lays the toolbar out as a browser would: each action 80 px wide, More 60 px, `room` px for the actions group. */
  function fakeLayout(room: number) {
    vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(function (this: HTMLElement) {
      const w = this.hasAttribute('data-action') ? 80 : this.dataset.testid === 'toolbar-more' ? 60 : 0;
      return { x: 0, y: 0, left: 0, top: 0, right: w, bottom: 20, width: w, height: 20, toJSON: () => ({}) } as DOMRect;
    });
    vi.spyOn(HTMLElement.prototype, 'clientWidth', 'get').mockImplementation(function (this: HTMLElement) {
      return this.getAttribute('aria-label') === 'Disk actions' ? room : 0;
    });
  }

  async function mountToolbar(room: number) {
    fakeLayout(room);
    const ctx = await openLab();
    ctx.library.select('lab\u0000leaf-a1.vhd');
    const w = mount(Toolbar, { global: { plugins: [ctx.pinia] }, attachTo: 'body' });
    await flushPromises();
    return w;
  }

  it('shows every action when they fit, with no More', async () => {
    const w = await mountToolbar(5000);
    expect(w.findAll('[data-action]').length).toBeGreaterThan(5);
    expect(w.find('[data-testid="toolbar-more"]').exists()).toBe(false);
  });

  it('folds the rest into More, each action in exactly one place, and the menu works from the keyboard', async () => {
    // Gap 0 in happy-dom: 3 actions (240) + More (60) fit 300.
    const w = await mountToolbar(300);
    const shown = w.findAll('[data-action]').map((b) => b.attributes('data-testid'));
    expect(shown).toHaveLength(3);
    const more = w.get('[data-testid="toolbar-more"]');
    expect(more.attributes('aria-haspopup')).toBe('menu');
    expect(more.attributes('aria-expanded')).toBe('false');
    await more.trigger('keydown', { key: 'ArrowDown' });
    await flushPromises();
    const items = w.findAll('[role="menuitem"]');
    const folded = items.map((i) => i.attributes('data-testid'));
    expect(folded.length).toBeGreaterThan(0);
    expect(folded.filter((f) => shown.includes(f))).toEqual([]);
    expect(more.attributes('aria-expanded')).toBe('true');
    expect(document.activeElement).toBe(items[0].element);
    const menu = w.get('[role="menu"]');
    await menu.trigger('keydown', { key: 'ArrowDown' });
    expect(document.activeElement).toBe(items[1 % items.length].element);
    await menu.trigger('keydown', { key: 'End' });
    expect(document.activeElement).toBe(items[items.length - 1].element);
    await menu.trigger('keydown', { key: 'Escape' });
    expect(w.find('[role="menu"]').exists()).toBe(false);
    expect(document.activeElement).toBe(more.element);
    // An enabled folded action runs from the menu, which closes.
    await more.trigger('click');
    await flushPromises();
    const enabled = w.findAll('[role="menuitem"]').find((i) => i.attributes('aria-disabled') === undefined)!;
    await enabled.trigger('click');
    expect(w.emitted('action')?.[0]).toEqual([enabled.attributes('data-testid')!.replace('action-', '')]);
    expect(w.find('[role="menu"]').exists()).toBe(false);
  });
});

describe('FolderTree columns and order', () => {
  async function mountTree() {
    const ctx = await openLab();
    ctx.fake.costsByFile = {
      'base.vhd': 6 * MiB,
      'snap-a.vhd': 1 * MiB,
      'snap-b.vhd': 4 * MiB,
      'leaf-a1.vhd': 2 * MiB,
      'leaf-a2.vhd': 0,
      'leaf-b.vhd': 3 * MiB,
    };
    const view = ctx.library.folders[0].view!;
    const wrapper = mount(FolderTree, { props: { view }, global: { plugins: [ctx.pinia] }, attachTo: 'body' });
    await flushPromises();
    return { ...ctx, wrapper };
  }

  it('reads the costs once per scan and shows each, a bar, and the folder total once all are known', async () => {
    const { wrapper, fake } = await mountTree();
    const asked = fake.callsOf('costs');
    expect(asked).toHaveLength(1);
    expect((asked[0][0] as { file: string }[]).map((r) => r.file)).toEqual([
      'base.vhd',
      'snap-a.vhd',
      'leaf-a1.vhd',
      'leaf-a2.vhd',
      'snap-b.vhd',
      'leaf-b.vhd',
      'lone.vhd',
    ]);
    const cell = (f: string) => wrapper.get(`[data-testid="tree-row-${f}"] [data-testid="cost-cell"]`);
    expect(cell('snap-b.vhd').text()).toBe(formatBytes(4 * MiB));
    // lone.vhd has no figure (null from main): "…", and so no total yet.
    expect(cell('lone.vhd').text()).toBe('…');
    expect(wrapper.get('[data-testid="cost-total"]').text()).toBe('computing…');
    // The largest disk's bar is full; the others in proportion.
    expect(cell('base.vhd').get('.fill').attributes('style')).toContain('width: 100%');
    expect(cell('snap-a.vhd').get('.fill').attributes('style')).toContain('width: 17%');
    // What deleting it frees: its plan's figure, asked on hover, not before.
    expect(cell('snap-a.vhd').attributes('title')).toContain('asking its plan');
    expect(fake.callsOf('plan')).toEqual([]);
    fake.nextPlan = okPlan({ frees: 3 * MiB });
    await cell('snap-a.vhd').trigger('mouseenter');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'delete', disk: { folder: 'lab', file: 'snap-a.vhd' } }]]);
    expect(cell('snap-a.vhd').attributes('title')).toContain('Deleting this snapshot frees 3 MiB (3,145,728 bytes), as its plan says.');
    expect(cell('snap-a.vhd').attributes('data-frees')).toBe(String(3 * MiB));
    // Asked once per scan: a second hover reads the answer kept.
    await cell('snap-a.vhd').trigger('mouseenter');
    await flushPromises();
    expect(fake.callsOf('plan')).toHaveLength(1);
  });

  it('shows the total and sorts siblings by cost from the header: largest first, then smallest, then the scan order', async () => {
    const { wrapper: first, fake, library, pinia } = await mountTree();
    first.unmount();
    // A new scan (a new view) reads the costs again: lone.vhd's is known now.
    fake.costsByFile['lone.vhd'] = 10 * MiB;
    await library.rescan('lab');
    const wrapper = mount(FolderTree, { props: { view: library.folders[0].view! }, global: { plugins: [pinia] }, attachTo: 'body' });
    await flushPromises();
    expect(fake.callsOf('costs')).toHaveLength(2);
    expect(wrapper.get('[data-testid="cost-total"]').text()).toBe(formatBytes(26 * MiB));
    const scan = rowFiles(wrapper);
    await wrapper.get('[data-testid="sort-cost"]').trigger('click');
    expect(rowFiles(wrapper)).toEqual(['lone.vhd', 'base.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'snap-a.vhd', 'leaf-a1.vhd', 'leaf-a2.vhd']);
    expect(wrapper.get('[data-testid="sort-cost"]').text()).toContain('▼');
    await wrapper.get('[data-testid="sort-cost"]').trigger('click');
    expect(rowFiles(wrapper)).toEqual(['base.vhd', 'snap-a.vhd', 'leaf-a2.vhd', 'leaf-a1.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'lone.vhd']);
    await wrapper.get('[data-testid="sort-cost"]').trigger('click');
    expect(rowFiles(wrapper)).toEqual(scan);
    // By shown name: "lone.vhd" before "Windows base" (base.vhd's name), whatever the case.
    await wrapper.get('[data-testid="sort-name"]').trigger('click');
    expect(rowFiles(wrapper)[0]).toBe('lone.vhd');
    // The keyboard follows the order shown: End is the last row.
    await wrapper.get('[role="tree"]').trigger('keydown', { key: 'End' });
    expect(wrapper.get('[aria-selected="true"]').attributes('data-file')).toBe(rowFiles(wrapper).at(-1));
  });

  it('the file name keeps its end, whole, in a tail of its own, and the full path on hover', async () => {
    const { wrapper } = await mountTree();
    const cell = wrapper.get('[data-testid="tree-row-leaf-a1.vhd"] [data-testid="file-cell"]');
    expect(cell.text()).toBe('leaf-a1.vhd');
    const tail = cell.get('[data-testid="file-tail"]').text();
    expect(tail.length).toBeGreaterThanOrEqual(8);
    expect(cell.get('.file-head').text() + tail).toBe('leaf-a1.vhd');
    expect(cell.attributes('title')).toBe('/data/lab/leaf-a1.vhd');
  });

  it('filters by name and collapses or expands every tree at once', async () => {
    const { wrapper, pinia } = await mountTree();
    const tools = mount(TreeTools, { global: { plugins: [pinia] }, attachTo: 'body' });
    await tools.get('[data-testid="tree-filter"]').setValue('before');
    expect(useTreeViewStore().query).toBe('before');
    // "before upgrade" is snap-a's name: base stays above it, dimmed.
    expect(rowFiles(wrapper)).toEqual(['base.vhd', 'snap-a.vhd']);
    expect(wrapper.get('[data-testid="tree-row-base.vhd"]').classes()).toContain('dimmed');
    await tools.get('[data-testid="tree-filter"]').trigger('keydown', { key: 'Escape' });
    expect(rowFiles(wrapper)).toHaveLength(7);
    await tools.get('[data-testid="collapse-all"]').trigger('click');
    expect(rowFiles(wrapper)).toEqual(['base.vhd', 'lone.vhd']);
    await tools.get('[data-testid="expand-all"]').trigger('click');
    expect(rowFiles(wrapper)).toHaveLength(7);
  });
});

describe('Check all', () => {
  it('runs a check job per leaf of the folder, the next when the last ended', async () => {
    const fake = installFake();
    const pinia = createPinia();
    setActivePinia(pinia);
    let n = 0;
    const started: string[] = [];
    vi.spyOn(fake, 'start').mockImplementation(async (args) => {
      started.push((args as { disk: { file: string } }).disk.file);
      return { jobId: `job-${++n}` };
    });
    const w = mount(App, { global: { plugins: [pinia] }, attachTo: 'body' });
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    await w.get('[data-testid="check-all"]').trigger('click');
    await flushPromises();
    expect(started).toEqual(['leaf-a1.vhd']);
    expect(w.get('[data-testid="check-all"]').text()).toBe('Checking 0 of 4…');
    for (let i = 1; i <= 4; i++) {
      fake.emit({ jobId: `job-${i}`, kind: 'done', outcome: { op: 'check', result: [] } });
      await flushPromises();
    }
    expect(started).toEqual(['leaf-a1.vhd', 'leaf-a2.vhd', 'leaf-b.vhd', 'lone.vhd']);
    expect(w.get('[data-testid="check-all"]').text()).toBe('Check all');
  });
});

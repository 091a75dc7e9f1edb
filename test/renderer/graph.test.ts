// @vitest-environment happy-dom
// The node-link graph: one node per disk, one link per parent→child edge,
// children to the right of their parent, siblings apart, leaves marked.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import TreeGraph from '../../renderer/src/components/TreeGraph.vue';
import TreeTools from '../../renderer/src/components/TreeTools.vue';
import { useTreeViewStore } from '../../renderer/src/stores/tree-view';
import { allDisks, labView, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);

afterEach(() => {
  removeBridge();
});

async function mountGraph() {
  const ctx = await openLab();
  const wrapper = mount(TreeGraph, { props: { view: ctx.library.folders[0].view! }, global: { plugins: [ctx.pinia] }, attachTo: 'body' });
  return { ...ctx, wrapper };
}

function position(transform: string | undefined): { x: number; y: number } {
  const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(transform ?? '');
  expect(m).not.toBeNull();
  return { x: Number(m![1]), y: Number(m![2]) };
}

describe('TreeGraph', () => {
  it('draws one node per disk and one link per parent→child edge', async () => {
    const { wrapper } = await mountGraph();
    const disks = allDisks(labView());
    const nodes = wrapper.findAll('[data-testid="graph-node"]');
    expect(nodes.map((n) => n.attributes('data-file')).sort()).toEqual(disks.map((d) => d.ref.file).sort());

    const expectedLinks = disks.flatMap((d) => d.children.map((c) => `${d.ref.file}>${c.ref.file}`)).sort();
    const links = wrapper.findAll('[data-testid="graph-link"]').map((l) => `${l.attributes('data-parent')}>${l.attributes('data-child')}`);
    expect(links.sort()).toEqual(expectedLinks);
    expect(links).toHaveLength(5); // base→a, base→b, a→a1, a→a2, b→b1; no link to the hidden root
  });

  it('lays children out to the right of their parent, siblings at distinct heights', async () => {
    const { wrapper } = await mountGraph();
    const pos = new Map(wrapper.findAll('[data-testid="graph-node"]').map((n) => [n.attributes('data-file')!, position(n.attributes('transform'))]));
    for (const d of allDisks(labView())) {
      for (const c of d.children) expect(pos.get(c.ref.file)!.x).toBeGreaterThan(pos.get(d.ref.file)!.x);
    }
    const ys = [...pos.values()].filter((p) => p.x === pos.get('leaf-a1.vhd')!.x).map((p) => p.y);
    expect(new Set(ys).size).toBe(ys.length); // the three leaves at depth 2 do not overlap
    // Both roots start in the first column.
    expect(pos.get('base.vhd')!.x).toBe(pos.get('lone.vhd')!.x);
    // Every link leaves its parent's row to the right of it and ends at its child's row, just left of the child.
    for (const l of wrapper.findAll('[data-testid="graph-link"]')) {
      const p = pos.get(l.attributes('data-parent')!)!;
      const c = pos.get(l.attributes('data-child')!)!;
      const m = /^M([-\d.]+),([-\d.]+) .* ([-\d.]+),([-\d.]+)$/.exec(l.attributes('d')!);
      expect(m).not.toBeNull();
      const [fx, fy, tx, ty] = m!.slice(1).map(Number);
      expect(fx).toBeGreaterThan(p.x);
      expect(fy).toBe(p.y);
      expect(tx).toBeLessThan(c.x);
      expect(tx).toBeGreaterThan(c.x - 12);
      expect(ty).toBe(c.y);
    }
  });

  it('marks one active disk per tree Now, other leaves saved states, and opens details on Enter', async () => {
    const { wrapper, fake } = await mountGraph();
    const labelled = (end: string) =>
      wrapper
        .findAll('[data-testid="graph-node"]')
        .filter((n) => n.attributes('aria-label')!.endsWith(end))
        .map((n) => n.attributes('data-file'))
        .sort();
    expect(labelled(', now')).toEqual(['leaf-a1.vhd', 'lone.vhd']);
    expect(labelled(', saved state')).toEqual(['leaf-a2.vhd', 'leaf-b.vhd']);
    expect(wrapper.findAll('[data-testid="graph-now"]').map((t) => t.text())).toEqual(['Now', 'Now']);
    const snapB = wrapper.get('[data-testid="graph-node"][data-file="snap-b.vhd"]');
    await snapB.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(fake.callsOf('details')).toEqual([[{ folder: 'lab', file: 'snap-b.vhd' }]]);
    expect(snapB.attributes('aria-pressed')).toBe('true');
  });

  it('arrow keys move along the graph (Left parent, Right first child, Up/Down siblings), focus and selection together; Tab reaches one node', async () => {
    const { wrapper, library } = await mountGraph();
    const node = (file: string) => wrapper.get(`[data-testid="graph-node"][data-file="${file}"]`);
    const focused = () => (document.activeElement as Element | null)?.getAttribute('data-file');
    const selectedFile = () => library.selectedNode?.ref.file;
    (node('snap-a.vhd').element as SVGGElement).focus();
    expect(selectedFile()).toBe('snap-a.vhd');
    const press = async (key: string) => {
      await wrapper.get(`[data-testid="graph-node"][data-file="${focused()}"]`).trigger('keydown', { key });
      await flushPromises();
    };
    await press('ArrowRight');
    expect([focused(), selectedFile()]).toEqual(['leaf-a1.vhd', 'leaf-a1.vhd']);
    await press('ArrowDown');
    expect([focused(), selectedFile()]).toEqual(['leaf-a2.vhd', 'leaf-a2.vhd']);
    await press('ArrowDown'); // no further sibling: stays
    expect(focused()).toBe('leaf-a2.vhd');
    await press('ArrowLeft');
    expect(focused()).toBe('snap-a.vhd');
    await press('ArrowDown');
    expect(focused()).toBe('snap-b.vhd');
    await press('ArrowLeft');
    await press('ArrowDown'); // roots are siblings too
    expect([focused(), selectedFile()]).toEqual(['lone.vhd', 'lone.vhd']);
    const stops = wrapper.findAll('[data-testid="graph-node"]').filter((n) => n.attributes('tabindex') === '0');
    expect(stops.map((n) => n.attributes('data-file'))).toEqual(['lone.vhd']);
  });

  it('folds a subtree with − or its knob, saying how many disks it hides; + and Right unfold it; collapse all leaves the roots', async () => {
    const { wrapper, library, pinia } = await mountGraph();
    const node = (file: string) => wrapper.get(`[data-testid="graph-node"][data-file="${file}"]`);
    const files = () => wrapper.findAll('[data-testid="graph-node"]').map((n) => n.attributes('data-file'));
    await node('snap-a.vhd').trigger('keydown', { key: '-' });
    expect(files()).not.toContain('leaf-a1.vhd');
    expect(files()).not.toContain('leaf-a2.vhd');
    expect(node('snap-a.vhd').attributes('aria-expanded')).toBe('false');
    expect(node('snap-a.vhd').attributes('aria-label')).toContain('2 disks hidden');
    expect(node('snap-a.vhd').get('[data-testid="graph-knob"]').text()).toBe('+2');
    // The tree view folds with it: one collapsed set.
    expect(library.collapsed['lab\u0000snap-a.vhd']).toBe(true);
    await node('snap-a.vhd').trigger('keydown', { key: '+' });
    expect(files()).toContain('leaf-a1.vhd');
    await node('snap-b.vhd').get('[data-testid="graph-knob"]').trigger('click');
    expect(files()).not.toContain('leaf-b.vhd');
    (node('snap-b.vhd').element as SVGGElement).focus();
    await node('snap-b.vhd').trigger('keydown', { key: 'ArrowRight' });
    await flushPromises();
    expect(files()).toContain('leaf-b.vhd');
    expect(library.selectedNode?.ref.file).toBe('leaf-b.vhd');
    // Collapse all (the tools above every view) folds the graph too.
    const tools = mount(TreeTools, { global: { plugins: [pinia] }, attachTo: 'body' });
    await tools.get('[data-testid="collapse-all"]').trigger('click');
    await flushPromises();
    expect(files().sort()).toEqual(['base.vhd', 'lone.vhd']);
    // The selection was inside a folded tree: it moves to the root that hides it.
    expect(library.selectedNode?.ref.file).toBe('base.vhd');
    expect(node('base.vhd').get('[data-testid="graph-knob"]').text()).toBe('+5');
    await tools.get('[data-testid="expand-all"]').trigger('click');
    expect(files()).toHaveLength(allDisks(labView()).length);
  });

  it('the name filter draws each match and the chain above it, muted, with no fold knobs; clearing it brings back every disk', async () => {
    const { wrapper, pinia } = await mountGraph();
    const files = () =>
      wrapper
        .findAll('[data-testid="graph-node"]')
        .map((n) => n.attributes('data-file'))
        .sort();
    useTreeViewStore(pinia).query = 'before'; // snap-a's name, "before upgrade"
    await flushPromises();
    expect(files()).toEqual(['base.vhd', 'snap-a.vhd']);
    const base = wrapper.get('[data-testid="graph-node"][data-file="base.vhd"]');
    expect(base.classes()).toContain('dim');
    expect(base.attributes('aria-label')).toContain('leads to a match');
    expect(wrapper.get('[data-testid="graph-node"][data-file="snap-a.vhd"]').classes()).not.toContain('dim');
    expect(wrapper.findAll('[data-testid="graph-knob"]')).toHaveLength(0);
    expect(wrapper.findAll('[data-testid="graph-link"]').map((l) => `${l.attributes('data-parent')}>${l.attributes('data-child')}`)).toEqual([
      'base.vhd>snap-a.vhd',
    ]);
    useTreeViewStore(pinia).query = '';
    await flushPromises();
    expect(files()).toHaveLength(allDisks(labView()).length);
  });

  it('the zoom buttons scale the drawing and say by how much', async () => {
    const { wrapper } = await mountGraph();
    const scale = () => Number(/scale\(([\d.]+)\)/.exec(wrapper.get('[data-testid="graph-canvas"]').attributes('transform')!)![1]);
    const before = scale();
    await wrapper.get('[data-testid="graph-zoom-in"]').trigger('click');
    expect(scale()).toBeCloseTo(before * 1.25);
    expect(wrapper.get('[data-testid="graph-zoom-level"]').text()).toBe(`${Math.round(before * 125)}%`);
    await wrapper.get('[data-testid="graph-zoom-out"]').trigger('click');
    await wrapper.get('[data-testid="graph-zoom-out"]').trigger('click');
    expect(scale()).toBeCloseTo(before / 1.25);
  });
});

// @vitest-environment happy-dom
// The indented tree: a forest with several children per parent, leaves marked
// as current state, keyboard navigation, Enter opening details, context menu keys.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import FolderTree from '../../renderer/src/components/FolderTree.vue';
import { DETAILS_DELAY_MS } from '../../renderer/src/stores/library.js';
import { refKey } from '../../renderer/src/lib/operations.js';
import { allDisks, labView, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);

afterEach(() => {
  removeBridge();
});

async function mountTree() {
  const ctx = await openLab();
  const view = ctx.library.folders[0].view!;
  const wrapper = mount(FolderTree, { props: { view }, global: { plugins: [ctx.pinia] }, attachTo: 'body' });
  return { ...ctx, wrapper, view };
}

const rowFiles = (w: Awaited<ReturnType<typeof mountTree>>['wrapper']) => w.findAll('[role="treeitem"]').map((r) => r.attributes('data-file'));

describe('FolderTree', () => {
  it('renders every disk depth first with ARIA levels from the forest', async () => {
    const { wrapper } = await mountTree();
    const expected = allDisks(labView());
    expect(rowFiles(wrapper)).toEqual(expected.map((d) => d.ref.file));
    // Levels: an independent depth walk of the fixture.
    const depth = new Map<string, number>();
    const walk = (n: (typeof expected)[0], d: number) => {
      depth.set(n.ref.file, d);
      n.children.forEach((c) => walk(c, d + 1));
    };
    labView().roots.forEach((r) => walk(r, 1));
    for (const row of wrapper.findAll('[role="treeitem"]')) {
      expect(Number(row.attributes('aria-level'))).toBe(depth.get(row.attributes('data-file')!));
    }
    // base.vhd has two children, each with its own set position.
    const snapA = wrapper.get('[data-testid="tree-row-snap-a.vhd"]');
    const snapB = wrapper.get('[data-testid="tree-row-snap-b.vhd"]');
    expect([snapA.attributes('aria-posinset'), snapA.attributes('aria-setsize')]).toEqual(['1', '2']);
    expect([snapB.attributes('aria-posinset'), snapB.attributes('aria-setsize')]).toEqual(['2', '2']);
  });

  it('marks exactly one disk per tree Now, the active one, and the other leaves as saved states', async () => {
    const { wrapper } = await mountTree();
    const fileOf = (sel: string) =>
      wrapper
        .findAll(sel)
        .map((m) => m.element.closest('[role="treeitem"]')!.getAttribute('data-file'))
        .sort();
    const active = allDisks(labView())
      .filter((d) => d.active)
      .map((d) => d.ref.file)
      .sort();
    expect(fileOf('[data-testid="now-marker"]')).toEqual(active);
    // Two trees (base.vhd's and lone.vhd), one Now each.
    expect(fileOf('[data-testid="now-marker"]')).toEqual(['leaf-a1.vhd', 'lone.vhd']);
    expect(fileOf('[data-testid="saved-state"]')).toEqual(['leaf-a2.vhd', 'leaf-b.vhd']);
  });

  it('shows the sidecar name, else the file name', async () => {
    const { wrapper } = await mountTree();
    expect(wrapper.get('[data-testid="tree-row-base.vhd"] .name').text()).toBe('Windows base');
    expect(wrapper.get('[data-testid="tree-row-leaf-a2.vhd"] .name').text()).toBe('leaf-a2.vhd');
  });

  it('arrow keys move the selection; left/right collapse, expand and go to the parent', async () => {
    const { wrapper, library, fake } = await mountTree();
    const tree = wrapper.get('[role="tree"]');
    const selected = () => wrapper.find('[aria-selected="true"]').attributes('data-file');
    await tree.trigger('focus');
    expect(selected()).toBe('base.vhd');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    expect(selected()).toBe('snap-a.vhd');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    await tree.trigger('keydown', { key: 'ArrowDown' });
    expect(selected()).toBe('leaf-a2.vhd');
    expect(tree.attributes('aria-activedescendant')).toBe(wrapper.get('[aria-selected="true"]').attributes('id'));
    await tree.trigger('keydown', { key: 'ArrowUp' });
    expect(selected()).toBe('leaf-a1.vhd');
    // Left on a leaf goes to its parent; left again collapses it.
    await tree.trigger('keydown', { key: 'ArrowLeft' });
    expect(selected()).toBe('snap-a.vhd');
    await tree.trigger('keydown', { key: 'ArrowLeft' });
    expect(wrapper.get('[data-testid="tree-row-snap-a.vhd"]').attributes('aria-expanded')).toBe('false');
    expect(rowFiles(wrapper)).not.toContain('leaf-a1.vhd');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    expect(selected()).toBe('snap-b.vhd');
    await tree.trigger('keydown', { key: 'ArrowUp' });
    await tree.trigger('keydown', { key: 'ArrowRight' });
    expect(rowFiles(wrapper)).toContain('leaf-a1.vhd');
    await tree.trigger('keydown', { key: 'ArrowRight' });
    expect(selected()).toBe('leaf-a1.vhd');
    await tree.trigger('keydown', { key: 'End' });
    expect(selected()).toBe('lone.vhd');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    expect(selected()).toBe('lone.vhd');
    // The details follow the selection: none read while the keys move, the last disk's once it rests.
    expect(fake.callsOf('details')).toEqual([]);
    expect(library.detailsKey).toBe(refKey({ folder: 'lab', file: 'lone.vhd' }));
    await new Promise((r) => setTimeout(r, DETAILS_DELAY_MS + 50));
    await flushPromises();
    expect(fake.callsOf('details')).toEqual([[{ folder: 'lab', file: 'lone.vhd' }]]);
    expect(library.details).not.toBeNull();
  });

  it('file names and names are shown printable: a terminal escape or a bidi override in a name shows as an escape', async () => {
    const { wrapper, view } = await mountTree();
    view.roots[1].ref = { ...view.roots[1].ref, file: 'lone\x1b[2J\u202egpj.vhd' };
    view.roots[0].name = 'Windows\x07 base';
    await flushPromises();
    const text = wrapper.text();
    expect(text).toContain('lone\\x1b[2J\\u202egpj.vhd');
    expect(text).toContain('Windows\\x07 base');
    expect([...text].filter((ch) => ch.charCodeAt(0) < 0x20 || ch === '\u202e')).toEqual([]);
  });

  it('Enter opens the details of the selected disk', async () => {
    const { wrapper, library, fake } = await mountTree();
    const tree = wrapper.get('[role="tree"]');
    await tree.trigger('focus');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    await tree.trigger('keydown', { key: 'ArrowDown' });
    await tree.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(fake.callsOf('details')).toEqual([[{ folder: 'lab', file: 'leaf-a1.vhd' }]]);
    expect(library.detailsKey).toBe(refKey({ folder: 'lab', file: 'leaf-a1.vhd' }));
  });

  it('Shift+F10, the ContextMenu key and right click ask for the menu of the disk', async () => {
    const { wrapper } = await mountTree();
    const tree = wrapper.get('[role="tree"]');
    await tree.trigger('focus');
    await tree.trigger('keydown', { key: 'F10', shiftKey: true });
    await tree.trigger('keydown', { key: 'ArrowDown' });
    await tree.trigger('keydown', { key: 'ContextMenu' });
    await wrapper.get('[data-testid="tree-row-leaf-b.vhd"]').trigger('contextmenu');
    await tree.trigger('keydown', { key: 'F10' }); // without Shift: not a menu key
    const menus = wrapper.emitted('menu')!.map((e) => (e[0] as { ref: { file: string } }).ref.file);
    expect(menus).toEqual(['base.vhd', 'snap-a.vhd', 'leaf-b.vhd']);
    expect(wrapper.find('[aria-selected="true"]').attributes('data-file')).toBe('leaf-b.vhd');
  });
});

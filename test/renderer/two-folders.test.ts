// @vitest-environment happy-dom
// A chain across two open folders (a child in B reconnected to a base in A)
// is shown once, where it starts, names kept; B says where its disk went.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, describe, expect, it } from 'vitest';
import App from '../../renderer/src/App.vue';
import { refKey } from '../../renderer/src/lib/operations.js';
import { useLibraryStore } from '../../renderer/src/stores/library.js';
import type { FolderView } from '../../server/api.js';
import { disk, installFake, removeBridge } from './fake-api.js';

enableAutoUnmount(afterEach);
afterEach(() => removeBridge());

function views(): { A: FolderView; B: FolderView } {
  const childInA = disk('B', 'child.vhd', { name: 'VM', parentName: 'base2.vhd', external: true });
  const baseA = disk('A', 'base2.vhd', { type: 'dynamic', name: 'Clean base', children: [childInA] });
  const childInB = disk('B', 'child.vhd', { name: 'VM', parentName: 'base2.vhd' });
  const baseInB = disk('A', 'base2.vhd', { type: 'dynamic', name: 'Clean base', external: true, children: [childInB] });
  const v = (id: string, roots: FolderView['roots']): FolderView => ({
    folder: { id, path: `/data/${id}`, name: id },
    pending: [],
    roots,
    orphans: [],
    unreadable: [],
  });
  return { A: v('A', [baseA]), B: v('B', [baseInB]) };
}

describe('a chain across two open folders', () => {
  it('is shown once, in the folder it starts in, names kept; the other folder says where it is', async () => {
    const fake = installFake();
    const { A, B } = views();
    fake.views = new Map([
      ['A', A],
      ['B', B],
    ]);
    setActivePinia(createPinia());
    const w = mount(App);
    await flushPromises();
    fake.grant = B.folder;
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    // Only B open: its view shows the whole chain (the base from A marked outside).
    expect(w.findAll('[data-testid="tree-row-base2.vhd"]')).toHaveLength(1);
    fake.grant = A.folder;
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    expect(w.findAll('[data-testid="tree-row-base2.vhd"]')).toHaveLength(1);
    expect(w.findAll('[data-testid="tree-row-child.vhd"]')).toHaveLength(1);
    expect(w.text()).toContain('Clean base');
    expect(w.text()).toContain('VM');
    expect(w.get('[data-testid="shown-elsewhere"]').text()).toBe('child.vhd is in a chain that starts in A: it is shown there.');
    const library = useLibraryStore();
    expect(library.index.get(refKey({ folder: 'A', file: 'base2.vhd' }))?.folder).toBe('A');
    expect(library.choices.filter((c) => c.ref.file === 'base2.vhd')).toHaveLength(1);
  });
});

// @vitest-environment happy-dom
// The native menu's commands in the page (App.vue, onMenuCommand): an action
// runs on the selected disk as its shortcut would (where it applies, never
// over an open dialog); the app commands open, rescan and switch the view.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, describe, expect, it } from 'vitest';
import App from '../../renderer/src/App.vue';
import { useSettingsStore } from '../../renderer/src/stores/settings.js';
import type { MenuCommand } from '../../server/api.js';
import { installFake, removeBridge } from './fake-api.js';

enableAutoUnmount(afterEach);
afterEach(() => removeBridge());

async function mountWithMenu() {
  const fake = installFake();
  const listeners = new Set<(c: MenuCommand) => void>();
  // The preload's subscription (the fake bridge of `vhdsnap serve` has none).
  Object.assign(fake, {
    onMenuCommand: (l: (c: MenuCommand) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  });
  const pinia = createPinia();
  setActivePinia(pinia);
  const w = mount(App, { global: { plugins: [pinia] }, attachTo: 'body' });
  await flushPromises();
  const send = async (c: MenuCommand) => {
    listeners.forEach((l) => l(c));
    await flushPromises();
  };
  return { w, fake, listeners, send };
}

describe('menu commands', () => {
  it('run an action on the selected disk where it applies, and not over an open dialog', async () => {
    const { w, send } = await mountWithMenu();
    await send({ kind: 'app', command: 'open-folder' });
    expect(w.find('[data-testid="tree-row-leaf-a1.vhd"]').exists()).toBe(true);
    // Nothing selected: nothing to act on.
    await send({ kind: 'action', action: 'snapshot' });
    expect(w.find('[role="dialog"]').exists()).toBe(false);
    await w.get('[data-testid="tree-row-leaf-a1.vhd"]').trigger('click');
    await send({ kind: 'action', action: 'snapshot' });
    expect(w.find('[data-testid="dialog-snapshot"]').exists()).toBe(true);
    await send({ kind: 'action', action: 'rename' });
    expect(w.find('[data-testid="dialog-rename"]').exists()).toBe(false);
    await w.get('[data-testid="dialog-cancel"]').trigger('click');
    await flushPromises();
    await send({ kind: 'action', action: 'rename' });
    expect(w.find('[data-testid="dialog-rename"]').exists()).toBe(true);
    await w.get('[data-testid="dialog-rename"]').trigger('keydown', { key: 'Escape' });
    await flushPromises();
    // A snapshot with children cannot be snapshotted: the command does nothing there.
    await w.get('[data-testid="tree-row-snap-a.vhd"]').trigger('click');
    await send({ kind: 'action', action: 'snapshot' });
    expect(w.find('[role="dialog"]').exists()).toBe(false);
    await send({ kind: 'action', action: 'delete' });
    expect(w.find('[data-testid="dialog-delete"]').exists()).toBe(true);
  });

  it('switch the view, rescan every open folder, and stop listening when the window goes', async () => {
    const { w, fake, listeners, send } = await mountWithMenu();
    await send({ kind: 'app', command: 'open-folder' });
    await send({ kind: 'app', command: 'view-graph' });
    expect(useSettingsStore().viewMode).toBe('graph');
    await send({ kind: 'app', command: 'view-timeline' });
    expect(useSettingsStore().viewMode).toBe('timeline');
    await send({ kind: 'app', command: 'view-tree' });
    expect(useSettingsStore().viewMode).toBe('tree');
    // Help › Keyboard Shortcuts opens the ? overlay.
    expect(w.find('[data-testid="shortcuts-overlay"]').exists()).toBe(false);
    await send({ kind: 'app', command: 'shortcuts' });
    expect(w.find('[data-testid="shortcuts-overlay"]').exists()).toBe(true);
    const scans = fake.callsOf('scan').length;
    await send({ kind: 'app', command: 'rescan' });
    expect(fake.callsOf('scan').length).toBe(scans + 1);
    expect(listeners.size).toBe(1);
    w.unmount();
    expect(listeners.size).toBe(0);
  });
});

// @vitest-environment happy-dom
// The modal focus handling (renderer/src/lib/focus-trap.ts) and the `?`
// overlay: focus in on open, Tab wraps both ways, Escape closes the top
// modal only, a replaced step gets a new starting point, and the opener gets
// the focus back.
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { defineComponent, h, nextTick, ref } from 'vue';
import ShortcutsOverlay from '../../renderer/src/components/ShortcutsOverlay.vue';
import { useModal } from '../../renderer/src/lib/focus-trap';

/** The step every test dialog shows: 1 a text field and two buttons, 2 a Done button (marked data-autofocus) and another. */
const step = ref(1);

/** A dialog of `step`; Escape emits close. */
const Dialog = defineComponent({
  props: { name: { type: String, required: true } },
  emits: ['close'],
  setup(props, { emit }) {
    const box = ref<HTMLElement | null>(null);
    useModal(box, () => emit('close'));
    return () =>
      h('div', { ref: box, role: 'dialog', 'aria-modal': 'true', tabindex: -1, 'data-name': props.name }, [
        step.value === 1
          ? [h('input', { id: `${props.name}-field` }), h('button', { id: `${props.name}-cancel` }, 'Cancel'), h('button', { id: `${props.name}-ok` }, 'OK')]
          : [h('button', { id: `${props.name}-done`, 'data-autofocus': '' }, 'Done'), h('button', { id: `${props.name}-other` }, 'Other')],
      ]);
  },
});

const key = (k: string, shiftKey = false) => {
  const e = new KeyboardEvent('keydown', { key: k, shiftKey, bubbles: true, cancelable: true });
  (document.activeElement ?? document.body).dispatchEvent(e);
  return e;
};
const activeId = () => (document.activeElement as HTMLElement | null)?.id;

afterEach(() => {
  document.body.innerHTML = '';
});

describe('useModal', () => {
  async function setUp() {
    step.value = 1;
    const opener = document.createElement('button');
    opener.id = 'opener';
    document.body.append(opener);
    opener.focus();
    const closes: string[] = [];
    const shown = ref<string[]>(['a']);
    const Host = defineComponent({
      setup: () => () => shown.value.map((n) => h(Dialog, { key: n, name: n, onClose: () => closes.push(n) })),
    });
    const wrapper = mount(Host, { attachTo: document.body });
    await flushPromises();
    return { wrapper, closes, shown };
  }

  it('focuses the first field, wraps Tab both ways, and Escape closes', async () => {
    const { wrapper, closes } = await setUp();
    expect(activeId()).toBe('a-field');
    (document.getElementById('a-ok') as HTMLElement).focus();
    const tab = key('Tab');
    expect(tab.defaultPrevented).toBe(true);
    expect(activeId()).toBe('a-field');
    const back = key('Tab', true);
    expect(back.defaultPrevented).toBe(true);
    expect(activeId()).toBe('a-ok');
    // Inside the list, Tab is left to the browser.
    (document.getElementById('a-field') as HTMLElement).focus();
    expect(key('Tab').defaultPrevented).toBe(false);
    expect(closes).toEqual([]);
    key('Escape');
    expect(closes).toEqual(['a']);
    wrapper.unmount();
  });

  it('pulls a focus that escapes back inside, and gives the next step its starting point', async () => {
    const { wrapper } = await setUp();
    (document.getElementById('opener') as HTMLElement).focus();
    expect(activeId()).toBe('a-field');
    step.value = 2;
    await nextTick();
    await flushPromises();
    expect(activeId()).toBe('a-done');
    wrapper.unmount();
  });

  it('with two modals only the top one hears Escape; closing it hands the focus down, closing the last back to the opener', async () => {
    const { wrapper, closes, shown } = await setUp();
    shown.value = ['a', 'b'];
    await flushPromises();
    expect(activeId()).toBe('b-field');
    key('Escape');
    expect(closes).toEqual(['b']);
    shown.value = ['a'];
    await flushPromises();
    expect(document.activeElement?.closest('[data-name]')?.getAttribute('data-name')).toBe('a');
    shown.value = [];
    await flushPromises();
    expect(activeId()).toBe('opener');
    wrapper.unmount();
  });
});

describe('ShortcutsOverlay', () => {
  it('opens on ?, lists the action keys, keeps keys from the app behind, and closes on Escape', async () => {
    const tree = document.createElement('div');
    tree.tabIndex = 0;
    tree.id = 'tree';
    document.body.append(tree);
    tree.focus();
    const wrapper = mount(ShortcutsOverlay, { attachTo: document.body });
    expect(document.querySelector('[data-testid=shortcuts-overlay]')).toBeNull();
    let reachedWindow = 0;
    const count = (e: KeyboardEvent) => e.key === 'Delete' && reachedWindow++;
    window.addEventListener('keydown', count);
    key('?');
    await flushPromises();
    const overlay = document.querySelector('[data-testid=shortcuts-overlay]');
    expect(overlay?.getAttribute('aria-modal')).toBe('true');
    const text = overlay?.textContent ?? '';
    for (const k of ['Ctrl+S', 'Ctrl+R', 'Del', 'F2', 'Ctrl+K']) expect(text).toContain(k);
    expect(overlay?.contains(document.activeElement)).toBe(true);
    key('Delete');
    expect(reachedWindow).toBe(0);
    key('Escape');
    await flushPromises();
    expect(document.querySelector('[data-testid=shortcuts-overlay]')).toBeNull();
    expect(activeId()).toBe('tree');
    // Typing ? in a text field is just a character.
    const input = document.createElement('input');
    document.body.append(input);
    input.focus();
    key('?');
    await flushPromises();
    expect(document.querySelector('[data-testid=shortcuts-overlay]')).toBeNull();
    window.removeEventListener('keydown', count);
    wrapper.unmount();
  });
});

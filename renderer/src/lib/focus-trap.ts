// Modal focus handling: a dialog takes the focus when it opens, keeps Tab and
// Shift+Tab inside (wrapping), closes on Escape, re-homes the focus when the
// element holding it goes away (options → plan → starting), and gives the
// focus back to its opener when it closes. Only the topmost modal listens, so
// a dialog over a dialog behaves.
import { nextTick, onUnmounted, watch, type Ref } from 'vue';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The elements Tab reaches inside `box`, in document order (hidden ones left out). */
export function focusables(box: HTMLElement): HTMLElement[] {
  return Array.from(box.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !el.closest('[hidden], [inert]') && el.getClientRects().length > 0);
}

/** Keeps Tab inside `box`: from the last element to the first and back, and from outside to its first element. */
export function wrapTab(e: KeyboardEvent, box: HTMLElement): void {
  if (e.key !== 'Tab') return;
  const items = focusables(box);
  if (items.length === 0) {
    e.preventDefault();
    box.focus();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  const inside = active instanceof Node && box.contains(active);
  if (e.shiftKey && (active === first || !inside || active === box)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (active === last || !inside)) {
    e.preventDefault();
    first.focus();
  }
}

/** The field to start in: one marked data-autofocus, else the first text field or choice, else the primary button, else the first control, else the box itself. */
function startingPoint(box: HTMLElement): HTMLElement {
  const items = focusables(box);
  return (
    items.find((el) => el.hasAttribute('data-autofocus')) ??
    items.find((el) => el.matches('input, select, textarea')) ??
    items.find((el) => el.matches('button.primary:not([disabled])')) ??
    items[0] ??
    box
  );
}

interface Modal {
  box: HTMLElement;
  close: () => void;
}
const stack: Modal[] = [];
const top = (): Modal | undefined => stack[stack.length - 1];

function onKeydown(e: KeyboardEvent) {
  const m = top();
  if (!m) return;
  if (e.key === 'Escape') {
    e.preventDefault();
    e.stopPropagation();
    m.close();
  } else if (e.key === 'Tab') wrapTab(e, m.box);
}

/** Focus that lands outside the top modal (a click on the page behind, a script) is pulled back in. */
function onFocusIn(e: FocusEvent) {
  const m = top();
  if (m && e.target instanceof Node && !m.box.contains(e.target)) startingPoint(m.box).focus();
}

/** Whether the focus has fallen out of the box (its element removed or disabled: the page body has it), or rests on the box itself while it now has controls. */
function lost(box: HTMLElement): boolean {
  const a = document.activeElement;
  if (a === box) return focusables(box).length > 0;
  return !a || a === document.body || !box.contains(a) || (a as HTMLButtonElement).disabled === true;
}

/**
 * Makes the element in `box` a modal whenever it is there (mounted, or shown
 * by a v-if), until it goes. `close` is what Escape does.
 */
export function useModal(box: Ref<HTMLElement | null>, close: () => void): void {
  let active: { modal: Modal; opener: HTMLElement | null; watcher: MutationObserver } | null = null;

  function activate(el: HTMLElement) {
    const a = document.activeElement;
    const opener = a instanceof HTMLElement && a !== document.body && !el.contains(a) ? a : null;
    const modal: Modal = { box: el, close };
    if (stack.length === 0) {
      document.addEventListener('keydown', onKeydown, true);
      document.addEventListener('focusin', onFocusIn);
    }
    stack.push(modal);
    startingPoint(el).focus();
    // A step of the dialog replaced or disabled the focused control: move to the new step's starting point.
    const watcher = new MutationObserver(() => {
      if (top() === modal && lost(el)) startingPoint(el).focus();
    });
    watcher.observe(el, { childList: true, subtree: true, attributes: true, attributeFilter: ['disabled', 'hidden'] });
    active = { modal, opener, watcher };
  }

  function deactivate() {
    if (!active) return;
    const { modal, opener, watcher } = active;
    active = null;
    watcher.disconnect();
    const i = stack.indexOf(modal);
    if (i >= 0) stack.splice(i, 1);
    if (stack.length === 0) {
      document.removeEventListener('keydown', onKeydown, true);
      document.removeEventListener('focusin', onFocusIn);
    }
    // The owner may hand the focus back itself; only step in where nobody did.
    void nextTick(() => {
      const a = document.activeElement;
      if (a && a !== document.body && a.isConnected) return;
      const next = top();
      if (next) startingPoint(next.box).focus();
      else if (opener?.isConnected) opener.focus();
    });
  }

  watch(
    box,
    (el) => {
      if (active && active.modal.box !== el) deactivate();
      if (el && !active) activate(el);
    },
    { flush: 'post', immediate: true },
  );
  onUnmounted(deactivate);
}

// The focus never rests on the page body: when the element holding it goes
// away or stops being focusable (a step of a flow replaced it, a job's Cancel
// button at its end, the empty state's Open button once a folder opens, a
// panel hidden during a rescan), it moves to the open
// dialog, else the folder tree (its selected disk), else the graph, else the
// toolbar. A folder just opened from a command takes the focus into its tree.
import { nextTick, onMounted, onUnmounted, watch } from 'vue';
import { useLibraryStore } from '../stores/library';

/** Where the keyboard should be when nothing better is known. */
function fallback(): HTMLElement | null {
  const q = <T extends HTMLElement>(s: string) => document.querySelector<T>(s);
  const modals = document.querySelectorAll<HTMLElement>('[aria-modal="true"]');
  if (modals.length) return modals[modals.length - 1];
  const selectedTree = Array.from(document.querySelectorAll<HTMLElement>('[role="tree"]')).find((t) => t.querySelector('[aria-selected="true"]'));
  return (
    selectedTree ??
    q('[role="tree"]') ??
    q('[data-testid="tree-graph"] [tabindex="0"]') ??
    q('[role="toolbar"] button:not([disabled])') ??
    q('button:not([disabled])')
  );
}

/** The tree (or graph stop) of one open folder. */
function folderTarget(name: string): HTMLElement | null {
  const section = document.querySelector(`[data-testid="folder-${CSS.escape(name)}"]`);
  return section?.querySelector<HTMLElement>('[role="tree"], [data-testid="tree-graph"] [tabindex="0"]') ?? null;
}

const onBody = () => !document.activeElement || document.activeElement === document.body;

/** The element can no longer hold the focus: removed, disabled, hidden (no box) or made inert. */
function lost(el: Element): boolean {
  return !el.isConnected || (el as HTMLButtonElement).disabled === true || el.getClientRects().length === 0 || el.closest('[inert]') !== null;
}

export function useFocusKeeper(): void {
  const library = useLibraryStore();
  let last: Element | null = null;
  const track = (e: FocusEvent) => {
    if (e.target instanceof Element) last = e.target;
  };
  // Only a focus that was lost is moved: a click on plain text leaves the body focused on purpose.
  // It waits a task, so an owner that hands the focus back itself (a closing dialog or menu, on the next tick) goes first.
  const check = () => {
    if (!onBody() || !last || !lost(last)) return;
    last = null;
    setTimeout(() => {
      if (onBody()) fallback()?.focus();
    }, 0);
  };
  // A removal, a disabled button or a hidden panel (a rescan's re-render, a job's Cancel at its end)…
  const observer = new MutationObserver(check);
  // …or a blur to nowhere (Chromium blurs an element that stops being focusable at its next style update).
  const blurred = (e: FocusEvent) => {
    if (e.relatedTarget === null) setTimeout(check, 0);
  };

  onMounted(() => {
    document.addEventListener('focusin', track);
    document.addEventListener('focusout', blurred);
    observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['disabled', 'hidden', 'inert', 'class', 'style'] });
  });
  onUnmounted(() => {
    observer.disconnect();
    document.removeEventListener('focusin', track);
    document.removeEventListener('focusout', blurred);
  });

  watch(
    // A folder counts once its first scan is shown (a rescan keeps its view).
    () => library.folders.filter((f) => f.view).map((f) => f.grant.name),
    (now, before) => {
      const added = now.filter((n) => !before.includes(n));
      if (added.length === 0) return;
      void nextTick(() => {
        // Opened from the toolbar, the empty state or the recent list: go to the disks. Anywhere else (a tree, a dialog) stays.
        const a = document.activeElement;
        if (!onBody() && !a?.closest('[role="toolbar"], [data-testid="empty-state"]')) return;
        folderTarget(added[added.length - 1])?.focus();
      });
    },
  );
}

// Keeps Tab and Shift+Tab inside a modal dialog (it wraps around), so the
// keyboard never reaches the page behind it while it is open.
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** A keydown handler for the dialog's root element. */
export function trapTab(e: KeyboardEvent): void {
  if (e.key !== 'Tab') return;
  const box = e.currentTarget;
  if (!(box instanceof HTMLElement)) return;
  const items = Array.from(box.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !el.closest('[hidden]'));
  if (items.length === 0) {
    e.preventDefault();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const active = document.activeElement;
  if (e.shiftKey && (active === first || !box.contains(active))) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (active === last || !box.contains(active))) {
    e.preventDefault();
    first.focus();
  }
}

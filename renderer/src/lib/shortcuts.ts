// Every keyboard shortcut in one list, for the `?` overlay and the menus'
// aria-keyshortcuts: the actions' own keys (renderer/src/actions) and the
// keys the tree, graph, menus and dialogs handle.
import { ACTION_ORDER, actionNamed, type ActionDef } from '../actions';

export interface Shortcut {
  /** Alternatives: any one of them does it. */
  keys: string[];
  what: string;
}

/** The aria-keyshortcuts value of an action's key ("Control+S", "Delete", "F2"). */
export function ariaKeys(key: NonNullable<ActionDef['key']>): string {
  const name = key.key.length === 1 ? key.key.toUpperCase() : key.key;
  return key.mod ? `Control+${name}` : name;
}

/** Keys that work everywhere the same way, whichever disk is selected. */
const GENERAL: Shortcut[] = [
  { keys: ['↑', '↓'], what: 'Select the disk above or below' },
  { keys: ['←', '→'], what: 'Collapse or expand a tree; go to the parent or first child' },
  { keys: ['Home', 'End'], what: 'First or last disk' },
  { keys: ['Enter'], what: 'Show the details of the selected disk' },
  { keys: ['Shift+F10', 'Menu'], what: 'All actions for the selected disk' },
  { keys: ['Tab', 'Shift+Tab'], what: 'Next or previous control (inside a dialog it stays in the dialog)' },
  { keys: ['Escape'], what: 'Close the dialog or menu; focus goes back where it was' },
  { keys: ['?'], what: 'Show this list' },
];

/** The action shortcuts (for the selected disk), in toolbar order. */
export function actionShortcuts(): Shortcut[] {
  return ACTION_ORDER.flatMap((n) => {
    const d = actionNamed(n);
    return d?.key ? [{ keys: [d.key.label], what: `${d.label.replace(/…$/, '')}: ${d.hint.charAt(0).toLowerCase()}${d.hint.slice(1)}` }] : [];
  });
}

export function generalShortcuts(): Shortcut[] {
  return GENERAL;
}

// Every UI action, found as the modules of this folder (one file per action,
// see define.ts): nothing else lists them.
import type { Component } from 'vue';
import type { OperationArgs } from '../../../server/api';
import type { ActionDef, ActionModule, ActionName } from './define';

export type { ActionDef, ActionName, ActionTarget } from './define';

const modules = import.meta.glob<ActionModule>(['./*.ts', './*.vue', '!./index.ts', '!./define.ts'], { eager: true });

const defs = new Map<ActionName, ActionDef>();
const forms = new Map<ActionName, Component>();
/** Why an action that only VHD supports is unavailable on a VHDX disk. */
export const VHDX_READ_ONLY = 'this works on VHD files only for now (the other actions work on VHDX files too)';

for (const m of Object.values(modules)) {
  const d = m.action;
  defs.set(d.name, d.vhdx ? d : { ...d, applies: (node) => (node.format === 'vhdx' ? VHDX_READ_ONLY : d.applies(node)) });
  if (m.default) forms.set(m.action.name, m.default);
}

/** Toolbar and context-menu order (the toolbar leaves out menuOnly actions). */
export const ACTION_ORDER: ActionName[] = [...defs.values()].sort((a, b) => a.order - b.order).map((d) => d.name);

export function actionNamed(name: ActionName): ActionDef | undefined {
  return defs.get(name);
}

/** The options form of an action that has one. */
export function optionsForm(name: ActionName): Component | undefined {
  return forms.get(name);
}

/** The action whose shortcut `e` is, if any. */
export function actionForKey(e: KeyboardEvent): ActionName | undefined {
  const mod = e.ctrlKey || e.metaKey;
  for (const d of defs.values()) if (d.key && d.key.key.toLowerCase() === e.key.toLowerCase() && !!d.key.mod === mod && !e.shiftKey) return d.name;
  return undefined;
}

/** The UI action for an operation a job ran. */
export const actionFor = (op: OperationArgs['op']): ActionName => (op === 'name' ? 'rename' : op);

/** The action's label, or the operation's name where it has no action in the UI. */
export const actionLabel = (name: ActionName): string => defs.get(name)?.label ?? name;

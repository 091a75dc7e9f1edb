// @vitest-environment happy-dom
// The native menu (electron/menu.ts) as plain data: every shortcut the page
// has (renderer/src/actions, each action's `key`) appears on its action's
// item with the same accelerator, every action of the toolbar is in a menu
// once, each item sends its command, and the About panel says what it must.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { ACTION_ORDER, actionNamed } from '../../renderer/src/actions/index.js';
import { aboutPanelOptions, menuTemplate } from '../../electron/menu.js';
import type { MenuCommand } from '../../server/api.js';

type Item = MenuItemConstructorOptions;

function build(platform: NodeJS.Platform, devTools = false) {
  const sent: MenuCommand[] = [];
  const template = menuTemplate({ platform, send: (c) => sent.push(c), devTools });
  const items = (list: Item[]): Item[] => list.flatMap((i) => [i, ...(Array.isArray(i.submenu) ? items(i.submenu) : [])]);
  return { template, all: items(template), sent };
}

/** The page's key (KeyboardEvent.key, `mod` for Ctrl/⌘) in Electron's accelerator syntax. */
function accelerator(key: { key: string; mod?: boolean }): string {
  const k = key.key.length === 1 ? key.key.toUpperCase() : key.key;
  return key.mod ? `CmdOrCtrl+${k}` : k;
}

const itemOf = (all: Item[], action: string) => all.filter((i) => i.id === `action:${action}`);

describe('the native menu', () => {
  it('has File, Edit, View, Snapshot and Help, the macOS app menu first on macOS only', () => {
    const names = (t: Item[]) => t.map((m) => m.label ?? m.role);
    expect(names(build('linux').template)).toEqual(['File', 'Edit', 'View', 'Snapshot', 'help']);
    expect(names(build('win32').template)).toEqual(['File', 'Edit', 'View', 'Snapshot', 'help']);
    expect(names(build('darwin').template)).toEqual(['appMenu', 'File', 'Edit', 'View', 'Snapshot', 'help']);
  });

  it('shows every shortcut of the page on its action, with the same accelerator', () => {
    const { all } = build('linux');
    const withKeys = ACTION_ORDER.filter((a) => actionNamed(a)!.key);
    // The page has shortcuts (this test would pass vacuously otherwise).
    expect(withKeys).toEqual(expect.arrayContaining(['snapshot', 'delete', 'rename']));
    for (const a of withKeys) {
      const [item] = itemOf(all, a);
      expect(item?.accelerator, a).toBe(accelerator(actionNamed(a)!.key!));
      // Shown, but the page handles the key: it knows when a text field or a dialog has it.
      expect(item?.registerAccelerator, a).toBe(false);
    }
    // And no action item claims a shortcut the page does not have.
    for (const i of all.filter((x) => x.id?.startsWith('action:') && x.accelerator)) {
      const def = actionNamed(i.id!.slice('action:'.length) as never)!;
      expect(def.key && accelerator(def.key), i.id).toBe(i.accelerator);
    }
  });

  it('on macOS, where a menu always takes its key, leaves keys without a modifier to the page', () => {
    const { all } = build('darwin');
    expect(itemOf(all, 'snapshot')[0].accelerator).toBe('CmdOrCtrl+S');
    expect(itemOf(all, 'delete')[0].accelerator).toBeUndefined();
    expect(itemOf(all, 'rename')[0].accelerator).toBeUndefined();
  });

  it('lists every action of the toolbar once, and each item sends its command', () => {
    const { all, sent } = build('linux');
    for (const a of ACTION_ORDER) expect(itemOf(all, a), a).toHaveLength(1);
    for (const a of ACTION_ORDER) (itemOf(all, a)[0].click as () => void)();
    expect(sent).toEqual(ACTION_ORDER.map((action) => ({ kind: 'action', action })));
    const app = all.filter((i) => i.id?.startsWith('app:'));
    app.forEach((i) => (i.click as () => void)());
    expect(sent.slice(ACTION_ORDER.length)).toEqual(app.map((i) => ({ kind: 'app', command: i.id!.slice(4) })));
    expect(app.map((i) => i.id)).toEqual(['app:open-folder', 'app:rescan', 'app:view-tree', 'app:view-graph', 'app:view-timeline', 'app:shortcuts']);
  });

  it('has developer tools only where asked (not packaged), and About under Help', () => {
    expect(build('linux', false).all.some((i) => i.role === 'toggleDevTools')).toBe(false);
    expect(build('linux', true).all.some((i) => i.role === 'toggleDevTools')).toBe(true);
    const help = build('linux').template.at(-1)!;
    expect((help.submenu as Item[]).map((i) => i.role ?? i.id ?? i.type)).toEqual(['app:shortcuts', 'separator', 'about']);
  });
});

describe('the About panel', () => {
  it('names the app, its version from package.json, the Electron, Node and Chrome versions and the license', () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
    const o = aboutPanelOptions({
      name: 'VHD Snapshot Manager',
      version: pkg.version,
      license: pkg.license,
      versions: { electron: '45.4.1', node: '22.20.0', chrome: '140.0.7339.133' },
    });
    expect(o.applicationName).toBe('VHD Snapshot Manager');
    expect(o.applicationVersion).toBe(`${pkg.version} (Electron 45.4.1 · Node 22.20.0 · Chrome 140.0.7339.133)`);
    expect(o.copyright).toBe('MIT License');
  });
});

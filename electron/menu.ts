// The native menu bar (File, Edit, View, Snapshot, Help) as plain data, kept
// free of Electron runtime imports so tests can read it. Items for the disk
// actions send a command to the page (EventChannels.menuCommand), which runs
// it as its toolbar button would; their accelerators are the page's own
// shortcuts (renderer/src/actions: each action's `key`; a test keeps the two
// the same), shown here but left to the page to handle, which knows when a
// text field or a dialog has the keyboard.
import type { MenuItemConstructorOptions } from 'electron';
import type { MenuCommand } from '../server/api.js';

type ActionName = Extract<MenuCommand, { kind: 'action' }>['action'];

/** One disk action in the menu: its words there, and its shortcut (Electron's accelerator syntax). */
export interface MenuAction {
  action: ActionName;
  label: string;
  accelerator?: string;
}

/** The Snapshot menu, in the toolbar's order; rename sits in Edit. */
export const SNAPSHOT_MENU: readonly MenuAction[] = [
  { action: 'snapshot', label: 'Take Snapshot…', accelerator: 'CmdOrCtrl+S' },
  { action: 'revert', label: 'Revert to Snapshot…', accelerator: 'CmdOrCtrl+R' },
  { action: 'delete', label: 'Delete Snapshot', accelerator: 'Delete' },
  { action: 'merge', label: 'Merge into Parent…' },
  { action: 'flatten', label: 'Flatten to a New Disk…' },
  { action: 'switch', label: 'Switch to Saved State' },
  { action: 'set-active', label: 'Make Active' },
  { action: 'check', label: 'Check…', accelerator: 'CmdOrCtrl+K' },
  { action: 'repair', label: 'Repair' },
  { action: 'compact', label: 'Compact' },
  { action: 'resize', label: 'Grow…' },
  { action: 'write', label: 'Write Image…' },
  { action: 'reparent', label: 'Reconnect to a Parent…' },
];
export const RENAME_ITEM: MenuAction = { action: 'rename', label: 'Rename…', accelerator: 'F2' };

export interface MenuOptions {
  platform: NodeJS.Platform;
  /** Sends a command to the window's page. */
  send: (c: MenuCommand) => void;
  /** Developer tools only where the app is not packaged. */
  devTools: boolean;
}

/** An accelerator with no modifier (Delete, F2): on macOS a menu always takes its key, so there it is left to the page alone. */
const bare = (a: string) => !a.includes('+');

function actionItem(a: MenuAction, o: MenuOptions): MenuItemConstructorOptions {
  const accelerator = a.accelerator && !(o.platform === 'darwin' && bare(a.accelerator)) ? a.accelerator : undefined;
  return {
    id: `action:${a.action}`,
    label: a.label,
    ...(accelerator ? { accelerator, registerAccelerator: false } : {}),
    click: () => o.send({ kind: 'action', action: a.action }),
  };
}

function appItem(command: Extract<MenuCommand, { kind: 'app' }>['command'], label: string, o: MenuOptions, accelerator?: string): MenuItemConstructorOptions {
  return { id: `app:${command}`, label, ...(accelerator ? { accelerator } : {}), click: () => o.send({ kind: 'app', command }) };
}

export function menuTemplate(o: MenuOptions): MenuItemConstructorOptions[] {
  const mac = o.platform === 'darwin';
  return [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        appItem('open-folder', 'Open Folder…', o, 'CmdOrCtrl+O'),
        appItem('rescan', 'Rescan Folders', o, 'F5'),
        { type: 'separator' },
        { role: mac ? 'close' : 'quit' },
      ],
    },
    {
      label: 'Edit',
      submenu: [
        { role: 'undo' },
        { role: 'redo' },
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { role: 'selectAll' },
        { type: 'separator' },
        actionItem(RENAME_ITEM, o),
      ],
    },
    {
      label: 'View',
      submenu: [
        appItem('view-tree', 'As Tree', o),
        appItem('view-graph', 'As Graph', o),
        appItem('view-timeline', 'As Timeline', o),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
        ...(o.devTools ? [{ role: 'toggleDevTools' as const }] : []),
      ],
    },
    { label: 'Snapshot', submenu: SNAPSHOT_MENU.map((a) => actionItem(a, o)) },
    {
      role: 'help',
      submenu: [appItem('shortcuts', 'Keyboard Shortcuts (?)', o), { type: 'separator' }, { role: 'about', label: 'About VHD Snapshot Manager' }],
    },
  ];
}

/** What the About panel says (app.setAboutPanelOptions): name, version, the runtime's versions, the license. */
export function aboutPanelOptions(p: { name: string; version: string; license: string; versions: { electron?: string; node?: string; chrome?: string } }): {
  applicationName: string;
  applicationVersion: string;
  version: string;
  copyright: string;
  credits: string;
} {
  const runtime = `Electron ${p.versions.electron ?? '?'} · Node ${p.versions.node ?? '?'} · Chrome ${p.versions.chrome ?? '?'}`;
  return {
    applicationName: p.name,
    // Linux and Windows show only the application version: the runtime goes there too.
    applicationVersion: `${p.version} (${runtime})`,
    version: runtime,
    copyright: `${p.license} License`,
    credits: `Released under the ${p.license} License.`,
  };
}

// Electron main process: one locked-down window showing the bundled renderer,
// and the calls of server/ (handlers, contract) bound to real Electron (ipcMain,
// dialogs, webContents.send). The handlers themselves know nothing of Electron.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, session, type IpcMainInvokeEvent } from 'electron';
import { Channels, type JobEvent, type MenuCommand } from '../server/api.js';
import { Grants } from '../server/grants.js';
import { createHandlers, type Dialogs } from '../server/handlers.js';
import { aboutPanelOptions, menuTemplate } from './menu.js';
import { registerIpc } from './register.js';
import { defaultWorkerPath, JobManager, workerRunner } from '../server/jobs.js';
import { RecentFolders } from '../server/recent.js';
import { hardenContents, hardenSession } from './security.js';
import { secureWebPreferences } from './window-options.js';

// Built layout: dist/electron/{main,preload,job-worker}.cjs, dist/renderer/index.html.
// (Under a test's ESM loader __dirname is absent; nothing is loaded from it there.)
const here = typeof __dirname === 'string' ? __dirname : process.cwd();
const preloadPath = path.join(here, 'preload.cjs');
const indexPath = path.join(here, '..', 'renderer', 'index.html');
const indexUrl = pathToFileURL(indexPath).href;

let mainWindow: BrowserWindow | null = null;

/** Same document as our index.html, ignoring the #fragment (in-app routing). */
function isOwnPage(url: string): boolean {
  try {
    const u = new URL(url);
    u.hash = '';
    return u.href === indexUrl;
  } catch {
    return false;
  }
}

/** Only the main frame of our own window, showing our own page, may call IPC. */
function fromOurWindow(event: IpcMainInvokeEvent): boolean {
  const win = mainWindow;
  const frame = event.senderFrame;
  return (
    win !== null && !win.isDestroyed() && event.sender === win.webContents && frame !== null && frame === win.webContents.mainFrame && isOwnPage(frame.url)
  );
}

function createWindow(): void {
  mainWindow = new BrowserWindow({
    width: 1100,
    height: 720,
    title: 'VHD Snapshot Manager',
    show: false,
    webPreferences: secureWebPreferences(preloadPath),
  });
  mainWindow.once('ready-to-show', () => mainWindow?.show());
  mainWindow.on('closed', () => {
    mainWindow = null;
  });
  void mainWindow.loadFile(indexPath);
}

/** A menu item's command goes to our window's page only (the one window, showing our page). */
function sendCommand(c: MenuCommand): void {
  const win = mainWindow;
  if (win && !win.isDestroyed() && isOwnPage(win.webContents.mainFrame.url)) win.webContents.send(Channels.menuCommand, c);
}

function buildMenu(): Menu {
  return Menu.buildFromTemplate(menuTemplate({ platform: process.platform, send: sendCommand, devTools: !app.isPackaged }));
}

/** The license named in package.json (packaged beside the app's code). */
function license(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(app.getAppPath(), 'package.json'), 'utf8')) as { license?: unknown };
    return typeof pkg.license === 'string' ? pkg.license : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Real dialogs, attached to the window so they are modal to it. */
const dialogs: Dialogs = {
  async pickFolder() {
    const opts = { title: 'Open a folder of VHD disks', properties: ['openDirectory' as const] };
    const r = mainWindow ? await dialog.showOpenDialog(mainWindow, opts) : await dialog.showOpenDialog(opts);
    return r.canceled || r.filePaths.length === 0 ? null : r.filePaths[0];
  },
  async pickOutput(suggestedName, near) {
    const opts = {
      title: 'Save the flattened disk as',
      defaultPath: near ? path.join(near.path, suggestedName) : suggestedName,
      filters: [
        { name: 'VHD disks', extensions: ['vhd'] },
        { name: 'Raw images', extensions: ['raw', 'img'] },
      ],
      properties: ['createDirectory' as const, 'showOverwriteConfirmation' as const],
    };
    const r = mainWindow ? await dialog.showSaveDialog(mainWindow, opts) : await dialog.showSaveDialog(opts);
    return r.canceled || !r.filePath ? null : r.filePath;
  },
  async pickInput(_name, near) {
    const opts = {
      title: 'Write which file into the disk',
      defaultPath: near?.path,
      filters: [
        { name: 'Raw images', extensions: ['raw', 'img', 'bin', 'iso'] },
        { name: 'All files', extensions: ['*'] },
      ],
      properties: ['openFile' as const],
    };
    const r = mainWindow ? await dialog.showOpenDialog(mainWindow, opts) : await dialog.showOpenDialog(opts);
    return r.canceled || r.filePaths.length === 0 ? null : r.filePaths[0];
  },
};

function sendToWindow(e: JobEvent): void {
  const win = mainWindow;
  if (win && !win.isDestroyed()) win.webContents.send(Channels.jobEvent, e);
}

// A second launch focuses the running window instead of opening another.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();

  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  // Applies to every webContents, present or future.
  app.on('web-contents-created', (_event, contents) => hardenContents(contents, isOwnPage));

  const jobs = new JobManager(workerRunner(defaultWorkerPath(here)));
  jobs.subscribe(sendToWindow);
  const handlers = createHandlers({
    version: app.getVersion(),
    grants: new Grants(),
    recent: new RecentFolders(path.join(app.getPath('userData'), 'recent-folders.json')),
    jobs,
    dialogs,
  });
  registerIpc(ipcMain, handlers, fromOurWindow);

  void app.whenReady().then(() => {
    hardenSession(session.defaultSession);
    app.setAboutPanelOptions(aboutPanelOptions({ name: 'VHD Snapshot Manager', version: app.getVersion(), license: license(), versions: process.versions }));
    Menu.setApplicationMenu(buildMenu());
    createWindow();
  });

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });

  // Quitting mid-job: stop jobs at their next safe point first (a journal covers a hard kill too).
  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || jobs.running().length === 0) return;
    event.preventDefault();
    quitting = true;
    void jobs.cancelAll().finally(() => app.quit());
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}

// Electron main process: one locked-down window showing the bundled renderer.
// The real IPC surface (library, jobs) comes later; this is the secure shell.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, ipcMain, Menu, session, type IpcMainInvokeEvent } from 'electron';
import { Channels } from './api.js';
import { secureWebPreferences } from './window-options.js';

// Built layout: dist/electron/main.cjs, dist/electron/preload.cjs, dist/renderer/index.html.
const preloadPath = path.join(__dirname, 'preload.cjs');
const indexPath = path.join(__dirname, '..', 'renderer', 'index.html');
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
    win !== null &&
    !win.isDestroyed() &&
    event.sender === win.webContents &&
    frame !== null &&
    frame === win.webContents.mainFrame &&
    isOwnPage(frame.url)
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

function buildMenu(): Menu {
  const isMac = process.platform === 'darwin';
  return Menu.buildFromTemplate([
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    { label: 'File', submenu: [{ role: isMac ? ('close' as const) : ('quit' as const) }] },
    { role: 'editMenu' },
    { role: 'viewMenu' },
  ]);
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

  // Applies to every webContents, present or future: no navigation away, no popups, no <webview>.
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isOwnPage(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });

  ipcMain.handle(Channels.appVersion, (event) => {
    if (!fromOurWindow(event)) throw new Error('IPC refused: unknown sender');
    return app.getVersion();
  });

  void app.whenReady().then(() => {
    // The app needs no camera, notifications, etc.: refuse all of them.
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    Menu.setApplicationMenu(buildMenu());
    createWindow();
  });

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}

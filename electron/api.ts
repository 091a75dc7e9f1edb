// The contract between preload and main, shared as types and channel names only
// (no runtime imports), so the renderer can type `window.vhdsnap` from it too.

/** IPC channels the main process answers with ipcMain.handle. */
export const Channels = {
  appVersion: 'app:version',
} as const;

/** What the preload exposes to the page as `window.vhdsnap`. */
export interface VhdsnapApi {
  /** The application's version, from package.json. */
  appVersion(): Promise<string>;
}

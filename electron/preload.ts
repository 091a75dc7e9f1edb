// Runs sandboxed before the page: exposes a small, typed API and nothing of
// ipcRenderer itself, so the page can only call what main explicitly handles.
import { contextBridge, ipcRenderer } from 'electron';
import { Channels, type VhdsnapApi } from './api.js';

const api: VhdsnapApi = {
  appVersion: () => ipcRenderer.invoke(Channels.appVersion) as Promise<string>,
};

contextBridge.exposeInMainWorld('vhdsnap', api);

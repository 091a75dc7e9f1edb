// Runs sandboxed before the page: exposes one function per call of the
// contract (built by server/bridge.ts from its channel list, and bundled in
// here: a sandboxed preload can require only 'electron') and nothing of
// ipcRenderer itself, so the page can only call what main handles. Main
// answers every call with an Envelope; a failure is rejected as a plain
// {code, message} object.
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { EventChannels, type Envelope, type JobEvent, type VhdsnapApi } from '../server/api.js';
import { apiError, bridgeApi, isMenuCommand } from '../server/bridge.js';

const calls = bridgeApi((_method, channel, args) => ipcRenderer.invoke(channel, ...args) as Promise<Envelope<unknown> | undefined>);

const api: VhdsnapApi = {
  ...calls,
  dropFolder: (item) => {
    // Only a real dropped file has a path; a File the page made up has none.
    const path = item instanceof File ? webUtils.getPathForFile(item) : '';
    if (!path) return Promise.reject(apiError('NOT_A_FOLDER', 'drop a folder from the file manager'));
    return calls.dropFolder(path);
  },
  onMenuCommand: (listener) => {
    // Only main sends on this channel; a payload of any other shape is dropped all the same.
    const wrapped = (_event: IpcRendererEvent, c: unknown) => {
      if (isMenuCommand(c)) listener(c);
    };
    ipcRenderer.on(EventChannels.menuCommand, wrapped);
    return () => {
      ipcRenderer.removeListener(EventChannels.menuCommand, wrapped);
    };
  },
  onJobEvent: (listener) => {
    const wrapped = (_event: IpcRendererEvent, e: JobEvent) => listener(e);
    ipcRenderer.on(EventChannels.jobEvent, wrapped);
    return () => {
      ipcRenderer.removeListener(EventChannels.jobEvent, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('vhdsnap', api);

// Runs sandboxed before the page: exposes one function per operation and
// nothing of ipcRenderer itself, so the page can only call what main handles.
// Main answers every call with an envelope; a failure is rejected here as a
// plain {code, message} object (Error subclasses lose their fields crossing
// the context bridge).
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { Channels, type ApiError, type JobEvent, type VhdsnapApi } from '../server/api.js';

type Envelope = { ok: true; value: unknown } | { ok: false; error: ApiError };

async function call<T>(channel: string, ...args: unknown[]): Promise<T> {
  const r = (await ipcRenderer.invoke(channel, ...args)) as Envelope;
  if (r && r.ok) return r.value as T;
  const error = r && !r.ok ? r.error : { code: 'INTERNAL', message: 'no answer from the app' };
  throw { name: 'ApiError', code: error.code, message: error.message };
}

const api: VhdsnapApi = {
  appVersion: () => call(Channels.appVersion),
  openFolder: () => call(Channels.openFolder),
  recentFolders: () => call(Channels.recentFolders),
  openRecent: (path) => call(Channels.openRecent, path),
  dropFolder: (item) => {
    // Only a real dropped file has a path; a File the page made up has none.
    const path = item instanceof File ? webUtils.getPathForFile(item) : '';
    if (!path) return Promise.reject({ name: 'ApiError', code: 'NOT_A_FOLDER', message: 'drop a folder from the file manager' });
    return call(Channels.dropFolder, path);
  },
  closeFolder: (folder) => call(Channels.closeFolder, folder),
  scan: (folder) => call(Channels.scan, folder),
  details: (disk) => call(Channels.details, disk),
  setLabel: (disk, label) => call(Channels.setLabel, disk, label),
  chooseOutput: (suggestedName, folder) => (folder === undefined ? call(Channels.chooseOutput, suggestedName) : call(Channels.chooseOutput, suggestedName, folder)),
  plan: (args) => call(Channels.plan, args),
  start: (args) => call(Channels.start, args),
  cancel: (jobId) => call(Channels.cancel, jobId),
  onJobEvent: (listener) => {
    const wrapped = (_event: IpcRendererEvent, e: JobEvent) => listener(e);
    ipcRenderer.on(Channels.jobEvent, wrapped);
    return () => {
      ipcRenderer.removeListener(Channels.jobEvent, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('vhdsnap', api);

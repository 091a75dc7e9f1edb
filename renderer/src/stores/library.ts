// The open library (a folder of VHD files). A stub until the IPC for scanning lands.
import { defineStore } from 'pinia';

export const useLibraryStore = defineStore('library', {
  state: () => ({
    /** Absolute path of the open folder, or null before one is chosen. */
    folder: null as string | null,
  }),
  getters: {
    isOpen: (state) => state.folder !== null,
  },
});

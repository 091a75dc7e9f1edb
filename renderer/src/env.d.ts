/// <reference types="vite/client" />
// The preload's API on window (see electron/preload.ts).
import type { VhdsnapApi } from '../../server/api';

declare global {
  interface Window {
    /** Set by the preload inside Electron; absent in a plain browser or in tests. */
    readonly vhdsnap?: VhdsnapApi;
  }
}

export {};

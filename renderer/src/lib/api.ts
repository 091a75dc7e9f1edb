// Access to the preload's bridge. Looked up on every call rather than captured
// at import time: the browser bridge (tests, end-to-end runs) may install
// `window.vhdsnap` after this module loads but before the app mounts.
// Written against globalThis so the module also type-checks without DOM types.
import type { VhdsnapApi } from '../../../server/api';

export function bridge(): VhdsnapApi | null {
  return (globalThis as { vhdsnap?: VhdsnapApi }).vhdsnap ?? null;
}

export class BridgeMissingError extends Error {
  readonly code = 'NO_BRIDGE';
  constructor() {
    super('The app bridge (window.vhdsnap) is not available: this page must run inside VHD Snapshot Manager.');
  }
}

export function api(): VhdsnapApi {
  const b = bridge();
  if (!b) throw new BridgeMissingError();
  return b;
}

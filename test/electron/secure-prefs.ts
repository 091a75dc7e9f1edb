// The Electron checklist's webPreferences, as every window must have them:
// asserted on secureWebPreferences() itself and on the window main creates.
export const SECURE_WEB_PREFERENCES = [
  ['sandbox', true],
  ['contextIsolation', true],
  ['nodeIntegration', false],
  ['nodeIntegrationInWorker', false],
  ['nodeIntegrationInSubFrames', false],
  ['webSecurity', true],
  ['allowRunningInsecureContent', false],
  ['webviewTag', false],
  ['experimentalFeatures', false],
] as const;

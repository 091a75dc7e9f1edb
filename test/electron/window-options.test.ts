import { describe, expect, it } from 'vitest';
import { secureWebPreferences } from '../../electron/window-options';
import { SECURE_WEB_PREFERENCES } from './secure-prefs';

describe('secureWebPreferences', () => {
  const prefs = secureWebPreferences('/app/dist/electron/preload.cjs');

  it('uses the given preload', () => {
    expect(prefs.preload).toBe('/app/dist/electron/preload.cjs');
  });

  it.each(SECURE_WEB_PREFERENCES)('%s is %s', (key, value) => {
    expect(prefs[key]).toBe(value);
  });
});

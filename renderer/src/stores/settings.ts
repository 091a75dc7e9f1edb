// View preferences, kept across sessions in localStorage when there is one.
import { defineStore } from 'pinia';

export type ViewMode = 'tree' | 'graph' | 'timeline';
export type Theme = 'system' | 'light' | 'dark';

const KEY = 'vhdsnap.settings';

interface Saved {
  viewMode: ViewMode;
  theme: Theme;
}

function storage(): { getItem(k: string): string | null; setItem(k: string, v: string): void } | null {
  try {
    return (globalThis as { localStorage?: ReturnType<typeof storage> }).localStorage ?? null;
  } catch {
    return null; // access can throw where storage is disabled
  }
}

function load(): Saved {
  const saved: Saved = { viewMode: 'tree', theme: 'system' };
  try {
    const raw = JSON.parse(storage()?.getItem(KEY) ?? '{}') as Partial<Saved>;
    if (raw.viewMode === 'tree' || raw.viewMode === 'graph' || raw.viewMode === 'timeline') saved.viewMode = raw.viewMode;
    if (raw.theme === 'system' || raw.theme === 'light' || raw.theme === 'dark') saved.theme = raw.theme;
  } catch {
    // Corrupt settings fall back to the defaults.
  }
  return saved;
}

export const useSettingsStore = defineStore('settings', {
  state: (): Saved & { detailsWidth: number } => ({ ...load(), detailsWidth: 380 }),
  actions: {
    setViewMode(mode: ViewMode) {
      this.viewMode = mode;
      this.save();
    },
    setTheme(theme: Theme) {
      this.theme = theme;
      this.save();
    },
    save() {
      try {
        storage()?.setItem(KEY, JSON.stringify({ viewMode: this.viewMode, theme: this.theme }));
      } catch {
        // Not saving a preference is harmless.
      }
    },
  },
});

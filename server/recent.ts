// Recently opened folders, persisted as JSON in the app's user-data folder.
// Main re-opens only paths it stored here itself: the page may name a recent
// entry, but a path it made up is refused.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';

export interface RecentEntry {
  path: string;
  name: string;
  openedAt: string;
}

const MAX_ENTRIES = 10;

export class RecentFolders {
  private entries: RecentEntry[] | null = null;

  /** `file` null keeps the list in memory only (serve mode). */
  constructor(
    private readonly file: string | null,
    private readonly max = MAX_ENTRIES,
  ) {}

  private async load(): Promise<RecentEntry[]> {
    if (this.entries) return this.entries;
    this.entries = [];
    if (!this.file) return this.entries;
    try {
      const data = JSON.parse(await fsp.readFile(this.file, 'utf8')) as { folders?: unknown };
      if (Array.isArray(data.folders)) {
        for (const e of data.folders as Partial<RecentEntry>[]) {
          if (e && typeof e.path === 'string' && nodePath.isAbsolute(e.path) && typeof e.name === 'string') {
            this.entries.push({ path: e.path, name: e.name, openedAt: typeof e.openedAt === 'string' ? e.openedAt : '' });
          }
        }
      }
    } catch {
      // missing or damaged: start with an empty list
    }
    this.entries = this.entries.slice(0, this.max);
    return this.entries;
  }

  async list(): Promise<{ path: string; name: string }[]> {
    return (await this.load()).map((e) => ({ path: e.path, name: e.name }));
  }

  async has(path: string): Promise<boolean> {
    return (await this.load()).some((e) => e.path === path);
  }

  /** Moves (or adds) `path` to the top. */
  async add(path: string, name = nodePath.basename(path) || path): Promise<void> {
    const list = await this.load();
    this.entries = [{ path, name, openedAt: new Date().toISOString() }, ...list.filter((e) => e.path !== path)].slice(0, this.max);
    await this.save();
  }

  private async save(): Promise<void> {
    if (!this.file) return;
    await fsp.mkdir(nodePath.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify({ version: 1, folders: this.entries }, null, 2) + '\n');
    await fsp.rename(tmp, this.file);
  }
}

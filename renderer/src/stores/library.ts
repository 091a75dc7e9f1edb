// The open library: granted folders, each scanned into a forest of disks,
// plus the selection, which disk's details are open, and check results.
import { defineStore } from 'pinia';
import type { DiskDetails, DiskNode, DiskRef, FileReport, FolderGrant, FolderView } from '../../../server/api';
import { api } from '../lib/api';
import { errorText } from '../lib/format';
import { refKey } from '../lib/operations';

export interface FolderState {
  grant: FolderGrant;
  view: FolderView | null;
  loading: boolean;
  error: { code: string; message: string } | null;
}

export interface IndexedNode {
  node: DiskNode;
  parentKey: string | null;
  folder: string;
  depth: number;
}

/** A disk the user can name as a parent: tree nodes and orphans alike. */
export interface DiskChoice {
  ref: DiskRef;
  label: string;
}

/** The roots of a folder's view, less those shown by the open folder they live in (the same disk, not external there). */
function shownRoots(folders: FolderState[], f: FolderState): DiskNode[] {
  return (f.view?.roots ?? []).filter((r) => {
    if (!r.external) return true;
    const home = folders.find((x) => x !== f && x.grant.id === r.ref.folder);
    return !home?.view?.roots.some((h) => !h.external && refKey(h.ref) === refKey(r.ref));
  });
}

/** How long a selection rests before its details are read (keyboard moves are faster). */
export const DETAILS_DELAY_MS = 150;
let detailsTimer: ReturnType<typeof setTimeout> | undefined;

export const useLibraryStore = defineStore('library', {
  state: () => ({
    folders: [] as FolderState[],
    recent: [] as { path: string; name: string }[],
    /** refKey of the selected disk. */
    selected: null as string | null,
    /** refKeys of collapsed tree nodes (everything starts expanded). */
    collapsed: {} as Record<string, true>,
    /** The disk whose details pane is open, and what main said about it. */
    detailsKey: null as string | null,
    details: null as DiskDetails | null,
    detailsLoading: false,
    detailsError: null as { code: string; message: string } | null,
    /** Latest check report per file path. */
    health: {} as Record<string, FileReport>,
    /** Last library-level failure (open, drop, recent), shown in the toolbar area. */
    error: null as { code: string; message: string } | null,
  }),
  getters: {
    isOpen: (state) => state.folders.length > 0,
    /** Every disk in every folder by refKey. */
    index(state): Map<string, IndexedNode> {
      const map = new Map<string, IndexedNode>();
      const walk = (node: DiskNode, parentKey: string | null, folder: string, depth: number) => {
        const key = refKey(node.ref);
        map.set(key, { node, parentKey, folder, depth });
        for (const c of node.children) walk(c, key, folder, depth + 1);
      };
      for (const f of state.folders) for (const r of shownRoots(state.folders, f)) walk(r, null, f.grant.id, 0);
      return map;
    },
    /**
     * A folder's view as the page shows it: a chain reached from another open
     * folder, where it starts (its root lives there), is shown once, there;
     * here, `elsewhere` names this folder's disks in it and where they are.
     */
    shownView(state): (folderId: string) => (FolderView & { elsewhere: { file: string; folder: string }[] }) | null {
      return (folderId) => {
        const f = state.folders.find((x) => x.grant.id === folderId);
        if (!f?.view) return null;
        const roots = shownRoots(state.folders, f);
        const elsewhere: { file: string; folder: string }[] = [];
        for (const r of f.view.roots) {
          if (roots.includes(r)) continue;
          const home = state.folders.find((x) => x.grant.id === r.ref.folder)?.grant.name ?? r.ref.folder;
          const walk = (n: DiskNode) => {
            if (!n.external) elsewhere.push({ file: n.ref.file, folder: home });
            n.children.forEach(walk);
          };
          walk(r);
        }
        return { ...f.view, roots, elsewhere };
      };
    },
    /** A disk's ancestors, nearest first (its parent, then the parent's parent…). */
    ancestorsOf(): (key: string) => DiskNode[] {
      return (key) => {
        const out: DiskNode[] = [];
        for (let k = this.index.get(key)?.parentKey ?? null; k !== null; k = this.index.get(k)?.parentKey ?? null) {
          const n = this.index.get(k);
          if (!n || out.includes(n.node)) break;
          out.push(n.node);
        }
        return out;
      };
    },
    selectedNode(): DiskNode | null {
      return this.selected ? (this.index.get(this.selected)?.node ?? null) : null;
    },
    detailsNode(): DiskNode | null {
      return this.detailsKey ? (this.index.get(this.detailsKey)?.node ?? null) : null;
    },
    /** Disks of the granted folders that can become a parent (reconnect). */
    choices(state): DiskChoice[] {
      const out: DiskChoice[] = [];
      for (const f of state.folders) {
        const walk = (n: DiskNode) => {
          out.push({ ref: n.ref, label: `${f.grant.name} / ${n.ref.file}${n.name ? ` (${n.name})` : ''}` });
          n.children.forEach(walk);
        };
        shownRoots(state.folders, f).forEach(walk);
        for (const o of f.view?.orphans ?? []) out.push({ ref: o.ref, label: `${f.grant.name} / ${o.ref.file} (orphan)` });
      }
      return out;
    },
  },
  actions: {
    async loadRecent() {
      try {
        this.recent = await api().recentFolders();
      } catch {
        // The recent list is a convenience; an empty one is fine.
        this.recent = [];
      }
    },
    async openFolder() {
      await this.adopt(() => api().openFolder());
    },
    async openRecent(path: string) {
      await this.adopt(() => api().openRecent(path));
    },
    async dropFolder(file: File) {
      await this.adopt(() => api().dropFolder(file));
    },
    /** Adds (or refreshes) a folder granted by main; null means the user cancelled. */
    async adopt(grantIt: () => Promise<FolderGrant | null>) {
      this.error = null;
      let grant: FolderGrant | null;
      try {
        grant = await grantIt();
      } catch (err) {
        this.error = errorText(err);
        return;
      }
      if (!grant) return;
      if (!this.folders.some((f) => f.grant.id === grant.id)) {
        this.folders.push({ grant, view: null, loading: false, error: null });
      }
      await this.rescan(grant.id);
      void this.loadRecent();
    },
    async rescan(folderId: string) {
      const f = this.folders.find((x) => x.grant.id === folderId);
      if (!f) return;
      f.loading = true;
      try {
        f.view = await api().scan(folderId);
        f.error = null;
      } catch (err) {
        f.error = errorText(err);
      } finally {
        f.loading = false;
      }
      // Drop a selection whose disk went away (deleted, merged, renamed).
      if (this.selected && !this.index.has(this.selected)) this.select(null);
      if (this.detailsKey) {
        if (this.index.has(this.detailsKey)) await this.loadDetails(this.detailsKey);
        else this.closeDetails();
      }
    },
    async closeFolder(folderId: string) {
      this.folders = this.folders.filter((f) => f.grant.id !== folderId);
      if (this.selected && !this.index.has(this.selected)) this.select(null);
      try {
        await api().closeFolder(folderId);
      } catch (err) {
        this.error = errorText(err);
      }
    },
    /**
     * The one selection: the tree, the graph, the keyboard, the context menu,
     * the toolbar and the details pane all show and act on this disk, so the
     * details follow every way of selecting.
     */
    select(key: string | null) {
      this.selected = key;
      // The same disk again: what is shown, loading or about to load stays.
      if (key !== null && key === this.detailsKey) return;
      if (detailsTimer !== undefined) clearTimeout(detailsTimer);
      detailsTimer = undefined;
      if (key === null) {
        this.closeDetails();
        return;
      }
      // The pane shows the tree's facts of the new disk at once; main's (which read the block
      // table) come once the selection rests, so arrowing through 300 rows reads one disk, not 300.
      this.details = null;
      this.detailsError = null;
      this.detailsKey = key;
      this.detailsLoading = true;
      detailsTimer = setTimeout(() => {
        detailsTimer = undefined;
        if (this.selected === key) void this.loadDetails(key);
      }, DETAILS_DELAY_MS);
    },
    toggle(key: string, expanded?: boolean) {
      const open = expanded ?? !!this.collapsed[key];
      if (open) delete this.collapsed[key];
      else this.collapsed[key] = true;
    },
    /** Selects the disk and reads its details afresh (Enter, double-click, the menu's Details). */
    async openDetails(key: string) {
      if (detailsTimer !== undefined) clearTimeout(detailsTimer);
      detailsTimer = undefined;
      this.selected = key;
      await this.loadDetails(key);
    },
    async loadDetails(key: string) {
      const entry = this.index.get(key);
      if (!entry) return;
      this.detailsKey = key;
      this.detailsLoading = true;
      this.detailsError = null;
      try {
        const d = await api().details(entry.node.ref);
        // A slower answer for a disk the user has left behind is not shown.
        if (this.detailsKey === key) this.details = d;
      } catch (err) {
        if (this.detailsKey === key) {
          this.details = null;
          this.detailsError = errorText(err);
        }
      } finally {
        if (this.detailsKey === key) this.detailsLoading = false;
      }
    },
    closeDetails() {
      this.detailsKey = null;
      this.details = null;
      this.detailsError = null;
      this.detailsLoading = false;
    },
    recordChecks(reports: FileReport[]) {
      for (const r of reports) this.health[r.path] = r;
    },
    /** Forgets the check results of every disk in these folders: a job there may have changed them, so their badges go back to "not checked". */
    forgetHealth(folderIds: Iterable<string>) {
      const dirs = [...folderIds].flatMap((id) => this.folders.find((f) => f.grant.id === id)?.grant.path ?? []);
      for (const p of Object.keys(this.health)) {
        if (dirs.some((d) => p.startsWith(d) && (p[d.length] === '/' || p[d.length] === '\\'))) delete this.health[p];
      }
    },
    healthOf(node: DiskNode): FileReport | null {
      return this.health[node.path] ?? null;
    },
    async setLabel(ref: DiskRef, label: { name?: string; description?: string }) {
      await api().setLabel(ref, label);
      await this.rescan(ref.folder);
    },
  },
});

// Bytes each disk stores itself (main's costs call), per folder, asked after
// the folder shows, never before it: the rows in view first (FolderTree says
// which), then the rest of the folder in chunks, so the folder total and the
// sort by cost become known. Main caches each disk's figure by its file's
// state (server/library.ts), so asking again after a rescan costs a stat for
// the disks no job changed. What deleting or merging a disk frees is its
// plan's own figure (Plan.frees), asked on demand: on hover or selection.
import { defineStore } from 'pinia';
import { toRaw } from 'vue';
import type { DiskNode, FolderView } from '../../../server/api';
import { api } from '../lib/api';
import { refKey } from '../lib/operations';
import { freeRequest, type FreeFigure } from '../lib/cost';

/** Disks per costs call: small enough that the rows in view wait behind at most one such call. */
export const COST_CHUNK = 64;

/** Every disk of the view that lives in its folder (external ones are that folder's to show). */
export function ownDisks(view: FolderView): DiskNode[] {
  const out: DiskNode[] = [];
  const walk = (n: DiskNode) => {
    if (!n.external && n.ref.folder === view.folder.id) out.push(n);
    n.children.forEach(walk);
  };
  view.roots.forEach(walk);
  return out;
}

/**
 * What is still to ask, per folder: the disks of its latest view, in the
 * order to ask them. Kept outside the store's state: it is bookkeeping, not
 * something a component shows.
 */
interface FolderQueue {
  view: FolderView;
  /** refKey → disk, in asking order (a Map keeps insertion order; wanted rows are moved to the front). */
  todo: Map<string, DiskNode>;
}
const queues = new Map<string, FolderQueue>();
/** Folders with a costs call in flight: one at a time each. */
const pumping = new Set<string>();
/** Plans asked for the would-free figure, by refKey: one request per disk and view. */
const freeAsked = new Set<string>();
/**
 * Disks waiting for their plan, newest last. One plan runs at a time (a plan
 * reads the folder to find each disk's children: seconds in a folder of
 * thousands), the newest asked first; past a few, the oldest are dropped, so
 * a pointer sweeping down the column does not queue a plan per row.
 */
let freeWaiting: { key: string; node: DiskNode }[] = [];
let freeRunning = false;
const FREE_WAITING_MAX = 3;

export const useCostsStore = defineStore('costs', {
  state: () => ({
    /** refKey → unique bytes. */
    bytes: {} as Record<string, number>,
    /** refKey → what removing the disk frees, as its plan says (absent: not asked; 'pending': asked). */
    frees: {} as Record<string, FreeFigure>,
  }),
  getters: {
    of(state): (node: DiskNode) => number | null {
      return (node) => state.bytes[refKey(node.ref)] ?? null;
    },
    freeOf(state): (node: DiskNode) => FreeFigure | undefined {
      return (node) => state.frees[refKey(node.ref)];
    },
    /** The folder's total: what its disks store, each byte counted once (null until every disk is known). */
    totalOf(): (view: FolderView) => number | null {
      return (view) => {
        let sum = 0;
        for (const d of ownDisks(view)) {
          const v = this.of(d);
          if (v === null) return null;
          sum += v;
        }
        return sum;
      };
    },
  },
  actions: {
    /**
     * A new view of a folder (a scan): every disk is asked again, the figures
     * shown meanwhile kept (main answers an unchanged disk from its cache),
     * and what removing each frees is forgotten (a job may have changed it).
     */
    load(view: FolderView) {
      const disks = ownDisks(view);
      const todo = new Map(disks.map((d) => [refKey(d.ref), d]));
      queues.set(view.folder.id, { view: toRaw(view), todo });
      const keep = new Set(todo.keys());
      for (const k of Object.keys(this.bytes)) if (k.startsWith(`${view.folder.id}\u0000`) && !keep.has(k)) delete this.bytes[k];
      for (const k of Object.keys(this.frees)) {
        if (!k.startsWith(`${view.folder.id}\u0000`)) continue;
        delete this.frees[k];
        freeAsked.delete(k);
      }
      freeWaiting = freeWaiting.filter((w) => !w.key.startsWith(`${view.folder.id}\u0000`));
      void this.pump(view.folder.id);
    },
    /** Disks the page shows now: asked before the rest of the folder. */
    want(view: FolderView, nodes: readonly DiskNode[]) {
      const q = queues.get(view.folder.id);
      // Only for the latest view: rows of an older one are not this folder's disks any more.
      if (!q || q.view !== toRaw(view)) return;
      const front = new Map<string, DiskNode>();
      for (const n of nodes) {
        const k = refKey(n.ref);
        if (q.todo.has(k)) front.set(k, n);
      }
      if (front.size === 0) return;
      for (const k of front.keys()) q.todo.delete(k);
      q.todo = new Map([...front, ...q.todo]);
      void this.pump(view.folder.id);
    },
    /** Asks main in chunks until the folder's queue (the latest view's) is empty; one call in flight per folder. */
    async pump(folder: string) {
      if (pumping.has(folder)) return;
      pumping.add(folder);
      try {
        for (;;) {
          const now = queues.get(folder);
          if (!now || now.todo.size === 0) return;
          const chunk = [...now.todo.values()].slice(0, COST_CHUNK);
          let answer: (number | null)[];
          try {
            answer = await api().costs(chunk.map((d) => d.ref));
          } catch {
            // The column says "…" for these; the details pane still reads the figure for one disk.
            return;
          }
          // The queue may have been replaced by a newer scan while main answered: its figures are kept (main read the files as they are now).
          chunk.forEach((d, i) => {
            const k = refKey(d.ref);
            const v = answer[i];
            if (v === null || v === undefined) delete this.bytes[k];
            else this.bytes[k] = v;
            queues.get(folder)?.todo.delete(k);
          });
        }
      } finally {
        pumping.delete(folder);
      }
    },
    /** What deleting or merging this disk frees, as its plan says: asked once per view of the folder. */
    async wantFree(node: DiskNode) {
      const k = refKey(node.ref);
      if (freeAsked.has(k)) return;
      freeAsked.add(k);
      const req = freeRequest(node);
      if (typeof req === 'string') {
        this.frees[k] = { refused: req };
        return;
      }
      this.frees[k] = 'pending';
      freeWaiting.push({ key: k, node });
      for (const dropped of freeWaiting.splice(0, Math.max(0, freeWaiting.length - FREE_WAITING_MAX))) {
        // Not asked after all: a later hover or selection asks again.
        freeAsked.delete(dropped.key);
        delete this.frees[dropped.key];
      }
      if (freeRunning) return;
      freeRunning = true;
      try {
        for (let next = freeWaiting.pop(); next; next = freeWaiting.pop()) await this.askFree(next.key, next.node);
      } finally {
        freeRunning = false;
      }
    },
    async askFree(k: string, node: DiskNode) {
      const req = freeRequest(node);
      if (typeof req === 'string') return;
      try {
        const plan = await api().plan(req);
        // A new scan forgot the question meanwhile: the answer is for the disk as it was.
        if (!freeAsked.has(k)) return;
        this.frees[k] =
          plan.refusals.length > 0
            ? { refused: plan.refusals[0].message }
            : plan.frees === undefined
              ? { refused: 'its plan gives no figure' }
              : { bytes: plan.frees, how: req.op };
      } catch (err) {
        if (!freeAsked.has(k)) return;
        this.frees[k] = { refused: err instanceof Error ? err.message : String(err) };
      }
    },
  },
});

// Bytes each disk stores itself (main's costs call), per folder, read after
// each scan: the scan stays one small read per disk, and the Cost column
// fills in when the bitmaps have been read.
import { defineStore } from 'pinia';
import type { DiskNode, FolderView } from '../../../server/api';
import { api } from '../lib/api';
import { refKey } from '../lib/operations';

/** The latest request per folder: an older scan's late answer is not shown over a newer one's. */
const latest = new Map<string, number>();
let requests = 0;

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

export const useCostsStore = defineStore('costs', {
  state: () => ({
    /** refKey → unique bytes. */
    bytes: {} as Record<string, number>,
  }),
  getters: {
    of(state): (node: DiskNode) => number | null {
      return (node) => state.bytes[refKey(node.ref)] ?? null;
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
    async load(view: FolderView) {
      const disks = ownDisks(view);
      const id = ++requests;
      latest.set(view.folder.id, id);
      let answer: (number | null)[];
      try {
        answer = await api().costs(disks.map((d) => d.ref));
      } catch {
        // The column says "—"; the details pane still reads the figure for one disk.
        return;
      }
      if (latest.get(view.folder.id) !== id) return;
      disks.forEach((d, i) => {
        const k = refKey(d.ref);
        const v = answer[i];
        if (v === null || v === undefined) delete this.bytes[k];
        else this.bytes[k] = v;
      });
    },
  },
});

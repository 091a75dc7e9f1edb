// How the folders' trees are shown, in every view (tree, graph, timeline): the
// sibling order chosen from the column headers, the name filter, and expand or
// collapse all (folding itself is the library's one collapsed set).
import { defineStore } from 'pinia';
import type { SortKey, TreeSort } from '../lib/tree-rows';
import { useLibraryStore } from './library';

export const useTreeViewStore = defineStore('treeView', {
  state: () => ({
    sort: null as TreeSort | null,
    query: '',
    /** Folders (by id) whose graph has had its first, readable overview: folded once, then left to the user. */
    overviewed: {} as Record<string, true>,
  }),
  actions: {
    /** A header click: ascending (costs and times: largest and newest first), the other way, then the scan's order again. */
    sortBy(key: SortKey) {
      const first: TreeSort['dir'] = key === 'name' ? 'asc' : 'desc';
      if (this.sort?.key !== key) this.sort = { key, dir: first };
      else if (this.sort.dir === first) this.sort = { key, dir: first === 'asc' ? 'desc' : 'asc' };
      else this.sort = null;
    },
    expandAll() {
      const library = useLibraryStore();
      for (const key of Object.keys(library.collapsed)) library.toggle(key, true);
    },
    /** Every tree down to its base; a selection inside a folded tree moves to that base, so it stays in sight. */
    collapseAll() {
      const library = useLibraryStore();
      for (const [key, entry] of library.index) if (entry.node.children.length > 0) library.toggle(key, false);
      let root = library.selected;
      for (let k = root; k !== null; k = library.index.get(k)?.parentKey ?? null) root = k;
      if (root && root !== library.selected) library.select(root);
    },
  },
});

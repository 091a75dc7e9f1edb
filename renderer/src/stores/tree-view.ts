// How the indented trees are shown: the sibling order chosen from the column
// headers and the name filter above them (one for every open folder).
import { defineStore } from 'pinia';
import type { SortKey, TreeSort } from '../lib/tree-rows';

export const useTreeViewStore = defineStore('treeView', {
  state: () => ({
    sort: null as TreeSort | null,
    query: '',
  }),
  actions: {
    /** A header click: ascending (costs and times: largest and newest first), the other way, then the scan's order again. */
    sortBy(key: SortKey) {
      const first: TreeSort['dir'] = key === 'name' ? 'asc' : 'desc';
      if (this.sort?.key !== key) this.sort = { key, dir: first };
      else if (this.sort.dir === first) this.sort = { key, dir: first === 'asc' ? 'desc' : 'asc' };
      else this.sort = null;
    },
  },
});

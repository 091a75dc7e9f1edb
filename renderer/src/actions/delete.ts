import { defineAction } from './define';

export const action = defineAction({
  name: 'delete',
  label: 'Delete snapshot',
  short: 'Delete',
  hint: 'Remove this snapshot, folding its content into its children',
  destructive: true,
  order: 3,
  key: { key: 'Delete', label: 'Del' },
  applies: (node) => node.children.length > 0 || node.type === 'differencing' || 'it is a disk of its own, not a snapshot of another',
  request: (t) => ({ op: 'delete', disk: t.ref }),
});

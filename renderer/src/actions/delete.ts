import { defineAction } from './define';

export const action = defineAction({
  name: 'delete',
  label: 'Delete snapshot',
  short: 'Delete',
  hint: 'Remove this snapshot, folding its content into its children, or this saved state',
  destructive: true,
  order: 3,
  key: { key: 'Delete', label: 'Del' },
  // A saved state goes in both formats (nothing depends on it); a VHDX snapshot with one child takes that child in (merge-vhdx.ts), with several each of them does (fold-vhdx.ts).
  vhdx: true,
  applies: (node) => {
    if (node.children.length === 0 && node.state === 'saved') return true;
    if (node.children.length === 0 && node.state === 'active') return 'it is the active disk (what the VM uses now), not a snapshot or a saved state';
    if (node.format === 'vhdx') return node.children.length > 0 || 'only a saved state of a VHDX tree can be deleted';
    return node.children.length > 0 || node.type === 'differencing' || 'it is a disk of its own, not a snapshot of another';
  },
  request: (t) => ({ op: 'delete', disk: t.ref }),
});

import { defineAction } from './define';

export const action = defineAction({
  name: 'set-active',
  label: 'Make this the active disk',
  short: 'Make active',
  hint: 'Mark this disk as the one your VM uses (only the label moves; no disk is written)',
  destructive: false,
  // Rare, and the toolbar is full: in the context menu only.
  menuOnly: true,
  order: 2.6,
  applies: (node) =>
    node.state === 'saved' ||
    (node.active ? 'it is the active disk already' : 'only a saved state (a leaf that is not the active disk) can become the active disk'),
  vhdx: true,
  request: (t) => ({ op: 'set-active', disk: t.ref }),
});

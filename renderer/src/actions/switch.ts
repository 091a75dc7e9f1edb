import { defineAction } from './define';

export const action = defineAction({
  name: 'switch',
  label: 'Switch to this state',
  short: 'Switch',
  hint: 'Make the active disk show this saved state; what it shows now is kept as a saved state',
  destructive: true,
  // In the context menu of a saved state: the toolbar has no room left at 1280 px.
  menuOnly: true,
  order: 2.5,
  vhdx: true,
  // Only a saved state (a leaf that is not the active disk) can be switched to.
  applies: (node) =>
    node.state === 'saved' || (node.active ? 'it is the active disk already' : 'only a saved state (a leaf that is not the active disk) can be switched to'),
  request: (t) => ({ op: 'switch', disk: t.ref }),
});

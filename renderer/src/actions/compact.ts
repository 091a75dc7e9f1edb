import { defineAction } from './define';

export const action = defineAction({
  name: 'compact',
  label: 'Compact',
  short: 'Compact',
  hint: 'Drop empty blocks and shrink the file',
  destructive: true,
  order: 9,
  vhdx: true,
  applies: (node) => node.type !== 'fixed' || 'a fixed disk stores every block: there is nothing to drop',
  request: (t) => ({ op: 'compact', disk: t.ref }),
});

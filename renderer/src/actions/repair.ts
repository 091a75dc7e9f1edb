import { defineAction } from './define';

export const action = defineAction({
  name: 'repair',
  label: 'Repair',
  short: 'Repair',
  hint: 'Fix the repairable problems check found',
  destructive: true,
  order: 7,
  applies: () => true,
  vhdx: true,
  request: (t) => ({ op: 'repair', disk: t.ref }),
});

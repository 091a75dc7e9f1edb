// Not a job: App.vue opens the name dialog (LabelDialog.vue) for it.
import { defineAction } from './define';

export const action = defineAction({
  name: 'rename',
  label: 'Rename / describe…',
  short: 'Rename…',
  hint: 'Set the name and description shown here',
  destructive: false,
  order: 12,
  key: { key: 'F2', label: 'F2' },
  applies: () => true,
  vhdx: true,
});

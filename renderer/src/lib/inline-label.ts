// Inline editing of a disk's name in the details pane, and its undo: which
// disk is being renamed (F2 asks for it from App.vue's shortcuts), and the
// label a rename replaced, put back through the same `name` operation.
import { ref } from 'vue';
import type { DiskRef } from '../../../server/api';

/** refKey of the disk whose name is being edited in the details pane. */
export const editingName = ref<string | null>(null);

/** The last rename or description edit, undoable: the disk and its label before. */
export interface LabelUndo {
  ref: DiskRef;
  key: string;
  before: { name: string; description: string };
  /** What the edit did, for the Undo line ("Renamed to ‘X’"). */
  what: string;
}
export const lastEdit = ref<LabelUndo | null>(null);

/** How many details panes are mounted (one in the app; none in some tests). */
export const panes = { mounted: 0 };

/** Asks the details pane to edit this disk's name inline; false when no pane is there to do it (then the dialog opens instead). */
export function startInlineRename(key: string): boolean {
  if (panes.mounted === 0) return false;
  editingName.value = key;
  return true;
}

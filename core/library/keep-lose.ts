// The one sentence a destructive plan says about what the person keeps and
// what they lose, by snapshot name (Plan.keepLose): "The snapshot ‘Before
// upgrade’ will no longer exist; your current disk keeps all its data".
import * as nodePath from 'node:path';
import { displayNameOf, leavesOf } from './active.js';
import { treeOf, unlessIoFailure, type TreeView } from './scan.js';
import type { TreeNode } from '../shapes.js';

function contains(root: TreeNode, n: TreeNode): boolean {
  return root === n || root.children.some((c) => contains(c, n));
}

/** Who keeps their data when a snapshot goes: the active disk where it is below, else every disk below. */
function keepers(t: TreeView | null, below: TreeNode | null): string {
  if (t && below && contains(below, t.active))
    return `your current disk ${nodePath.basename(t.active.path)} keeps all its data${leavesOf(below).length > 1 ? ', and so does every other disk below it' : ''}`;
  return 'every disk below it keeps all its data';
}

/** delete: the snapshot goes, everything below keeps what it shows. */
export async function removalSentence(snapshot: string, uuid: string): Promise<string> {
  const t = await treeOf(snapshot).catch(unlessIoFailure(null));
  return `The snapshot ‘${await displayNameOf(snapshot, uuid)}’ will no longer exist; ${keepers(t, t?.node ?? null)}.`;
}

/** delete of a saved state: only that leaf goes, no other disk changes. */
export async function savedStateSentence(state: string, uuid: string): Promise<string> {
  const t = await treeOf(state).catch(unlessIoFailure(null));
  const current = t ? ` (your current disk ${nodePath.basename(t.active.path)} among them)` : '';
  return `The saved state ‘${await displayNameOf(state, uuid)}’ will no longer exist; every other disk keeps all its data${current}.`;
}

/** merge of a child into its parent: the parent's own state goes (it then shows the child's), the child's file goes. */
export async function mergeSentence(child: string, childUuid: string, parent: string, parentUuid: string): Promise<string> {
  const t = await treeOf(child).catch(unlessIoFailure(null));
  const [c, p] = [await displayNameOf(child, childUuid), await displayNameOf(parent, parentUuid)];
  const tail = t && t.node.children.length > 0 ? `; ${keepers(t, t.node)}` : '';
  const what = t && t.node === t.active ? 'your current disk' : t && t.node.state === 'saved' ? 'the saved state' : 'the snapshot';
  return `The snapshot ‘${p}’ as it was will no longer exist: ${nodePath.basename(parent)} will show what ${what} ‘${c}’ shows, and ${nodePath.basename(child)} goes${tail}.`;
}

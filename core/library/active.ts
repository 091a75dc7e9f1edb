// The active disk of a tree: the path a VM is configured with, the path an
// in-place snapshot, a revert and a switch keep. Every other leaf is a saved
// state (kept by revert --keep or switch, made by snapshot --out from a
// snapshot, or left by a branch); a disk with children is a snapshot.
//
// Exactly one leaf per tree is active:
// 1. the leaf vhdsnap last recorded as active (sidecar `active`, by file
//    name, with the time of the decision: the latest decision wins, so a
//    stale record of another leaf never needs clearing);
// 2. where no leaf of the tree is recorded (a folder another tool made), a
//    leaf whose file name is not one vhdsnap generates (`-snap-<stamp>`,
//    `-state-<stamp>`), else any leaf;
// 3. ties go to the newest file (mtime: the disk a VM writes), then the path.
//
// Decisions vhdsnap records: set-active (the person's choice); snapshot --out
// of the active disk makes the new child active (the old path became a
// read-only snapshot, so the VM's disk continues in the child), while
// snapshot --out of anything else makes a saved state; revert and switch keep
// the path active (the kept state is saved, with a generated name).
// The rules live here; scan.ts applies them to every forest it builds (and
// answers "which tree, which active disk" for one disk: treeOf).
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { DiskState, TreeNode } from '../shapes.js';
import { readSidecar, writeSidecar, type Sidecar } from './sidecar.js';

export type { DiskState };

/** `<stem>-snap-YYYYMMDD-HHMMSS[-n].<ext>` and `-state-`: the names snapshot.ts and revert.ts give (datedSibling). */
const GENERATED = /-(snap|state)-\d{8}-\d{6}(-\d+)?\.[A-Za-z0-9]+$/;

export function isGeneratedName(file: string): boolean {
  return GENERATED.test(nodePath.basename(file));
}

/** What the choice of one leaf goes by. */
export interface LeafFacts {
  path: string;
  /** When vhdsnap recorded this file as active (ISO), or null. */
  recordedAt: string | null;
  mtimeMs: number;
}

/** The index of the active leaf among `leaves` (non-empty), by the rules above. */
export function chooseActive(leaves: readonly LeafFacts[]): number {
  const idx = leaves.map((_, i) => i);
  const recorded = idx.filter((i) => leaves[i].recordedAt !== null);
  let pool: number[];
  if (recorded.length > 0) {
    const latest = recorded.map((i) => Date.parse(leaves[i].recordedAt!)).reduce((a, b) => Math.max(a, b));
    pool = recorded.filter((i) => Date.parse(leaves[i].recordedAt!) === latest);
  } else {
    const named = idx.filter((i) => !isGeneratedName(leaves[i].path));
    pool = named.length > 0 ? named : idx;
  }
  return pool.reduce((best, i) => {
    const a = leaves[best];
    const b = leaves[i];
    if (b.mtimeMs !== a.mtimeMs) return b.mtimeMs > a.mtimeMs ? i : best;
    return b.path.localeCompare(a.path) < 0 ? i : best;
  });
}

export function leavesOf(n: TreeNode): TreeNode[] {
  return n.children.length === 0 ? [n] : n.children.flatMap(leavesOf);
}

type SidecarReader = (dir: string) => Promise<Sidecar>;

/** Sets `active` and `state` on every node of these trees (scanLibrary calls it once the forest is built). */
export async function markTrees(roots: TreeNode[], sidecarOf: SidecarReader = readSidecar): Promise<void> {
  for (const root of roots) {
    const leaves = leavesOf(root);
    const facts: LeafFacts[] = [];
    for (const l of leaves) {
      const s = await sidecarOf(nodePath.dirname(l.path));
      const st = await fsp.stat(l.path).catch(() => null);
      facts.push({ path: l.path, recordedAt: s.active?.[nodePath.basename(l.path)] ?? null, mtimeMs: st ? st.mtimeMs : 0 });
    }
    const chosen = leaves[chooseActive(facts)];
    const walk = (n: TreeNode) => {
      n.active = n === chosen;
      n.state = n.children.length > 0 ? 'snapshot' : n.active ? 'active' : 'saved';
      n.children.forEach(walk);
    };
    walk(root);
  }
}

/**
 * Records `diskPath` as its tree's active disk, in its folder's sidecar, as
 * of `at` (later than any earlier decision). Records of files gone are pruned.
 */
export async function recordActive(diskPath: string, at = new Date()): Promise<void> {
  const p = nodePath.resolve(diskPath);
  const dir = nodePath.dirname(p);
  const s = await readSidecar(dir);
  const next: Record<string, string> = {};
  for (const [file, when] of Object.entries(s.active ?? {})) {
    if (file === nodePath.basename(p)) continue;
    if (
      await fsp.stat(nodePath.join(dir, file)).then(
        () => true,
        () => false,
      )
    )
      next[file] = when;
  }
  // Strictly later than every record: two decisions within one millisecond still order.
  const latest = Object.values(next).reduce((a, b) => Math.max(a, Date.parse(b)), 0);
  next[nodePath.basename(p)] = new Date(Math.max(at.getTime(), latest + 1)).toISOString();
  s.active = next;
  await writeSidecar(dir, s);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "3 Dec 14:05", local time. */
export function shortStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

const AUTO_NAME = /^State before (?:revert|switch) to .*, (\d{1,2} [A-Z][a-z]{2} \d\d:\d\d)$/;

/** A name vhdsnap gave a saved state (savedStateName), not one a person chose. */
export function isSavedStateName(name: string): boolean {
  return AUTO_NAME.test(name);
}

/**
 * The name a saved state vhdsnap keeps gets: "State before revert to ‘Before
 * upgrade’, 3 Dec 14:05". A target that itself has such a name is called by
 * its time ("the saved state of 3 Dec 14:05"): names never nest.
 */
export function savedStateName(op: 'revert' | 'switch', to: string, at = new Date()): string {
  const auto = AUTO_NAME.exec(to);
  return `State before ${op} to ${auto ? `the saved state of ${auto[1]}` : `‘${to}’`}, ${shortStamp(at)}`;
}

/** How a disk is called in sentences: its name, else its file name. */
export async function displayNameOf(diskPath: string, uuid: string): Promise<string> {
  const s = await readSidecar(nodePath.dirname(nodePath.resolve(diskPath)));
  return s.disks[uuid]?.name ?? nodePath.basename(diskPath);
}

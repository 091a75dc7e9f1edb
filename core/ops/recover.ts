// Finishing or rolling back interrupted operations from their journals.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError } from '../errors.js';
import { findJournals, isActiveJournal, JOURNAL_PREFIX, readJournal, removeJournal, type JournalBase } from '../journal.js';
import { clearStaleLocks } from '../lock.js';
import { isCompactJournal, recoverCompact } from './compact.js';
import { isDeleteJournal, runDelete } from './delete.js';
import { isMergeJournal, runMerge } from './merge.js';
import { applyRelink } from './relink.js';
import type { ReparentJournal } from './reparent.js';
import { isRepairJournal, recoverRepair } from './repair.js';
import { isRevertJournal, recoverRevert } from './revert.js';
import { isResizeJournal, recoverResize } from './resize.js';
import { isSnapshotJournal, recoverSnapshot } from './snapshot.js';

export interface Recovery {
  journal: string;
  op: string;
  /** completed: finished forward; discarded: the unfinished change was rolled back; left: needs a person; busy: another live process owns it. */
  action: 'completed' | 'discarded' | 'left' | 'busy';
  detail: string;
}

/** True when the journal's writer is another process that is still running. */
function ownedByLiveProcess(j: JournalBase): boolean {
  if (!Number.isInteger(j.pid) || j.pid <= 0 || j.pid === process.pid) return false;
  try {
    process.kill(j.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run by operations before they start: finishes interrupted work in the
 * folders they touch, and refuses while another live process owns a journal.
 */
export async function recoverBefore(paths: string[]): Promise<Recovery[]> {
  const dirs = [...new Set(paths.map((p) => nodePath.dirname(nodePath.resolve(p))))];
  const done: Recovery[] = [];
  for (const d of dirs) done.push(...(await recover(d)));
  const busy = done.filter((r) => r.action === 'busy');
  if (busy.length > 0) throw new RefusedError('BUSY', busy.map((b) => b.detail).join('; '));
  return done;
}

export interface PendingJournal {
  journal: string;
  op: string;
  phase: string | null;
  startedAt: string | null;
  /** Owned by another process that is still running. */
  busy: boolean;
}

/** What `recover` would act on, without touching anything (`recover --dry-run`). */
export async function pendingJournals(target: string): Promise<PendingJournal[]> {
  const st = await fsp.stat(target);
  const dir = st.isDirectory() ? target : nodePath.dirname(nodePath.resolve(target));
  const out: PendingJournal[] = [];
  for (const jpath of await findJournals(dir)) {
    const j = await readJournal<JournalBase>(jpath);
    out.push(j ? { journal: jpath, op: j.op, phase: typeof j.phase === 'string' ? j.phase : null, startedAt: j.startedAt ?? null, busy: ownedByLiveProcess(j) } : { journal: jpath, op: 'unknown', phase: null, startedAt: null, busy: false });
  }
  return out;
}

/** Recovers every journal in a folder (or in the folder of a file). */
export async function recover(target: string): Promise<Recovery[]> {
  const st = await fsp.stat(target);
  const dir = st.isDirectory() ? target : nodePath.dirname(nodePath.resolve(target));
  const out: Recovery[] = [];
  for (const jpath of await findJournals(dir)) {
    if (isActiveJournal(jpath)) continue;
    const j = await readJournal<JournalBase>(jpath);
    if (!j) {
      // Finished meanwhile by the recovery of another journal (delete runs its merge's journal).
      if (!(await fsp.lstat(jpath).then(() => true, () => false))) continue;
      // Unreadable journals are left for a person: deleting one could hide an unfinished change.
      out.push({ journal: jpath, op: 'unknown', action: 'left', detail: 'journal is unreadable; left in place for inspection' });
      continue;
    }
    if (ownedByLiveProcess(j)) {
      out.push({ journal: jpath, op: j.op, action: 'busy', detail: `another vhdsnap process (pid ${j.pid}) is running ${j.op} here; wait for it` });
    } else if (isMergeJournal(j)) {
      const r = await runMerge(jpath, j);
      out.push({ journal: jpath, op: 'merge', action: 'completed', detail: `merged into ${r.merged}, removed ${r.removed.join(', ')}` });
    } else if (isDeleteJournal(j)) {
      const r = await runDelete(jpath, j);
      out.push({ journal: jpath, op: 'delete', action: 'completed', detail: `deleted ${r.removed} (${r.strategy})` });
    } else if (isCompactJournal(j)) {
      out.push({ journal: jpath, op: 'compact', ...(await recoverCompact(jpath, j)) });
    } else if (isResizeJournal(j)) {
      out.push({ journal: jpath, op: 'resize', ...(await recoverResize(jpath, j)) });
    } else if (isRevertJournal(j)) {
      out.push({ journal: jpath, op: 'revert', ...(await recoverRevert(jpath, j)) });
    } else if (isSnapshotJournal(j)) {
      out.push({ journal: jpath, op: 'snapshot', ...(await recoverSnapshot(jpath, j)) });
    } else if (isRepairJournal(j)) {
      out.push({ journal: jpath, op: 'repair', ...(await recoverRepair(jpath, j)) });
    } else if (j.op === 'reparent') {
      const rj = j as ReparentJournal;
      await applyRelink({ child: rj.child, headerOffset: rj.headerOffset, header: new Uint8Array(Buffer.from(rj.header, 'base64')) });
      await removeJournal(jpath);
      out.push({ journal: jpath, op: 'reparent', action: 'completed', detail: `${rj.child} now points at ${rj.parent}` });
    } else {
      out.push({ journal: jpath, op: j.op, action: 'left', detail: `unknown operation "${j.op}"; left in place` });
    }
  }
  // Locks whose holder is gone (killed mid-operation) would refuse every later operation.
  for (const c of await clearStaleLocks(dir)) out.push({ journal: c.lockFile, op: 'lock', action: 'completed', detail: c.detail });
  if (!out.some((r) => r.action === 'busy')) await removeStaleTemps(dir);
  return out;
}

/** A temp written by this very process may belong to a job still running in it. */
function pidAlive(pid: number): boolean {
  return pid === process.pid || ownedByLiveProcess({ pid } as JournalBase);
}

/**
 * Temp files whose writer was killed between creating and renaming them:
 * journal and sidecar temps (`<name>.<8 hex>.tmp`; a journal temp names its
 * writer's pid inside) and output temps that carry the pid in their name
 * (`.<name>.<pid>-<8 hex>.tmp`). Only called when no live process owns a
 * journal here, and a temp whose named writer is alive is kept.
 */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const p = nodePath.join(dir, name);
    const withPid = /^\..+\.(\d+)-[0-9a-f]{8}\.tmp$/.exec(name);
    if (withPid) {
      if (!pidAlive(Number(withPid[1]))) await fsp.unlink(p).catch(() => undefined);
    } else if (name.startsWith(JOURNAL_PREFIX) && /\.json\.[0-9a-f]{8}\.tmp$/.test(name)) {
      const j = await readJournal<JournalBase>(p);
      if (!j || !pidAlive(j.pid)) await fsp.unlink(p).catch(() => undefined);
    } else if (/^\.vhdsnap\.json\.[0-9a-f]{8}\.tmp$/.test(name)) {
      await fsp.unlink(p).catch(() => undefined);
    }
  }
}

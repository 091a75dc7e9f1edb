// Finishing or rolling back interrupted operations from their journals.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError } from '../errors.js';
import { findJournals, readJournal, removeJournal, type JournalBase } from '../journal.js';
import { isMergeJournal, runMerge } from './merge.js';
import { applyRelink } from './relink.js';
import type { ReparentJournal } from './reparent.js';

export interface Recovery {
  journal: string;
  op: string;
  action: 'completed' | 'discarded' | 'busy';
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

/** Recovers every journal in a folder (or in the folder of a file). */
export async function recover(target: string): Promise<Recovery[]> {
  const st = await fsp.stat(target);
  const dir = st.isDirectory() ? target : nodePath.dirname(nodePath.resolve(target));
  const out: Recovery[] = [];
  for (const jpath of await findJournals(dir)) {
    const j = await readJournal<JournalBase>(jpath);
    if (!j) {
      // Unreadable journals are left for a person: deleting one could hide an unfinished change.
      out.push({ journal: jpath, op: 'unknown', action: 'discarded', detail: 'journal is unreadable; left in place for inspection' });
      continue;
    }
    if (ownedByLiveProcess(j)) {
      out.push({ journal: jpath, op: j.op, action: 'busy', detail: `another vhdsnap process (pid ${j.pid}) is running ${j.op} here; wait for it` });
    } else if (isMergeJournal(j)) {
      const r = await runMerge(jpath, j);
      out.push({ journal: jpath, op: 'merge', action: 'completed', detail: `merged into ${r.merged}, removed ${r.removed.join(', ')}` });
    } else if (j.op === 'reparent') {
      const rj = j as ReparentJournal;
      await applyRelink({ child: rj.child, headerOffset: rj.headerOffset, header: new Uint8Array(Buffer.from(rj.header, 'base64')) });
      await removeJournal(jpath);
      out.push({ journal: jpath, op: 'reparent', action: 'completed', detail: `${rj.child} now points at ${rj.parent}` });
    } else {
      out.push({ journal: jpath, op: j.op, action: 'discarded', detail: `unknown operation "${j.op}"; left in place` });
    }
  }
  return out;
}

// Reconnecting a moved or broken chain: point a differencing disk at a parent
// file, after verifying its id (unless explicitly overridden) and size.
import * as nodePath from 'node:path';
import { journalHeader, journalPath, removeJournal, writeJournal, type JournalBase } from '../journal.js';
import { openDisk } from '../disk/chain.js';
import { isIoFailure } from '../disk/parent.js';
import { VhdFile } from '../disk/vhd-file.js';
import { VhdError } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { freeSpaceAt, type Plan } from '../job.js';
import { applyRelink, prepareRelink } from './relink.js';
import { recoverBefore } from './recover.js';
import { isSameFile } from '../io/identity.js';

export interface ReparentJournal extends JournalBase {
  op: 'reparent';
  child: string;
  parent: string;
  headerOffset: number;
  header: string;
}

export interface ReparentResult {
  child: string;
  parent: string;
  warnings: string[];
}

/** What reparent would do, with the checks it makes before writing (id, size, self, a whole parent chain). */
export async function planReparent(childPath: string, parentPath: string, opts: { ignoreIdMismatch?: boolean } = {}): Promise<Plan> {
  const child = nodePath.resolve(childPath);
  const parent = nodePath.resolve(parentPath);
  const refusals: Plan['refusals'] = [];
  let note = '';
  const f = await VhdFile.open(child);
  try {
    if (f.type !== 'differencing' || !f.header) refusals.push({ code: 'NOT_DIFFERENCING', message: `${child} is a ${f.type} disk; only differencing disks have a parent` });
    else if (child === parent || (await isSameFile(child, parent))) refusals.push({ code: 'SELF_PARENT', message: `${child} cannot be its own parent (${parent} is the same file)` });
    else {
      try {
        const d = await openDisk(parent);
        const p = d.top;
        await d.close();
        if (p.virtualSize !== f.virtualSize) refusals.push({ code: 'PARENT_SIZE_MISMATCH', message: `${parent} has virtual size ${p.virtualSize} but ${child} has ${f.virtualSize}` });
        const expected = uuidToString(f.header.parentUniqueId);
        if (p.uuid !== expected) {
          if (opts.ignoreIdMismatch) note = ` — WARNING: ids differ (expected ${expected}, found ${p.uuid}); the child's content is only right if this really is the disk it was made from`;
          else refusals.push({ code: 'PARENT_ID_MISMATCH', message: `${parent} has id ${p.uuid} but ${nodePath.basename(child)} expects ${expected}; it is not this disk's parent (--ignore-id-mismatch overrides, at the risk of corrupt data)` });
        }
      } catch (err) {
        if (!(err instanceof VhdError) || isIoFailure(err)) throw err;
        refusals.push({ code: err.code, message: `${parent} cannot be used as a parent: ${err.message}` });
      }
    }
  } finally {
    await f.close();
  }
  return {
    operation: 'reparent',
    summary: `point ${nodePath.basename(child)} at ${nodePath.basename(parent)} as its parent${note}`,
    changes: [{ path: child, action: 'modify', detail: 'parent id, timestamp, name and locators (new locators appended; the header rewritten last)' }],
    bytesToCopy: 0,
    worstCaseGrowth: 4 * 1024,
    freeSpace: await freeSpaceAt(nodePath.dirname(child)),
    refusals,
  };
}

export async function reparent(childPath: string, parentPath: string, opts: { ignoreIdMismatch?: boolean } = {}): Promise<ReparentResult> {
  await recoverBefore([childPath, parentPath]);
  const jpath = journalPath(childPath);
  // The new parent's own chain must be whole, or the child would be linked into a broken chain.
  const parentDisk = await openDisk(parentPath);
  await parentDisk.close();
  const prepared = await prepareRelink(childPath, parentPath, opts);
  const j: ReparentJournal = {
    ...journalHeader('reparent', 'apply'),
    child: prepared.child,
    parent: nodePath.resolve(parentPath),
    headerOffset: prepared.headerOffset,
    header: Buffer.from(prepared.header).toString('base64'),
  };
  await writeJournal(jpath, j);
  await applyRelink(prepared);
  await removeJournal(jpath);
  const check = await openDisk(childPath);
  await check.close();
  return { child: prepared.child, parent: j.parent, warnings: prepared.warnings };
}

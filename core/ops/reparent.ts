// Reconnecting a moved or broken chain: point a differencing disk at a parent
// file, after verifying its id (unless explicitly overridden) and size.
import * as nodePath from 'node:path';
import { journalPath, removeJournal, writeJournal, type JournalBase } from '../journal.js';
import { openDisk } from '../disk/chain.js';
import { applyRelink, prepareRelink } from './relink.js';
import { recoverBefore } from './recover.js';

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

export async function reparent(childPath: string, parentPath: string, opts: { ignoreIdMismatch?: boolean } = {}): Promise<ReparentResult> {
  await recoverBefore([childPath, parentPath]);
  const jpath = journalPath(childPath);
  // The new parent's own chain must be whole, or the child would be linked into a broken chain.
  const parentDisk = await openDisk(parentPath);
  await parentDisk.close();
  const prepared = await prepareRelink(childPath, parentPath, opts);
  const j: ReparentJournal = {
    version: 1,
    op: 'reparent',
    phase: 'apply',
    pid: process.pid,
    startedAt: new Date().toISOString(),
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

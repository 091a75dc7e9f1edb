// Operation journals: a small JSON file next to the disk being changed,
// written (temp + fsync + rename + dir fsync) before the first write and at
// every checkpoint. `recover` finds them and finishes or rolls back the work.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { removeFile, replaceFileAtomically, syncDir } from './io/file.js';

export const JOURNAL_PREFIX = '.vhdsnap-journal-';
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

export interface JournalBase {
  version: 1;
  op: string;
  phase: string;
  pid: number;
  startedAt: string;
}

/**
 * Journals this process is carrying out right now. recover() skips them, so an
 * operation that recovers its folder first never re-enters its own journal.
 */
const active = new Set<string>();

export async function withActiveJournal<T>(path: string, fn: () => Promise<T>): Promise<T> {
  active.add(path);
  try {
    return await fn();
  } finally {
    active.delete(path);
  }
}

export function isActiveJournal(path: string): boolean {
  return active.has(path);
}

/** The fields every journal starts with: who wrote it and when. */
export function journalHeader<O extends string, P extends string>(op: O, phase: P): { version: 1; op: O; phase: P; pid: number; startedAt: string } {
  return { version: 1, op, phase, pid: process.pid, startedAt: new Date().toISOString() };
}

export function journalPath(targetPath: string): string {
  const abs = nodePath.resolve(targetPath);
  return nodePath.join(nodePath.dirname(abs), `${JOURNAL_PREFIX}${nodePath.basename(abs)}.json`);
}

export async function writeJournal<T extends JournalBase>(path: string, j: T): Promise<void> {
  await replaceFileAtomically(path, JSON.stringify(j));
}

export async function readJournal<T extends JournalBase>(path: string): Promise<T | null> {
  try {
    const st = await fsp.stat(path);
    if (!st.isFile() || st.size > MAX_JOURNAL_BYTES) return null;
    const j = JSON.parse(await fsp.readFile(path, 'utf8')) as T;
    return j && j.version === 1 && typeof j.op === 'string' ? j : null;
  } catch {
    return null;
  }
}

/** Removes a finished journal; one held by another program is refused IN_USE (left, it would be replayed). */
export async function removeJournal(path: string): Promise<void> {
  await removeFile(path, { missingOk: true });
  await syncDir(nodePath.dirname(path));
}

/** Journals in a folder (the names only say which disk; the contents say what). */
export async function findJournals(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(JOURNAL_PREFIX) && n.endsWith('.json')).map((n) => nodePath.join(dir, n));
}

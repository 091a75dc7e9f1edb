// Operation journals: a small JSON file next to the disk being changed,
// written (temp + fsync + rename + dir fsync) before the first write and at
// every checkpoint. `recover` finds them and finishes or rolls back the work.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { currentThreadId } from './thread.js';
import { startTicksField } from './lock.js';
import * as z from 'zod/mini';
import { removeFile, replaceFileAtomically, syncDir } from './io/file.js';

export const JOURNAL_PREFIX = '.vhdsnap-journal-';
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

/** The fields every journal starts with; each operation's schema extends it (core/operation.ts). */
export const journalBaseShape = {
  version: z.literal(1),
  op: z.string(),
  phase: z.string(),
  pid: z.number(),
  /** The writer's thread in its process (the app runs each job in a worker thread); absent in older journals. */
  thread: z.optional(z.number()),
  startedAt: z.string(),
  /** The writer's start in clock ticks since boot (core/lock.ts processStartTicks); absent off Linux and in older journals. */
  startTicks: z.optional(z.number().check(z.int(), z.nonnegative())),
};
/** Loose: the rest is the operation's, validated by its own schema before recovery uses it. */
const journalBaseSchema = z.looseObject(journalBaseShape);

export type JournalBase = z.infer<typeof journalBaseSchema>;

/** A byte offset or size recorded in a journal. */
export const offset = z.number().check(z.int(), z.nonnegative());

/** A header rewrite recorded before it is made (merge, delete, reparent): recovery rewrites the bytes raw. */
export const relinkRecordSchema = z.object({ child: z.string(), headerOffset: offset, header: z.string() });

/** One operation's journal schema: the shared header plus its fields. */
export function journalSchema<const Op extends string, S extends z.core.$ZodLooseShape>(op: Op, shape: S) {
  // extend, not a spread: an operation's field (its phase enum) replaces the base's rather than intersecting with it.
  return z.extend(z.object({ ...journalBaseShape, op: z.literal(op) }), shape);
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
export function journalHeader<O extends string, P extends string>(
  op: O,
  phase: P,
): { version: 1; op: O; phase: P; pid: number; thread: number; startedAt: string; startTicks?: number } {
  return { version: 1, op, phase, pid: process.pid, thread: currentThreadId(), startedAt: new Date().toISOString(), ...startTicksField() };
}

export function journalPath(targetPath: string): string {
  const abs = nodePath.resolve(targetPath);
  return nodePath.join(nodePath.dirname(abs), `${JOURNAL_PREFIX}${nodePath.basename(abs)}.json`);
}

export async function writeJournal<T extends JournalBase>(path: string, j: T): Promise<void> {
  await replaceFileAtomically(path, JSON.stringify(j));
}

/** The journal at `path` when it is one (its shared header checked), else null; the operation's own fields are checked by its schema. */
export async function readJournal(path: string): Promise<JournalBase | null> {
  try {
    const st = await fsp.stat(path);
    if (!st.isFile() || st.size > MAX_JOURNAL_BYTES) return null;
    const parsed = journalBaseSchema.safeParse(JSON.parse(await fsp.readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The journal at `path` checked against one operation's schema (null when absent, unreadable or not of that shape). */
export async function readJournalOf<S extends z.ZodMiniType<JournalBase>>(path: string, schema: S): Promise<z.infer<S> | null> {
  const j = await readJournal(path);
  if (!j) return null;
  const parsed = schema.safeParse(j);
  return parsed.success ? parsed.data : null;
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

// What each channel does, free of Electron: handlers take a context (grants,
// recent list, jobs, dialogs) and already-validated arguments, so the same
// functions serve the Electron window, `vhdsnap serve`, and the tests.
import { promises as fsp } from 'node:fs';
import type { Plan } from '../core/job.js';
import { heldDisks, jobDisks, planOperation, runOperation, type OperationRequest } from '../core/operations.js';
import type { DiskRef, FolderGrant, OperationArgs } from './api.js';
import type { Grants } from './grants.js';
import type { JobManager } from './jobs.js';
import { diskCosts, diskDetails, scanFolder } from './library.js';
import type { RecentFolders } from './recent.js';
import { DiskRefSchema, fileFieldsOf, IdSchema, type Handlers } from './contract.js';
import { ApiFailure } from './errors.js';
import { JOURNAL_PREFIX } from '../core/journal.js';
import { pathExists } from '../core/io/file.js';
import { journalDisks } from '../core/ops/recover.js';

/** The native dialogs (or, in serve mode, their stand-ins). */
export interface Dialogs {
  /** A folder path, or null when cancelled. */
  pickFolder(): Promise<string | null>;
  /** An output file: a path chosen in a save dialog, or null when cancelled. */
  pickOutput(suggestedName: string, near: FolderGrant | null): Promise<string | null>;
  /** A file to read: a path chosen in an open dialog, or null when cancelled. */
  pickInput(name: string | undefined, near: FolderGrant | null): Promise<string | null>;
}

export interface HandlerContext {
  version: string;
  grants: Grants;
  recent: RecentFolders;
  jobs: JobManager;
  dialogs: Dialogs;
}

/**
 * OperationArgs → core's OperationRequest, for every operation alike, by its
 * descriptor: a disk field's DiskRef becomes a checked path, an output or
 * input field's grant id the path chosen in its dialog, and other values pass
 * through. The schema has checked the arguments; the runner checks the
 * request it gets once more against the same descriptor.
 */
export async function toRequest(args: OperationArgs, grants: Grants): Promise<OperationRequest> {
  const files = fileFieldsOf(args.op);
  const req: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const kind = files.get(key);
    if (kind === 'disk') req[key] = await grants.resolveDisk(DiskRefSchema.parse(value));
    else if (kind === 'output' || kind === 'input') req[key] = grants.file(kind, IdSchema.parse(value));
    else req[key] = value;
  }
  // The shape follows the descriptor field by field; the runner checks it against that descriptor's schema.
  return req as OperationRequest;
}

/**
 * The request with a plan's pins (core Plan.pins) set. Only fields that name
 * no file: a pin can never point a job at a file the page was not granted.
 */
export function withPins(req: OperationRequest, pins: Record<string, string> | undefined): OperationRequest {
  if (!pins) return req;
  const files = fileFieldsOf(req.op);
  for (const key of Object.keys(pins)) {
    if (files.has(key) || key === 'op') throw new ApiFailure('BAD_ARGS', `pin ${key} names a file or the operation; only a plan's own fields may be pinned`);
  }
  // The runner checks the pinned request against the operation's schema: a bad value is refused there, a field it does not have dropped.
  return { ...req, ...pins };
}

async function grantAndRemember(ctx: HandlerContext, path: string): Promise<FolderGrant> {
  const g = await ctx.grants.grantFolder(path);
  await ctx.recent.add(g.path, g.name);
  return g;
}

export function createHandlers(ctx: HandlerContext): Handlers {
  const { grants, jobs } = ctx;
  /** The journal `ref` names: only a journal, of an open folder, that is still there. */
  const pendingJournal = async (ref: DiskRef): Promise<string> => {
    if (!ref.file.startsWith(JOURNAL_PREFIX)) throw new ApiFailure('BAD_ARGS', `${ref.file} is not a job journal`);
    const journal = await grants.resolveDisk(ref);
    if (!(await pathExists(journal)))
      throw new ApiFailure('NOT_FOUND', `no interrupted job ${ref.file} in this folder (it may have been resumed or rolled back already)`);
    return journal;
  };
  // A disk the person changes may have children in any folder the app has open: the operation looks there too.
  const openFolders = (): string[] => grants.listFolders().map((g) => g.path);
  return {
    appVersion: async () => ctx.version,

    openFolder: async () => {
      const p = await ctx.dialogs.pickFolder();
      return p === null ? null : grantAndRemember(ctx, p);
    },

    recentFolders: async () => ctx.recent.list(),

    openRecent: async (path) => {
      // Only a path main stored itself; the page cannot open an arbitrary one this way.
      if (!(await ctx.recent.has(path))) throw new ApiFailure('NOT_RECENT', 'that folder is not in the recent list');
      return grantAndRemember(ctx, path);
    },

    dropFolder: async (path) => {
      const st = await fsp.stat(path).catch(() => null);
      if (!st) throw new ApiFailure('NOT_FOUND', `dropped item not found: ${path}`);
      if (!st.isDirectory()) throw new ApiFailure('NOT_A_FOLDER', 'drop a folder, not a file');
      return grantAndRemember(ctx, path);
    },

    closeFolder: async (id) => {
      grants.closeFolder(id);
    },

    scan: async (id) => scanFolder(grants.folder(id), grants),

    details: async (ref) => diskDetails(ref, await grants.resolveDisk(ref)),

    // A disk the page may not name (outside every grant) just has no cost: the others still do.
    costs: async (refs) => diskCosts(await Promise.all(refs.map((r) => grants.resolveDisk(r).catch(() => null)))),

    // Core's name operation, as `vhdsnap name` runs it: labels are set in one place.
    setLabel: async (ref, label) => {
      await runOperation({ op: 'name', disk: await grants.resolveDisk(ref), name: label.name, description: label.description });
    },

    chooseOutput: async (suggestedName, folderId) => {
      const near = folderId ? grants.folder(folderId) : null;
      const p = await ctx.dialogs.pickOutput(suggestedName, near);
      return p === null ? null : grants.grantFile('output', p);
    },

    chooseInput: async (name, folderId) => {
      const near = folderId ? grants.folder(folderId) : null;
      const p = await ctx.dialogs.pickInput(name, near);
      return p === null ? null : grants.grantFile('input', p);
    },

    plan: async (args) => {
      const req = await toRequest(args, grants);
      const plan: Plan = await planOperation(req, { childFolders: openFolders() });
      // A disk another job is changing: the plan would be stale, so say so up front.
      const held = jobs.holder(await jobDisks(req));
      if (held) plan.refusals.push({ code: 'BUSY', message: `a ${held.op} job is running on this disk` });
      return plan;
    },

    start: async (args, pins) => {
      const req = withPins(await toRequest(args, grants), pins);
      return jobs.start(req, await jobDisks(req), openFolders());
    },

    cancel: async (jobId) => {
      jobs.cancel(jobId);
    },

    // Only a journal of an open folder, and only a journal: the page picks it from FolderView.pending.
    resume: async (ref) => {
      const journal = await pendingJournal(ref);
      return jobs.startResume(journal, await heldDisks(await journalDisks(journal)));
    },

    rollback: async (ref) => {
      const journal = await pendingJournal(ref);
      return jobs.startRollback(journal, await heldDisks(await journalDisks(journal)));
    },
  };
}

// What one operation is: a descriptor exported by its module under core/ops/.
// The runner (core/operations.ts), recovery (core/ops/recover.ts), the app's
// IPC contract and the CLI learn everything about an operation from it; the
// registry (core/registry.ts) is the one list of them.
//
// zod/mini, not zod: the CLI loads every descriptor at start-up, and the
// mini build costs a few milliseconds where the full one costs ~20.
import * as z from 'zod/mini';
import type { JournalBase } from './journal.js';
import type { JobContext, Plan } from './job.js';

/** What recovering one journal did. */
export interface RecoveryOutcome {
  /** completed: finished forward; discarded: rolled back; left: needs a person. */
  action: 'completed' | 'discarded' | 'left';
  detail: string;
}

/** An operation's journal: its schema (checked whenever one is read back) and how to finish or roll back the work. */
export interface JournalKind {
  /** Recovers the journal at `path` whose parsed JSON is `raw`; a journal that fails the schema is left for a person. */
  recover(path: string, raw: JournalBase): Promise<RecoveryOutcome>;
  /**
   * Rolls the job back: every disk reads as before it, its files back to their
   * old size, no journal or temp left ('discarded'). A job past its point of
   * no return cannot be: it is finished instead ('completed', saying so).
   */
  rollback(path: string, raw: JournalBase): Promise<RecoveryOutcome>;
  /** True when a rollback of this journal would finish the job instead (past its point of no return, or no rollback known). */
  pastNoReturn(raw: JournalBase): Promise<boolean>;
  /** What recover without --rollback does: most jobs are finished; some are rolled back short of their point of no return (snapshot). */
  forward(raw: JournalBase): Promise<'finish' | 'roll back'>;
  /** Journals of other operations this one carries out itself (JournalHooks.nested). */
  nested(path: string, raw: JournalBase): string[];
}

/** What a rollback that meets a job past its point of no return says, after finishing it. */
export const PAST_NO_RETURN = 'cannot roll back: past the point of no return, finished instead';

/** What an operation's journal kind knows beyond how to recover (journalKind). */
export interface JournalHooks<J> {
  /** Undoes the job; without it, a rollback finishes the job instead. */
  rollback?: (path: string, j: J) => Promise<RecoveryOutcome>;
  /** When the rollback can no longer undo the job (then it finishes it). */
  pastNoReturn?: (j: J) => boolean | Promise<boolean>;
  /** What the recovery does, where it does not always finish. */
  forward?: (j: J) => Promise<'finish' | 'roll back'>;
  /** Journals of other operations this job runs itself (a delete's merge): they are its business, never shown or recovered on their own. */
  nested?: (path: string, j: J) => string[];
}

/** Pairs a journal schema with its recovery and hooks, so they only ever see a validated journal. */
export function journalKind<S extends z.ZodMiniType<JournalBase>>(
  schema: S,
  recover: (path: string, j: z.infer<S>) => Promise<RecoveryOutcome>,
  hooks: JournalHooks<z.infer<S>> = {},
): JournalKind {
  const { rollback, pastNoReturn = () => false, forward = async () => 'finish' as const, nested = () => [] } = hooks;
  const checked = async (raw: JournalBase, fn: (j: z.infer<S>) => Promise<RecoveryOutcome>): Promise<RecoveryOutcome> => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        action: 'left',
        detail: `journal field ${issue.path.join('.') || '(root)'} is not what ${raw.op} writes (${issue.message}); left in place for inspection`,
      };
    }
    return fn(parsed.data);
  };
  const past = async (raw: JournalBase): Promise<boolean> => {
    const parsed = schema.safeParse(raw);
    return !rollback || (parsed.success && (await pastNoReturn(parsed.data)));
  };
  return {
    recover: (path, raw) => checked(raw, (j) => recover(path, j)),
    rollback: (path, raw) =>
      checked(raw, async (j) => {
        if (rollback && !(await pastNoReturn(j))) return rollback(path, j);
        const r = await recover(path, j);
        return r.action === 'completed' ? { action: 'completed', detail: `${PAST_NO_RETURN}: ${r.detail}` } : r;
      }),
    pastNoReturn: past,
    // A journal that fails its schema is left by recovery, never finished: "finish" is what a person would be told to expect otherwise.
    forward: async (raw) => {
      const parsed = schema.safeParse(raw);
      return parsed.success ? forward(parsed.data) : 'finish';
    },
    nested: (path, raw) => {
      const parsed = schema.safeParse(raw);
      return parsed.success ? nested(path, parsed.data) : [];
    },
  };
}

/** What a request field that names a file names. */
export type FileKind = 'disk' | 'output' | 'input';
export type FileFields<Req> = { readonly [F in keyof Req & string]?: FileKind };

/** What the runner hands an operation's run: the job context and the plan it made under the locks (never a second one). */
export interface RunContext extends JobContext {
  plan: Plan;
}

export interface Operation<Op extends string, Req, Result, P extends Plan = Plan> {
  op: Op;
  /** The request's fields besides `op` (plain JSON: requests cross workers and IPC); the runner checks every request with it. */
  request: z.ZodMiniType<Req> & { shape: z.core.$ZodShape };
  /**
   * Fields of the request that name files, and what each names: 'disk' a disk
   * that exists, 'output' a new file to write, 'input' a file to read. The app
   * gets each from the person (a disk in an open folder, a save or an open
   * dialog) and turns it into a path; everything else it sends as is.
   */
  files: FileFields<Req>;
  /** 'writes': locked and guarded against other programs; 'reads': neither (it warns instead). */
  access: 'writes' | 'reads';
  /**
   * Disks the request names that the job works on, the disk named first: one
   * job per disk at a time in the app; for 'writes', locked (with what the
   * plan changes) and checked for interrupted work before the plan is made.
   */
  touched(req: Req): string[];
  /**
   * Files another program must not be using (core/inuse.ts), given what the
   * plan changes. Default: the disk named and every changed file.
   */
  guarded?(req: Req, changed: string[]): string[];
  /**
   * Changed paths whose file the run does not write but replaces with a new
   * one (the old file keeps its content under any other name it has): these
   * are not refused for having other hard links (core/hardlinks.ts).
   */
  replaces?(plan: NoInfer<P>): string[];
  /** The run makes the in-use check and the refusals itself (the runner only adds IN_USE to the plan shown). */
  guardsItself?: boolean;
  /** Computed without writing; refusals say why it will not run. */
  plan(req: Req): Promise<P>;
  /** The request fields that make a later run do what this plan shows (Plan.pins); only fields that name no file. */
  pins?(plan: NoInfer<P>): Partial<Record<keyof Req & string, string>>;
  run(req: Req, ctx: RunContext & { plan: P }): Promise<Result>;
  /** The journal this operation writes, where it has one. */
  journal?: JournalKind;
  /**
   * The run only rewrites bytes of files that exist (no journal, temp or
   * sidecar beside them), so their folders need not be writable. Otherwise
   * the runner fails before the first write when a changed file's folder is
   * not (core/operations.ts), in the dry run as in the run.
   */
  writesInPlaceOnly?: boolean;
  /** The operation as a `vhdsnap` command (core/cli/main.ts builds the command, its parser and its help from this). */
  cli?: CliCommand<Req, Result, P>;
}

/** How one command-line option fills a request field. */
export interface CliOption<Req> {
  field: keyof Req & string;
  /** bool: a flag; text: the value as typed; size: bytes, a binary unit allowed; offset: whole bytes; a list: one of these words. */
  kind: 'bool' | 'text' | 'size' | 'offset' | readonly string[];
  /** Placeholder shown after the flag in the usage line. */
  value?: string;
  help: string;
  required?: boolean;
}

/** An operation as a command: the request from its arguments, and the result in words. */
export interface CliCommand<Req, Result, P extends Plan> {
  /** Positional arguments as the usage line shows them. */
  args: string;
  /** One sentence: what the command does. */
  about: string;
  /** The request fields the positional arguments fill, in order (all required). */
  positional: readonly (keyof Req & string)[];
  /** Flag name (without --) → the field it sets; --json and --dry-run come with every writing command. */
  options?: Readonly<Record<string, CliOption<Req>>>;
  /** What stdout says after success. */
  print(result: Result, req: Req): string;
  /** Warnings for stderr, one per line. */
  warnings?(result: Result): string[];
  /** The --json document (default: the result). */
  json?(result: Result): unknown;
  /** A success's exit code (default 0; 1 when problems remain). */
  exitCode?(result: Result): number;
  /** Lines the dry run prints below the plan, and its exit code when nothing is refused. */
  planDetail?(plan: P): string;
  planExitCode?(plan: P): number;
}

/** Infers an operation's types from its parts (the literal op name and the request schema's type included). */
export function defineOperation<const Op extends string, S extends z.ZodMiniObject, Result, P extends Plan, const F extends FileFields<z.infer<S>>>(
  d: Operation<Op, z.infer<S>, Result, P> & { request: S; files: F },
): Omit<Operation<Op, z.infer<S>, Result, P>, 'files'> & { request: S; files: F } {
  return d;
}

/** Request fields most operations share. */
export const diskPath = z.string().check(z.minLength(1));

/** A snapshot's name and description, as people type them (the app and the CLI alike). */
export const nameText = z.string().check(z.maxLength(200, 'name is longer than 200 characters'));
export const descriptionText = z.string().check(z.maxLength(4000, 'description is longer than 4000 characters'));

/**
 * When a plan was made (an ISO time), pinned by plans whose generated names and
 * labels carry the time (revert --keep, switch), so the run creates the names
 * its plan showed.
 */
export const plannedAt = z.string().check(z.refine((s) => s.length <= 40 && !Number.isNaN(Date.parse(s)), 'must be a time (ISO 8601)'));

/** The time a request pins (plannedAt), or now. */
export function plannedTime(at: string | undefined): Date {
  return at === undefined ? new Date() : new Date(at);
}

/** The request of an operation that needs nothing but the disk. */
export const diskRequest = z.object({ disk: diskPath });

/** The parts of a descriptor for an operation that writes the one disk its `disk` field names. */
export const writesOneDisk = {
  files: { disk: 'disk' },
  access: 'writes',
  touched: (r: { disk: string }) => [r.disk],
} as const;

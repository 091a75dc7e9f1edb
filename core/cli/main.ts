// vhdsnap: the command-line face of the core.
// Exit codes: 0 success; 1 problems found or refused for safety; 2 usage
// error, unreadable input or an environment failure (core/errors.ts
// EnvironmentError). --json prints exactly one JSON document on stdout.
import { promises as fsp } from 'node:fs';
import { fromSystemError, IN_USE, UsageError, type Finding } from '../errors.js';
import { warnIfMoving } from '../inuse.js';
import type { JobContext, Plan } from '../job.js';
import { planOperation, runOperation } from '../operations.js';
import { scanLibrary } from '../library/scan.js';
import { checkPaths } from '../ops/check.js';
import { createDynamic, createFixed, MAX_NEW_SIZE, tooLarge, validateNewDisk } from '../ops/create.js';
import { getInfo } from '../ops/info.js';
import { exportRaw, importRaw } from '../ops/transfer.js';
import { recoverFolder } from '../ops/recover.js';
import type { RepairItem } from '../ops/repair.js';
import { parseArgs, parseOffset, parseSize, type ParsedArgs } from './args.js';
import { reportError } from './report.js';
import { renderCheck, renderInfo, renderPlan, renderProgress, renderRecover, renderTree } from './format.js';

const TITLE = 'vhdsnap — snapshot chains for Microsoft VHD disks';
const EXIT_CODES = [
  'Exit codes: 0 success; 1 problems found (check, tree, repair) or refused for safety; 2 usage error, unreadable input,',
  'or the environment refused (missing path, no permission, read-only or full disk: the message says what to do).',
  'A dry run exits with the code the run would. 130: cancelled by Ctrl-C or SIGTERM and rolled back (every disk as before).',
].join('\n');

/**
 * What each option means, for the generated usage and `--help` (one entry per
 * option name; a test checks every option a command accepts is described).
 */
const OPTION_HELP: Record<string, { value?: string; help: string }> = {
  json: { help: 'print one JSON document on stdout' },
  'dry-run': { help: 'show the plan and write nothing (exit 1 when it would be refused)' },
  parent: { value: '<path>', help: 'use this file as the parent instead of the one the disk names' },
  deep: { help: 'also read every allocated block of every file in the chain' },
  size: { value: '<n>[K|M|G|T]', help: 'virtual size in bytes, or with a binary unit' },
  type: { value: 'dynamic|fixed', help: 'disk type to create (default dynamic)' },
  'block-size': { value: '<n>[K|M]', help: 'block size of a dynamic disk (default 2M)' },
  out: { value: '<child.vhd>', help: 'keep the disk as the snapshot and create this new child on top of it' },
  name: { value: '<text>', help: 'name of the snapshot' },
  description: { value: '<text>', help: 'description text' },
  offset: { value: '<bytes>', help: 'byte offset in the virtual disk where the data goes' },
  input: { value: '<data-file>', help: 'file whose bytes are written' },
  format: { value: 'dynamic|fixed|raw', help: 'output format (default dynamic)' },
  into: { value: '<ancestor>', help: 'merge level by level up to this ancestor' },
  'ignore-id-mismatch': { help: 'accept a new parent whose id differs from the one recorded' },
  to: { value: '<snapshot>', help: 'the snapshot to go back to (default: the parent)' },
  keep: { help: 'keep the current state as a saved branch instead of discarding it' },
  port: { value: '<n>', help: 'port to listen on (default: any free port)' },
  rollback: {
    help: 'recover: roll interrupted jobs back (every disk as before the job) instead of finishing them; a job past its point of no return is finished',
  },
  folder: { value: '<dir>', help: 'folder to open (further folders go as arguments)' },
};

function optionSynopsis(flag: string): string {
  const value = OPTION_HELP[flag]?.value;
  return value ? `--${flag} ${value}` : `--${flag}`;
}

/** `vhdsnap <name> <args> [--opt]...`: options the command requires are shown without brackets. */
function synopsis(name: string, cmd: Command): string {
  const flags = [...(cmd.values ?? []), ...(cmd.bools ?? [])].map((f) => ((cmd.required ?? []).includes(f) ? optionSynopsis(f) : `[${optionSynopsis(f)}]`));
  return ['vhdsnap', name, cmd.args, ...flags].filter((x) => x !== '').join(' ');
}

function usage(): string {
  return [
    TITLE,
    '',
    ...Object.entries(commands).map(([n, c]) => `  ${synopsis(n, c)}`),
    '',
    'vhdsnap <command> --help explains one command.',
    '',
    EXIT_CODES,
  ].join('\n');
}

function commandHelp(name: string, cmd: Command): string {
  const flags = [...(cmd.values ?? []), ...(cmd.bools ?? [])];
  const width = Math.max(0, ...flags.map((f) => optionSynopsis(f).length));
  const lines = flags.map((f) => `  ${optionSynopsis(f).padEnd(width)}  ${OPTION_HELP[f]?.help ?? ''}`);
  return [`usage: ${synopsis(name, cmd)}`, '', cmd.about, ...(lines.length > 0 ? ['', 'options:', ...lines] : []), '', EXIT_CODES].join('\n');
}

/** The generated texts, for tests. */
export const help = {
  usage,
  command: (name: string): string | null => (commands[name] ? commandHelp(name, commands[name]) : null),
  commands: () => Object.entries(commands).map(([name, c]) => ({ name, options: [...(c.values ?? []), ...(c.bools ?? [])] })),
  optionHelp: OPTION_HELP,
};

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Progress is drawn only on a terminal. */
  isTTY: boolean;
  /** Aborted on SIGINT/SIGTERM (core/cli/bin.ts): the running job rolls back and the command exits 130. */
  signal?: AbortSignal;
  /** Called when a job that honours `signal` starts: from then a signal cancels it instead of ending the process. */
  jobStarted?: () => void;
}

type Handler = (a: ParsedArgs, io: Io) => Promise<number>;

/** What `vhdsnap serve`'s module exports: implemented outside core (server/serve-command.ts). */
export type ServeCommand = Handler;

interface Command {
  /** Positional arguments as shown in the usage line. */
  args: string;
  /** One sentence: what the command does. */
  about: string;
  /** Options the command cannot run without (shown unbracketed). */
  required?: string[];
  values?: string[];
  bools?: string[];
  min: number;
  max: number;
  run: Handler;
}

function json(io: Io, value: unknown): void {
  io.stdout(JSON.stringify(value, null, 2) + '\n');
}

/** The job context of a run: the cancel signal, and progress on a terminal. */
function progressCtx(io: Io): JobContext {
  io.jobStarted?.();
  const signal = io.signal ? { signal: io.signal } : {};
  if (!io.isTTY) return signal;
  return { ...signal, onProgress: (p) => io.stderr(`\r\x1b[2K${renderProgress(p)}${p.done >= p.total || p.finishing ? '\n' : ''}`) };
}

/** Reading a disk another program has open: one line on stderr per such disk (the JSON carries the warning too). */
function warnMoving(io: Io, name: string, warnings: Finding[]): void {
  for (const w of warnings) if (w.code === IN_USE) io.stderr(`vhdsnap ${name}: warning: ${w.message} [${w.code}]\n`);
}

/** --dry-run: the plan, exit 1 when it would be refused. */
function printPlan(io: Io, a: ParsedArgs, plan: Plan): number {
  if (a.bools.has('json')) json(io, plan);
  else io.stdout(renderPlan(plan) + '\n');
  return plan.refusals.length > 0 ? 1 : 0;
}

/** An input path that cannot be read is unreadable input (exit 2: NOT_FOUND, NO_PERMISSION...), not a damaged disk (exit 1). */
async function statInput(p: string, want: 'file' | 'any'): Promise<void> {
  const st = await fsp.stat(p).catch((err: unknown) => {
    throw fromSystemError(err, p, 'cannot read');
  });
  if (want === 'file' && !st.isFile()) throw new UsageError('NOT_A_FILE', `${p} is not a regular file`);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError('USAGE', `--${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}

const commands: Record<string, Command> = {
  info: {
    args: '<file>',
    about: "Shows a disk's type, sizes, ids and parent.",
    values: ['parent'],
    bools: ['json'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const [info] = await warnIfMoving([await getInfo(a.positional[0], { parentPath: a.values.get('parent') })], [a.positional[0]]);
      warnMoving(io, 'info', info.warnings);
      if (a.bools.has('json')) json(io, info);
      else io.stdout(renderInfo(info) + '\n');
      return 0;
    },
  },
  check: {
    args: '<file>...',
    about: 'Validates each file and its chain; exit 1 when a problem is found.',
    values: ['parent'],
    bools: ['json', 'deep'],
    min: 1,
    max: Infinity,
    run: async (a, io) => {
      // A path that does not exist is unreadable input (exit 2), not a damaged disk (exit 1).
      for (const p of a.positional) await statInput(p, 'file');
      const reports = await warnIfMoving(await checkPaths(a.positional, { deep: a.bools.has('deep'), parentPath: a.values.get('parent') }), a.positional);
      for (const r of reports) warnMoving(io, 'check', r.warnings);
      if (a.bools.has('json')) json(io, reports);
      else io.stdout(renderCheck(reports) + '\n');
      return reports.every((r) => r.ok) ? 0 : 1;
    },
  },
  tree: {
    args: '<dir|file>...',
    about: 'Lists the snapshot trees in folders, with names, orphans and unreadable files; exit 1 when it lists orphans or unreadable files.',
    bools: ['json'],
    min: 1,
    max: Infinity,
    run: async (a, io) => {
      for (const p of a.positional) await statInput(p, 'any');
      const forest = await scanLibrary(a.positional);
      if (a.bools.has('json')) json(io, forest);
      else io.stdout(renderTree(forest) + '\n');
      // Orphans and unreadable files are problems found, as with check.
      return forest.orphans.length > 0 || forest.unreadable.length > 0 ? 1 : 0;
    },
  },
  create: {
    args: '<file>',
    about: 'Creates a new empty disk.',
    required: ['size'],
    values: ['size', 'type', 'block-size'],
    bools: ['json'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const sizeText = a.values.get('size');
      if (!sizeText) throw new UsageError('USAGE', 'create needs --size');
      const size = parseSize(sizeText, '--size', { bytes: MAX_NEW_SIZE, reason: tooLarge() });
      const type = oneOf(a.values.get('type'), ['dynamic', 'fixed'] as const, 'type', 'dynamic');
      const bs = a.values.get('block-size');
      // The same validator as import's (core/ops/create.ts), so both refuse the same.
      validateNewDisk({ size, type, blockSize: bs ? parseSize(bs, '--block-size') : undefined });
      if (type === 'fixed') await createFixed(a.positional[0], size);
      else await createDynamic(a.positional[0], size, { blockSize: bs ? parseSize(bs, '--block-size') : undefined });
      const info = await getInfo(a.positional[0]);
      if (a.bools.has('json')) json(io, info);
      else io.stdout(`created ${info.path}: ${info.type}, ${info.virtualSize} bytes\n`);
      return 0;
    },
  },
  snapshot: {
    args: '<disk>',
    about: "Preserves the disk's current content as a read-only snapshot; the disk keeps its path and becomes an empty child of it.",
    values: ['out', 'name', 'description'],
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const req = {
        op: 'snapshot' as const,
        disk: a.positional[0],
        out: a.values.get('out'),
        name: a.values.get('name'),
        description: a.values.get('description'),
      };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`snapshot: ${r.snapshot}\nactive:   ${r.active}\n`);
      return 0;
    },
  },
  write: {
    args: '<file>',
    about: 'Writes the bytes of a data file into the disk at an offset.',
    required: ['offset', 'input'],
    values: ['offset', 'input'],
    bools: ['json'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const off = a.values.get('offset');
      const input = a.values.get('input');
      if (off === undefined || input === undefined) throw new UsageError('USAGE', 'write needs --offset and --input');
      const r = await runOperation({ op: 'write', disk: a.positional[0], input, offset: parseOffset(off, '--offset') }, progressCtx(io));
      if (a.bools.has('json')) json(io, { path: a.positional[0], offset: r.offset, bytes: r.bytes });
      else io.stdout(`wrote ${r.bytes} bytes at offset ${r.offset}\n`);
      return 0;
    },
  },
  import: {
    args: '<raw> <out.vhd>',
    about: 'Makes a VHD from a raw disk image.',
    values: ['type', 'block-size'],
    bools: ['json'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const type = oneOf(a.values.get('type'), ['dynamic', 'fixed'] as const, 'type', 'dynamic');
      const bs = a.values.get('block-size');
      const r = await importRaw(a.positional[0], a.positional[1], { type, blockSize: bs ? parseSize(bs, '--block-size') : undefined, ...progressCtx(io) });
      if (a.bools.has('json')) json(io, { path: a.positional[1], ...r });
      else
        io.stdout(
          `imported ${a.positional[0]} → ${a.positional[1]} (${r.virtualSize} bytes${r.allocatedBlocks !== null ? `, ${r.allocatedBlocks} blocks allocated` : ''})\n`,
        );
      return 0;
    },
  },
  export: {
    args: '<file> <out.raw>',
    about: 'Writes what the disk (with its chain) shows as a raw image.',
    values: ['parent'],
    bools: ['json'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const r = await exportRaw(a.positional[0], a.positional[1], { parentPath: a.values.get('parent'), ...progressCtx(io) });
      warnMoving(io, 'export', r.warnings);
      if (a.bools.has('json')) json(io, { path: a.positional[1], ...r });
      else io.stdout(`exported ${a.positional[0]} → ${a.positional[1]} (${r.bytes} bytes)\n`);
      return 0;
    },
  },
  flatten: {
    args: '<file> <out>',
    about: 'Writes what the disk shows into one standalone file.',
    values: ['format', 'parent'],
    bools: ['json', 'dry-run'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const [file, out] = a.positional;
      const req = {
        op: 'flatten' as const,
        disk: file,
        out,
        format: oneOf(a.values.get('format'), ['dynamic', 'fixed', 'raw'] as const, 'format', 'dynamic'),
        parentPath: a.values.get('parent'),
      };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      warnMoving(io, 'flatten', r.warnings);
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`flattened ${file} → ${r.path} (${r.format}${r.allocatedBlocks !== null ? `, ${r.allocatedBlocks} blocks allocated` : ''})\n`);
      return 0;
    },
  },
  merge: {
    args: '<child>',
    about: 'Folds a child disk into its parent and removes the child file (with --into, level by level up to that ancestor).',
    values: ['into'],
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const req = { op: 'merge' as const, disk: a.positional[0], into: a.values.get('into') };
      // With --into the plan covers every level, and each level is its own journaled merge.
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      for (const step of r.steps) {
        if (!a.bools.has('json'))
          io.stdout(
            `merged ${step.removed.join(', ')} into ${step.merged}${step.relinked.length ? ` (relinked ${step.relinked.length} child disk(s))` : ''}\n`,
          );
      }
      if (a.bools.has('json')) json(io, r.steps.length === 1 ? r.steps[0] : r.steps);
      return 0;
    },
  },
  delete: {
    args: '<snapshot>',
    about: 'Removes a snapshot, folding its content into its children so none of them changes.',
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const req = { op: 'delete' as const, disk: a.positional[0] };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else
        io.stdout(
          `deleted ${r.removed} (${r.strategy === 'fold' ? `folded into ${r.changed.length} child disk(s)` : `merged into the base, kept as ${r.changed[0]}`})\n`,
        );
      return 0;
    },
  },
  reparent: {
    args: '<child> <new-parent>',
    about: 'Points a child at another parent file (after a move or rename).',
    bools: ['json', 'ignore-id-mismatch', 'dry-run'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const req = { op: 'reparent' as const, disk: a.positional[0], parent: a.positional[1], ignoreIdMismatch: a.bools.has('ignore-id-mismatch') };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      for (const w of r.warnings) io.stderr(`WARNING: ${w}\n`);
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`${r.child} now uses ${r.parent} as its parent\n`);
      return 0;
    },
  },
  compact: {
    args: '<file>',
    about: 'Drops blocks that hold nothing (a dynamic disk also drops all-zero blocks) and closes the gaps, so the file shrinks.',
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const req = { op: 'compact' as const, disk: a.positional[0] };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`compacted ${r.path}: ${r.blocksBefore} → ${r.blocksAfter} blocks, ${r.bytesBefore} → ${r.bytesAfter} bytes\n`);
      return 0;
    },
  },
  resize: {
    args: '<file>',
    about: "Changes a disk's virtual size.",
    required: ['size'],
    values: ['size'],
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const sizeText = a.values.get('size');
      if (!sizeText) throw new UsageError('USAGE', 'resize needs --size');
      const req = { op: 'resize' as const, disk: a.positional[0], size: parseSize(sizeText, '--size') };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else io.stdout(r.oldSize === r.newSize ? `${r.path} is already ${r.newSize} bytes\n` : `resized ${r.path}: ${r.oldSize} → ${r.newSize} bytes\n`);
      return 0;
    },
  },
  revert: {
    args: '<disk>',
    about: 'Makes the disk show a snapshot again, discarding (or with --keep, keeping) its current state.',
    values: ['to'],
    bools: ['json', 'dry-run', 'keep'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const req = { op: 'revert' as const, disk: a.positional[0], to: a.values.get('to'), keep: a.bools.has('keep') };
      if (a.bools.has('dry-run')) return printPlan(io, a, await planOperation(req));
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`reverted ${r.active} to ${r.snapshot}\n${r.kept ? `previous state kept as ${r.kept}` : 'previous state discarded'}\n`);
      return 0;
    },
  },
  repair: {
    args: '<file>',
    about:
      'Repairs what the file itself proves: a damaged footer from its intact copy, checksums where every other field agrees; anything else is reported, not guessed.',
    bools: ['json', 'dry-run'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const file = a.positional[0];
      await statInput(file, 'file');
      const req = { op: 'repair' as const, disk: file };
      const lines = (kind: string, xs: RepairItem[]) => xs.map((x) => `  ${kind} ${x.code}: ${x.message}\n`).join('');
      if (a.bools.has('dry-run')) {
        const plan = await planOperation(req);
        if (a.bools.has('json')) json(io, plan);
        else io.stdout(`${renderPlan(plan)}\n${lines('fix    ', plan.fixes)}${lines('remains', plan.remaining)}${lines('note   ', plan.notes)}`);
        return plan.remaining.length > 0 || plan.refusals.length > 0 ? 1 : 0;
      }
      const r = await runOperation(req, progressCtx(io));
      if (a.bools.has('json')) json(io, r);
      else
        io.stdout(
          `${r.path}: ${r.fixed.length ? `repaired ${r.fixed.length} problem(s)` : 'nothing repaired'}${r.remaining.length ? `, ${r.remaining.length} error(s) remain` : ', no errors remain'}\n${lines('fixed  ', r.fixed)}${lines('remains', r.remaining)}${lines('note   ', r.notes)}`,
        );
      return r.remaining.length > 0 ? 1 : 0;
    },
  },
  name: {
    args: '<file> <text>',
    about: "Sets a disk's name (and description); empty text clears it.",
    values: ['description'],
    bools: ['json'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const r = await runOperation({ op: 'name', disk: a.positional[0], name: a.positional[1], description: a.values.get('description') });
      if (a.bools.has('json')) json(io, r);
      else io.stdout(`${r.path}: ${r.name === null ? 'no name' : `named "${r.name}"`}${r.description === null ? '' : `, description "${r.description}"`}\n`);
      return 0;
    },
  },
  serve: {
    args: '[<dir>...]',
    about: 'Serves the app to a local browser.',
    // The app in a browser (server/serve-command.ts). Core does not import server/: '#serve' is
    // resolved by the build to a bundle of its own beside this one (with zod and ws, most of the
    // code), so other commands neither load nor parse it; see serve-module.d.ts.
    values: ['port', 'folder'],
    min: 0,
    max: Infinity,
    run: async (a, io) => (await import('#serve')).runServeCommand(a, io),
  },
  recover: {
    args: '<dir|file>',
    about: 'Finishes or rolls back interrupted operations and removes files left by dead processes.',
    bools: ['json', 'dry-run', 'rollback'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      // Rolling back must not be cut short by Ctrl-C either (see bin.ts).
      if (!a.bools.has('dry-run')) io.jobStarted?.();
      const r = await recoverFolder(a.positional[0], { dryRun: a.bools.has('dry-run'), rollback: a.bools.has('rollback') });
      if (a.bools.has('json')) json(io, r);
      else io.stdout(renderRecover(r));
      // Finished or rolled back is success; a journal left for a person, or owned by a live process, is not.
      return r.recoveries.some((x) => x.action === 'left' || x.action === 'busy') ? 1 : 0;
    },
  },
};

/** `name`: sets a disk's name (and description) in its folder's sidecar; empty text clears it. */
/** Runs one command line; never throws. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    io.stderr(`vhdsnap: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  // Before parsing, so `--help` works whatever else is on the line.
  const flagsPart = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (flagsPart.includes('--help') || flagsPart.includes('-h')) {
    io.stdout(commandHelp(name, cmd) + '\n');
    return 0;
  }
  try {
    const args = parseArgs(rest, { values: cmd.values, bools: cmd.bools });
    if (args.positional.length < cmd.min || args.positional.length > cmd.max) {
      throw new UsageError('USAGE', `${name}: expected ${cmd.min === cmd.max ? cmd.min : `${cmd.min} or more`} argument(s), got ${args.positional.length}`);
    }
    return await cmd.run(args, io);
  } catch (err) {
    return reportError(name, err, io.stderr, flagsPart.includes('--json') ? io.stdout : undefined);
  }
}

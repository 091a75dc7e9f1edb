// vhdsnap: the command-line face of the core.
// Exit codes: 0 success; 1 problems found or refused for safety; 2 usage
// error, unreadable input or an environment failure (core/errors.ts
// EnvironmentError). --json prints exactly one JSON document on stdout.
import { promises as fsp } from 'node:fs';
import { fromSystemError, IN_USE, UsageError, type Finding } from '../errors.js';
import { warnIfMoving } from '../inuse.js';
import type { JobContext } from '../job.js';
import { planOperation, runOperation, type OperationName, type RequestOf } from '../operations.js';
import { operationNamed, operationNames } from '../registry.js';
import { scanLibrary } from '../library/scan.js';
import { checkPaths } from '../ops/check.js';
import { createDynamic, createFixed, createVhdx, MAX_NEW_SIZE, tooLarge, validateNewDisk } from '../ops/create.js';
import { MAX_VIRTUAL_SIZE as MAX_VHDX_SIZE } from '../format/vhdx/items.js';
import { getInfo } from '../ops/info.js';
import { exportRaw, importRaw } from '../ops/transfer.js';
import { isVhdxName } from '../output-format.js';
import { recoverFolder } from '../ops/recover.js';
import { parseArgs, parseOffset, parseSize, type ParsedArgs } from './args.js';
import { printableLines } from '../printable.js';
import { reportError } from './report.js';
import { sizeWithBytes } from '../size.js';
import { renderCheck, renderInfo, renderPlan, renderProgress, renderRecover, renderTree } from './format.js';

const TITLE = 'vhdsnap — snapshot chains for Microsoft VHD disks';
const EXIT_CODES = [
  'Exit codes: 0 success; 1 problems found (check, tree, repair) or refused for safety; 2 usage error, unreadable input,',
  'or the environment refused (missing path, no permission, read-only or full disk: the message says what to do).',
  'A dry run exits with the code the run would. 130: cancelled by Ctrl-C or SIGTERM and rolled back (every disk as before).',
].join('\n');

interface OptionHelp {
  value?: string;
  help: string;
}

/**
 * What the options of the commands that are not operations mean (an
 * operation's own options are explained in its descriptor), for the
 * generated usage and `--help`; a test checks every option is described.
 */
const OPTION_HELP: Record<string, OptionHelp> = {
  json: { help: 'print one JSON document on stdout' },
  'dry-run': { help: 'show the plan and write nothing (exit 1 when it would be refused)' },
  parent: { value: '<path>', help: 'use this file as the parent instead of the one the disk names' },
  deep: { help: 'also read every allocated block of every file in the chain' },
  size: { value: '<n>[K|M|G|T]', help: 'virtual size in bytes, or with a binary unit' },
  type: { value: 'dynamic|fixed', help: 'disk type to create (default dynamic)' },
  'block-size': {
    value: '<n>[K|M]',
    help: "block size of a dynamic VHD (default 2M) or of a VHDX, 1M to 256M (default 32M, Hyper-V's own: few BAT entries, little waste)",
  },
  'sector-size': {
    value: '512|4096',
    help: "logical sector size of a VHDX (default 512, Hyper-V's own: qemu-img and older guests cannot read a 4096-byte-sector VHDX)",
  },
  port: { value: '<n>', help: 'port to listen on (default: any free port)' },
  rollback: {
    help: 'roll interrupted jobs back (every disk as before the job) instead of finishing them; a job past its point of no return is finished',
  },
  folder: { value: '<dir>', help: 'folder to open (further folders go as arguments)' },
};

const optionHelp = (cmd: Command, flag: string): OptionHelp | undefined => cmd.optionHelp?.[flag] ?? OPTION_HELP[flag];
const flagsOf = (cmd: Command): string[] => [...(cmd.values ?? []), ...(cmd.bools ?? [])];

function optionSynopsis(cmd: Command, flag: string): string {
  const value = optionHelp(cmd, flag)?.value;
  return value ? `--${flag} ${value}` : `--${flag}`;
}

/** `vhdsnap <name> <args> [--opt]...`: options the command requires are shown without brackets. */
function synopsis(name: string, cmd: Command): string {
  const flags = flagsOf(cmd).map((f) => ((cmd.required ?? []).includes(f) ? optionSynopsis(cmd, f) : `[${optionSynopsis(cmd, f)}]`));
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
  const flags = flagsOf(cmd);
  const width = Math.max(0, ...flags.map((f) => optionSynopsis(cmd, f).length));
  const lines = flags.map((f) => `  ${optionSynopsis(cmd, f).padEnd(width)}  ${optionHelp(cmd, f)?.help ?? ''}`);
  return [`usage: ${synopsis(name, cmd)}`, '', cmd.about, ...(lines.length > 0 ? ['', 'options:', ...lines] : []), '', EXIT_CODES].join('\n');
}

/** The generated texts, for tests. */
export const help = {
  usage,
  command: (name: string): string | null => (commands[name] ? commandHelp(name, commands[name]) : null),
  /** Every command with each option it accepts and that option's help text ('' where it has none). */
  commands: () => Object.entries(commands).map(([name, c]) => ({ name, options: flagsOf(c).map((flag) => ({ flag, help: optionHelp(c, flag)?.help ?? '' })) })),
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
  /** Help for options of this command's own (OPTION_HELP explains the rest). */
  optionHelp?: Record<string, OptionHelp>;
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

/** An input path that cannot be read is unreadable input (exit 2: NOT_FOUND, NO_PERMISSION...), not a damaged disk (exit 1). */
async function statInput(p: string, want: 'file' | 'any'): Promise<void> {
  const st = await fsp.stat(p).catch((err: unknown) => {
    throw fromSystemError(err, p, 'cannot read');
  });
  if (want === 'file' && !st.isFile()) throw new UsageError('NOT_A_FILE', `${p} is not a regular file`);
}

/** --sector-size: 512 or 4096, and only for a VHDX (a VHD's sectors are 512 bytes). */
function sectorSizeOption(a: ParsedArgs, vhdx: boolean): number | undefined {
  const text = a.values.get('sector-size');
  if (text === undefined) return undefined;
  if (!vhdx)
    throw new UsageError('USAGE', '--sector-size applies to VHDX files only (name the file .vhdx; a VHD has 512-byte sectors)', { field: 'sector-size' });
  if (text !== '512' && text !== '4096') throw new UsageError('BAD_SECTOR_SIZE', `--sector-size must be 512 or 4096, got "${text}"`, { field: 'sector-size' });
  return Number(text);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string, dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError('USAGE', `--${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}

const otherCommands = {
  info: {
    args: '<file>',
    about: "Shows a disk's type, sizes, ids and parent.",
    values: ['parent'],
    bools: ['json'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const [info] = await warnIfMoving(
        getInfo(a.positional[0], { parentPath: a.values.get('parent') }).then((i) => [i]),
        [a.positional[0]],
      );
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
      const reports = await warnIfMoving(checkPaths(a.positional, { deep: a.bools.has('deep'), parentPath: a.values.get('parent') }), a.positional);
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
    about: 'Creates a new empty disk: a VHDX when the name ends in .vhdx or .avhdx, else a VHD.',
    required: ['size'],
    values: ['size', 'type', 'block-size', 'sector-size'],
    bools: ['json'],
    min: 1,
    max: 1,
    run: async (a, io) => {
      const sizeText = a.values.get('size');
      if (!sizeText) throw new UsageError('USAGE', 'create needs --size');
      const vhdx = isVhdxName(a.positional[0]);
      const size = parseSize(
        sizeText,
        '--size',
        vhdx ? { bytes: MAX_VHDX_SIZE, reason: 'over the VHDX maximum of 64 TiB' } : { bytes: MAX_NEW_SIZE, reason: tooLarge() },
      );
      const type = oneOf(a.values.get('type'), ['dynamic', 'fixed'] as const, 'type', 'dynamic');
      const bs = a.values.get('block-size');
      const blockSize = bs ? parseSize(bs, '--block-size') : undefined;
      const logicalSectorSize = sectorSizeOption(a, vhdx);
      if (vhdx) await createVhdx(a.positional[0], { size, type, blockSize, logicalSectorSize });
      else {
        // The same validator as import's (core/ops/create.ts), so both refuse the same.
        validateNewDisk({ size, type, blockSize });
        if (type === 'fixed') await createFixed(a.positional[0], size);
        else await createDynamic(a.positional[0], size, { blockSize });
      }
      const info = await getInfo(a.positional[0]);
      if (a.bools.has('json')) json(io, info);
      else io.stdout(`Created ${info.path}: a ${info.type} disk of ${sizeWithBytes(info.virtualSize)}.\n`);
      return 0;
    },
  },
  import: {
    args: '<raw> <out.vhd|out.vhdx>',
    about: 'Makes a VHD, or a VHDX when the output name ends in .vhdx or .avhdx, from a raw disk image.',
    values: ['type', 'block-size', 'sector-size'],
    bools: ['json'],
    min: 2,
    max: 2,
    run: async (a, io) => {
      const type = oneOf(a.values.get('type'), ['dynamic', 'fixed'] as const, 'type', 'dynamic');
      const bs = a.values.get('block-size');
      const logicalSectorSize = sectorSizeOption(a, isVhdxName(a.positional[1]));
      const r = await importRaw(a.positional[0], a.positional[1], {
        type,
        blockSize: bs ? parseSize(bs, '--block-size') : undefined,
        logicalSectorSize,
        ...progressCtx(io),
      });
      if (a.bools.has('json')) json(io, { path: a.positional[1], ...r });
      else
        io.stdout(
          `Imported ${a.positional[0]} into ${a.positional[1]}: a ${type} disk of ${sizeWithBytes(r.virtualSize)}${r.allocatedBlocks !== null ? `, ${r.allocatedBlocks} block${r.allocatedBlocks === 1 ? '' : 's'} stored` : ''}.\n`,
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
      else io.stdout(`Exported ${a.positional[0]} to ${a.positional[1]}: a raw image of ${sizeWithBytes(r.bytes)}.\n`);
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
} satisfies Record<string, Command>;

/**
 * The command of an operation, all of it from its descriptor (core/operation.ts
 * CliCommand): arguments and options fill the request, which the runner checks
 * against the operation's schema; --dry-run prints the plan the run would follow.
 */
function operationCommand<K extends OperationName>(op: K): Command | null {
  const d = operationNamed(op);
  const face = d.cli;
  if (!face) return null;
  const options = Object.entries(face.options ?? {});
  const writes = d.access === 'writes';
  const flagOf = new Map<string, string>(options.map(([flag, o]) => [o.field, `--${flag}`]));
  return {
    args: face.args,
    about: face.about,
    required: options.filter(([, o]) => o.required).map(([flag]) => flag),
    values: options.filter(([, o]) => o.kind !== 'bool').map(([flag]) => flag),
    bools: ['json', ...(writes ? ['dry-run'] : []), ...options.filter(([, o]) => o.kind === 'bool').map(([flag]) => flag)],
    optionHelp: Object.fromEntries(options.map(([flag, o]) => [flag, { value: o.value, help: o.help }])),
    min: face.positional.length,
    max: face.positional.length,
    run: async (a, io) => {
      const fields: Record<string, unknown> = {};
      face.positional.forEach((field, i) => (fields[field] = a.positional[i]));
      for (const [flag, o] of options) {
        if (o.kind === 'bool') {
          if (a.bools.has(flag)) fields[o.field] = true;
          continue;
        }
        const text = a.values.get(flag);
        if (text === undefined) {
          if (o.required) throw new UsageError('USAGE', `${op} needs --${flag}`);
          continue;
        }
        fields[o.field] =
          o.kind === 'size'
            ? parseSize(text, `--${flag}`)
            : o.kind === 'offset'
              ? parseOffset(text, `--${flag}`)
              : o.kind === 'text'
                ? text
                : oneOf(text, o.kind, flag, text);
      }
      // A disk named on the line that cannot be read is unreadable input (exit 2), whatever the operation.
      for (const field of face.positional) if (d.files[field] === 'disk') await statInput(a.positional[face.positional.indexOf(field)], 'file');
      const parsed = d.request.safeParse(fields);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue.path.join('.');
        throw new UsageError('USAGE', `${op}: ${flagOf.get(field) ?? (field || 'arguments')}: ${issue.message}`, { field });
      }
      const req: RequestOf<K> = { ...parsed.data, op };
      if (a.bools.has('dry-run')) {
        const plan = await planOperation(req);
        if (a.bools.has('json')) json(io, plan);
        else io.stdout(`${renderPlan(plan)}${face.planDetail?.(plan) ?? ''}\n`);
        return plan.refusals.length > 0 ? 1 : (face.planExitCode?.(plan) ?? 0);
      }
      const r = await runOperation(req, progressCtx(io));
      for (const w of face.warnings?.(r) ?? []) io.stderr(`vhdsnap ${op}: warning: ${w}\n`);
      if (a.bools.has('json')) json(io, face.json ? face.json(r) : r);
      else io.stdout(face.print(r, parsed.data) + '\n');
      return face.exitCode?.(r) ?? 0;
    },
  };
}

const operationCommands = Object.fromEntries(
  operationNames.flatMap((op) => {
    const c = operationCommand(op);
    return c ? [[op, c] as const] : [];
  }),
);
// Usage order: reading and making disks, then the operations in the registry's order, then the app and recovery.
const { serve, recover, ...tools } = otherCommands;
const commands: Record<string, Command> = { ...tools, ...operationCommands, serve, recover };

/** Runs one command line; never throws. */
/**
 * What a command prints, made printable line by line (core/printable.ts): a
 * file name with a terminal escape in it shows as \x1b…, never acts. --json
 * output is JSON, whose strings escape control characters themselves; the
 * progress line keeps its own leading carriage return and erase.
 */
function printableIo(io: Io, json: boolean): Io {
  const PROGRESS = '\r\x1b[2K';
  return {
    // Everything else (the signal, jobStarted) as given: only the text changes.
    ...io,
    stdout: json ? io.stdout : (s) => io.stdout(printableLines(s)),
    stderr: (s) => io.stderr(s.startsWith(PROGRESS) ? PROGRESS + printableLines(s.slice(PROGRESS.length)) : printableLines(s)),
  };
}

export async function runCli(argv: string[], rawIo: Io): Promise<number> {
  const [name, ...rest] = argv;
  const io = printableIo(rawIo, rest.includes('--json'));
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

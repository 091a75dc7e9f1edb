// The runtime half of the contract: one zod schema per call for the arguments
// the page sends (over IPC or the WebSocket). Everything from the page is
// untrusted, so every argument is checked here before a handler sees it.
// The calls themselves and their result types come from api.ts (the
// compile-time half, which the page imports).
import { z } from 'zod';
import type { FileKind } from '../core/operation.js';
import { operationNamed, operationNames, type OperationName } from '../core/registry.js';
import { nameOperation } from '../core/ops/name.js';
import { RequestChannels, type ApiMethod, type OperationArgs, type VhdsnapApi } from './api.js';
import type { CallArgs } from './bridge.js';

/** Grant and job ids are random hex minted by main; anything else cannot be one. */
export const IdSchema = z.string().regex(/^[0-9a-f]{16,64}$/, 'not an id issued by this app');

/** True for a plain file name: no separators, no drive, no "." or "..", no NUL. */
export function isPlainName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && name !== '.' && name !== '..' && !/[/\\\0:]/.test(name) && name.trim() === name;
}

export const FileNameSchema = z
  .string()
  .min(1, 'file name is empty')
  .max(255, 'file name is longer than 255 characters')
  .refine(isPlainName, 'must be a plain file name inside the folder (no separators, no "..", no drive)');

export const DiskRefSchema = z.strictObject({ folder: IdSchema, file: FileNameSchema });

/** What the page sends for a request field naming a file (api.ts FileArg). */
const fileArgSchemas: Record<FileKind, z.ZodType> = { disk: DiskRefSchema, output: IdSchema, input: IdSchema };

/** Each file field of an operation's request and what it names, from its descriptor. */
export function fileFieldsOf(op: OperationName): Map<string, FileKind> {
  const out = new Map<string, FileKind>();
  for (const [field, kind] of Object.entries(operationNamed(op).files)) if (kind) out.set(field, kind);
  return out;
}

/** One operation's arguments from the page: its descriptor's request schema, each file field named the page's way, nothing more. */
function argsSchemaOf(op: OperationName) {
  const files = fileFieldsOf(op);
  const shape: Record<string, z.core.SomeType> = { op: z.literal(op) };
  for (const [field, schema] of Object.entries(operationNamed(op).request.shape)) {
    const kind = files.get(field);
    // The descriptor's own optionality carries over ('optional' is how zod marks a field that may be left out).
    shape[field] = kind === undefined ? schema : schema._zod.optin === 'optional' ? fileArgSchemas[kind].optional() : fileArgSchemas[kind];
  }
  return z.strictObject(shape);
}

/**
 * Every operation the registry lists, derived from its descriptor: a new
 * operation needs nothing here. toRequest (handlers.ts) turns the page's file
 * fields into paths. The type is api.ts's OperationArgs, which derives from
 * the same descriptors at compile time; the test of this contract checks that
 * the two agree for every operation.
 */
export const OperationArgsSchema: z.ZodType<OperationArgs> = z.discriminatedUnion(
  'op',
  // A tuple of at least one option, as zod wants; the registry is never empty.
  [argsSchemaOf(operationNames[0]), ...operationNames.slice(1).map(argsSchemaOf)],
) as unknown as z.ZodType<OperationArgs>;

// The fields of core's name operation, which setLabel runs.
const { name, description } = nameOperation.request.shape;
export const LabelSchema = z.strictObject({ name, description });

/** Absolute path text from the recent list or a drop; main checks it further. */
const PathText = z
  .string()
  .min(1, 'path is empty')
  .max(4096, 'path is too long')
  .refine((s) => !s.includes('\0'), 'path contains NUL');

/** A plan's pins (core Plan.pins): a few short text fields, checked against the operation's schema when the job starts. */
const PinsSchema = z.record(z.string().max(64), z.string().max(1024)).refine((r) => Object.keys(r).length <= 8, 'too many pins');

/** Each call's argument tuple; `satisfies` keeps its keys exactly those of api.ts's RequestChannels. */
const argSchemas = {
  appVersion: z.tuple([]),
  openFolder: z.tuple([]),
  recentFolders: z.tuple([]),
  openRecent: z.tuple([PathText]),
  // The preload turns the dropped File into its path (webUtils.getPathForFile).
  dropFolder: z.tuple([PathText]),
  closeFolder: z.tuple([IdSchema]),
  scan: z.tuple([IdSchema]),
  details: z.tuple([DiskRefSchema]),
  // A folder's disks at once (the tree's Cost column); bounded like a large folder.
  costs: z.tuple([z.array(DiskRefSchema).max(10_000)]),
  setLabel: z.tuple([DiskRefSchema, LabelSchema]),
  chooseOutput: z.tuple([FileNameSchema, IdSchema.optional()]),
  chooseInput: z.tuple([FileNameSchema.optional(), IdSchema.optional()]),
  plan: z.tuple([OperationArgsSchema]),
  start: z.tuple([OperationArgsSchema, PinsSchema.optional()]),
  cancel: z.tuple([IdSchema]),
  resume: z.tuple([DiskRefSchema]),
  rollback: z.tuple([DiskRefSchema]),
} as const satisfies { [K in ApiMethod]: z.ZodTuple };

type Spec<K extends ApiMethod> = { channel: (typeof RequestChannels)[K]; args: (typeof argSchemas)[K] };

/** Every request/response channel with its argument tuple, keyed by API method. */
export const contract = Object.fromEntries(
  Object.entries(RequestChannels).map(([method, channel]) => [method, { channel, args: argSchemas[method as ApiMethod] }]),
) as { [K in ApiMethod]: Spec<K> };

export type { ApiMethod };
export type ArgsOf<K extends ApiMethod> = z.output<(typeof argSchemas)[K]>;
export type ResultOf<K extends ApiMethod> = Awaited<ReturnType<VhdsnapApi[K]>>;

// What the page calls (api.ts, through bridge.ts) and what main checks must
// take the same arguments, call for call.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mismatched = { [K in ApiMethod]: Same<CallArgs<K>, ArgsOf<K>> extends true ? never : K }[ApiMethod];
const argumentsAgree: Same<Mismatched, never> = true;
void argumentsAgree;

/** What main does for each channel, after the sender and the arguments were checked. */
export type Handlers = { [K in ApiMethod]: (...args: ArgsOf<K>) => Promise<ResultOf<K>> };

/** "disk.file: must be a plain file name…" lines for people. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const [first, ...rest] = i.path;
      const at = typeof first === 'number' ? [`argument ${first + 1}`, ...rest.map(String)].join(' › ') : 'arguments';
      return `${at}: ${i.message}`;
    })
    .join('; ');
}

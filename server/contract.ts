// The runtime half of the contract: one zod schema per call for the arguments
// the page sends (over IPC or the WebSocket). Everything from the page is
// untrusted, so every argument is checked here before a handler sees it.
// The calls themselves and their result types come from api.ts (the
// compile-time half, which the page imports).
import { z } from 'zod';
import { RequestChannels, type ApiMethod, type OperationArgs, type VhdsnapApi } from './api.js';

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

const NameText = z.string().max(200, 'name is longer than 200 characters');
const DescriptionText = z.string().max(4000, 'description is longer than 4000 characters');

/**
 * One entry per operation. A field holding a DiskRef is resolved to a path by
 * main; `output` (an output grant id) becomes the request's `out`; everything
 * else is copied as is (see toRequest in handlers.ts), so a new core operation
 * needs only its entry here and in OperationArgs.
 */
export const OperationArgsSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('snapshot'), disk: DiskRefSchema, name: NameText.optional(), description: DescriptionText.optional() }),
  z.strictObject({ op: z.literal('revert'), disk: DiskRefSchema, to: DiskRefSchema.optional(), keep: z.boolean() }),
  z.strictObject({ op: z.literal('delete'), disk: DiskRefSchema }),
  z.strictObject({ op: z.literal('merge'), disk: DiskRefSchema }),
  z.strictObject({ op: z.literal('flatten'), disk: DiskRefSchema, output: IdSchema, format: z.enum(['dynamic', 'fixed', 'raw']) }),
  z.strictObject({ op: z.literal('check'), disk: DiskRefSchema, deep: z.boolean() }),
  z.strictObject({ op: z.literal('repair'), disk: DiskRefSchema }),
  z.strictObject({ op: z.literal('reparent'), disk: DiskRefSchema, parent: DiskRefSchema, ignoreIdMismatch: z.boolean() }),
  z.strictObject({ op: z.literal('compact'), disk: DiskRefSchema }),
  z.strictObject({
    op: z.literal('resize'),
    disk: DiskRefSchema,
    size: z
      .number()
      .int('size must be a whole number of bytes')
      .positive('size must be positive')
      .max(2 ** 50),
  }),
]);

// The schema and the shared TypeScript type must describe the same thing.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Same<z.infer<typeof OperationArgsSchema>, OperationArgs> = true;
void schemaMatchesType;

export const LabelSchema = z.strictObject({ name: NameText.optional(), description: DescriptionText.optional() });

/** Absolute path text from the recent list or a drop; main checks it further. */
const PathText = z
  .string()
  .min(1, 'path is empty')
  .max(4096, 'path is too long')
  .refine((s) => !s.includes('\0'), 'path contains NUL');

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
  setLabel: z.tuple([DiskRefSchema, LabelSchema]),
  chooseOutput: z.tuple([FileNameSchema, IdSchema.optional()]),
  plan: z.tuple([OperationArgsSchema]),
  start: z.tuple([OperationArgsSchema]),
  cancel: z.tuple([IdSchema]),
} as const satisfies { [K in ApiMethod]: z.ZodTuple };

type Spec<K extends ApiMethod> = { channel: (typeof RequestChannels)[K]; args: (typeof argSchemas)[K] };

/** Every request/response channel with its argument tuple, keyed by API method. */
export const contract = Object.fromEntries(
  Object.entries(RequestChannels).map(([method, channel]) => [method, { channel, args: argSchemas[method as ApiMethod] }]),
) as { [K in ApiMethod]: Spec<K> };

export type { ApiMethod };
export type ArgsOf<K extends ApiMethod> = z.output<(typeof argSchemas)[K]>;
export type ResultOf<K extends ApiMethod> = Awaited<ReturnType<VhdsnapApi[K]>>;

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

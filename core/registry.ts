// The one list of operations. Everything that needs to know which operations
// exist (the runner, recovery, the app's contract, the CLI) asks here.
import type * as z from 'zod/mini';
import type { Operation } from './operation.js';
import { checkOperation } from './ops/check.js';
import { compactOperation } from './ops/compact.js';
import { deleteOperation } from './ops/delete.js';
import { flattenOperation } from './ops/flatten.js';
import { mergeOperation } from './ops/merge.js';
import { routeActiveMerge } from './ops/merge-active.js';
import { nameOperation } from './ops/name.js';
import { reparentOperation } from './ops/reparent.js';
import { repairOperation } from './ops/repair.js';
import { resizeOperation } from './ops/resize.js';
import { revertOperation } from './ops/revert.js';
import { setActiveOperation } from './ops/set-active.js';
import { snapshotOperation } from './ops/snapshot.js';
import { switchOperation } from './ops/switch.js';
import { writeOperation } from './ops/write.js';

const registry = {
  snapshot: snapshotOperation,
  merge: routeActiveMerge(mergeOperation),
  flatten: flattenOperation,
  delete: deleteOperation,
  reparent: reparentOperation,
  check: checkOperation,
  revert: revertOperation,
  switch: switchOperation,
  'set-active': setActiveOperation,
  repair: repairOperation,
  compact: compactOperation,
  resize: resizeOperation,
  write: writeOperation,
  name: nameOperation,
};

type Registry = typeof registry;
export type OperationName = keyof Registry;

/** One operation's request fields (besides `op`). */
type Fields = { [K in OperationName]: z.infer<Registry[K]['request']> };
export type FieldsOf<K extends OperationName> = Fields[K];
/** Which of an operation's request fields name files, and what each names (core/operation.ts FileKind). */
export type FilesOf<K extends OperationName> = Registry[K]['files'];
/** The request of one operation: its name plus its descriptor's request fields. */
export type RequestOf<K extends OperationName> = { op: K } & Fields[K];
export type OperationRequest = { [K in OperationName]: RequestOf<K> }[OperationName];
type Results = { [K in OperationName]: Awaited<ReturnType<Registry[K]['run']>> };
type Plans = { [K in OperationName]: Awaited<ReturnType<Registry[K]['plan']>> };
export type ResultOf<K extends OperationName> = Results[K];
export type PlanOf<K extends OperationName> = Plans[K];
/**
 * A result with the name of the operation that made it: for K a union, a
 * union that narrows on `op` (how results cross the worker, IPC and the
 * socket to the page, typed all the way).
 */
export type OperationOutcome<K extends OperationName = OperationName> = { [P in K]: { op: P; result: ResultOf<P> } }[K];

/**
 * The registry seen through one mapped type, so that for a generic K the
 * descriptor's request, plan and result types stay tied to K (a lookup in
 * the plain object would widen them to unions). The annotation also checks
 * that each entry's key is its op name.
 */
type Descriptors = { [K in OperationName]: Operation<K, Fields[K], ResultOf<K>, PlanOf<K>> };
const descriptors: Descriptors = registry;

export function operationNamed<K extends OperationName>(op: K): Descriptors[K] {
  return descriptors[op];
}

export function isOperationName(op: string): op is OperationName {
  return Object.hasOwn(descriptors, op);
}

export const operationNames = Object.keys(descriptors) as OperationName[];

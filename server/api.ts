// The contract between the page and main, as types and the channel list only
// (no runtime imports), so the renderer can type `window.vhdsnap` from it and
// build its WebSocket client from the list (bridge.ts).
// The page never names a file-system path itself: folders enter through a
// native dialog (or drag and drop) in main, which grants them an id; disks are
// then named by {folder id, file name inside it}. Runtime validation of every
// argument lives in main (zod schemas in contract.ts).
// From core/shapes.ts, which imports nothing: the renderer's type check reaches it.
import type { DiskInfo, FileReport, Orphan, Plan, Progress, Recovery, TreeNode, Unreadable, WaitingJob } from '../core/shapes.js';
// Core's operation types, as declarations for the page (tsconfig paths: the sources need Node types).
import type { FieldsOf, FilesOf, OperationName, OperationOutcome } from '#core-types';

export type { FileReport, DiskInfo, OperationName, OperationOutcome, Plan, Progress, Recovery };

/** A folder the user granted through a dialog, drop, or the recent list. */
export interface FolderGrant {
  id: string;
  /** For display only; never sent back as a path. */
  path: string;
  name: string;
}

/** A disk inside a granted folder. */
export interface DiskRef {
  folder: string;
  file: string;
}

/** A file outside the folders: where flatten writes (a save dialog), or what write reads (an open dialog). */
export interface FileGrant {
  id: string;
  path: string;
  name: string;
}

export interface DiskNode extends Omit<TreeNode, 'children'> {
  ref: DiskRef;
  /** A leaf: the active disk of its tree or a saved state (see TreeNode.state). */
  isLeaf: boolean;
  children: DiskNode[];
}

export interface FolderView {
  folder: FolderGrant;
  roots: DiskNode[];
  orphans: (Orphan & { ref: DiskRef })[];
  unreadable: (Unreadable & { ref: DiskRef })[];
  /** Interrupted jobs (and other programs' running ones) that hold the folder's operations back; `ref` names the journal, for resume. */
  pending: (WaitingJob & { ref: DiskRef })[];
}

export interface DiskDetails {
  ref: DiskRef;
  info: DiskInfo;
  /** Bytes stored in this file alone (set sectors / allocated blocks). */
  uniqueBytes: number;
  /** One entry per block: 0 unallocated, 1 partly present, 2 fully present (capped; see blocksPerCell). */
  allocationMap: number[];
  blocksPerCell: number;
}

/** How the page names a file field: a disk by its folder and name, any other file by the id of its dialog's grant. */
type FileArg<Kind> = Kind extends 'disk' ? DiskRef : string;

/**
 * An operation's arguments from the page: core's request for it (its
 * descriptor's schema), each file field named the page's way. main checks
 * them with the schema contract.ts derives from the same descriptor.
 */
export type OperationArgsOf<K extends OperationName> = { op: K } & {
  [F in keyof FieldsOf<K>]: F extends keyof FilesOf<K> ? FileArg<FilesOf<K>[F]> : FieldsOf<K>[F];
};
export type OperationArgs = { [K in OperationName]: OperationArgsOf<K> }[OperationName];

/** What a job ended with: an operation's typed result, or what resuming an interrupted job did. */
export type JobOutcome = OperationOutcome | { op: 'recover'; result: Recovery };

export type JobEvent =
  | { jobId: string; kind: 'progress'; progress: Progress }
  /** The operation's typed result, narrowed by `outcome.op`. */
  | { jobId: string; kind: 'done'; outcome: JobOutcome }
  | { jobId: string; kind: 'failed'; error: { code: string; message: string } }
  | { jobId: string; kind: 'cancelled'; message: string };

/** Errors cross IPC and the WebSocket as this shape (words for people, a code for programs). */
export interface ApiError {
  code: string;
  message: string;
}

/** Every answer, over IPC and over the WebSocket alike: errors cross as {code, message} and nothing else. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/**
 * The one list of calls: API method → IPC channel (main answers each with
 * ipcMain.handle). contract.ts gives each its argument schema (a type check
 * keeps the two lists' keys equal), and bridge.ts builds both the preload's
 * `window.vhdsnap` and the WebSocket client from it. Plain data, no zod, so
 * the page can import it.
 */
export const RequestChannels = {
  appVersion: 'app:version',
  openFolder: 'library:open-folder',
  recentFolders: 'library:recent',
  openRecent: 'library:open-recent',
  dropFolder: 'library:drop-folder',
  closeFolder: 'library:close-folder',
  scan: 'library:scan',
  details: 'disk:details',
  costs: 'disk:costs',
  setLabel: 'disk:set-label',
  chooseOutput: 'dialog:choose-output',
  chooseInput: 'dialog:choose-input',
  plan: 'job:plan',
  start: 'job:start',
  cancel: 'job:cancel',
  resume: 'job:resume',
  rollback: 'job:rollback',
} as const;

export type ApiMethod = keyof typeof RequestChannels;

/** Pushed by main (webContents.send, or a socket message): the API's onJobEvent; and, in the desktop app only, what its native menu asks (onMenuCommand). */
export const EventChannels = { jobEvent: 'job:event', menuCommand: 'app:menu-command' } as const;

/** The app's own commands the native menu sends, besides the actions on the selected disk. */
export const AppCommands = ['open-folder', 'rescan', 'view-tree', 'view-graph', 'view-timeline', 'shortcuts'] as const;

/**
 * What a native menu item asks the page to do: an action on the selected
 * disk (as its toolbar button or shortcut would), or an app command.
 */
export type MenuCommand = { kind: 'action'; action: Exclude<OperationName, 'name'> | 'rename' } | { kind: 'app'; command: (typeof AppCommands)[number] };

/** `vhdsnap serve`'s socket, client → server: one call (method is an ApiMethod; the server checks). */
export interface WsRequest {
  id: number;
  method: string;
  args: unknown[];
}

/** Server → client: the answer to call `id` (null: a message that was not a call), or a pushed job event. */
export type WsMessage = { id: number | null; result: Envelope<unknown> } | { event: JobEvent };

/** Every channel by name. */
export const Channels = { ...RequestChannels, ...EventChannels } as const;

/** What the preload exposes to the page as `window.vhdsnap`: one function per operation. */
export interface VhdsnapApi {
  appVersion(): Promise<string>;
  /** Native folder picker; null when cancelled. */
  openFolder(): Promise<FolderGrant | null>;
  recentFolders(): Promise<{ path: string; name: string }[]>;
  openRecent(path: string): Promise<FolderGrant>;
  /** A folder dropped on the window (the preload turns the File into a path for main to grant). */
  dropFolder(item: File): Promise<FolderGrant>;
  closeFolder(folder: string): Promise<void>;
  scan(folder: string): Promise<FolderView>;
  details(disk: DiskRef): Promise<DiskDetails>;
  /** Bytes each disk stores itself (DiskDetails.uniqueBytes), in the order asked; null for a disk that could not be read. */
  costs(disks: DiskRef[]): Promise<(number | null)[]>;
  setLabel(disk: DiskRef, label: { name?: string; description?: string }): Promise<void>;
  /**
   * Native save dialog for flatten's output; null when cancelled. `folder` (a
   * grant id, optional) is where the dialog opens; in `vhdsnap serve` (no
   * dialog) the output is a new file of that name in that folder (default:
   * the first open folder).
   */
  chooseOutput(suggestedName: string, folder?: string): Promise<FileGrant | null>;
  /**
   * Native open dialog for the file write reads; null when cancelled. In
   * `vhdsnap serve` (no dialog) it is `name`, a file in the open folder `folder`.
   */
  chooseInput(name?: string, folder?: string): Promise<FileGrant | null>;
  plan(args: OperationArgs): Promise<Plan>;
  /**
   * Starts a job; refused (ApiError BUSY) while another job holds one of its
   * disks. `pins` are the plan's (Plan.pins), so the job does what that plan
   * showed (the snapshot gets the name the plan gave it).
   */
  start(args: OperationArgs, pins?: Record<string, string>): Promise<{ jobId: string }>;
  cancel(jobId: string): Promise<void>;
  /** Resumes an interrupted job (a journal of FolderView.pending) as a job: finished, or rolled back where it never passed its point of no return. */
  resume(journal: DiskRef): Promise<{ jobId: string }>;
  /** Rolls an interrupted job back (every disk as before it) as a job; one past its point of no return is finished instead, and says so. */
  rollback(journal: DiskRef): Promise<{ jobId: string }>;
  /** Subscribes to job events; returns the unsubscribe function. */
  onJobEvent(listener: (e: JobEvent) => void): () => void;
  /** Subscribes to the native menu's commands (the desktop app only: `vhdsnap serve` has no menu); returns the unsubscribe function. */
  onMenuCommand?(listener: (c: MenuCommand) => void): () => void;
}

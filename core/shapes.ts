// Plain data shapes that cross into the renderer (through electron/api.ts).
// Types only, importing nothing: the renderer's type check (vue-tsc, browser
// lib, no Node types) includes every file the contract reaches, so these must
// not live beside code that needs Node. Their home modules re-export them.

/** Progress of a long operation (core/job.ts). */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  /** Bytes per second since the phase started. */
  rate: number;
  /** Seconds left at the current rate; null until known. */
  eta: number | null;
  /** Past the job's point of no return: it finishes whatever happens, and Cancel no longer applies. */
  finishing?: boolean;
}

/** What an operation will do, computed before it writes anything (core/job.ts). */
export interface Plan {
  operation: string;
  /** One sentence for people. */
  summary: string;
  changes: { path: string; action: 'create' | 'modify' | 'delete' | 'rename'; detail?: string }[];
  bytesToCopy: number;
  /** Most the target volume can grow by. */
  worstCaseGrowth: number;
  /** Free bytes on the target volume (null where unknown). */
  freeSpace: number | null;
  /**
   * Delete and merge: bytes the folder's files shrink by when the run ends
   * (the removed files less the new blocks and locators the disks that stay
   * append; negative when they grow by more). Exact, not a bound: core/ops/frees.ts.
   */
  frees?: number;
  /** Non-empty: the operation will not run, for these reasons. */
  refusals: { code: string; message: string }[];
  /** What a person should know before running it (not a reason to refuse). */
  cautions?: string[];
  /** Destructive plans: one sentence saying what the person keeps and what they lose, by snapshot name. */
  keepLose?: string;
  /**
   * Request fields that hold a later run to what this plan shows (a generated
   * name, with its time), for callers that plan and run apart: the app starts
   * the job with them, so the snapshot created is the one the plan named.
   */
  pins?: Record<string, string>;
  /** How the tree of disks will look after the run, for the app's before/after preview (core/library/effect.ts). */
  effect?: TreeEffect;
}

/**
 * What a plan does to the tree, in the person's terms, by disk path. Places
 * name disks as they are now: `under` a disk (its new child), `beside` a disk
 * (a new child of that disk's parent), `above` a disk (between it and its
 * parent); no place: a standalone disk.
 */
export interface TreeEffect {
  /** Disks that will be gone (their children hang from their parent). A path also in `moved` or `created` continues there; what it held is lost. */
  removed: string[];
  /** Disks that stay but whose content or links change. */
  changed: string[];
  /** New disks, in an order where each place names a disk that exists now. */
  created: { path: string; place?: TreePlace; name?: string }[];
  /** Disks (with their children) that will hang elsewhere. */
  moved: { path: string; place: TreePlace }[];
  /** The tree's active disk afterwards, where the operation decides it. */
  active?: string;
}

export type TreePlace = { under: string } | { beside: string } | { above: string };

/** A finding of `check`: errors and warnings share this shape (core/errors.ts). */
export interface Finding {
  code: string;
  message: string;
  field?: string;
}

/** check's verdict on one file (core/ops/check.ts). */
export interface FileReport {
  path: string;
  ok: boolean;
  type: 'fixed' | 'dynamic' | 'differencing' | null;
  errors: Finding[];
  warnings: Finding[];
}

/** What `vhdsnap info` reports about one file and its chain (core/ops/info.ts). */
export interface DiskInfo {
  path: string;
  type: 'fixed' | 'dynamic' | 'differencing';
  virtualSize: number;
  blockSize: number | null;
  uuid: string;
  timestamp: string;
  creatorApp: string;
  creatorVersion: string;
  creatorHostOs: string;
  fileSize: number;
  allocatedBlocks: number | null;
  totalBlocks: number | null;
  name: string | null;
  description: string | null;
  parent: { uuid: string; name: string; path: string | null; timestamp: string; locators: { platform: string; path: string | null }[] } | null;
  /** Paths from this file down to the base (just this file when the chain is broken). */
  chain: string[];
  chainError: { code: string; message: string } | null;
  warnings: Finding[];
  /** Absent for VHD (older readers of this shape know only VHD). */
  format?: 'vhd' | 'vhdx';
  /** VHDX only: what the format adds. */
  vhdx?: {
    logicalSectorSize: number;
    physicalSectorSize: number;
    /** The virtual disk id (page 83 data); null when missing. */
    diskId: string | null;
    fileWriteGuid: string;
    /** Which header copy is current (1 or 2) and its sequence number. */
    header: { copy: number; sequence: string };
    /** Log entries replayed in memory to read it (0 when it was closed cleanly). */
    logEntriesReplayed: number;
  };
}

/** One disk of a scanned folder (core/library/scan.ts). */
export interface DiskEntry {
  path: string;
  /** Absent for VHD. */
  format?: 'vhd' | 'vhdx';
  uuid: string;
  type: 'fixed' | 'dynamic' | 'differencing';
  virtualSize: number;
  fileSize: number;
  blockSize: number | null;
  allocatedBlocks: number | null;
  timestamp: string;
  creatorApp: string;
  parentUuid: string | null;
  parentName: string | null;
  name: string | null;
  description: string | null;
  /** Found through a child's locator outside the scanned folders. */
  external?: boolean;
}

/**
 * A disk's place in its tree (core/library/active.ts): the one active disk
 * (the path a VM uses), a saved state (any other leaf), or a snapshot (a disk
 * with children).
 */
export type DiskState = 'active' | 'saved' | 'snapshot';

export interface TreeNode extends DiskEntry {
  /** Exactly one disk per tree is the active one. */
  active: boolean;
  state: DiskState;
  children: TreeNode[];
}

export interface Orphan {
  path: string;
  parentUuid: string;
  parentName: string;
  reason: string;
  code: string;
}

export interface Unreadable {
  path: string;
  code: string;
  reason: string;
}

/** What resuming one interrupted job did (core/ops/recover.ts). */
export interface Recovery {
  journal: string;
  op: string;
  /** completed: finished forward; discarded: the unfinished change was rolled back; left: needs a person; busy: another live process owns it; removed: a leftover temp or lock file deleted. */
  action: 'completed' | 'discarded' | 'left' | 'busy' | 'removed';
  detail: string;
  /** Bytes freed (removed files only). */
  bytes?: number;
}

/** A journal holding its folder's other operations back: interrupted work for the person to resume (PENDING_JOB), or another job's (LOCKED). */
export interface WaitingJob {
  journal: string;
  op: string;
  code: 'LOCKED' | 'PENDING_JOB';
  /** "merge (d1.vhd, d0.vhd; started …; at its copy step)" */
  job: string;
  message: string;
  /** The disks the journal names, in its order (a merge: child, then parent). */
  files?: string[];
  /** How far it got, in percent, where the journal says (a merge's copy); else null. */
  progress?: number | null;
  /** A rollback would finish it instead (past its point of no return). */
  pastNoReturn?: boolean;
  /** What Resume (recover) does: finish it, or roll it back where it stopped short of its point of no return (an in-place snapshot). */
  forward?: 'finish' | 'roll back';
}

// Validation of files and chains. Unlike VhdFile.open, which stops at the
// first fatal problem, check collects every finding it can prove, keeping
// errors (the file or chain is damaged) apart from warnings (odd but usable).
// The structure itself is read by core/disk/layout.ts (the same reader
// VhdFile.open uses); check adds the deep block scan and the parent link.
import { diskFormat } from '../disk/sniff.js';
import { checkVhdxChain } from './check-vhdx.js';
import * as nodePath from 'node:path';
import { CancelledError, ChainError, VhdError, type Finding } from '../errors.js';
import { BAT_UNUSED } from '../format/bat.js';
import { bitmapBytes, bitRuns, isFull } from '../format/bitmap.js';
import { isAllZero, SECTOR, uuidToString } from '../format/bytes.js';
import { headCached, openFile, realPath, type RandomAccessFile } from '../io/file.js';
import { fileKeyOrNull } from '../io/identity.js';
import { MAX_CHAIN_DEPTH, openDisk } from '../disk/chain.js';
import { Findings, readLayout } from '../disk/layout.js';
import { resolveParent } from '../disk/parent.js';
import { VhdFile } from '../disk/vhd-file.js';
import { ProgressReporter, throwIfCancelled, type JobContext } from '../job.js';
import * as z from 'zod/mini';
import { warnIfMoving } from '../inuse.js';
import { defineOperation, diskPath } from '../operation.js';
import type { FileReport } from '../shapes.js';

export type { FileReport };

/** A deep check follows progress and cancel (JobContext): it reads every block of every file in the chain. */
export interface CheckOptions extends JobContext {
  /** Also read every block: batmap bits must be true; non-zero bytes under clear bits of dynamic disks are reported (DATA_UNDER_CLEAR_BITS). */
  deep?: boolean;
  /** Explicit parent of the first file (a moved chain). */
  parentPath?: string;
  /** Check ancestors too (default true): `check leaf.vhd` reports the whole chain. */
  chain?: boolean;
}

/** A small file's metadata (footer copy, header, BAT, locators) is read in one read of this size (see headCached). */
const CHECK_READ_AHEAD = 16 * 1024;

/** Deep scan reads clear-bit runs in pieces of at most this size. */
const DEEP_CHUNK = 1024 * 1024;

/** Reads up to `length` bytes at `at`; returns null when the range is not inside the file. */
async function readIn(f: RandomAccessFile, fileSize: number, at: number, length: number): Promise<Buffer | null> {
  if (at < 0 || at + length > fileSize) return null;
  const buf = Buffer.alloc(length);
  const n = await f.read(buf, at);
  return n === length ? buf : null;
}

/** Structural check of one file, without following its parent. */
export async function checkStructure(
  path: string,
  opts: { deep?: boolean } & JobContext = {},
): Promise<{ findings: Findings; type: FileReport['type']; usable: boolean; id: string | null }> {
  const out = new Findings();
  let f: RandomAccessFile;
  try {
    f = headCached(await openFile(path, 'r'), CHECK_READ_AHEAD);
  } catch (err) {
    const e = err as VhdError;
    out.error(e.code ?? 'IO_ERROR', 'file', e.message);
    return { findings: out, type: null, usable: false, id: null };
  }
  try {
    return await inspect(f, out, opts);
  } catch (err) {
    // A cancelled deep check is not a finding about the file.
    if (!(err instanceof VhdError) || err instanceof CancelledError) throw err;
    out.error(err.code, err.field ?? 'file', err.message);
    return { findings: out, type: null, usable: false, id: null };
  } finally {
    await f.close();
  }
}

async function inspect(
  f: RandomAccessFile,
  out: Findings,
  opts: { deep?: boolean } & JobContext,
): Promise<{ findings: Findings; type: FileReport['type']; usable: boolean; id: string | null }> {
  const layout = await readLayout(f, { findings: out });
  const { type, usable, header, bat } = layout;
  if (opts.deep && usable && header && bat) {
    const blockSize = header.blockSize;
    const d = {
      type: type!,
      bat,
      needed: layout.needed,
      blockSize,
      bmBytes: bitmapBytes(blockSize),
      virtualSize: Number(layout.footer!.currentSize),
      batmapMap: layout.batmap?.map ?? null,
      skip: layout.overlapping,
    };
    await deepScan(f, layout.fileSize, layout.footerOffset, d, out, opts);
  }
  return { findings: out, type, usable, id: layout.footer ? uuidToString(layout.footer.uniqueId) : null };
}

async function deepScan(
  f: RandomAccessFile,
  fileSize: number,
  footerOffset: number,
  d: {
    type: string;
    bat: Uint32Array;
    needed: number;
    blockSize: number;
    bmBytes: number;
    virtualSize: number;
    batmapMap: Uint8Array | null;
    skip: Set<number>;
  },
  out: Findings,
  ctx: JobContext,
): Promise<void> {
  const progress = new ProgressReporter(ctx, 'check', d.needed);
  // Bounded: a crafted block size must not size the buffer (runs are read in pieces).
  const data = Buffer.alloc(Math.min(d.blockSize, DEEP_CHUNK));
  // Dynamic sectors whose bit is clear but whose bytes are not zero: one warning per file.
  let hidden = 0;
  let firstBlock = -1;
  for (let b = 0; b < d.needed; b++) {
    // Only reads: stopping anywhere changes nothing.
    throwIfCancelled(ctx);
    progress.update(b);
    const e = d.bat[b];
    if (e === BAT_UNUSED) continue;
    const start = e * SECTOR;
    const spb = Math.min(d.blockSize, d.virtualSize - b * d.blockSize) / SECTOR;
    // Blocks overlapping others or metadata are already errors; crafted BATs aim thousands at the same bytes.
    if (start + d.bmBytes + spb * SECTOR > footerOffset || d.skip.has(b)) continue;
    const bm = await readIn(f, fileSize, start, d.bmBytes);
    if (!bm) continue;
    const full = isFull(bm, d.blockSize / SECTOR);
    if (d.batmapMap) {
      const bit = (d.batmapMap[b >>> 3] & (0x80 >>> (b & 7))) !== 0;
      if (bit && !full)
        out.error('BATMAP_BIT_WRONG', `batmap[${b}]`, `batmap marks block ${b} full but its bitmap has clear bits (blktap would read stale sectors)`);
      else if (!bit && full) out.warning('BATMAP_BIT_STALE', `batmap[${b}]`, `batmap does not mark full block ${b} as full`);
    }
    if (d.type !== 'dynamic' || full) continue;
    let inBlock = 0;
    for (const run of bitRuns(bm, 0, spb)) {
      if (run.set) continue;
      for (let done = 0; done < run.length * SECTOR; done += data.length) {
        const view = data.subarray(0, Math.min(data.length, run.length * SECTOR - done));
        await f.read(view, start + d.bmBytes + run.start * SECTOR + done);
        for (let o = 0; o < view.length; o += SECTOR) if (!isAllZero(view.subarray(o, o + SECTOR))) inBlock++;
      }
    }
    if (inBlock > 0 && firstBlock < 0) firstBlock = b;
    hidden += inBlock;
  }
  progress.update(d.needed);
  if (hidden > 0) {
    out.warning(
      'DATA_UNDER_CLEAR_BITS',
      `bat[${firstBlock}]`,
      `${hidden} sector(s) whose bitmap bit is clear hold non-zero bytes (first in block ${firstBlock}); they read as zeros here and in libvhdi, as the spec says, but QEMU and vhd-lib would show those bytes (\`vhdsnap compact\`, on a disk without children, stores zeros there)`,
    );
  }
}

/** What checking one file found before the chain's own findings (a cycle, its depth) are added. */
interface Checked {
  path: string;
  findings: Findings;
  type: FileReport['type'];
  /** Footer id, for cycles made of copies (the same id in two files). */
  id: string | null;
  /** The parent, resolved and still open: the next step of a walk checks it without parsing it again. */
  parent: VhdFile | null;
}

/**
 * One file's structure (and deep scan) and its link to its parent. `self`
 * is this file already open as a VHD (the parent its child resolved), so a
 * walk parses each file as a VHD once; the caller closes it.
 */
async function checkOne(path: string, opts: CheckOptions, self: VhdFile | null): Promise<Checked> {
  const link = async (child: VhdFile): Promise<VhdFile> => {
    const resolved = await resolveParent(child, { explicit: opts.parentPath, readAhead: CHECK_READ_AHEAD });
    parentWarnings = resolved.warnings;
    return resolved.file;
  };
  let parentWarnings: Finding[] = [];
  // With the file already open as a differencing VHD, its parent is looked up while its structure is checked.
  const early = self?.type === 'differencing' ? settle(link(self)) : null;
  let structure: Awaited<ReturnType<typeof checkStructure>>;
  try {
    structure = await checkStructure(path, opts);
  } catch (err) {
    // Cancelled (or worse): the parent looked up meanwhile is closed, not leaked.
    const r = await early;
    if (r?.ok) await r.value.close();
    throw err;
  }
  const { findings, type, usable, id } = structure;
  let parent: VhdFile | null = null;
  if (type === 'differencing' && usable) {
    let child = self;
    try {
      if (early) parent = unwrap(await early);
      else {
        child = await VhdFile.open(path, { readAhead: CHECK_READ_AHEAD });
        parent = await link(child);
      }
      for (const w of parentWarnings) findings.add('warning', w);
    } catch (err) {
      if (!(err instanceof VhdError)) throw err;
      // Structural failures were already reported by checkStructure.
      if (!findings.errors.some((e) => e.code === err.code)) findings.add('error', { code: err.code, field: err.field, message: err.message });
    } finally {
      if (child !== self) await child?.close();
    }
  } else if (early) {
    // Not usable after all (or changed since): the link is not looked at, as with any unusable file.
    const r = await early;
    if (r.ok) await r.value.close();
  }
  return { path, findings, type, id, parent };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
/** A promise that never rejects, so it may wait unobserved while other work runs. */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}
function unwrap<T>(r: Settled<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

function toReport(c: Checked): FileReport {
  c.findings.finish();
  return { path: c.path, ok: c.findings.errors.length === 0, type: c.type, errors: c.findings.errors, warnings: c.findings.warnings };
}

/** Checks one file and its link to its parent; returns the parent path when found. */
export async function checkFile(path: string, opts: CheckOptions = {}): Promise<{ report: FileReport; parentPath: string | null }> {
  const c = await checkOne(path, opts, null);
  const parentPath = c.parent?.path ?? null;
  try {
    // Cycles only show when following the whole chain (checkPaths follows it once for all its files instead).
    if (c.parent) {
      const disk = await openDisk(path, { parentPath: opts.parentPath }).catch((err: unknown) => {
        if (err instanceof ChainError && err.code === 'CHAIN_CYCLE') c.findings.add('error', { code: err.code, field: err.field, message: err.message });
        else if (!(err instanceof VhdError)) throw err;
        return null;
      });
      await disk?.close();
    }
  } finally {
    await c.parent?.close();
  }
  return { report: toReport(c), parentPath };
}

/** A checked file in the graph of parent links that checkPaths builds as it walks. */
interface Link {
  checked: Checked;
  /** File identity (core/io/identity.ts), as openDisk tells files apart. */
  key: string;
  parent: Link | null;
}

/**
 * The file at which the chain from `start` comes back to a file (or an id)
 * it already went through, as openDisk would find it, or null. Follows the
 * links already resolved: no file is opened again.
 */
function loopsBack(start: Link): Link | null {
  const keys = new Set<string>();
  const ids = new Set<string>();
  let depth = 0;
  for (let l: Link | null = start; l; l = l.parent) {
    if (keys.has(l.key) || (l.checked.id !== null && ids.has(l.checked.id))) return l;
    keys.add(l.key);
    if (l.checked.id !== null) ids.add(l.checked.id);
    // openDisk stops here with CHAIN_TOO_DEEP, not a cycle.
    if (++depth >= MAX_CHAIN_DEPTH) return null;
  }
  return null;
}

/**
 * Checks each path and (unless chain: false) every ancestor, each file once.
 * A chain is walked once: each file is opened and checked once, its parent
 * resolved once, and cycles are found from the links the walk resolved
 * (checking each file of a chain as its own disk read the chain again per
 * file: quadratic in its depth).
 */
export async function checkPaths(paths: string[], opts: CheckOptions = {}): Promise<FileReport[]> {
  // VHDX chains are checked by their own walk (check-vhdx.ts); a chain is one format throughout.
  const vhdx: FileReport[] = [];
  const vhd: string[] = [];
  for (const p of paths) {
    // A .vhd/.avhd name is taken at its word, so a VHD check opens each file no more than before
    // (test/core/check.linear.test.ts counts them); any other name is sniffed.
    const isVhdx = /\.a?vhdx$/i.test(p) || (!/\.a?vhd$/i.test(p) && (await diskFormat(p).catch(() => 'vhd')) === 'vhdx');
    if (isVhdx) vhdx.push(...(await checkVhdxChain(p, opts)));
    else vhd.push(p);
  }
  if (vhd.length < paths.length) return [...vhdx, ...(vhd.length > 0 ? await checkPaths(vhd, opts) : [])];
  if (opts.chain === false) {
    const reports: FileReport[] = [];
    const seen = new Set<string>();
    for (const p of paths) {
      const key = await realKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      reports.push((await checkFile(p, opts)).report);
    }
    return reports;
  }
  const links: Link[] = [];
  const byReal = new Map<string, Link>();
  const walks: { start: number; length: number; whole: boolean }[] = [];
  for (const p of paths) {
    let next: string | null = p;
    let self: VhdFile | null = null;
    let prev: Link | null = null;
    const start = links.length;
    let whole = true;
    try {
      while (next) {
        const real = await realKey(next);
        const known = byReal.get(real);
        if (known) {
          if (prev) prev.parent = known;
          whole = false;
          break;
        }
        const checked = await checkOne(next, { ...opts, parentPath: links.length === start ? opts.parentPath : undefined }, self);
        await self?.close();
        self = checked.parent;
        const link: Link = { checked, key: (await fileKeyOrNull(next)) ?? `path:${nodePath.resolve(next)}`, parent: null };
        if (prev) prev.parent = link;
        links.push(link);
        byReal.set(real, link);
        prev = link;
        next = self?.path ?? null;
      }
    } finally {
      await self?.close();
    }
    walks.push({ start, length: links.length - start, whole });
  }
  const reports = links.map((l) => {
    const back = loopsBack(l);
    const f = l.checked.findings;
    if (back && !f.errors.some((e) => e.code === 'CHAIN_CYCLE')) {
      f.add('error', { code: 'CHAIN_CYCLE', field: 'parentUniqueId', message: `${l.checked.path}: the parent chain loops back to ${back.checked.path}` });
    }
    return toReport(l.checked);
  });
  for (const w of walks) if (w.whole && w.length > 0) depthFinding(reports[w.start], w.length);
  return reports;
}

/**
 * Each file checks fine on its own in a chain too deep to open, so the chain
 * length is reported on the disk named: past MAX_CHAIN_DEPTH nothing reads
 * it; at it, no snapshot can be taken.
 */
function depthFinding(leaf: FileReport, depth: number): void {
  if (depth > MAX_CHAIN_DEPTH) {
    leaf.errors.push({
      code: 'CHAIN_TOO_DEEP',
      message: `the chain has ${depth} files, more than the ${MAX_CHAIN_DEPTH} a disk may be read through; merge or flatten part of it`,
    });
    leaf.ok = false;
  } else if (depth === MAX_CHAIN_DEPTH) {
    leaf.warnings.push({
      code: 'CHAIN_AT_DEPTH_LIMIT',
      message: `the chain has ${depth} files, the most allowed: no snapshot can be taken on top of it; merge or flatten part of it first`,
    });
  }
}

async function realKey(p: string): Promise<string> {
  return realPath(p).catch(() => nodePath.resolve(p));
}

export const checkOperation = defineOperation({
  op: 'check',
  request: z.object({ disk: diskPath, deep: z.optional(z.boolean()) }),
  files: { disk: 'disk' },
  access: 'reads',
  // Named for the app's one-job-per-disk rule; a read takes no locks.
  touched: (r) => [r.disk],
  plan: async (r) => ({
    operation: 'check',
    summary: `check ${nodePath.basename(r.disk)} and its chain`,
    changes: [],
    bytesToCopy: 0,
    worstCaseGrowth: 0,
    freeSpace: null,
    refusals: [],
  }),
  // A disk another program has open is checked anyway, with a warning that it may be changing.
  run: async (r, ctx) => warnIfMoving(checkPaths([r.disk], { deep: r.deep, signal: ctx.signal, onProgress: ctx.onProgress }), [r.disk]),
});

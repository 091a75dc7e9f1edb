// Pointing a differencing disk at a (new) parent: parent id, timestamp,
// name and fresh W2ru/W2ku/MacX locators. Used by reparent, merge (relinking
// the merged child's children) and delete (which may also unlink a child
// that holds all it shows, making it a dynamic disk). Also the one place that keeps
// children's parent timestamps true after their parent was written
// (stampChildren).
//
// Crash safety: the new locator payloads go to fresh space at the end of the
// file (footer moved first) and are fsync'd before the single header write,
// so the old header stays valid until the new one lands. The new header bytes
// are returned first so a journal can hold them: recovery rewrites them raw,
// even over a torn header.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { RefusedError } from '../errors.js';
import { alignUp, dateToVhdTime, SECTOR, uuidEqual, uuidToString } from '../format/bytes.js';
import { decodeFooter, DiskType, encodeFooter, FOOTER_COOKIE, FOOTER_SIZE } from '../format/footer.js';
import { encodeHeader, HEADER_CHECKSUM_OFFSET, HEADER_SIZE, headerChecksumMatches, withHeaderChecksum } from '../format/header.js';
import { emptyLocator, LOCATOR_COUNT } from '../format/locator.js';
import { closeAll, openAll, openFile, readExact, withOwnerWrite, type RandomAccessFile } from '../io/file.js';
import { isSameFile } from '../io/identity.js';
import { diskFormat } from '../disk/sniff.js';
import { VhdFile } from '../disk/vhd-file.js';
import { recordChild } from '../library/sidecar.js';
import { findChildren } from '../library/scan.js';
import { findInUse } from '../inuse.js';
import { parentLocatorPayloads } from './create.js';

export interface PreparedRelink {
  child: string;
  /** Where the header goes (the footer's data offset). */
  headerOffset: number;
  /** The complete new header, checksum included. */
  header: Uint8Array;
}

export interface RelinkOptions {
  ignoreIdMismatch?: boolean;
  /** The parent's id as planned: refuse if the file at parentPath has another. */
  expectedParentUuid?: string;
  /** Ids the child may point at now (as planned): refuse to touch a child pointing elsewhere. */
  expectedCurrentParents?: string[];
}

/**
 * Writes the new locator payloads and returns the header that completes the
 * link. Nothing the child reads changes until `applyRelink`.
 */
export async function prepareRelink(childPath: string, parentPath: string, opts: RelinkOptions = {}): Promise<PreparedRelink & { warnings: string[] }> {
  return withOwnerWrite(childPath, () => prepareRelinkWritable(childPath, parentPath, opts));
}

async function prepareRelinkWritable(childPath: string, parentPath: string, opts: RelinkOptions): Promise<PreparedRelink & { warnings: string[] }> {
  const [parent, child] = await openAll([VhdFile.open(parentPath), VhdFile.open(childPath, { writable: true })]);
  try {
    if (child.type !== 'differencing') throw new RefusedError('NOT_DIFFERENCING', `${childPath} is not a differencing disk; only those have a parent`);
    if (await isSameFile(childPath, parentPath))
      throw new RefusedError('SELF_PARENT', `${childPath} cannot be its own parent (${parentPath} is the same file)`);
    // The file at childPath may have been replaced since the plan: it must still point where the plan saw it point.
    if (opts.expectedCurrentParents && !opts.expectedCurrentParents.includes(uuidToString(child.header!.parentUniqueId))) {
      throw new RefusedError(
        'CHILD_CHANGED',
        `${childPath} no longer points at ${opts.expectedCurrentParents.join(' or ')} (its parent id is ${uuidToString(child.header!.parentUniqueId)}); refusing to relink it`,
        { path: childPath },
      );
    }
    if (opts.expectedParentUuid && parent.uuid !== opts.expectedParentUuid) {
      throw new RefusedError('PARENT_CHANGED', `${parentPath} has id ${parent.uuid}, not the planned ${opts.expectedParentUuid}; refusing to link to it`);
    }
    if (parent.virtualSize !== child.virtualSize) {
      throw new RefusedError(
        'PARENT_SIZE_MISMATCH',
        `${parentPath} has virtual size ${parent.virtualSize} but ${childPath} has ${child.virtualSize} (Windows 0xC03A0017)`,
        { path: childPath },
      );
    }
    const header = child.header!;
    const warnings: string[] = [];
    if (!uuidEqual(header.parentUniqueId, parent.footer.uniqueId)) {
      if (!opts.ignoreIdMismatch && !opts.expectedParentUuid) {
        throw new RefusedError(
          'PARENT_ID_MISMATCH',
          `${parentPath} has id ${parent.uuid} but ${nodePath.basename(childPath)} expects ${uuidToString(header.parentUniqueId)} (Windows 0xC03A000E); it is not this disk's parent. --ignore-id-mismatch overrides this at the risk of corrupt data.`,
          { path: childPath, field: 'parentUniqueId' },
        );
      }
      if (opts.ignoreIdMismatch) {
        warnings.push(
          `id mismatch ignored: ${nodePath.basename(childPath)} expected parent ${uuidToString(header.parentUniqueId)}, linking it to ${parent.uuid}. If that disk is not the one it was made from, its content is corrupt.`,
        );
      }
    }
    // A child linked to a parent in another folder is recorded beside the parent before any byte of the child changes.
    await recordChild(parentPath, parent.uuid, childPath, child.uuid);
    const payloads = parentLocatorPayloads(childPath, parentPath);
    const total = payloads.reduce((n, p) => n + alignUp(Math.max(p.data.length, 1), SECTOR), 0);
    let at = await child.appendRegion(total);
    const locators = Array.from({ length: LOCATOR_COUNT }, emptyLocator);
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i];
      const space = alignUp(Math.max(p.data.length, 1), SECTOR);
      await child.file.write(p.data, at);
      locators[i] = { code: p.code, dataSpace: space, dataLength: p.data.length, reserved: 0, dataOffset: BigInt(at) };
      at += space;
    }
    await child.file.sync();
    const st = await fsp.stat(parentPath);
    const next = {
      ...header,
      parentUniqueId: parent.footer.uniqueId.slice(),
      parentTimestamp: dateToVhdTime(st.mtime),
      parentName: nodePath.basename(parentPath),
      locators,
    };
    return { child: nodePath.resolve(childPath), headerOffset: Number(child.footer.dataOffset), header: encodeHeader(next), warnings };
  } finally {
    await closeAll([child, parent]);
  }
}

/**
 * Checked right before the raw header write (recovery may run long after the
 * plan): the file must still be a differencing disk with its header where the
 * new one goes and, unless that header is torn, the same table layout. A
 * file put at the path since then is refused, not overwritten.
 */
async function assertRelinkTarget(f: RandomAccessFile, r: PreparedRelink): Promise<void> {
  const size = await f.size();
  const footerAt = size % SECTOR === 511 ? size - 511 : size - FOOTER_SIZE;
  const footer = footerAt >= 0 ? decodeFooter(await readExact(f, footerAt, size - footerAt, 'footer')) : null;
  let ok = footer !== null && footer.cookie === FOOTER_COOKIE && footer.diskType === DiskType.Differencing && footer.dataOffset === BigInt(r.headerOffset);
  if (ok && r.headerOffset + HEADER_SIZE <= size) {
    const cur = await readExact(f, r.headerOffset, HEADER_SIZE, 'dynamic header');
    const intact = headerChecksumMatches(cur);
    // Cookie, table offset, version, entries and block size (every byte before the checksum) must match.
    if (intact) ok = Buffer.compare(cur.subarray(0, HEADER_CHECKSUM_OFFSET), Buffer.from(r.header.subarray(0, HEADER_CHECKSUM_OFFSET))) === 0;
  }
  if (!ok)
    throw new RefusedError('CHILD_CHANGED', `${r.child} is no longer the differencing disk this link was prepared for; refusing to write its header`, {
      path: r.child,
    });
}

/** The one write that switches the link; idempotent, so recovery may repeat it. */
export async function applyRelink(r: PreparedRelink): Promise<void> {
  await withOwnerWrite(r.child, async () => {
    const f = await openFile(r.child, 'r+');
    try {
      await assertRelinkTarget(f, r);
      await f.write(r.header, r.headerOffset);
      await f.sync();
    } finally {
      await f.close();
    }
  });
}

/** A child made standalone: its new header and footer, as a dynamic disk without a parent. */
export interface PreparedUnlink extends PreparedRelink {
  /** The complete new footer (disk type dynamic), checksum included. */
  footer: Uint8Array;
}

/**
 * The bytes that make a differencing disk a dynamic one; nothing is written.
 * Only for a child that stores every sector it shows (its clear bits read as
 * zeros from the parent): otherwise its content would change.
 */
export async function prepareUnlink(childPath: string, expectedParentUuid: string): Promise<PreparedUnlink> {
  const child = await VhdFile.open(childPath);
  try {
    if (child.type !== 'differencing') throw new RefusedError('NOT_DIFFERENCING', `${childPath} is not a differencing disk; it has no parent to drop`);
    if (uuidToString(child.header!.parentUniqueId) !== expectedParentUuid)
      throw new RefusedError('CHILD_CHANGED', `${childPath} no longer points at ${expectedParentUuid}; refusing to unlink it`, { path: childPath });
    const header = {
      ...child.header!,
      parentUniqueId: new Uint8Array(16),
      parentTimestamp: 0,
      parentName: '',
      locators: Array.from({ length: LOCATOR_COUNT }, emptyLocator),
    };
    return {
      child: nodePath.resolve(childPath),
      headerOffset: Number(child.footer.dataOffset),
      header: encodeHeader(header),
      footer: encodeFooter({ ...child.footer, diskType: DiskType.Dynamic }),
    };
  } finally {
    await child.close();
  }
}

/**
 * Writes a prepared unlink: the trailing footer first (from then on readers
 * take the file as dynamic; the content is the same either way), then its
 * copy at offset 0 and the header. Idempotent, so recovery may repeat it.
 */
export async function applyUnlink(r: PreparedUnlink): Promise<void> {
  await withOwnerWrite(r.child, async () => {
    const f = await openFile(r.child, 'r+');
    try {
      const size = await f.size();
      const footerAt = size % SECTOR === 511 ? size - 511 : size - FOOTER_SIZE;
      const cur = footerAt >= 0 ? await readExact(f, footerAt, size - footerAt, 'footer') : null;
      // Written by an earlier, interrupted run: the footer is already ours, byte for byte (its id included).
      const begun = cur !== null && Buffer.compare(Buffer.from(cur), Buffer.from(r.footer)) === 0;
      if (!begun) await assertRelinkTarget(f, r);
      await f.write(r.footer, footerAt);
      await f.sync();
      await f.write(r.footer, 0);
      await f.write(r.header, r.headerOffset);
      await f.sync();
    } finally {
      await f.close();
    }
  });
}

/** Where the header keeps the parent's modification time (seconds since 2000). */
const PARENT_TIMESTAMP_OFFSET = 56;

/**
 * Sets the parent timestamp of every child of `parentPath` to the parent's
 * modification time now, so `check` finds no PARENT_TIMESTAMP_MISMATCH
 * (Windows 0xC03A000F) after vhdsnap itself wrote into the parent. Run once
 * the parent's last write is done: by the runner for every file a plan
 * changed, and by the journaled steps recovery also finishes (merge, delete).
 * Returns the children stamped.
 */
export async function stampChildren(parentPath: string): Promise<string[]> {
  const st = await fsp.stat(parentPath).catch(() => null);
  if (!st?.isFile()) return [];
  const stamp = dateToVhdTime(st.mtime);
  const stale: string[] = [];
  for (const c of await findChildren(parentPath)) if (await staleStamp(c, stamp)) stale.push(c);
  // A disk another program has open is never written: its stamp stays stale (a warning in check).
  const busy = new Set((stale.length > 0 ? await findInUse(stale) : []).map((u) => nodePath.resolve(u.path)));
  const stamped: string[] = [];
  for (const c of stale) if (!busy.has(nodePath.resolve(c)) && (await stampChild(c, stamp))) stamped.push(c);
  return stamped;
}

/** True when `child` is a differencing VHD whose parent timestamp is not `stamp` (a VHDX links by id alone: never). */
async function staleStamp(child: string, stamp: number): Promise<boolean> {
  if ((await diskFormat(child)) === 'vhdx') return false;
  const f = await VhdFile.open(child);
  try {
    return f.type === 'differencing' && f.header !== null && f.header.parentTimestamp !== stamp;
  } finally {
    await f.close();
  }
}

/**
 * Only the timestamp and the checksum change, both in the header's first
 * sector: one sector write, which lands whole or not at all (no journal
 * needed). The child's own mtime is put back: nothing it shows changed, and
 * the timestamps its own children hold of it stay true.
 */
async function stampChild(child: string, stamp: number): Promise<boolean> {
  const f = await VhdFile.open(child);
  let at: number;
  try {
    if (f.type !== 'differencing' || f.header === null || f.header.parentTimestamp === stamp) return false;
    at = Number(f.footer.dataOffset);
  } finally {
    await f.close();
  }
  const before = await fsp.stat(child);
  await withOwnerWrite(child, async () => {
    const fh = await openFile(child, 'r+');
    try {
      const raw = new Uint8Array(await readExact(fh, at, HEADER_SIZE, 'dynamic header'));
      // A header damaged since the open is left for repair, never given a fresh checksum.
      if (!headerChecksumMatches(raw)) return;
      new DataView(raw.buffer, raw.byteOffset).setUint32(PARENT_TIMESTAMP_OFFSET, stamp);
      await fh.write(withHeaderChecksum(raw).subarray(0, SECTOR), at);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
  await fsp.utimes(child, before.atime, before.mtime);
  return true;
}

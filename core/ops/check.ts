// Validation of files and chains. Unlike VhdFile.open, which stops at the
// first fatal problem, check collects every finding it can prove, keeping
// errors (the file or chain is damaged) apart from warnings (odd but usable).
//
// Layout overlaps are found by sorting every extent (metadata and blocks)
// once and sweeping: O(n log n), seconds even for multi-terabyte tables.
import * as nodePath from 'node:path';
import { ChainError, VhdError, type Finding } from '../errors.js';
import { batBytes, BAT_UNUSED, decodeBat } from '../format/bat.js';
import { BATMAP_COOKIE, BATMAP_VERSION, batmapChecksum, creatorHasBatmap, decodeBatmapHeader, validateBatmapHeader } from '../format/batmap.js';
import { bitmapBytes, bitRuns, isFull } from '../format/bitmap.js';
import { checksum, isAllZero, SECTOR } from '../format/bytes.js';
import { decodeFooter, DiskType, encodeFooter, FOOTER_SIZE, validateFooter, type Footer } from '../format/footer.js';
import { decodeHeader, HEADER_SIZE, validateHeader, type DynamicHeader } from '../format/header.js';
import { decodeLocatorPayload, isEmptyLocator, locatorSpaceBytes, validateLocator } from '../format/locator.js';
import { openFile, realPath, type RandomAccessFile } from '../io/file.js';
import { openDisk } from '../disk/chain.js';
import { resolveParent } from '../disk/parent.js';
import { MAX_BAT_BYTES, VhdFile } from '../disk/vhd-file.js';
import type { FileReport } from '../shapes.js';

export type { FileReport };

export interface CheckOptions {
  /** Also read every block: batmap bits must be true; non-zero bytes under clear bits of dynamic disks are reported (DATA_UNDER_CLEAR_BITS). */
  deep?: boolean;
  /** Explicit parent of the first file (a moved chain). */
  parentPath?: string;
  /** Check ancestors too (default true): `check leaf.vhd` reports the whole chain. */
  chain?: boolean;
}

/** Deep scan reads clear-bit runs in pieces of at most this size. */
const DEEP_CHUNK = 1024 * 1024;
/** At most this many findings of one code are listed; the rest are counted. */
const MAX_PER_CODE = 10;

class Findings {
  readonly errors: Finding[] = [];
  readonly warnings: Finding[] = [];
  private readonly counts = new Map<string, number>();

  add(severity: 'error' | 'warning', f: Finding): void {
    const key = `${severity}:${f.code}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n <= MAX_PER_CODE) (severity === 'error' ? this.errors : this.warnings).push(f);
  }
  error(code: string, field: string, message: string): void {
    this.add('error', { code, field, message });
  }
  warning(code: string, field: string, message: string): void {
    this.add('warning', { code, field, message });
  }
  /** Appends "... and N more" notes for capped codes. */
  finish(): void {
    for (const [key, n] of this.counts) {
      if (n <= MAX_PER_CODE) continue;
      const [severity, code] = key.split(':');
      (severity === 'error' ? this.errors : this.warnings).push({ code, message: `… and ${n - MAX_PER_CODE} more ${code} findings` });
    }
  }
}

interface Extent {
  start: number;
  end: number;
  what: string;
  block?: number;
}

/** Reads up to `length` bytes at `at`; returns null when the range is not inside the file. */
async function readIn(f: RandomAccessFile, fileSize: number, at: number, length: number): Promise<Buffer | null> {
  if (at < 0 || at + length > fileSize) return null;
  const buf = Buffer.alloc(length);
  const n = await f.read(buf, at);
  return n === length ? buf : null;
}

/** Footer findings that opening tolerates (so reading still works) but that only damage explains: check reports them as errors. */
const FOOTER_DAMAGE = new Set(['FOOTER_FEATURES_RESERVED']);

function footerChecksumOf(f: Footer): number {
  return checksum(encodeFooter(f, true), 64);
}

/** Structural check of one file, without following its parent. */
export async function checkStructure(path: string, opts: { deep?: boolean } = {}): Promise<{ findings: Findings; type: FileReport['type']; usable: boolean }> {
  const out = new Findings();
  let f: RandomAccessFile;
  try {
    f = await openFile(path, 'r');
  } catch (err) {
    const e = err as VhdError;
    out.error(e.code ?? 'IO_ERROR', 'file', e.message);
    return { findings: out, type: null, usable: false };
  }
  try {
    return await inspect(f, out, opts);
  } catch (err) {
    if (!(err instanceof VhdError)) throw err;
    out.error(err.code, err.field ?? 'file', err.message);
    return { findings: out, type: null, usable: false };
  } finally {
    await f.close();
  }
}

async function inspect(f: RandomAccessFile, out: Findings, opts: { deep?: boolean }): Promise<{ findings: Findings; type: FileReport['type']; usable: boolean }> {
  const fileSize = await f.size();
  const none = { findings: out, type: null, usable: false } as const;
  if (fileSize < 511) {
    out.error('FILE_TOO_SMALL', 'footer', `file is ${fileSize} bytes, too small to hold a VHD footer`);
    return none;
  }
  const legacy = fileSize % SECTOR === 511;
  const footerOffset = legacy ? fileSize - 511 : fileSize - FOOTER_SIZE;
  if (legacy) out.warning('FOOTER_LEGACY_511', 'footer', 'trailing footer is the old 511-byte form');
  else if (fileSize % SECTOR !== 0) out.warning('FILE_SIZE_UNALIGNED', 'footer', `file size ${fileSize} is not a multiple of 512`);

  const trailingRaw = (await readIn(f, fileSize, footerOffset, legacy ? 511 : FOOTER_SIZE))!;
  const trailing = decodeFooter(trailingRaw);
  const tcheck = validateFooter(trailing, footerChecksumOf(trailing));
  const copyRaw = fileSize >= 1024 ? await readIn(f, fileSize, 0, FOOTER_SIZE) : null;
  const copy = copyRaw ? decodeFooter(copyRaw) : null;
  const ccheck = copy ? validateFooter(copy, footerChecksumOf(copy)) : null;
  const copyUsable = copy !== null && ccheck!.errors.length === 0 && copy.diskType !== DiskType.Fixed;

  let footer: Footer;
  if (tcheck.errors.length === 0) {
    footer = trailing;
    for (const w of tcheck.warnings) out.add(FOOTER_DAMAGE.has(w.code) ? 'error' : 'warning', w);
  } else {
    const hint = copyUsable ? ' (the footer copy at offset 0 is intact: `vhdsnap repair` can restore it)' : '';
    for (const e of tcheck.errors) out.add('error', { ...e, message: `trailing footer: ${e.message}${hint}` });
    if (!copyUsable) return none;
    footer = copy!;
  }
  const type = footer.diskType === DiskType.Fixed ? 'fixed' : footer.diskType === DiskType.Dynamic ? 'dynamic' : 'differencing';
  const virtualSize = Number(footer.currentSize);

  if (type === 'fixed') {
    // A fixed file is exactly its data and a footer: any other size means a damaged size field or file.
    const expected = virtualSize + (legacy ? 511 : FOOTER_SIZE);
    if (footerOffset < virtualSize) out.error('FIXED_TRUNCATED', 'currentSize', `fixed disk claims ${virtualSize} data bytes but the file holds ${footerOffset}`);
    else if (fileSize !== expected) {
      out.error(
        'FIXED_SIZE_MISMATCH',
        'currentSize',
        `fixed disk file is ${fileSize} bytes but its current size ${virtualSize} needs ${expected} (data + ${legacy ? 511 : FOOTER_SIZE}-byte footer); ${footerOffset - virtualSize} bytes lie between the data and the footer. The size field or the file was damaged and nothing shows which: compare with a copy before trusting its end`,
      );
    }
    return { findings: out, type, usable: footerOffset >= virtualSize };
  }

  // The copy at 0 must be byte-identical to the trailing footer.
  if (tcheck.errors.length === 0) {
    if (!copy || ccheck!.errors.length > 0) {
      const why = ccheck?.errors.map((e) => e.code).join(', ') ?? 'missing';
      out.error('FOOTER_COPY_INVALID', 'footerCopy', `footer copy at offset 0 is damaged (${why}); the trailing footer is intact: \`vhdsnap repair\` can restore it`);
    } else if (!Buffer.from(copyRaw!).equals(Buffer.from(encodeFooter(trailing, true)))) {
      out.error('FOOTER_COPY_MISMATCH', 'footerCopy', 'footer copy at offset 0 differs from the trailing footer');
    }
  }

  // Dynamic header.
  const headerAt = footer.dataOffset;
  if (headerAt + BigInt(HEADER_SIZE) > BigInt(fileSize)) {
    out.error('HEADER_OUT_OF_FILE', 'dataOffset', `dynamic header offset ${headerAt} is past the end of the file`);
    return { findings: out, type, usable: false };
  }
  const headerRaw = (await readIn(f, fileSize, Number(headerAt), HEADER_SIZE))!;
  const header = decodeHeader(headerRaw);
  const hcheck = validateHeader(header, checksum(headerRaw, 36), { currentSize: virtualSize, fileSize, differencing: type === 'differencing' });
  for (const e of hcheck.errors) out.add('error', e);
  for (const w of hcheck.warnings) out.add('warning', w);
  const layoutKnown = !hcheck.errors.some((e) => e.code === 'HEADER_BLOCK_SIZE' || e.code === 'HEADER_TABLE_OFFSET' || e.code === 'HEADER_MAX_TABLE_ENTRIES');
  if (!layoutKnown) return { findings: out, type, usable: false };

  const blockSize = header.blockSize;
  const bmBytes = bitmapBytes(blockSize);
  const needed = Math.ceil(virtualSize / blockSize);
  const tableOffset = Number(header.tableOffset);
  const tableEntries = header.maxTableEntries;
  if (tableEntries * 4 > MAX_BAT_BYTES) {
    out.error('HEADER_MAX_TABLE_ENTRIES', 'maxTableEntries', `${tableEntries} BAT entries exceed the supported table size`);
    return { findings: out, type, usable: false };
  }
  const bat = decodeBat((await readIn(f, fileSize, tableOffset, tableEntries * 4))!, tableEntries);

  const extents: Extent[] = [
    { start: 0, end: SECTOR, what: 'footer copy' },
    { start: Number(headerAt), end: Number(headerAt) + HEADER_SIZE, what: 'dynamic header' },
    { start: tableOffset, end: tableOffset + batBytes(tableEntries), what: 'BAT' },
  ];

  // Locators: payload inside the file, payload readable, and their extents.
  if (type === 'differencing') await inspectLocators(f, fileSize, header, out, extents);

  // blktap batmap.
  let batmapMap: Buffer | null = null;
  if (creatorHasBatmap(footer.creatorApp, footer.creatorVersion)) {
    const hAt = tableOffset + batBytes(tableEntries);
    const hRaw = await readIn(f, fileSize, hAt, SECTOR);
    const bh = hRaw ? decodeBatmapHeader(hRaw) : null;
    if (bh && bh.cookie === BATMAP_COOKIE) {
      extents.push({ start: hAt, end: hAt + SECTOR, what: 'batmap header' });
      const problems = validateBatmapHeader(bh, { entries: needed, fileSize });
      for (const p of problems) out.add('error', p);
      if (bh.version !== BATMAP_VERSION) out.warning('BATMAP_VERSION', 'batmap.version', `batmap version 0x${bh.version.toString(16)} is not 0x00010002`);
      if (problems.length === 0) {
        const at = Number(bh.offset);
        const len = bh.sizeSectors * SECTOR;
        extents.push({ start: at, end: at + len, what: 'batmap' });
        if (len <= MAX_BAT_BYTES) {
          batmapMap = await readIn(f, fileSize, at, len);
          if (batmapMap && batmapChecksum(batmapMap) !== bh.checksum) {
            out.error('BATMAP_CHECKSUM', 'batmap.checksum', `batmap checksum 0x${bh.checksum.toString(16)} does not match its map (0x${batmapChecksum(batmapMap).toString(16)})`);
          }
        }
      }
    }
  }

  // Blocks: inside the data area and not overlapping anything.
  for (let b = 0; b < tableEntries; b++) {
    const e = bat[b];
    if (e === BAT_UNUSED) continue;
    if (b >= needed) {
      out.warning('BAT_EXCESS_ENTRY', `bat[${b}]`, `BAT entry ${b} is allocated but lies beyond the virtual size`);
      continue;
    }
    const start = e * SECTOR;
    const dataLen = Math.min(blockSize, virtualSize - b * blockSize);
    const end = start + bmBytes + dataLen;
    if (end > footerOffset) {
      out.error('BAT_ENTRY_PAST_EOF', `bat[${b}]`, `block ${b} at ${start} (+${bmBytes + dataLen}) runs past the end of the data area (${footerOffset})`);
      continue;
    }
    extents.push({ start, end, what: `block ${b}`, block: b });
  }
  const overlapping = sweepOverlaps(extents, footerOffset, out);

  if (opts.deep) await deepScan(f, fileSize, footerOffset, { type, bat, needed, blockSize, bmBytes, virtualSize, batmapMap, skip: overlapping }, out);
  return { findings: out, type, usable: true };
}

async function inspectLocators(f: RandomAccessFile, fileSize: number, header: DynamicHeader, out: Findings, extents: Extent[]): Promise<void> {
  let count = 0;
  for (let i = 0; i < header.locators.length; i++) {
    const l = header.locators[i];
    if (isEmptyLocator(l)) continue;
    count++;
    const problems = validateLocator(l, i, fileSize);
    for (const p of problems) out.add('error', p);
    if (problems.length > 0) continue;
    const space = locatorSpaceBytes(l)!;
    const at = Number(l.dataOffset);
    extents.push({ start: at, end: at + Math.min(space, Math.max(l.dataLength, 1)), what: `parent locator ${i} (${l.code})` });
    if (l.dataLength === 0 || l.code === 'Mac ') continue;
    const raw = await readIn(f, fileSize, at, Math.min(l.dataLength, 64 * 1024));
    const text = raw ? decodeLocatorPayload(l.code, raw) : null;
    if (text === null) out.warning('LOCATOR_PAYLOAD', `locators[${i}]`, `parent locator ${i} (${l.code}) payload is not a valid path for its code`);
    else if (l.code === 'W2ru' && !text.startsWith('.\\')) out.warning('LOCATOR_W2RU_FORM', `locators[${i}]`, `W2ru locator "${text}" does not start with ".\\"`);
  }
  if (count === 0) out.warning('LOCATOR_NONE', 'locators', 'differencing disk has no parent locators; only the parent name can find its parent');
}

/** Reports overlaps; returns the blocks involved in one (already errors: deep scan skips them). */
function sweepOverlaps(extents: Extent[], footerOffset: number, out: Findings): Set<number> {
  const bad = new Set<number>();
  extents.sort((a, b) => a.start - b.start || a.end - b.end);
  let prev: Extent | null = null;
  for (const x of extents) {
    if (x.block === undefined && x.end > footerOffset) {
      out.error('METADATA_OUT_OF_FILE', x.what, `${x.what} at ${x.start} (+${x.end - x.start}) overlaps the trailing footer or runs past the end of the file`);
    }
    if (prev && x.start < prev.end) {
      const blocks = (prev.block !== undefined ? 1 : 0) + (x.block !== undefined ? 1 : 0);
      const code = blocks === 2 ? 'BAT_BLOCKS_OVERLAP' : blocks === 1 ? 'BAT_ENTRY_IN_METADATA' : 'METADATA_OVERLAP';
      const field = x.block !== undefined ? `bat[${x.block}]` : prev.block !== undefined ? `bat[${prev.block}]` : x.what;
      out.error(code, field, `${x.what} at ${x.start} overlaps ${prev.what} (${prev.start}..${prev.end})`);
      if (x.block !== undefined) bad.add(x.block);
      if (prev.block !== undefined) bad.add(prev.block);
    }
    if (!prev || x.end > prev.end) prev = x;
  }
  return bad;
}

async function deepScan(
  f: RandomAccessFile,
  fileSize: number,
  footerOffset: number,
  d: { type: string; bat: Uint32Array; needed: number; blockSize: number; bmBytes: number; virtualSize: number; batmapMap: Buffer | null; skip: Set<number> },
  out: Findings,
): Promise<void> {
  // Bounded: a crafted block size must not size the buffer (runs are read in pieces).
  const data = Buffer.alloc(Math.min(d.blockSize, DEEP_CHUNK));
  // Dynamic sectors whose bit is clear but whose bytes are not zero: one warning per file.
  let hidden = 0;
  let firstBlock = -1;
  for (let b = 0; b < d.needed; b++) {
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
      if (bit && !full) out.error('BATMAP_BIT_WRONG', `batmap[${b}]`, `batmap marks block ${b} full but its bitmap has clear bits (blktap would read stale sectors)`);
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
  if (hidden > 0) {
    out.warning(
      'DATA_UNDER_CLEAR_BITS',
      `bat[${firstBlock}]`,
      `${hidden} sector(s) whose bitmap bit is clear hold non-zero bytes (first in block ${firstBlock}); they read as zeros here and in libvhdi, as the spec says, but QEMU and vhd-lib would show those bytes (\`vhdsnap compact\`, on a disk without children, stores zeros there)`,
    );
  }
}

/** Checks one file and its link to its parent; returns the parent path when found. */
export async function checkFile(path: string, opts: CheckOptions = {}): Promise<{ report: FileReport; parentPath: string | null }> {
  const { findings, type, usable } = await checkStructure(path, opts);
  let parentPath: string | null = null;
  if (type === 'differencing' && usable) {
    let child: VhdFile | null = null;
    try {
      child = await VhdFile.open(path);
      const parent = await resolveParent(child, { explicit: opts.parentPath });
      parentPath = parent.file.path;
      for (const w of parent.warnings) findings.add('warning', w);
      await parent.file.close();
      // Cycles only show when following the whole chain.
      const disk = await openDisk(path, { parentPath: opts.parentPath }).catch((err: unknown) => {
        if (err instanceof ChainError && err.code === 'CHAIN_CYCLE') findings.add('error', { code: err.code, field: err.field, message: err.message });
        else if (!(err instanceof VhdError)) throw err;
        return null;
      });
      await disk?.close();
    } catch (err) {
      if (!(err instanceof VhdError)) throw err;
      // Structural failures were already reported by checkStructure.
      if (!findings.errors.some((e) => e.code === err.code)) findings.add('error', { code: err.code, field: err.field, message: err.message });
    } finally {
      await child?.close();
    }
  }
  findings.finish();
  const report: FileReport = { path, ok: findings.errors.length === 0, type, errors: findings.errors, warnings: findings.warnings };
  return { report, parentPath };
}

/** Checks each path and (unless chain: false) every ancestor, each file once. */
export async function checkPaths(paths: string[], opts: CheckOptions = {}): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    let next: string | null = p;
    let first = true;
    while (next) {
      const key = await realKey(next);
      if (seen.has(key)) break;
      seen.add(key);
      const { report, parentPath } = await checkFile(next, { ...opts, parentPath: first ? opts.parentPath : undefined });
      reports.push(report);
      next = opts.chain === false ? null : parentPath;
      first = false;
    }
  }
  return reports;
}

async function realKey(p: string): Promise<string> {
  return realPath(p).catch(() => nodePath.resolve(p));
}


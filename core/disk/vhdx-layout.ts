// The one reader of a VHDX file's layout: file identifier, the two headers,
// the region tables (the second copy stands in for a damaged first), the
// metadata table and its known items, and the BAT, decoded once into a
// `VhdxLayout` plus findings (errors: damage; warnings: odd but usable), as
// layout.ts does for VHD. VhdxFile.open throws `fatal`.
//
// Every size a field claims is checked against the file size before it sizes
// a read, and the BAT is capped at MAX_BAT_BYTES, so a crafted file cannot
// make us allocate more than it holds. A file whose header names a log is
// read only through `overlay`: the writes replaying that log produces.
import { UsageError, VhdError, type Finding } from '../errors.js';
import {
  badEntryState,
  BAT_ENTRY_SIZE,
  batGeometry,
  bitmapEntryIndex,
  BitmapState,
  decodeBatEntry,
  isAllocatedPayload,
  isBitmapEntryIndex,
  SECTOR_BITMAP_BLOCK_SIZE,
  type BatGeometry,
} from '../format/vhdx/bat.js';
import { isZeroGuid } from '../format/vhdx/guid.js';
import { HEADER_OFFSETS, HEADER_SIZE, pickCurrentHeader, readHeaderCopy, validateHeader, type HeaderCopy, type VhdxHeader } from '../format/vhdx/header.js';
import { decodeIdentifier, IDENTIFIER_SIZE, validateIdentifier, type FileIdentifier } from '../format/vhdx/identifier.js';
import {
  decodeFileParameters,
  decodePage83,
  decodeSectorSize,
  decodeVirtualDiskSize,
  hasParentFlag,
  KNOWN_ITEMS,
  leaveBlocksAllocatedFlag,
  validateFileParameters,
  validateSectorSize,
  validateVirtualDiskSize,
  type FileParameters,
} from '../format/vhdx/items.js';
import { MiB } from '../format/vhdx/le.js';
import { decodeMetadataTable, findSystemItem, METADATA_TABLE_SIZE, validateMetadataTable, type MetadataTable } from '../format/vhdx/metadata.js';
import { decodeParentLocator, validateParentLocator, type ParentLocator } from '../format/vhdx/parent-locator.js';
import { replayLog } from '../format/vhdx/log-replay.js';
import { decodeRegionTable, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, validateRegionTable, type KnownRegions, type RegionTable } from '../format/vhdx/region.js';
import { type RandomAccessFile } from '../io/file.js';
import { Findings, MAX_BAT_BYTES } from './layout.js';

export { MAX_BAT_BYTES };

/** One write replaying the log produced: `data` (or zeros when null) of `length` bytes at `offset`. */
export interface VhdxOverlayWrite {
  offset: number;
  data: Uint8Array | null;
  length: number;
}

/** The smallest file that holds the header section's structures (identifier, headers, region tables). */
const MIN_FILE_SIZE = REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE;
const HEADER_SECTION = MiB;

/**
 * `f` as it reads once `overlay` is applied (later writes win), without
 * writing anything; the size covers writes past its end.
 */
export function overlaid(f: RandomAccessFile, overlay: readonly VhdxOverlayWrite[]): RandomAccessFile {
  const end = overlay.reduce((n, w) => Math.max(n, w.offset + w.length), 0);
  return {
    path: f.path,
    writable: false,
    opened: f.opened,
    read: async (buf, position) => {
      let n = await f.read(buf, position);
      const last = position + buf.length;
      for (const w of overlay) {
        const from = Math.max(w.offset, position);
        const to = Math.min(w.offset + w.length, last);
        if (from >= to) continue;
        // Bytes between the end of the file and this write read as zero.
        if (to - position > n) {
          buf.fill(0, n, to - position);
          n = to - position;
        }
        if (w.data) buf.set(w.data.subarray(from - w.offset, to - w.offset), from - position);
        else buf.fill(0, from - position, to - position);
      }
      return n;
    },
    // A view for reading: a write through it would bypass what it shows.
    write: () => Promise.reject(new UsageError('READ_ONLY', `${f.path} is read through its replayed log; it is not writable`)),
    size: async () => Math.max(await f.size(), end),
    truncate: () => Promise.reject(new UsageError('READ_ONLY', `${f.path} is read through its replayed log; it is not writable`)),
    sync: () => f.sync(),
    close: () => f.close(),
  };
}

export interface VhdxMetadata {
  table: MetadataTable;
  fileParameters: FileParameters;
  blockSize: number;
  hasParent: boolean;
  leaveBlocksAllocated: boolean;
  virtualSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** The virtual disk id (SCSI page 83 data); null when the item is missing. */
  page83: Uint8Array | null;
  /** Decoded when the file has one (null when missing or undecodable; see findings). */
  parentLocator: ParentLocator | null;
}

export interface VhdxLayout {
  fileSize: number;
  identifier: FileIdentifier | null;
  headers: [HeaderCopy, HeaderCopy] | null;
  /** The current header. */
  header: VhdxHeader | null;
  /** Which copy it is. */
  headerIndex: 1 | 2 | null;
  /** The region table in use: 2 means the first copy is damaged. */
  regionTableIndex: 1 | 2 | null;
  regionTables: [RegionTable, RegionTable] | null;
  regions: KnownRegions | null;
  metadata: VhdxMetadata | null;
  geometry: BatGeometry | null;
  /** The raw BAT (geometry.totalEntries entries of 8 bytes). */
  bat: Uint8Array | null;
  /** The file as every read after the headers sees it: with the replayed log applied. */
  file: RandomAccessFile;
  findings: Findings;
  fatal: Finding | null;
  /** What replaying the log in memory found: entries applied (0: the log named was empty), null when no log was named. */
  logReplay: { entries: number; sequence: bigint } | null;
}

export interface ReadVhdxLayoutOptions {
  /**
   * The writes replaying the file's log produced. When absent and the current
   * header names a log, the log is replayed here, in memory (nothing is written).
   */
  overlay?: readonly VhdxOverlayWrite[];
  /** False: refuse a file with a log to replay (VHDX_LOG_NOT_REPLAYED) instead of replaying it. */
  replayLog?: boolean;
  /** Also check every BAT entry: states, extents in the file, overlaps (check's business; reads check as they go). */
  full?: boolean;
  findings?: Findings;
}

async function readAt(f: RandomAccessFile, at: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  await f.read(buf, at);
  return buf;
}

export async function readVhdxLayout(raw: RandomAccessFile, opts: ReadVhdxLayoutOptions = {}): Promise<VhdxLayout> {
  const findings = opts.findings ?? new Findings();
  const L: VhdxLayout = {
    fileSize: await raw.size(),
    identifier: null,
    headers: null,
    header: null,
    headerIndex: null,
    regionTableIndex: null,
    regionTables: null,
    regions: null,
    metadata: null,
    geometry: null,
    bat: null,
    file: raw,
    findings,
    fatal: null,
    logReplay: null,
  };
  const fatal = (e: Finding) => {
    findings.add('error', e);
    L.fatal ??= e;
    return L;
  };
  const warn = (list: Finding[]) => list.forEach((w) => findings.add('warning', w));

  if (L.fileSize < MIN_FILE_SIZE) {
    return fatal({ code: 'VHDX_FILE_TOO_SMALL', field: 'identifier', message: `file is ${L.fileSize} bytes, too small to hold a VHDX header section` });
  }
  L.identifier = decodeIdentifier(await readAt(raw, 0, IDENTIFIER_SIZE));
  const idErrors = validateIdentifier(L.identifier);
  if (idErrors.length > 0) return fatal(idErrors[0]);

  // Headers: read as stored; they say whether there is a log to replay.
  const h1 = readHeaderCopy(await readAt(raw, HEADER_OFFSETS[0], HEADER_SIZE), 1);
  const h2 = readHeaderCopy(await readAt(raw, HEADER_OFFSETS[1], HEADER_SIZE), 2);
  L.headers = [h1, h2];
  const pick = pickCurrentHeader(h1, h2);
  warn(pick.warnings);
  if (!pick.current) {
    pick.errors.slice(1).forEach((e) => findings.add('error', e));
    return fatal(pick.errors[0]);
  }
  const header = pick.current.header;
  L.header = header;
  L.headerIndex = pick.current.index;
  let overlay = opts.overlay;
  if (!isZeroGuid(header.logGuid) && overlay === undefined) {
    if (opts.replayLog === false) {
      return fatal({
        code: 'VHDX_LOG_NOT_REPLAYED',
        field: 'header.logGuid',
        message: 'the header names a log that has not been replayed: the metadata cannot be trusted until it is (the file was not closed cleanly)',
      });
    }
    const replayed = await replayInMemory(raw, header, L.fileSize, findings);
    if ('fatal' in replayed) return fatal(replayed.fatal);
    overlay = replayed.overlay;
    L.logReplay = replayed.summary;
  }
  const f = overlay && overlay.length > 0 ? overlaid(raw, overlay) : raw;
  L.file = f;
  const fileSize = await f.size();
  L.fileSize = fileSize;
  const hv = validateHeader(header, { fileSize });
  warn(hv.warnings);
  if (hv.errors.length > 0) {
    hv.errors.slice(1).forEach((e) => findings.add('error', e));
    return fatal(hv.errors[0]);
  }

  // Region tables: the first, else the second.
  const rawTables = [await readAt(f, REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE), await readAt(f, REGION_TABLE_OFFSETS[1], REGION_TABLE_SIZE)];
  const tables: [RegionTable, RegionTable] = [decodeRegionTable(rawTables[0]), decodeRegionTable(rawTables[1])];
  L.regionTables = tables;
  const checks = tables.map((t, i) => validateRegionTable(t, rawTables[i], `regionTable${i + 1}`, { fileSize }));
  const use = checks[0].regions ? 0 : checks[1].regions ? 1 : -1;
  if (use < 0) {
    checks[1].errors.forEach((e) => findings.add('error', e));
    checks[0].errors.slice(1).forEach((e) => findings.add('error', e));
    return fatal(checks[0].errors[0] ?? { code: 'VHDX_REGION_MISSING', field: 'regionTable1', message: 'no usable region table' });
  }
  if (use === 1) {
    findings.warning(
      'VHDX_REGION_TABLE_FROM_COPY',
      'regionTable1',
      `the first region table is damaged (${checks[0].errors.map((e) => e.code).join(', ')}); using the second copy`,
    );
  } else if (!rawTables[0].equals(rawTables[1])) {
    const why = checks[1].regions ? 'differs from the first' : `is damaged (${checks[1].errors.map((e) => e.code).join(', ')})`;
    findings.warning('VHDX_REGION_TABLE_COPY', 'regionTable2', `the second region table ${why}`);
  }
  warn(checks[use].warnings);
  const regions = checks[use].regions!;
  L.regionTableIndex = use === 0 ? 1 : 2;
  L.regions = regions;
  const logStart = Number(header.logOffset);
  const logEnd = logStart + header.logLength;
  for (const [name, r] of [
    ['bat', regions.bat],
    ['metadata', regions.metadata],
  ] as const) {
    const start = Number(r.fileOffset);
    if (header.logLength > 0 && start < logEnd && logStart < start + r.length) {
      return fatal({
        code: 'VHDX_REGION_OVERLAP',
        field: `regionTable${L.regionTableIndex}.${name}`,
        message: `the ${name} region at ${start} overlaps the log (${logStart}..${logEnd})`,
      });
    }
  }

  // Metadata: the table, then each known item (sizes checked before reading).
  const metaAt = Number(regions.metadata.fileOffset);
  const table = decodeMetadataTable(await readAt(f, metaAt, METADATA_TABLE_SIZE));
  const mv = validateMetadataTable(table, { regionLength: regions.metadata.length });
  warn(mv.warnings);
  if (mv.errors.length > 0) {
    mv.errors.slice(1).forEach((e) => findings.add('error', e));
    return fatal(mv.errors[0]);
  }
  const items = new Map<string, Buffer>();
  for (const k of KNOWN_ITEMS) {
    const e = findSystemItem(table, k.id);
    if (!e) continue;
    if (k.size !== null && e.length !== k.size) {
      return fatal({
        code: 'VHDX_METADATA_ITEM_LENGTH',
        field: `metadata.${k.name}`,
        message: `metadata item ${k.name} is ${e.length} bytes, expected ${k.size}`,
      });
    }
    items.set(k.name, await readAt(f, metaAt + e.offset, e.length));
  }
  const need = (name: string) => {
    const b = items.get(name);
    if (!b) fatal({ code: 'VHDX_METADATA_MISSING', field: `metadata.${name}`, message: `the metadata has no ${name} item` });
    return b;
  };
  const fpRaw = need('fileParameters');
  const sizeRaw = need('virtualDiskSize');
  const lssRaw = need('logicalSectorSize');
  if (!fpRaw || !sizeRaw || !lssRaw) return L;
  const fileParameters = decodeFileParameters(fpRaw);
  const fpv = validateFileParameters(fileParameters);
  warn(fpv.warnings);
  if (fpv.errors.length > 0) return fatal(fpv.errors[0]);
  const logicalSectorSize = decodeSectorSize(lssRaw, 'logicalSectorSize');
  const lssErrors = validateSectorSize(logicalSectorSize, 'logicalSectorSize');
  if (lssErrors.length > 0) return fatal(lssErrors[0]);
  const size = decodeVirtualDiskSize(sizeRaw);
  const sizeErrors = validateVirtualDiskSize(size, logicalSectorSize);
  if (sizeErrors.length > 0) return fatal(sizeErrors[0]);
  let physicalSectorSize = logicalSectorSize;
  const pssRaw = items.get('physicalSectorSize');
  if (!pssRaw) {
    findings.warning('VHDX_METADATA_MISSING', 'metadata.physicalSectorSize', `the metadata has no physical sector size item; taken as ${logicalSectorSize}`);
  } else {
    const pss = decodeSectorSize(pssRaw, 'physicalSectorSize');
    const pssErrors = validateSectorSize(pss, 'physicalSectorSize');
    pssErrors.forEach((e) => findings.add('error', e));
    if (pssErrors.length === 0) physicalSectorSize = pss;
  }
  const page83Raw = items.get('page83');
  if (!page83Raw) findings.warning('VHDX_METADATA_MISSING', 'metadata.page83', 'the metadata has no virtual disk id (page 83 data) item');
  const hasParent = hasParentFlag(fileParameters);
  let parentLocator: ParentLocator | null = null;
  const plRaw = items.get('parentLocator');
  if (hasParent && !plRaw)
    return fatal({ code: 'VHDX_METADATA_MISSING', field: 'metadata.parentLocator', message: 'a differencing file has no parent locator' });
  if (!hasParent && plRaw)
    findings.warning('VHDX_LOCATOR_UNUSED', 'metadata.parentLocator', 'the file has a parent locator but no parent (has-parent is clear); it is ignored');
  if (hasParent && plRaw) {
    // A broken locator leaves the file's own data readable: errors, not fatal.
    try {
      parentLocator = decodeParentLocator(plRaw);
      const pv = validateParentLocator(parentLocator);
      pv.errors.forEach((e) => findings.add('error', e));
      warn(pv.warnings);
    } catch (err) {
      if (!(err instanceof VhdError)) throw err;
      findings.error(err.code, err.field ?? 'metadata.parentLocator', err.message);
    }
  }
  const virtualSize = Number(size);
  L.metadata = {
    table,
    fileParameters,
    blockSize: fileParameters.blockSize,
    hasParent,
    leaveBlocksAllocated: leaveBlocksAllocatedFlag(fileParameters),
    virtualSize,
    logicalSectorSize,
    physicalSectorSize,
    page83: page83Raw ? decodePage83(page83Raw) : null,
    parentLocator,
  };

  // BAT: the region must hold every entry the geometry needs.
  const geometry = batGeometry({ virtualSize, blockSize: fileParameters.blockSize, logicalSectorSize, hasParent });
  L.geometry = geometry;
  const batBytes = geometry.totalEntries * BAT_ENTRY_SIZE;
  const batField = `regionTable${L.regionTableIndex}.bat.length`;
  if (batBytes > regions.bat.length) {
    return fatal({
      code: 'VHDX_BAT_REGION_LENGTH',
      field: batField,
      message: `the BAT region (${regions.bat.length} bytes) cannot hold the ${geometry.totalEntries} entries the disk needs`,
    });
  }
  if (batBytes > MAX_BAT_BYTES) {
    return fatal({
      code: 'VHDX_BAT_TOO_LARGE',
      field: batField,
      message: `a BAT of ${geometry.totalEntries} entries exceeds the supported table size (${MAX_BAT_BYTES} bytes)`,
    });
  }
  L.bat = await readAt(f, Number(regions.bat.fileOffset), batBytes);
  if (opts.full) sweepBat(L);
  return L;
}

/** Every BAT entry's state, extent in the file and overlaps with the regions, the log and each other. */
function sweepBat(L: VhdxLayout): void {
  const { findings, geometry, metadata, header, regions, fileSize } = L;
  const bat = L.bat!;
  const g = geometry!;
  const m = metadata!;
  const differencing = m.hasParent;
  const extents: { start: number; end: number; what: string; entry?: number }[] = [
    { start: 0, end: HEADER_SECTION, what: 'header section' },
    { start: Number(regions!.bat.fileOffset), end: Number(regions!.bat.fileOffset) + regions!.bat.length, what: 'BAT region' },
    { start: Number(regions!.metadata.fileOffset), end: Number(regions!.metadata.fileOffset) + regions!.metadata.length, what: 'metadata region' },
  ];
  if (header!.logLength > 0) extents.push({ start: Number(header!.logOffset), end: Number(header!.logOffset) + header!.logLength, what: 'log' });
  const partialChunks = new Set<number>();
  const bitmapPresent = new Set<number>();
  for (let i = 0; i < g.totalEntries; i++) {
    const e = decodeBatEntry(bat, i * 8);
    const bad = badEntryState(e, i, { ratio: g.chunkRatio, differencing });
    if (bad) {
      findings.add('error', bad);
      continue;
    }
    const chunk = Math.floor(i / (g.chunkRatio + 1));
    const start = e.offsetMB * MiB;
    let length: number;
    let what: string;
    if (isBitmapEntryIndex(i, g.chunkRatio)) {
      if (e.state !== BitmapState.Present) continue;
      bitmapPresent.add(chunk);
      length = SECTOR_BITMAP_BLOCK_SIZE;
      what = `sector bitmap ${chunk}`;
    } else {
      const block = i - chunk;
      if (block >= g.payloadBlocks) {
        if (e.state !== 0)
          findings.warning('VHDX_BAT_EXCESS_ENTRY', `bat[${i}]`, `BAT entry ${i} (block ${block}) lies beyond the virtual size but has state ${e.state}`);
        continue;
      }
      if (!isAllocatedPayload(e.state)) continue;
      if (e.state === 7) partialChunks.add(chunk);
      length = Math.min(m.blockSize, m.virtualSize - block * m.blockSize);
      what = `block ${block}`;
    }
    if (start < HEADER_SECTION || start + length > fileSize) {
      findings.error(
        'VHDX_BAT_ENTRY_PAST_EOF',
        `bat[${i}]`,
        `${what} at ${start} (+${length}) is not inside the file past the header section (${fileSize} bytes)`,
      );
      continue;
    }
    extents.push({ start, end: start + length, what, entry: i });
  }
  for (const c of partialChunks) {
    if (!bitmapPresent.has(c)) {
      const i = bitmapEntryIndex(c, g.chunkRatio);
      findings.error('VHDX_BITMAP_MISSING', `bat[${i}]`, `chunk ${c} has partially present blocks but no sector bitmap block`);
    }
  }
  extents.sort((a, b) => a.start - b.start || a.end - b.end);
  let prev: (typeof extents)[number] | null = null;
  for (const x of extents) {
    if (prev && x.start < prev.end) {
      const field = x.entry !== undefined ? `bat[${x.entry}]` : prev.entry !== undefined ? `bat[${prev.entry}]` : x.what;
      const code = x.entry !== undefined && prev.entry !== undefined ? 'VHDX_BLOCKS_OVERLAP' : 'VHDX_BLOCK_IN_METADATA';
      findings.error(code, field, `${x.what} at ${x.start} overlaps ${prev.what} (${prev.start}..${prev.end})`);
    }
    if (!prev || x.end > prev.end) prev = x;
  }
}

/**
 * The log a header names, replayed in memory: its writes as an overlay (plus
 * the growth to its LastFileOffset), its findings added. The header's log
 * fields are checked first, since they size the read.
 */
async function replayInMemory(
  raw: RandomAccessFile,
  header: VhdxHeader,
  fileSize: number,
  findings: Findings,
): Promise<{ overlay: VhdxOverlayWrite[]; summary: { entries: number; sequence: bigint } } | { fatal: Finding }> {
  const hv = validateHeader(header, { fileSize });
  if (hv.errors.length > 0) return { fatal: hv.errors[0] };
  try {
    const r = await replayLog((at, length) => readAt(raw, at, length), {
      offset: Number(header.logOffset),
      length: header.logLength,
      guid: header.logGuid,
      fileSize,
    });
    for (const x of r.findings) findings.add(x.severity, { code: x.code, field: x.field, message: x.message });
    const overlay: VhdxOverlayWrite[] = [...r.writes];
    if (r.lastFileOffset > fileSize) overlay.push({ offset: r.lastFileOffset, length: 0, data: null });
    if (r.entries > 0) {
      findings.add('warning', {
        code: 'VHDX_LOG_REPLAYED',
        field: 'header.logGuid',
        message: `the file was not closed cleanly: ${r.entries} log entr${r.entries === 1 ? 'y' : 'ies'} replayed in memory (the file itself is unchanged)`,
      });
    }
    return { overlay, summary: { entries: r.entries, sequence: r.sequence } };
  } catch (err) {
    if (err instanceof VhdError) return { fatal: { code: err.code, field: err.field ?? 'log', message: err.message } };
    throw err;
  }
}

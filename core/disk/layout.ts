// The one reader of a VHD file's layout: trailing footer and its copy at 0,
// dynamic header, BAT, blktap batmap and parent locators, decoded once into a
// `Layout` plus findings (errors: damage; warnings: odd but usable).
// VhdFile.open throws `fatal`, check reports every finding, repair asks
// whether the layout a footer describes is sound.
//
// Every size a field claims is checked against the file size before it sizes
// a read, so a crafted file cannot make us allocate more than it holds (and
// never more than MAX_BAT_BYTES for one table). Overlaps are found by one sort
// and sweep over every extent: O(n log n), seconds even for multi-TB tables.
import { type Finding, type Severity } from '../errors.js';
import { batBytes, BAT_UNUSED, decodeBat } from '../format/bat.js';
import {
  BATMAP_COOKIE,
  BATMAP_VERSION,
  batmapChecksum,
  creatorHasBatmap,
  decodeBatmapHeader,
  validateBatmapHeader,
  type BatmapHeader,
} from '../format/batmap.js';
import { bitmapBytes } from '../format/bitmap.js';
import { SECTOR } from '../format/bytes.js';
import { decodeFooter, DiskType, diskTypeName, encodeFooter, FOOTER_SIZE, footerChecksum, validateFooter, type Footer } from '../format/footer.js';
import { decodeHeader, HEADER_SIZE, headerChecksum, validateHeader, type DynamicHeader } from '../format/header.js';
import { decodeLocatorPayload, isEmptyLocator, locatorSpaceBytes, validateLocator, type LocatorEntry } from '../format/locator.js';
import { type RandomAccessFile } from '../io/file.js';

/** Most BAT (or batmap) bytes we will hold in memory: past this a crafted entry count would be a giant allocation. */
export const MAX_BAT_BYTES = 256 * 1024 * 1024;
/** At most this many findings of one code are kept; the rest are counted (a crafted BAT can make millions). */
export const MAX_PER_CODE = 10;
/** Locator payloads are decoded from at most this many bytes (a path is far shorter). */
export const MAX_LOCATOR_READ = 64 * 1024;

export type LayoutFinding = Finding & { severity: Severity };

/** Findings kept apart by severity, in the order found, capped per code. */
export class Findings {
  readonly errors: Finding[] = [];
  readonly warnings: Finding[] = [];
  private readonly counts = new Map<string, number>();

  add(severity: Severity, f: Finding): void {
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
  /** Every kept finding with its severity, errors first. */
  list(): LayoutFinding[] {
    return [...this.errors.map((f) => ({ ...f, severity: 'error' as const })), ...this.warnings.map((f) => ({ ...f, severity: 'warning' as const }))];
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

export interface Extent {
  start: number;
  end: number;
  what: string;
  block?: number;
}

export interface FooterRead {
  /** The bytes as stored (511 for the legacy trailing form). */
  raw: Uint8Array;
  footer: Footer;
  errors: Finding[];
  warnings: Finding[];
}

export interface Footers {
  fileSize: number;
  /** The trailing footer is the old 511-byte form. */
  legacy: boolean;
  /** Where the trailing footer starts: the end of the data area. */
  footerOffset: number;
  trailing: FooterRead;
  /** The copy at offset 0; null when the file is too small to hold one apart from the trailing footer. */
  copy: FooterRead | null;
}

export interface Batmap {
  headerOffset: number;
  header: BatmapHeader;
  map: Uint8Array;
}

export interface LocatorRead {
  index: number;
  entry: LocatorEntry;
  /** The decoded path or URL; null when empty, opaque ('Mac ') or invalid for its code. */
  text: string | null;
  /** False when the payload is longer than MAX_LOCATOR_READ and only its start was decoded. */
  complete: boolean;
}

export interface Layout {
  fileSize: number;
  footerOffset: number;
  footers: Footers | null;
  /** The footer in use (null: no usable footer). */
  footer: Footer | null;
  /** Where it came from; 'copy' means the trailing footer is damaged. */
  footerSource: 'trailing' | 'copy' | 'given' | null;
  type: 'fixed' | 'dynamic' | 'differencing' | null;
  header: DynamicHeader | null;
  headerRaw: Uint8Array | null;
  /** All maxTableEntries entries (null until the header locates a table that fits). */
  bat: Uint32Array | null;
  /** Entries the virtual size needs (the rest can never be read). */
  needed: number;
  batmap: Batmap | null;
  /** Locators whose entry validates, with their payloads decoded (differencing disks, full reads only). */
  locators: LocatorRead[];
  /** Blocks in an overlap (already errors: a deep scan skips them). */
  overlapping: Set<number>;
  findings: Findings;
  /** The first finding that makes the file unreadable: what opening it throws. */
  fatal: Finding | null;
  /** The layout is known well enough to read blocks (for a fixed disk: all its data is there). */
  usable: boolean;
}

export interface ReadLayoutOptions {
  /**
   * false: only what opening needs. Skips the footer-copy comparison, the
   * locators, and the per-block bounds and overlap sweep (O(blocks), check's
   * business; reads check each block's bounds as they go).
   */
  full?: boolean;
  /** Describe the layout this footer gives instead of reading the file's (repair: the footer it would write). */
  footer?: Footer;
  /** With `footer`: the file size after that footer is written. */
  fileSize?: number;
  /** Where to add the findings (check passes its own, which it extends). */
  findings?: Findings;
}

/** Footer findings that opening tolerates (so reading still works) but that only damage explains: reported as errors. */
const FOOTER_DAMAGE = new Set(['FOOTER_FEATURES_RESERVED']);
/** Header errors that leave the BAT or blocks unlocatable: nothing past the header can be read. */
const LAYOUT_FIELDS = new Set(['HEADER_BLOCK_SIZE', 'HEADER_TABLE_OFFSET', 'HEADER_MAX_TABLE_ENTRIES']);

/** Reads `length` bytes at `at`; bytes past the end of the file read as zero (callers range-check first). */
async function readAt(f: RandomAccessFile, at: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  await f.read(buf, at);
  return buf;
}

function trailingOffset(fileSize: number): { legacy: boolean; footerOffset: number } {
  const legacy = fileSize % SECTOR === 511;
  return { legacy, footerOffset: legacy ? fileSize - 511 : fileSize - FOOTER_SIZE };
}

function readFooter(raw: Uint8Array): FooterRead {
  const footer = decodeFooter(raw);
  const { errors, warnings } = validateFooter(footer, footerChecksum(footer));
  return { raw, footer, errors, warnings };
}

/** Both footers, decoded and validated; null when the file cannot hold a footer. */
export async function readFooters(f: RandomAccessFile): Promise<Footers | null> {
  const fileSize = await f.size();
  if (fileSize < 511) return null;
  const { legacy, footerOffset } = trailingOffset(fileSize);
  const trailing = readFooter(await readAt(f, footerOffset, legacy ? 511 : FOOTER_SIZE));
  const copy = fileSize >= 2 * FOOTER_SIZE ? readFooter(await readAt(f, 0, FOOTER_SIZE)) : null;
  return { fileSize, legacy, footerOffset, trailing, copy };
}

/** A footer copy that can stand in for a damaged trailing footer (a fixed disk has no copy). */
export function usableCopy(fs: Footers): boolean {
  return fs.copy !== null && fs.copy.errors.length === 0 && fs.copy.footer.diskType !== DiskType.Fixed;
}

export async function readLayout(f: RandomAccessFile, opts: ReadLayoutOptions = {}): Promise<Layout> {
  const full = opts.full !== false;
  const findings = opts.findings ?? new Findings();
  const given = opts.footer !== undefined;
  const fileSize = given ? (opts.fileSize ?? (await f.size())) : await f.size();
  const L: Layout = {
    fileSize,
    footerOffset: trailingOffset(fileSize).footerOffset,
    footers: null,
    footer: null,
    footerSource: null,
    type: null,
    header: null,
    headerRaw: null,
    bat: null,
    needed: 0,
    batmap: null,
    locators: [],
    overlapping: new Set(),
    findings,
    fatal: null,
    usable: false,
  };
  const error = (e: Finding, fatal = false) => {
    findings.add('error', e);
    if (fatal) L.fatal ??= e;
  };

  // Footers: the trailing one, else the copy at 0.
  if (opts.footer) {
    L.footer = opts.footer;
    L.footerSource = 'given';
  } else {
    const fs = await readFooters(f);
    if (!fs) {
      error({ code: 'FILE_TOO_SMALL', field: 'footer', message: `file is ${fileSize} bytes, too small to hold a VHD footer` }, true);
      return L;
    }
    L.footers = fs;
    if (fs.legacy) findings.warning('FOOTER_LEGACY_511', 'footer', 'trailing footer is the old 511-byte form');
    else if (fileSize % SECTOR !== 0) findings.warning('FILE_SIZE_UNALIGNED', 'footer', `file size ${fileSize} is not a multiple of 512`);
    const { trailing, copy } = fs;
    if (trailing.errors.length === 0) {
      L.footer = trailing.footer;
      L.footerSource = 'trailing';
      for (const w of trailing.warnings) findings.add(FOOTER_DAMAGE.has(w.code) ? 'error' : 'warning', w);
    } else {
      const copyOk = usableCopy(fs);
      const hint = copyOk ? ' (the footer copy at offset 0 is intact: `vhdsnap repair` can restore it)' : '';
      for (const e of trailing.errors) findings.add('error', { ...e, message: `trailing footer: ${e.message}${hint}` });
      if (!copyOk) {
        // Opening reports the trailing footer's own words: it is the footer every reader uses.
        L.fatal = trailing.errors[0];
        return L;
      }
      L.footer = copy!.footer;
      L.footerSource = 'copy';
    }
  }
  const footer = L.footer;
  const type = diskTypeName(footer.diskType);
  L.type = type;
  const virtualSize = Number(footer.currentSize);
  const footerOffset = L.footerOffset;

  if (type === 'fixed') {
    // A fixed file is exactly its data and a footer: any other size means a damaged size field or file.
    const footerBytes = fileSize - footerOffset;
    if (footerOffset < virtualSize) {
      error({ code: 'FIXED_TRUNCATED', field: 'currentSize', message: `fixed disk claims ${virtualSize} data bytes but the file holds ${footerOffset}` }, true);
    } else if (footerOffset > virtualSize) {
      error({
        code: 'FIXED_SIZE_MISMATCH',
        field: 'currentSize',
        message: `fixed disk file is ${fileSize} bytes but its current size ${virtualSize} needs ${virtualSize + footerBytes} (data + ${footerBytes}-byte footer); ${footerOffset - virtualSize} bytes lie between the data and the footer. The size field or the file was damaged and nothing shows which: compare with a copy before trusting its end`,
      });
    }
    L.usable = footerOffset >= virtualSize;
    return L;
  }

  // The copy at 0 must be byte-identical to the trailing footer.
  const fs = L.footers;
  if (full && fs && L.footerSource === 'trailing') {
    if (!fs.copy || fs.copy.errors.length > 0) {
      const why = fs.copy?.errors.map((e) => e.code).join(', ') ?? 'missing';
      error({
        code: 'FOOTER_COPY_INVALID',
        field: 'footerCopy',
        message: `footer copy at offset 0 is damaged (${why}); the trailing footer is intact: \`vhdsnap repair\` can restore it`,
      });
    } else if (!Buffer.from(fs.copy.raw).equals(Buffer.from(encodeFooter(fs.trailing.footer, true)))) {
      error({ code: 'FOOTER_COPY_MISMATCH', field: 'footerCopy', message: 'footer copy at offset 0 differs from the trailing footer' });
    }
  }

  // Dynamic header.
  const headerAt = footer.dataOffset;
  if (headerAt + BigInt(HEADER_SIZE) > BigInt(fileSize)) {
    error(
      { code: 'HEADER_OUT_OF_FILE', field: 'dataOffset', message: `dynamic header offset ${headerAt} is past the end of the file (${fileSize} bytes)` },
      true,
    );
    return L;
  }
  const headerRaw = await readAt(f, Number(headerAt), HEADER_SIZE);
  const header = decodeHeader(headerRaw);
  L.header = header;
  L.headerRaw = headerRaw;
  const hcheck = validateHeader(header, headerChecksum(headerRaw), { currentSize: virtualSize, fileSize, differencing: type === 'differencing' });
  for (const e of hcheck.errors) error(e, true);
  for (const w of hcheck.warnings) findings.add('warning', w);
  if (hcheck.errors.some((e) => LAYOUT_FIELDS.has(e.code))) return L;

  // BAT: its extent was checked against the file size by validateHeader.
  const blockSize = header.blockSize;
  const entries = header.maxTableEntries;
  const needed = Math.ceil(virtualSize / blockSize);
  L.needed = needed;
  if (entries * 4 > MAX_BAT_BYTES) {
    error({ code: 'HEADER_MAX_TABLE_ENTRIES', field: 'maxTableEntries', message: `${entries} BAT entries exceed the supported table size` }, true);
    return L;
  }
  const tableOffset = Number(header.tableOffset);
  const bat = decodeBat(await readAt(f, tableOffset, entries * 4), entries);
  L.bat = bat;

  const extents: Extent[] = [
    { start: 0, end: SECTOR, what: 'footer copy' },
    { start: Number(headerAt), end: Number(headerAt) + HEADER_SIZE, what: 'dynamic header' },
    { start: tableOffset, end: tableOffset + batBytes(entries), what: 'BAT' },
  ];

  if (full && type === 'differencing') await readLocators(f, L, extents);

  // blktap batmap, right after the padded BAT.
  if (creatorHasBatmap(footer.creatorApp, footer.creatorVersion)) {
    const hAt = tableOffset + batBytes(entries);
    const bh = hAt + SECTOR <= fileSize ? decodeBatmapHeader(await readAt(f, hAt, SECTOR)) : null;
    if (bh && bh.cookie === BATMAP_COOKIE) {
      extents.push({ start: hAt, end: hAt + SECTOR, what: 'batmap header' });
      const mapBytes = bh.sizeSectors * SECTOR;
      // Opening needs the map inside the file, large enough and of a size we will hold.
      const fits = bh.offset + BigInt(mapBytes) <= BigInt(fileSize) && mapBytes >= Math.ceil(needed / 8);
      const problems = validateBatmapHeader(bh, { entries: needed, fileSize });
      for (const p of problems) error(p, !fits);
      if (bh.version !== BATMAP_VERSION) findings.warning('BATMAP_VERSION', 'batmap.version', `batmap version 0x${bh.version.toString(16)} is not 0x00010002`);
      if (fits && mapBytes > MAX_BAT_BYTES) {
        error({ code: 'BATMAP_SIZE', field: 'batmap.size', message: `batmap of ${bh.sizeSectors} sectors exceeds the supported size` }, true);
      } else if (fits) {
        const at = Number(bh.offset);
        if (problems.length === 0) extents.push({ start: at, end: at + mapBytes, what: 'batmap' });
        const map = await readAt(f, at, mapBytes);
        L.batmap = { headerOffset: hAt, header: bh, map };
        const sum = batmapChecksum(map);
        if (sum !== bh.checksum)
          error({
            code: 'BATMAP_CHECKSUM',
            field: 'batmap.checksum',
            message: `batmap checksum 0x${bh.checksum.toString(16)} does not match its map (0x${sum.toString(16)})`,
          });
      }
    }
  }
  L.usable = true;
  if (!full) return L;

  // Blocks: inside the data area and not overlapping anything.
  const bmBytes = bitmapBytes(blockSize);
  for (let b = 0; b < entries; b++) {
    const e = bat[b];
    if (e === BAT_UNUSED) continue;
    if (b >= needed) {
      findings.warning('BAT_EXCESS_ENTRY', `bat[${b}]`, `BAT entry ${b} is allocated but lies beyond the virtual size`);
      continue;
    }
    const start = e * SECTOR;
    const dataLen = Math.min(blockSize, virtualSize - b * blockSize);
    const end = start + bmBytes + dataLen;
    if (end > footerOffset) {
      error({
        code: 'BAT_ENTRY_PAST_EOF',
        field: `bat[${b}]`,
        message: `block ${b} at ${start} (+${bmBytes + dataLen}) runs past the end of the data area (${footerOffset})`,
      });
      continue;
    }
    extents.push({ start, end, what: `block ${b}`, block: b });
  }
  L.overlapping = sweepOverlaps(extents, footerOffset, findings);
  return L;
}

/** Locator entries inside the file, their payloads decoded, their extents noted. */
async function readLocators(f: RandomAccessFile, L: Layout, extents: Extent[]): Promise<void> {
  const { findings, fileSize } = L;
  const header = L.header!;
  let count = 0;
  for (let i = 0; i < header.locators.length; i++) {
    const l = header.locators[i];
    if (isEmptyLocator(l)) continue;
    count++;
    const problems = validateLocator(l, i, fileSize);
    for (const p of problems) findings.add('error', p);
    if (problems.length > 0) continue;
    const space = locatorSpaceBytes(l)!;
    const at = Number(l.dataOffset);
    extents.push({ start: at, end: at + Math.min(space, Math.max(l.dataLength, 1)), what: `parent locator ${i} (${l.code})` });
    const read: LocatorRead = { index: i, entry: l, text: null, complete: l.dataLength <= MAX_LOCATOR_READ };
    L.locators.push(read);
    if (l.dataLength === 0 || l.code === 'Mac ') continue;
    read.text = decodeLocatorPayload(l.code, await readAt(f, at, Math.min(l.dataLength, MAX_LOCATOR_READ)));
    if (read.text === null) findings.warning('LOCATOR_PAYLOAD', `locators[${i}]`, `parent locator ${i} (${l.code}) payload is not a valid path for its code`);
    else if (l.code === 'W2ru' && !read.text.startsWith('.\\'))
      findings.warning('LOCATOR_W2RU_FORM', `locators[${i}]`, `W2ru locator "${read.text}" does not start with ".\\"`);
  }
  if (count === 0) findings.warning('LOCATOR_NONE', 'locators', 'differencing disk has no parent locators; only the parent name can find its parent');
}

/** Reports overlaps and metadata past the data area; returns the blocks involved in an overlap. */
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

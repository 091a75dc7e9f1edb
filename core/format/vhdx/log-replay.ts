// Log replay, read side (MS-VHDX 2.3.3): find the active sequence in the
// circular log and say which writes replaying it makes. Pure and I/O-agnostic:
// the caller passes a read function and applies the writes (in memory to read,
// into the file on the first write). Bounded on hostile logs: the log region
// is read once (at most MAX_LOG_LENGTH bytes), every entry checksum comes from
// one pass of prefix CRCs (log-checksum.ts), and an entry's descriptors and
// data sectors are only walked while they look right, so no sector is walked
// as part of more than one candidate entry.
import { FormatError, UsageError, type Finding, type Severity } from '../../errors.js';
import { LogChecksums } from './log-checksum.js';
import {
  checkLogDataSector,
  checkLogDescriptor,
  checkLogEntryHeader,
  decodeLogDataSector,
  decodeLogDescriptor,
  decodeLogEntryHeader,
  descriptorOffset,
  descriptorSectors,
  hasSignature,
  joinUpdate,
  LOG_ENTRY_SIGNATURE,
  LOG_SECTOR,
  sameBytes,
} from './log-entry.js';

/** Largest log region replayed; beyond it the whole-region read would be a giant allocation. */
export const MAX_LOG_LENGTH = 1024 * 1024 * 1024;
/** The file identifier and both headers: the spec forbids updating them through the log. */
const HEADERS_END = 192 * 1024;
const READ_CHUNK = 16 * 1024 * 1024;

export interface LogRegion {
  /** Byte offset of the log in the file (the header's LogOffset). */
  offset: number;
  /** The header's LogLength. */
  length: number;
  /** The current header's LogGuid, 16 bytes as on disk; all zero means no log to replay. */
  guid: Uint8Array;
  fileSize: number;
}

/** A write replay makes: `length` bytes at `offset`, `data` null for zeros (never materialised). */
export interface LogWrite {
  offset: number;
  length: number;
  data: Uint8Array | null;
}

export interface LogFinding extends Finding {
  severity: Severity;
}

export interface LogReplay {
  /** In order; later writes win. */
  writes: LogWrite[];
  /** The active sequence's newest entry's LastFileOffset: replay grows the file to at least this. 0 when empty. */
  lastFileOffset: number;
  /** The largest FlushedFileOffset of the active sequence (a shorter file is corrupt). 0 when empty. */
  flushedFileOffset: number;
  /** Sequence number of the newest replayed entry; 0n when nothing is replayed. */
  sequence: bigint;
  /** Entries replayed. */
  entries: number;
  /** Byte offsets in the log of the active sequence's oldest entry and of the sector after its newest; null when empty. */
  tail: number | null;
  head: number | null;
  findings: LogFinding[];
}

/** A valid entry found by the scan. */
interface Entry {
  at: number;
  length: number;
  sequence: bigint;
  tail: number;
  descriptorCount: number;
  flushed: bigint;
  last: bigint;
}

export async function replayLog(read: (offset: number, length: number) => Promise<Uint8Array>, region: LogRegion): Promise<LogReplay> {
  const empty: LogReplay = { writes: [], lastFileOffset: 0, flushedFileOffset: 0, sequence: 0n, entries: 0, tail: null, head: null, findings: [] };
  if (region.guid.length !== 16) throw new UsageError('BAD_LOG_GUID', `log GUID is ${region.guid.length} bytes, expected 16`, { field: 'logGuid' });
  if (region.guid.every((b) => b === 0) || region.length === 0) return empty;
  checkRegion(region);
  const log = await readRegion(read, region);
  const sums = new LogChecksums(log);
  const scan = new Scanner(log, sums, region.guid);
  const active = scan.activeSequence();
  if (!active) {
    empty.findings.push({
      severity: 'warning',
      code: 'VHDX_LOG_NO_SEQUENCE',
      field: 'logGuid',
      message: 'the header names a log, but the log holds no valid sequence of entries: nothing to replay',
    });
    return empty;
  }
  return build(log, region, active, scan);
}

function checkRegion(r: LogRegion): void {
  if (!Number.isSafeInteger(r.fileSize) || r.fileSize < 0)
    throw new UsageError('BAD_FILE_SIZE', `file size ${r.fileSize} is not a size`, { field: 'fileSize' });
  if (!Number.isSafeInteger(r.length) || r.length < 0 || r.length % LOG_SECTOR !== 0) {
    throw new FormatError('VHDX_LOG_LENGTH', `log length ${r.length} is not a multiple of 4096`, { field: 'logLength' });
  }
  if (r.length > MAX_LOG_LENGTH) {
    throw new FormatError('VHDX_LOG_TOO_LARGE', `log length ${r.length} exceeds the ${MAX_LOG_LENGTH}-byte limit replay accepts`, { field: 'logLength' });
  }
  if (!Number.isSafeInteger(r.offset) || r.offset < HEADERS_END || r.offset % LOG_SECTOR !== 0) {
    throw new FormatError('VHDX_LOG_OFFSET', `log offset ${r.offset} is not a 4 KiB-aligned offset past the headers`, { field: 'logOffset' });
  }
  if (r.offset + r.length > r.fileSize) {
    throw new FormatError('VHDX_LOG_OUTSIDE_FILE', `log ${r.offset}+${r.length} ends past the end of the ${r.fileSize}-byte file`, { field: 'logOffset' });
  }
}

/** The whole log region, read once. */
async function readRegion(read: (offset: number, length: number) => Promise<Uint8Array>, r: LogRegion): Promise<Uint8Array> {
  const log = new Uint8Array(r.length);
  for (let at = 0; at < r.length; at += READ_CHUNK) {
    const n = Math.min(READ_CHUNK, r.length - at);
    const got = await read(r.offset + at, n);
    if (got.length < n) {
      throw new FormatError('VHDX_LOG_OUTSIDE_FILE', `log read at ${r.offset + at} returned ${got.length} of ${n} bytes`, { field: 'logOffset' });
    }
    log.set(got.subarray(0, n), at);
  }
  return log;
}

class Scanner {
  private readonly seen = new Map<number, Entry | string>();
  private readonly L: number;
  constructor(
    private readonly log: Uint8Array,
    private readonly sums: LogChecksums,
    private readonly guid: Uint8Array,
  ) {
    this.L = log.length;
  }

  /**
   * The spec's search: from each offset not yet covered, the longest chain of
   * valid entries, each right after the previous with the next sequence
   * number; a chain counts when its newest entry's tail is one of its entries.
   * The counting chain with the highest sequence number wins, cut to start at
   * that tail (older entries before it are already in place).
   */
  activeSequence(): Entry[] | null {
    let best: Entry[] | null = null;
    let at = 0;
    while (at < this.L) {
      const first = this.entryAt(at);
      if (typeof first === 'string') {
        at += LOG_SECTOR;
        continue;
      }
      const chain = [first];
      let span = first.length;
      for (;;) {
        const prev = chain[chain.length - 1];
        const next = this.entryAt((first.at + span) % this.L);
        // A sequence never holds more than the log: past that, the chain would reach its own first entry.
        if (typeof next === 'string' || next.sequence !== prev.sequence + 1n || span + next.length > this.L) break;
        chain.push(next);
        span += next.length;
      }
      const head = chain[chain.length - 1];
      const from = chain.findIndex((e) => e.at === head.tail);
      if (from >= 0 && (best === null || head.sequence > best[best.length - 1].sequence)) best = chain.slice(from);
      at += span;
    }
    return best;
  }

  /** The valid entry at log offset `at`, or why there is none (the code of the check that failed). */
  entryAt(at: number): Entry | string {
    let got = this.seen.get(at);
    if (got === undefined) {
      got = this.inspect(at);
      this.seen.set(at, got);
    }
    return got;
  }

  private inspect(at: number): Entry | string {
    const log = this.log;
    if (!hasSignature(log, at, LOG_ENTRY_SIGNATURE)) return 'VHDX_LOG_SIGNATURE';
    const h = decodeLogEntryHeader(log, at);
    try {
      checkLogEntryHeader(h, this.L, this.guid);
      const seq = h.sequenceNumber;
      const sectors = h.entryLength / LOG_SECTOR;
      const descSectors = descriptorSectors(h.descriptorCount);
      let data = 0;
      for (let i = 0; i < h.descriptorCount; i++) {
        const d = decodeLogDescriptor(log, this.pos(at, descriptorOffset(i)));
        checkLogDescriptor(d, seq);
        if (d.kind === 'data' && descSectors + ++data > sectors) return 'VHDX_LOG_DESCRIPTOR_COUNT';
      }
      for (let j = 0; j < data; j++) checkLogDataSector(decodeLogDataSector(log, this.pos(at, (descSectors + j) * LOG_SECTOR)), seq);
      if (this.sums.entry(at, h.entryLength) !== h.checksum) return 'VHDX_LOG_CHECKSUM';
      return {
        at,
        length: h.entryLength,
        sequence: seq,
        tail: h.tail,
        descriptorCount: h.descriptorCount,
        flushed: h.flushedFileOffset,
        last: h.lastFileOffset,
      };
    } catch (e) {
      if (e instanceof FormatError) return e.code;
      throw e;
    }
  }

  /** Log offset of byte `within` of the entry at `at`, circularly. */
  pos(at: number, within: number): number {
    return (at + within) % this.L;
  }

  /** True when a torn successor of `head` sits right after it (same log, next sequence number, but invalid). */
  tornAfter(head: Entry): string | null {
    const at = (head.at + head.length) % this.L;
    if (!hasSignature(this.log, at, LOG_ENTRY_SIGNATURE)) return null;
    const h = decodeLogEntryHeader(this.log, at);
    if (h.sequenceNumber !== head.sequence + 1n || !sameBytes(h.logGuid, this.guid)) return null;
    const why = this.entryAt(at);
    return typeof why === 'string' ? why : null;
  }
}

function build(log: Uint8Array, region: LogRegion, active: Entry[], scan: Scanner): LogReplay {
  const findings: LogFinding[] = [];
  const writes: LogWrite[] = [];
  let flushed = 0n;
  for (const e of active) {
    if (e.flushed > flushed) flushed = e.flushed;
    const descSectors = descriptorSectors(e.descriptorCount);
    let data = 0;
    for (let i = 0; i < e.descriptorCount; i++) {
      const d = decodeLogDescriptor(log, scan.pos(e.at, descriptorOffset(i)));
      const { offset, length } = checkLogDescriptor(d, e.sequence);
      refuseForbidden(region, offset, length, e.sequence);
      if (d.kind === 'zero') writes.push({ offset, length, data: null });
      else writes.push({ offset, length, data: joinUpdate(d, log, scan.pos(e.at, (descSectors + data++) * LOG_SECTOR)) });
    }
  }
  const head = active[active.length - 1];
  const lastFileOffset = safe(head.last, 'lastFileOffset');
  const flushedFileOffset = safe(flushed, 'flushedFileOffset');
  if (region.fileSize < flushedFileOffset) {
    findings.push({
      severity: 'error',
      code: 'VHDX_LOG_FILE_TRUNCATED',
      field: 'flushedFileOffset',
      message: `the file is ${region.fileSize} bytes, shorter than the ${flushedFileOffset} its log says were stable: it was truncated and is corrupt`,
    });
  }
  if (region.fileSize < lastFileOffset) {
    findings.push({
      severity: 'warning',
      code: 'VHDX_LOG_FILE_SHORT',
      field: 'lastFileOffset',
      message: `the file is ${region.fileSize} bytes, shorter than the log's last file offset ${lastFileOffset}: replay extends it`,
    });
  }
  const torn = scan.tornAfter(head);
  if (torn) {
    findings.push({
      severity: 'warning',
      code: 'VHDX_LOG_TORN_ENTRY',
      field: 'log',
      message: `log entry ${head.sequence + 1n} after the replayed sequence is incomplete (${torn}) and was not replayed: an interrupted write`,
    });
  }
  return {
    writes,
    lastFileOffset,
    flushedFileOffset,
    sequence: head.sequence,
    entries: active.length,
    tail: active[0].at,
    head: (head.at + head.length) % log.length,
    findings,
  };
}

/** A valid entry may still not touch the headers or the log itself: such a file is not to be trusted. */
function refuseForbidden(r: LogRegion, offset: number, length: number, seq: bigint): void {
  const end = offset + length;
  if (length > 0 && offset < HEADERS_END) {
    throw new FormatError('VHDX_LOG_WRITES_HEADERS', `log entry ${seq} writes ${offset}+${length}, into the file headers`, { field: 'fileOffset' });
  }
  if (length > 0 && offset < r.offset + r.length && end > r.offset) {
    throw new FormatError('VHDX_LOG_WRITES_LOG', `log entry ${seq} writes ${offset}+${length}, into the log itself`, { field: 'fileOffset' });
  }
}

function safe(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('VHDX_LOG_FILE_OFFSET', `log ${field} ${v} is beyond 2^53`, { field });
  return Number(v);
}

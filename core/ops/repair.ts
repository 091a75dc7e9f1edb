// Repairing what the file itself proves: a damaged trailing footer rewritten
// from the intact copy at offset 0 (or the copy from the intact trailing
// footer), and checksums recomputed only where every other field validates
// and agrees with a second copy or with the file. Nothing is guessed: any
// other problem is left and reported with its code.
//
// A footer is written only when the layout it describes is sound (header
// fields valid, blocks and metadata inside the data area, no overlaps), so a
// rewrite at offset 0 or at the end never lands on data something refers to.
// Writes are journaled with their before and after bytes; recovery reapplies
// them where each byte is still one or the other (a torn write) and leaves
// the journal otherwise.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { Finding } from '../errors.js';
import { uuidEqual, uuidToString } from '../format/bytes.js';
import { decodeFooter, DiskType, FOOTER_SIZE, sameFooterExceptChecksum, withFooterChecksum, type Footer } from '../format/footer.js';
import { withHeaderChecksum } from '../format/header.js';
import { readFooters, readLayout, usableCopy, type Layout } from '../disk/layout.js';
import { locatorToLocalPath, parentNameFile } from '../disk/parent.js';
import { VhdFile } from '../disk/vhd-file.js';
import { openFile, withOwnerWrite, type RandomAccessFile } from '../io/file.js';
import type { JobContext, Plan } from '../job.js';
import { throwIfCancelled } from '../job.js';
import * as z from 'zod/mini';
import { journalHeader, journalPath, journalSchema, offset, removeJournal, withActiveJournal, writeJournal } from '../journal.js';
import { defineOperation, diskRequest, journalKind, type RecoveryOutcome, writesOneDisk } from '../operation.js';
import { checkFile } from './check.js';
import { checkVhdxChain } from './check-vhdx.js';
import { diagnoseVhdx } from './repair-vhdx.js';
import { diskFormat } from '../disk/sniff.js';
import type { FileReport } from '../shapes.js';
import { isSameFile } from '../io/identity.js';
import { sizeText } from '../words.js';

export interface RepairItem {
  code: string;
  message: string;
}

export interface RepairPlan extends Plan {
  path: string;
  /** What will be rewritten and why. */
  fixes: RepairItem[];
  /** Errors found now that the repair will not touch (the re-check may find more). */
  remaining: RepairItem[];
  /** Why problems that looked repairable are left as they are. */
  notes: RepairItem[];
}

export interface RepairResult {
  path: string;
  fixed: RepairItem[];
  /** Errors the re-check still finds after the repair. */
  remaining: RepairItem[];
  /** Why problems that looked repairable were left as they are. */
  notes: RepairItem[];
}

export const repairJournalSchema = journalSchema('repair', {
  path: z.string(),
  writes: z.array(z.object({ at: offset, before: z.string(), after: z.string(), what: z.string() })),
  /** The file's size before the writes (a repair may write past its end): what a rollback cuts it back to. Absent in older journals. */
  oldSize: z.optional(offset),
});
export type RepairJournal = z.infer<typeof repairJournalSchema>;

export interface Write {
  at: number;
  data: Uint8Array;
  what: string;
}

export interface Diagnosis {
  writes: Write[];
  fixes: RepairItem[];
  /** Why problems we could have fixed were left (appended to the remaining list). */
  notes: RepairItem[];
  /** Size of the file after the writes (the legacy 511-byte footer becomes 512). */
  sizeAfter: number;
}

async function readAt(f: RandomAccessFile, at: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  const n = await f.read(buf, at);
  return buf.subarray(0, n);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function onlyCode(errors: Finding[], code: string): boolean {
  return errors.length > 0 && errors.every((e) => e.code === code);
}

/** Findings that do not make a layout unsound: checksums (the bytes they cover are placed right) are what repair fixes or leaves. */
const NOT_PLACEMENT = new Set(['HEADER_CHECKSUM', 'BATMAP_CHECKSUM']);

/** A differencing header's parent fields are confirmed when a locator or the parent name finds a disk with that id and size. */
async function parentConfirmed(path: string, layout: Layout): Promise<boolean> {
  const header = layout.header!;
  const virtualSize = Number(layout.footer!.currentSize);
  const dir = nodePath.dirname(nodePath.resolve(path));
  const candidates: string[] = [];
  for (const l of layout.locators) {
    const p = l.text === null || !l.complete ? null : locatorToLocalPath(l.entry.code, l.text, dir);
    if (p) candidates.push(p);
  }
  const name = parentNameFile(header.parentName);
  if (name) candidates.push(nodePath.join(dir, name));
  const self = nodePath.resolve(path);
  for (const c of new Set(candidates)) {
    if (nodePath.resolve(c) === self || (await isSameFile(c, self))) continue;
    const parent = await VhdFile.open(c).catch(() => null);
    if (!parent) continue;
    const ok = uuidEqual(parent.footer.uniqueId, header.parentUniqueId) && parent.virtualSize === virtualSize;
    await parent.close();
    if (ok) return true;
  }
  return false;
}

async function diagnose(path: string): Promise<Diagnosis> {
  const vhdx = (await diskFormat(path)) === 'vhdx';
  const f = await openFile(path, 'r');
  try {
    return await (vhdx ? diagnoseVhdx(f) : diagnoseOpen(path, f));
  } finally {
    await f.close();
  }
}

async function diagnoseOpen(path: string, f: RandomAccessFile): Promise<Diagnosis> {
  const d: Diagnosis = { writes: [], fixes: [], notes: [], sizeAfter: await f.size() };
  const fs = await readFooters(f);
  if (!fs) return d;
  const { fileSize, footerOffset } = fs;
  d.sizeAfter = fileSize;
  const t = fs.trailing.footer;
  const tErrors = fs.trailing.errors;
  // The 512-byte form of the trailing footer (the legacy form lacks the last reserved byte).
  const t512 = new Uint8Array(FOOTER_SIZE);
  t512.set(fs.trailing.raw);
  const cRaw = fs.copy?.raw ?? null;
  const c = fs.copy?.footer ?? null;
  const cErrors = fs.copy?.errors ?? null;
  const trailingWrite = (data: Uint8Array, what: string): Write => ({ at: footerOffset, data, what });

  let footer: Footer;
  const footerWrites: Write[] = [];
  const footerFixes: RepairItem[] = [];
  if (tErrors.length === 0) {
    footer = t;
    if (t.diskType === DiskType.Fixed) return d; // a fixed disk has no copy; its footer is fine
    if (!cRaw || !equalBytes(cRaw, t512)) {
      const code = cErrors && cErrors.length === 0 ? 'FOOTER_COPY_MISMATCH' : 'FOOTER_COPY_INVALID';
      footerWrites.push({ at: 0, data: t512, what: 'footer copy at offset 0, rewritten from the intact trailing footer' });
      footerFixes.push({ code, message: 'footer copy at offset 0 restored from the trailing footer (the one every reader uses)' });
    }
  } else if (usableCopy(fs)) {
    footer = c!;
    footerWrites.push(trailingWrite(cRaw!, 'trailing footer, rewritten from the intact copy at offset 0'));
    for (const e of tErrors) footerFixes.push({ code: e.code, message: `trailing footer: ${e.message} — restored from the copy at offset 0` });
  } else if (
    c &&
    onlyCode(tErrors, 'FOOTER_CHECKSUM') &&
    onlyCode(cErrors!, 'FOOTER_CHECKSUM') &&
    c.diskType !== DiskType.Fixed &&
    sameFooterExceptChecksum(t512, cRaw!)
  ) {
    // Two copies agree in every field and each field validates: only the checksum is wrong.
    const fixedRaw = withFooterChecksum(cRaw!);
    footer = decodeFooter(fixedRaw);
    footerWrites.push(trailingWrite(fixedRaw, 'trailing footer, checksum recomputed'), {
      at: 0,
      data: fixedRaw,
      what: 'footer copy at offset 0, checksum recomputed',
    });
    footerFixes.push({
      code: 'FOOTER_CHECKSUM',
      message: 'the trailing footer and its copy at offset 0 agree in every field but both carry a wrong checksum; checksum recomputed',
    });
  } else {
    const why =
      t.diskType === DiskType.Fixed && onlyCode(tErrors, 'FOOTER_CHECKSUM')
        ? 'a fixed disk keeps no second copy of its footer to prove the other fields'
        : 'no intact copy of the footer exists to restore it from';
    d.notes.push({ code: tErrors[0].code, message: `trailing footer is not repairable: ${why}` });
    return d;
  }

  // The layout this footer describes, in the file as it will be after the footer writes.
  const sizeAfter = footerWrites.some((w) => w.at === footerOffset) ? Math.max(fileSize, footerOffset + FOOTER_SIZE) : fileSize;
  const layout = await readLayout(f, { footer, fileSize: sizeAfter });
  const errors = layout.findings.errors;
  if (!layout.header || errors.some((e) => e.code === 'HEADER_OUT_OF_FILE')) {
    d.notes.push({ code: 'HEADER_OUT_OF_FILE', message: 'the dynamic header lies outside the data area; nothing can be proven, nothing was written' });
    return d;
  }
  const unsound = errors.filter((e) => !NOT_PLACEMENT.has(e.code));
  if (unsound.length > 0 || !layout.usable) {
    const codes = unsound.map((e) => e.code);
    d.notes.push({
      code: 'NOT_PROVEN',
      message: `the layout the footer describes is not sound (${[...new Set(codes)].join(', ')}); footers and checksums were left as they are`,
    });
    return d;
  }
  d.writes.push(...footerWrites);
  d.fixes.push(...footerFixes);
  d.sizeAfter = sizeAfter;

  if (errors.some((e) => e.code === 'HEADER_CHECKSUM')) {
    const differencing = footer.diskType === DiskType.Differencing;
    if (differencing && !(await parentConfirmed(path, layout))) {
      d.notes.push({
        code: 'HEADER_CHECKSUM',
        message: `dynamic header checksum is wrong and no disk with the parent id ${uuidToString(layout.header.parentUniqueId)} was found to confirm its parent fields; left as it is`,
      });
    } else {
      d.writes.push({ at: Number(footer.dataOffset), data: withHeaderChecksum(layout.headerRaw!), what: 'dynamic header, checksum recomputed' });
      d.fixes.push({
        code: 'HEADER_CHECKSUM',
        message: `dynamic header checksum recomputed: every other field validates${differencing ? ', its parent was found by id' : ''} and the layout it describes is sound`,
      });
    }
  }
  return d;
}

function items(fs: Finding[]): RepairItem[] {
  return fs.map((e) => ({ code: e.code, message: e.message }));
}

/** The check of the file itself (and its link to its parent), either format. */
async function checkReport(path: string): Promise<FileReport> {
  if ((await diskFormat(path)) === 'vhdx') return (await checkVhdxChain(path))[0];
  return (await checkFile(path)).report;
}

export async function planRepair(filePath: string): Promise<RepairPlan> {
  const path = nodePath.resolve(filePath);
  const d = await diagnose(path);
  const report = await checkReport(path);
  const fixedCodes = new Set(d.fixes.map((x) => x.code));
  const remaining = items(report.errors.filter((e) => !fixedCodes.has(e.code)));
  const name = nodePath.basename(path);
  return {
    operation: 'repair',
    summary:
      d.writes.length > 0
        ? `repair ${name}: ${d.fixes.map((x) => x.code).join(', ')}${remaining.length ? `; ${remaining.length} problem${remaining.length === 1 ? '' : 's'} cannot be repaired` : ''}`
        : remaining.length > 0
          ? `nothing in ${name} can be repaired safely; ${remaining.length} problem${remaining.length === 1 ? ' remains' : 's remain'}`
          : `${name} needs no repair`,
    changes: d.writes.map((w) => ({ path, action: 'modify' as const, detail: `${w.what} (${sizeText(w.data.length)} at offset ${w.at})` })),
    bytesToCopy: 0,
    worstCaseGrowth: d.sizeAfter - (await fsp.stat(path)).size,
    freeSpace: null,
    refusals: [],
    path,
    fixes: d.fixes,
    remaining,
    notes: d.notes,
  };
}

/** Repairs what its own diagnosis finds now (the runner adds locks, recovery and the in-use guard: core/operations.ts). */
export async function repair(filePath: string, ctx: JobContext = {}): Promise<RepairResult> {
  const path = nodePath.resolve(filePath);
  const d = await diagnose(path);
  throwIfCancelled(ctx);
  if (d.writes.length > 0) {
    const f = await openFile(path, 'r');
    const writes: RepairJournal['writes'] = [];
    let oldSize: number;
    try {
      oldSize = await f.size();
      for (const w of d.writes)
        writes.push({
          at: w.at,
          before: Buffer.from(await readAt(f, w.at, w.data.length)).toString('base64'),
          after: Buffer.from(w.data).toString('base64'),
          what: w.what,
        });
    } finally {
      await f.close();
    }
    const j: RepairJournal = { ...journalHeader('repair', 'write'), path, writes, oldSize };
    const jpath = journalPath(path);
    await writeJournal(jpath, j);
    await withActiveJournal(jpath, async () => {
      await applyWrites(j);
      await removeJournal(jpath);
    });
  }
  // The re-check is the verdict: a fix counts only if its problem is gone (a VHDX's damaged copy is a warning).
  const report = await checkReport(path);
  const still = new Set([...report.errors, ...report.warnings].map((e) => e.code));
  return { path, fixed: d.fixes.filter((x) => !still.has(x.code)), remaining: items(report.errors), notes: d.notes };
}

async function applyWrites(j: RepairJournal): Promise<void> {
  await withOwnerWrite(j.path, async () => {
    const f = await openFile(j.path, 'r+');
    try {
      for (const w of j.writes) await f.write(new Uint8Array(Buffer.from(w.after, 'base64')), w.at);
      await f.sync();
    } finally {
      await f.close();
    }
  });
}

/**
 * The first offset of a journaled write whose byte is neither the one the
 * repair found there nor the one it writes (someone else changed the file),
 * else null. A byte past the old bytes (the write extended the file) counts
 * as found whatever it is, unless `strict` (a rollback cannot put it back).
 */
async function foreignByte(f: RandomAccessFile, j: RepairJournal, strict: boolean): Promise<number | null> {
  for (const w of j.writes) {
    const before = Buffer.from(w.before, 'base64');
    const after = Buffer.from(w.after, 'base64');
    const cur = await readAt(f, w.at, after.length);
    for (let i = 0; i < cur.length; i++) {
      const found = i < before.length ? before[i] : strict ? after[i] : cur[i];
      if (cur[i] !== found && cur[i] !== after[i]) return w.at + i;
    }
  }
  return null;
}

const changedSince = (path: string, at: number) => `${path} changed at ${at} since the repair was planned; repair journal left in place`;

/** Recovery: reapplies the writes where every byte is still its before or after value. */
export async function recoverRepair(jpath: string, j: RepairJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    const f = await openFile(j.path, 'r').catch(() => null);
    if (!f) return { action: 'left', detail: `${j.path} cannot be opened; repair journal left in place` };
    try {
      const at = await foreignByte(f, j, false);
      if (at !== null) return { action: 'left', detail: changedSince(j.path, at) };
    } finally {
      await f.close();
    }
    await applyWrites(j);
    await removeJournal(jpath);
    return { action: 'completed', detail: `finished repairing ${j.path} (${j.writes.map((w) => w.what).join('; ')})` };
  });
}

/** Rollback: every byte written goes back to its before value and the file to its old size (only where nothing else changed it since). */
export async function rollbackRepair(jpath: string, j: RepairJournal): Promise<RecoveryOutcome> {
  return withActiveJournal(jpath, async () => {
    const out = await withOwnerWrite(j.path, async () => {
      const f = await openFile(j.path, 'r+').catch(() => null);
      if (!f) return { action: 'left' as const, detail: `${j.path} cannot be opened; repair journal left in place` };
      try {
        const at = await foreignByte(f, j, true);
        if (at !== null) return { action: 'left' as const, detail: changedSince(j.path, at) };
        for (const w of [...j.writes].reverse()) await f.write(new Uint8Array(Buffer.from(w.before, 'base64')), w.at);
        if (j.oldSize !== undefined && (await f.size()) > j.oldSize) await f.truncate(j.oldSize);
        await f.sync();
        return { action: 'discarded' as const, detail: `repair of ${j.path} rolled back; the file is as it was before` };
      } finally {
        await f.close();
      }
    });
    if (out.action === 'discarded') await removeJournal(jpath);
    return out;
  });
}
/** Repair items as the CLI lists them, one line each, every line starting on a new line. */
const itemLines = (kind: string, xs: RepairItem[]): string => xs.map((x) => `\n  ${kind} ${x.code}: ${x.message}`).join('');

export const repairOperation = defineOperation({
  op: 'repair',
  request: diskRequest,
  ...writesOneDisk,
  plan: (r) => planRepair(r.disk),
  run: (r, ctx) => repair(r.disk, ctx),
  cli: {
    args: '<file>',
    about:
      'Repairs what the file itself proves: a damaged footer from its intact copy, checksums where every other field agrees, a VHDX header or region table from its intact copy; anything else is reported, not guessed.',
    positional: ['disk'],
    print: (r) =>
      `${r.path}: ${r.fixed.length ? `repaired ${r.fixed.length} problem(s)` : 'nothing repaired'}${r.remaining.length ? `, ${r.remaining.length} error(s) remain` : ', no errors remain'}${itemLines('fixed  ', r.fixed)}${itemLines('remains', r.remaining)}${itemLines('note   ', r.notes)}`,
    exitCode: (r) => (r.remaining.length > 0 ? 1 : 0),
    planDetail: (p) => `${itemLines('fix    ', p.fixes)}${itemLines('remains', p.remaining)}${itemLines('note   ', p.notes)}`,
    planExitCode: (p) => (p.remaining.length > 0 ? 1 : 0),
  },
  // Without the old size (older journals) bytes written past the old end could not be taken back: finished instead.
  journal: journalKind(repairJournalSchema, recoverRepair, { rollback: rollbackRepair, pastNoReturn: (j) => j.oldSize === undefined }),
});

// Human-readable rendering of CLI results.
import * as nodePath from 'node:path';
import type { Finding } from '../errors.js';
import type { FileReport } from '../ops/check.js';
import type { DiskInfo } from '../ops/info.js';
import type { Forest, TreeNode } from '../library/scan.js';
import type { Plan, Progress } from '../job.js';
import type { RecoverReport } from '../ops/recover.js';
import { sizeText, sizeWithBytes } from '../size.js';

export function renderInfo(i: DiskInfo): string {
  const lines = [
    `${i.path}`,
    `  type:          ${i.format === 'vhdx' ? 'VHDX ' : ''}${i.type}${i.name ? `  "${i.name}"` : ''}`,
    ...(i.description ? [`  description:   ${i.description}`] : []),
    `  virtual size:  ${sizeWithBytes(i.virtualSize)}`,
    `  file size:     ${sizeWithBytes(i.fileSize)}`,
  ];
  if (i.blockSize !== null) lines.push(`  block size:    ${sizeText(i.blockSize)}`, `  blocks:        ${i.allocatedBlocks} of ${i.totalBlocks} allocated`);
  lines.push(
    `  id:            ${i.uuid}`,
    `  ${i.format === 'vhdx' ? 'modified:  ' : 'created:   '}    ${i.timestamp}`,
    i.format === 'vhdx' ? `  creator:       "${i.creatorApp}"` : `  creator:       "${i.creatorApp}" ${i.creatorVersion} on ${i.creatorHostOs || '?'}`,
  );
  if (i.vhdx) {
    const x = i.vhdx;
    lines.push(
      `  sectors:       ${x.logicalSectorSize}-byte logical, ${x.physicalSectorSize}-byte physical`,
      `  disk id:       ${x.diskId ?? '(none)'}`,
      `  header:        copy ${x.header.copy}, sequence ${x.header.sequence}`,
    );
    if (x.logEntriesReplayed > 0) lines.push(`  log:           ${x.logEntriesReplayed} entries replayed in memory (not closed cleanly; the file is unchanged)`);
  }
  if (i.parent) {
    lines.push(`  parent:        ${i.parent.path ?? '(not found)'}`, `  parent id:     ${i.parent.uuid}`, `  parent name:   ${i.parent.name}`);
    for (const l of i.parent.locators) lines.push(`  locator ${l.platform}:  ${l.path ?? '(unreadable)'}`);
  }
  if (i.chain.length > 1) lines.push(`  chain:         ${i.chain.map((p) => nodePath.basename(p)).join(' → ')}`);
  if (i.chainError) lines.push(`  chain error:   ${i.chainError.code}: ${i.chainError.message}`);
  for (const w of i.warnings) lines.push(`  warning:       ${w.code}: ${w.message}`);
  return lines.join('\n');
}

function findingLines(kind: string, fs: Finding[]): string[] {
  return fs.map((f) => `  ${kind} ${f.code}: ${f.message}`);
}

export function renderCheck(reports: FileReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    const status = r.ok ? (r.warnings.length ? 'ok (with warnings)' : 'ok') : `${r.errors.length} error(s)`;
    out.push(`${r.path}: ${status}`);
    out.push(...findingLines('error  ', r.errors), ...findingLines('warning', r.warnings));
  }
  return out.join('\n');
}

export function renderTree(f: Forest): string {
  const out: string[] = [];
  const walk = (n: TreeNode, prefix: string, last: boolean, root: boolean) => {
    const branch = root ? '' : last ? '└─ ' : '├─ ';
    const label = `${n.name ? ` "${n.name}"` : ''}${n.description ? ` (${n.description})` : ''}`;
    // One "← now" per tree: the active disk (core/library/active.ts); other leaves are saved states.
    const leaf = n.active ? '  ← now' : n.state === 'saved' ? '  (saved state)' : '';
    const ext = n.external ? ' [outside the scanned folders]' : '';
    out.push(
      `${prefix}${branch}${nodePath.basename(n.path)}${label}  ${n.format === 'vhdx' ? 'VHDX ' : ''}${n.type}, ${sizeText(n.virtualSize)}, file ${sizeText(n.fileSize)}${ext}${leaf}`,
    );
    const childPrefix = root ? '' : prefix + (last ? '   ' : '│  ');
    n.children.forEach((c, i) => walk(c, childPrefix, i === n.children.length - 1, false));
  };
  for (const r of f.roots) walk(r, '', true, true);
  if (f.roots.length === 0) out.push('(no disks)');
  for (const o of f.orphans) out.push(`orphan ${nodePath.basename(o.path)}: ${o.code}: ${o.reason}`);
  for (const u of f.unreadable) out.push(`unreadable ${nodePath.basename(u.path)}: ${u.code}: ${u.reason}`);
  return out.join('\n');
}

/** One status line, redrawn in place on a terminal. */
export function renderProgress(p: Progress): string {
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
  const eta = p.eta === null ? '' : `, ${Math.ceil(p.eta)} s left`;
  return `${p.phase}: ${pct}% (${sizeText(p.done)} of ${sizeText(p.total)}, ${sizeText(p.rate)}/s${eta})`;
}

export function renderPlan(p: Plan): string {
  const lines = [`plan: ${p.summary}`];
  if (p.keepLose) lines.push(`  ${p.keepLose}`);
  for (const c of p.changes) lines.push(`  ${c.action.padEnd(6)} ${c.path}${c.detail ? ` (${c.detail})` : ''}`);
  lines.push(`  copy:        ${sizeText(p.bytesToCopy)}`, `  may grow by: ${sizeText(p.worstCaseGrowth)}`);
  if (p.freeSpace !== null) lines.push(`  free space:  ${sizeText(p.freeSpace)}`);
  for (const n of p.cautions ?? []) lines.push(`  caution: ${n}`);
  for (const r of p.refusals) lines.push(`  refused ${r.code}: ${r.message}`);
  if (p.refusals.length === 0) lines.push('  (dry run: nothing was written)');
  return lines.join('\n');
}

/** `recover` (and its dry run): the journals handled, then every temp and lock file removed or kept, and the bytes freed. */
export function renderRecover(r: RecoverReport): string {
  const lines: string[] = [];
  for (const x of r.pending)
    lines.push(
      `${x.op}${x.phase ? ` (phase ${x.phase})` : ''}${x.busy ? ' — in progress in another process' : ''}: ${x.journal}\n  ${x.busy ? 'would wait for it' : x.would}`,
    );
  for (const x of r.recoveries) lines.push(`${x.op}: ${x.action} — ${x.detail}`);
  const verb = r.dryRun ? 'would remove' : 'removed';
  for (const x of r.removed) lines.push(`${verb} ${x.kind} ${nodePath.basename(x.path)} (${sizeWithBytes(x.bytes)}): ${x.detail}`);
  for (const x of r.kept) lines.push(`kept ${x.kind} ${nodePath.basename(x.path)}: ${x.detail}`);
  if (lines.length === 0) return 'nothing to recover\n';
  if (r.removed.length > 0)
    lines.push(`${r.dryRun ? 'would free' : 'freed'} ${sizeWithBytes(r.bytesFreed)} in ${r.removed.length} file${r.removed.length > 1 ? 's' : ''}`);
  return lines.join('\n') + '\n';
}

// check of a VHDX file and its chain: every structure the layout reader
// sees with `full` (both headers and region tables, CRC-32C of each, the
// metadata, every BAT entry's state and extent, overlaps, the log), then the
// link to its parent by parent_linkage, file after file down to the base.
import * as nodePath from 'node:path';
import { VhdError } from '../errors.js';
import { Findings } from '../disk/layout.js';
import { MAX_CHAIN_DEPTH } from '../disk/chain.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { readVhdxLayout } from '../disk/vhdx-layout.js';
import { resolveVhdxParent } from '../disk/vhdx-parent.js';
import { openFile } from '../io/file.js';
import { fileKeyOrNull } from '../io/identity.js';
import { throwIfCancelled, type JobContext } from '../job.js';
import type { FileReport } from '../shapes.js';

async function structureOf(path: string, findings: Findings): Promise<FileReport['type']> {
  const raw = await openFile(path, 'r');
  try {
    const layout = await readVhdxLayout(raw, { full: true, findings });
    const m = layout.metadata;
    if (layout.fatal || !m) return null;
    return m.hasParent ? 'differencing' : m.leaveBlocksAllocated ? 'fixed' : 'dynamic';
  } finally {
    await raw.close();
  }
}

/** One report per file, from `path` down to the base (or to the first file whose parent cannot be found). */
export async function checkVhdxChain(path: string, opts: JobContext & { parentPath?: string } = {}): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  const seen = new Set<string>();
  let next: string | null = path;
  while (next) {
    throwIfCancelled(opts);
    const here: string = next;
    next = null;
    const findings = new Findings();
    const type = await structureOf(here, findings);
    const key = (await fileKeyOrNull(here)) ?? `path:${nodePath.resolve(here)}`;
    seen.add(key);
    if (type === 'differencing') {
      const child = await VhdxFile.open(here).catch((err: unknown) => {
        if (err instanceof VhdError) return null;
        throw err;
      });
      try {
        if (child) {
          const parent = await resolveVhdxParent(child, { explicit: reports.length === 0 ? opts.parentPath : undefined });
          await parent.layer.close();
          for (const w of parent.warnings) findings.add('warning', w);
          const pk = (await fileKeyOrNull(parent.layer.path)) ?? `path:${nodePath.resolve(parent.layer.path)}`;
          if (seen.has(pk)) {
            findings.error('CHAIN_CYCLE', 'parentLocator.parent_linkage', `${here}: the parent chain loops back to ${parent.layer.path}`);
          } else if (reports.length + 1 >= MAX_CHAIN_DEPTH) {
            findings.error('CHAIN_TOO_DEEP', 'parentLocator', `${path}: chain is deeper than ${MAX_CHAIN_DEPTH} files`);
          } else next = parent.layer.path;
        }
      } catch (err) {
        if (!(err instanceof VhdError)) throw err;
        findings.add('error', { code: err.code, field: err.field, message: err.message });
      } finally {
        await child?.close();
      }
    }
    findings.finish();
    reports.push({ path: here, ok: findings.errors.length === 0, type, errors: findings.errors, warnings: findings.warnings });
  }
  return reports;
}

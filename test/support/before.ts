// "Cancel means before": what every disk of a folder shows (hash through its
// chain) and each file's size, taken before a job and compared after its
// cancel or rollback.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { expect } from 'vitest';
import { hasDiskExtension } from '../../core/io/file.js';
import { checkPaths } from '../../core/ops/check.js';
import { readThrough } from './tree.js';

export interface FolderBefore {
  /** Disk name → sha256 of its whole virtual disk read through its chain. */
  views: Record<string, string>;
  /** Disk name → file size. */
  sizes: Record<string, number>;
  /** Disk name → the codes check reports for it (errors and warnings: a rollback that leaves a stale parent timestamp is not "before"). */
  findings: Record<string, string[]>;
}

export async function takeBefore(dir: string): Promise<FolderBefore> {
  const views: Record<string, string> = {};
  const sizes: Record<string, number> = {};
  const findings: Record<string, string[]> = {};
  for (const n of readdirSync(dir).sort()) {
    if (!hasDiskExtension(n)) continue;
    views[n] = createHash('sha256')
      .update(await readThrough(nodePath.join(dir, n)))
      .digest('hex');
    sizes[n] = statSync(nodePath.join(dir, n)).size;
    const [report] = await checkPaths([nodePath.join(dir, n)]);
    findings[n] = [...report.errors, ...report.warnings].map((f) => f.code).sort();
  }
  return { views, sizes, findings };
}

/**
 * Every disk reads as before, its file within `slack` bytes of its old size
 * (one block), and no journal, undo record or temp file is left.
 */
export async function expectBefore(dir: string, before: FolderBefore, slack: number): Promise<void> {
  const now = await takeBefore(dir);
  expect(now.views).toEqual(before.views);
  expect(now.findings).toEqual(before.findings);
  for (const [n, size] of Object.entries(before.sizes))
    expect(Math.abs(now.sizes[n] - size), `${n}: size ${now.sizes[n]}, was ${size}`).toBeLessThanOrEqual(slack);
  expect(readdirSync(dir).filter((n) => n.startsWith('.vhdsnap-journal-') || n.endsWith('.tmp'))).toEqual([]);
}

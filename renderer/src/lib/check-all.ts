// "Check all" for a folder. The check operation takes one disk and checks it
// with its whole chain, so checking each leaf covers every disk of the folder
// (each disk is a leaf or an ancestor of one). The checks run one after the
// other, each as an ordinary check job: a folder of many chains does not start
// a worker per chain at once.
import type { DiskNode, DiskRef } from '../../../server/api';

/** The leaves of a forest: checking each with its chain checks every disk. */
export function checkTargets(roots: readonly DiskNode[]): DiskRef[] {
  const out: DiskRef[] = [];
  const walk = (n: DiskNode) => {
    if (n.children.length === 0) out.push(n.ref);
    n.children.forEach(walk);
  };
  roots.filter((r) => !r.external).forEach(walk);
  return out;
}

/**
 * Runs `start` for each disk in turn, waiting for each job to end; a disk
 * whose check cannot start (busy with another job) is skipped and counted.
 */
export async function checkInTurn(
  disks: readonly DiskRef[],
  start: (disk: DiskRef) => Promise<string>,
  ended: (jobId: string) => Promise<void>,
): Promise<{ checked: number; skipped: number }> {
  let checked = 0;
  let skipped = 0;
  for (const disk of disks) {
    let jobId: string;
    try {
      jobId = await start(disk);
    } catch {
      skipped++;
      continue;
    }
    await ended(jobId);
    checked++;
  }
  return { checked, skipped };
}

// What a delete or merge gives back (Plan.frees), exactly: the files it
// removes, less what the disks that stay grow by. They grow only by appends
// at their end (vhd-file.ts): a whole block (its bitmap and data) for each
// block they must take data into and do not have, and a locator region per
// relink (relink.ts writes the new parent's locators past the footer). Both
// are known before the run, so the figure is the one the run will produce.
import { promises as fsp } from 'node:fs';
import { VhdFile } from '../disk/vhd-file.js';
import { bitRuns } from '../format/bitmap.js';
import { alignUp, SECTOR } from '../format/bytes.js';
import { FOOTER_SIZE } from '../format/footer.js';
import { parentLocatorPayloads } from './create.js';

/** A disk the run keeps that grows: by `appended` bytes written where its footer is now. */
export interface Receiver {
  path: string;
  footerOffset: number;
  appended: number;
}

/** Blocks `target` must add to take every sector `source` stores itself: its absent blocks that such a sector falls in (none for a fixed target). */
export async function blocksToAdd(source: VhdFile, target: VhdFile): Promise<number> {
  if (target.type === 'fixed') return 0;
  const fresh = new Set<number>();
  for await (const [b, bm] of source.bitmaps(source.physicalOrder())) {
    for (const r of bitRuns(bm, 0, source.sectorsInBlock(b))) {
      if (!r.set) continue;
      const first = b * source.sectorsPerBlock + r.start;
      const last = first + r.length - 1;
      for (let tb = Math.floor(first / target.sectorsPerBlock); tb <= Math.floor(last / target.sectorsPerBlock); tb++) {
        if (target.blockOffset(tb) === null) fresh.add(tb);
      }
    }
  }
  return fresh.size;
}

/** Bytes `n` new blocks add to `target`: each its bitmap and its data. */
export function blockBytes(target: VhdFile, n: number): number {
  return target.type === 'fixed' ? 0 : n * (target.bitmapSize + target.blockSize);
}

/** Bytes a relink of `child` to `parent` appends to the child: its parent locators' payloads, each padded to whole sectors. */
export function relinkBytes(child: string, parent: string): number {
  return parentLocatorPayloads(child, parent).reduce((n, p) => n + alignUp(Math.max(p.data.length, 1), SECTOR), 0);
}

/** A receiver that is not open yet (a grandchild to relink): its footer read from the file. */
export async function receiverAt(path: string, appended: number): Promise<Receiver> {
  const f = await VhdFile.open(path);
  try {
    return { path, footerOffset: f.footerOffset, appended };
  } finally {
    await f.close();
  }
}

/** The removed files' sizes less the receivers' growth (negative: the folder grows). A file past its footer (slack) grows only past that slack. */
export async function freedBytes(removed: readonly string[], receivers: readonly Receiver[]): Promise<number> {
  let n = 0;
  for (const p of removed) n += (await fsp.stat(p)).size;
  for (const r of receivers) {
    if (r.appended === 0) continue;
    const size = (await fsp.stat(r.path)).size;
    n -= Math.max(0, alignUp(r.footerOffset, SECTOR) + r.appended + FOOTER_SIZE - size);
  }
  return n;
}

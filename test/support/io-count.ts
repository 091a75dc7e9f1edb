// Counts, per file, what core/io/file.ts's opener hands out: opens, reads,
// bytes read and fsyncs. Tests of per-file work compare these counts (never timings).
import * as nodePath from 'node:path';
import { nodeOpener, setFileOpener } from '../../core/io/file.js';

export interface FileCounts {
  opens: number;
  reads: number;
  bytes: number;
  syncs: number;
}

export interface IoCounter {
  /** Counts by absolute path. */
  readonly files: Map<string, FileCounts>;
  /** Counts of one path (zeros when never opened). */
  of(path: string): FileCounts;
  /** The largest count of `what` over the given paths. */
  max(paths: string[], what: keyof FileCounts): number;
  reset(): void;
  restore(): void;
}

/** Replaces the opener with a counting wrapper around the real one until restore(). */
export function countIo(): IoCounter {
  const files = new Map<string, FileCounts>();
  const at = (p: string): FileCounts => {
    const k = nodePath.resolve(p);
    let c = files.get(k);
    if (!c) files.set(k, (c = { opens: 0, reads: 0, bytes: 0, syncs: 0 }));
    return c;
  };
  const restore = setFileOpener(async (p, mode) => {
    const f = await nodeOpener(p, mode);
    const c = at(p);
    c.opens++;
    return {
      path: f.path,
      writable: f.writable,
      read: async (buf, position) => {
        c.reads++;
        const n = await f.read(buf, position);
        c.bytes += n;
        return n;
      },
      write: (b, position) => f.write(b, position),
      size: () => f.size(),
      truncate: (n) => f.truncate(n),
      sync: () => {
        c.syncs++;
        return f.sync();
      },
      close: () => f.close(),
    };
  });
  const of = (p: string) => files.get(nodePath.resolve(p)) ?? { opens: 0, reads: 0, bytes: 0, syncs: 0 };
  return {
    files,
    of,
    max: (paths, what) => Math.max(0, ...paths.map((p) => of(p)[what])),
    reset: () => files.clear(),
    restore,
  };
}

// Long copies (import, export, flatten) fsync in the background as they go
// (FlushAhead in core/ops/transfer.ts), so writeback overlaps the copy. The
// output is still durable and exact, and a failed background fsync fails the
// copy, leaving no output behind.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { IoError } from '../../core/errors.js';
import { nodeOpener, setFileOpener } from '../../core/io/file.js';
import { exportRaw, importRaw } from '../../core/ops/transfer.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-transfer-flush-');
let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

const MiB = 1024 * 1024;
/** More than one FLUSH_EVERY (64 MiB) of non-zero data. */
const SIZE = 80 * MiB;

function rawImage(): Buffer {
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 4096) b.writeUInt32LE((i * 2654435761) >>> 0 || 1, i);
  return b;
}

/** Counts fsyncs of the files created ('wx': outputs under their temporary name); `failFirst` makes the first one fail. */
function watchSyncs(failFirst = false): { syncs: () => number } {
  let n = 0;
  restore = setFileOpener(async (p, mode) => {
    const f = await nodeOpener(p, mode);
    if (mode !== 'wx') return f;
    return {
      path: f.path,
      writable: f.writable,
      opened: f.opened,
      read: (b, at) => f.read(b, at),
      write: (b, at) => f.write(b, at),
      size: () => f.size(),
      truncate: (len) => f.truncate(len),
      sync: async () => {
        n++;
        if (failFirst && n === 1) throw new IoError('IO_EIO', `cannot fsync ${p}: EIO: i/o error, fsync`, { path: p });
        await f.sync();
      },
      close: () => f.close(),
    };
  });
  return { syncs: () => n };
}

describe('transfer: background fsyncs', () => {
  it('import and export of 80 MiB fsync more than once and write the exact image', async () => {
    const raw = rawImage();
    writeFileSync(tmp.file('in.raw'), raw);
    let w = watchSyncs();
    await importRaw(tmp.file('in.raw'), tmp.file('d.vhd'));
    // At least one background fsync before the final one.
    expect(w.syncs()).toBeGreaterThanOrEqual(2);
    restore!();
    w = watchSyncs();
    await exportRaw(tmp.file('d.vhd'), tmp.file('out.raw'));
    expect(w.syncs()).toBeGreaterThanOrEqual(2);
    expect(readFileSync(tmp.file('out.raw')).equals(raw)).toBe(true);
  });

  it('a failed background fsync fails the export and leaves no output', async () => {
    writeFileSync(tmp.file('in.raw'), rawImage());
    await importRaw(tmp.file('in.raw'), tmp.file('d.vhd'));
    watchSyncs(true);
    await expect(exportRaw(tmp.file('d.vhd'), tmp.file('out.raw'))).rejects.toMatchObject({ code: 'IO_EIO' });
    expect(readdirSync(tmp.dir).sort()).toEqual(['d.vhd', 'in.raw']);
  });
});

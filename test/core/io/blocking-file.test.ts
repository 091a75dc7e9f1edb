// The blocking read path a folder scan opens files with (BlockingFile in
// core/io/file.ts): the same bytes and the same typed errors as the
// thread-pool path, read-only, and no hang on a FIFO.
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { VhdError } from '../../../core/errors.js';
import { nodeOpener } from '../../../core/io/file.js';
import { useTmpDir } from '../../support/tmp.js';

const tmp = useTmpDir('vhdsnap-blocking-');

async function failure(p: Promise<unknown>): Promise<VhdError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VhdError);
  return err as VhdError;
}

describe('blocking opens', () => {
  it('read what the thread-pool path reads, short only at the end, with the identity fstat gave', async () => {
    const p = nodePath.join(tmp.dir, 'data.bin');
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    await fsp.writeFile(p, bytes);
    const blocking = await nodeOpener(p, 'r', { blocking: true });
    const pooled = await nodeOpener(p, 'r');
    try {
      for (const [pos, len] of [
        [0, 512],
        [4000, 1000],
        [4500, 1000],
        [6000, 10],
      ]) {
        const a = Buffer.alloc(len);
        const b = Buffer.alloc(len);
        const na = await blocking.read(a, pos);
        expect(na).toBe(await pooled.read(b, pos));
        expect(na).toBe(Math.max(0, Math.min(len, bytes.length - pos)));
        expect(a.equals(b)).toBe(true);
      }
      expect(await blocking.size()).toBe(5000);
      expect(blocking.opened).toEqual(pooled.opened);
      expect(blocking.writable).toBe(false);
      expect((await failure(blocking.write(Buffer.alloc(1), 0))).code).toBe('READ_ONLY');
      expect((await failure(blocking.truncate(0))).code).toBe('READ_ONLY');
    } finally {
      await blocking.close();
      await pooled.close();
    }
    // Closed: a read is a typed error, a second close is harmless.
    expect((await failure(blocking.read(Buffer.alloc(1), 0))).code).toBe('EBADF');
    await blocking.close();
    // A writable open ignores the hint.
    const rw = await nodeOpener(p, 'r+', { blocking: true });
    expect(rw.writable).toBe(true);
    await rw.close();
  });

  it('give the typed errors of the other path: a missing file, a folder, a FIFO (without waiting for a writer)', async () => {
    const missing = nodePath.join(tmp.dir, 'missing.vhd');
    const a = await failure(nodeOpener(missing, 'r', { blocking: true }));
    const b = await failure(nodeOpener(missing, 'r'));
    expect([a.code, a.constructor]).toEqual([b.code, b.constructor]);
    expect(a.message).toContain(missing);
    expect((await failure(nodeOpener(tmp.dir, 'r', { blocking: true }))).code).toBe('NOT_A_FILE');
    if (process.platform !== 'win32') {
      const fifo = nodePath.join(tmp.dir, 'pipe.vhd');
      execFileSync('mkfifo', [fifo]);
      expect((await failure(nodeOpener(fifo, 'r', { blocking: true }))).code).toBe('NOT_A_FILE');
    }
  });
});

// openAll: several opens, all or none. A failed open must not leave the
// others open (checked against the real descriptors in /proc/self/fd).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IoError } from '../../../core/errors.js';
import { closeAll, openAll, openFile } from '../../../core/io/file.js';
import { newDescriptors, openDescriptors } from '../../support/fds.js';
import { useTmpDir } from '../../support/tmp.js';

const tmp = useTmpDir('vhdsnap-openall-');

describe('openAll', () => {
  it('returns every handle when all opens succeed', async () => {
    writeFileSync(tmp.file('a'), 'a');
    writeFileSync(tmp.file('b'), 'bb');
    const [a, b] = await openAll([openFile(tmp.file('a'), 'r'), openFile(tmp.file('b'), 'r')]);
    expect([await a.size(), await b.size()]).toEqual([1, 2]);
    await closeAll([a, b]);
  });

  it('closes the handles that opened when another open fails, and rethrows that failure', async () => {
    writeFileSync(tmp.file('a'), 'a');
    writeFileSync(tmp.file('c'), 'c');
    const before = openDescriptors();
    const err = await openAll([openFile(tmp.file('a'), 'r'), openFile(tmp.file('missing'), 'r'), openFile(tmp.file('c'), 'r')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).code).toBe('NOT_FOUND');
    expect(newDescriptors(before)).toEqual([]);
    if (before) expect(openDescriptors()!.size).toBe(before.size);
  });

  it('closeAll closes every item even when one close fails, then reports that failure', async () => {
    const closed: string[] = [];
    const ok = (n: string) => ({ close: async () => void closed.push(n) });
    const bad = { close: async () => Promise.reject(new Error('close failed')) };
    await expect(closeAll([ok('x'), bad, null, ok('y')])).rejects.toThrow('close failed');
    expect(closed.sort()).toEqual(['x', 'y']);
  });
});

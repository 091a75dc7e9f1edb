// A failed read is reported, never taken for "no such disk here". Found by
// the fault sweeps: an EIO while opening a parent candidate made resolution
// move on (to a copy of the parent in another folder, reachable by an
// absolute locator), and an EIO on a sibling made merge miss that the parent
// had another child — whose view the merge then changed.
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { IoError, VhdError } from '../../core/errors.js';
import { nodeOpener, setFileOpener } from '../../core/io/file.js';
import { createDifferencing } from '../../core/ops/create.js';
import { runOperation } from '../../core/operations.js';
import { readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { chain, scribble } from '../hostile/helpers.js';

const tmp = useTmpDir('vhdsnap-swallow-');
let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

/** Every read of `path` fails with EIO until `off()`. */
function failReadsOf(path: string): void {
  restore = setFileOpener(async (p, m) => {
    const f = await nodeOpener(p, m);
    if (nodePath.resolve(p) !== nodePath.resolve(path)) return f;
    return {
      path: f.path,
      writable: f.writable,
      read: async () => {
        throw new IoError('IO_EIO', `cannot read ${p}: EIO: i/o error, read`, { path: p });
      },
      write: (b, at) => f.write(b, at),
      size: () => f.size(),
      truncate: (n) => f.truncate(n),
      sync: () => f.sync(),
      close: () => f.close(),
    };
  });
}

describe('failed reads are reported', () => {
  it('an unreadable parent is an I/O error, not a reason to take a copy of it from another folder', async () => {
    const a = tmp.file('a');
    mkdirSync(a);
    await chain(`${a}/base.vhd`, `${a}/child.vhd`);
    // A copied folder: its child's absolute locator still names a/base.vhd (same id).
    const b = tmp.file('b');
    cpSync(a, b, { recursive: true });
    const d = await openDisk(`${b}/child.vhd`);
    expect(d.layers[1].path).toBe(`${b}/base.vhd`);
    await d.close();

    failReadsOf(`${b}/base.vhd`);
    const err = await openDisk(`${b}/child.vhd`).then(
      async (x) => {
        const p = x.layers[1]?.path;
        await x.close();
        return new Error(`resolved the parent to ${p}`);
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IoError);
    expect((err as VhdError).code).toBe('IO_EIO');
  });

  it('merge with an unreadable sibling fails instead of changing what the sibling shows', async () => {
    await chain(tmp.file('base.vhd'), tmp.file('c1.vhd'));
    await createDifferencing(tmp.file('c2.vhd'), tmp.file('base.vhd'));
    await scribble(tmp.file('c2.vhd'), 9, 2);
    const baseBytes = readFileSync(tmp.file('base.vhd'));
    const c2View = await readThrough(tmp.file('c2.vhd'));
    // Sanity: without the fault, merging c1 is refused because base has another child.
    const refused = await runOperation({ op: 'merge', disk: tmp.file('c1.vhd') }).catch((e: VhdError) => e.code);
    expect(refused).toBe('PARENT_HAS_OTHER_CHILDREN');

    failReadsOf(tmp.file('c2.vhd'));
    const err = await runOperation({ op: 'merge', disk: tmp.file('c1.vhd') }).catch((e: unknown) => e);
    restore!();
    restore = null;
    expect(err).toBeInstanceOf(IoError);
    expect((err as VhdError).code).toBe('IO_EIO');
    expect(readFileSync(tmp.file('base.vhd')).equals(baseBytes), 'the shared parent was written').toBe(true);
    expect((await readThrough(tmp.file('c2.vhd'))).equals(c2View)).toBe(true);
  });
});

// Files swapped under a running merge: between planning and writing, the
// parent (or a grandchild to relink) is replaced by an unrelated disk. The
// merge checks ids right before each write and must never write into the
// impostor — neither in the run itself nor when `recover` resumes it.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdError } from '../../core/errors.js';
import { nodeOpener, setFileOpener, type OpenMode } from '../../core/io/file.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { prepareRelink } from '../../core/ops/relink.js';
import type { ReparentJournal } from '../../core/ops/reparent.js';
import { journalHeader, journalPath, writeJournal } from '../../core/journal.js';
import { runOperation } from '../../core/operations.js';
import { readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { chain, scribble, SIZE } from './helpers.js';

const tmp = useTmpDir('vhdsnap-swap-');
let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

/** Before the first open of `path` in mode `mode`, runs `swap` (once). */
function swapBeforeOpen(path: string, mode: OpenMode, swap: () => void): { fired: () => boolean } {
  let done = false;
  restore = setFileOpener(async (p, m) => {
    if (!done && nodePath.resolve(p) === nodePath.resolve(path) && m === mode) {
      done = true;
      swap();
    }
    return nodeOpener(p, m);
  });
  return { fired: () => done };
}

describe('ids are verified right before writing', () => {
  it('merge: the parent replaced by another disk before the copy → ID_CHANGED, the impostor untouched (also by recover)', async () => {
    const base = tmp.file('base.vhd');
    const child = tmp.file('child.vhd');
    await chain(base, child);
    const decoy = tmp.file('decoy-src.vhd');
    await createDynamic(decoy, SIZE, { blockSize: 256 * 1024 });
    await scribble(decoy, 77);
    const decoyBytes = readFileSync(decoy);
    const childBytes = readFileSync(child);
    const realBase = tmp.file('real-base.vhd');
    const swap = swapBeforeOpen(base, 'r+', () => {
      renameSync(base, realBase);
      copyFileSync(decoy, base);
    });
    const err = await runOperation({ op: 'merge', disk: child }).catch((e: unknown) => e);
    expect(swap.fired()).toBe(true);
    expect(err).toBeInstanceOf(VhdError);
    expect((err as VhdError).code).toBe('ID_CHANGED');
    expect(readFileSync(base).equals(decoyBytes), 'the impostor was written').toBe(true);
    expect(readFileSync(child).equals(childBytes)).toBe(true);
    restore!();
    restore = null;
    // The journal stays; recovering it must refuse the same way and write nothing.
    const rec = await recover(tmp.dir).then(
      (r) => r.map((x) => x.action).join(','),
      (e: unknown) => (e instanceof VhdError ? e.code : `UNTYPED ${(e as Error).message}`),
    );
    expect(rec).not.toMatch(/completed|UNTYPED/);
    expect(readFileSync(base).equals(decoyBytes), 'recover wrote the impostor').toBe(true);
    expect(readFileSync(child).equals(childBytes)).toBe(true);
  });

  it('delete (fold): a child replaced by an unrelated differencing disk before the fold is not written', async () => {
    const d0 = tmp.file('d0.vhd');
    const d1 = tmp.file('d1.vhd');
    const d2 = tmp.file('d2.vhd');
    await chain(d0, d1);
    await createDifferencing(d2, d1);
    await scribble(d2, 6);
    mkdirSync(tmp.file('other'));
    const oc = tmp.file('other', 'oc.vhd');
    await chain(tmp.file('other', 'ob.vhd'), oc, 60);
    const ocBytes = readFileSync(oc);
    const swap = swapBeforeOpen(d2, 'r+', () => {
      renameSync(d2, tmp.file('d2-real.vhd'));
      copyFileSync(oc, d2);
    });
    const err = await runOperation({ op: 'delete', disk: d1 }).catch((e: unknown) => e);
    expect(swap.fired()).toBe(true);
    restore!();
    restore = null;
    expect(err).toBeInstanceOf(VhdError);
    expect((err as VhdError).code).toBe('CHILD_CHANGED');
    expect(readFileSync(d2).equals(ocBytes), 'the impostor at d2.vhd was written').toBe(true);
    await recover(tmp.dir).catch(() => undefined);
    expect(readFileSync(d2).equals(ocBytes), 'recover wrote the impostor').toBe(true);
  });

  it('merge: a grandchild replaced by an unrelated differencing disk before its relink is not relinked', async () => {
    const base = tmp.file('base.vhd');
    const mid = tmp.file('mid.vhd');
    const leaf = tmp.file('leaf.vhd');
    await chain(base, mid);
    await createDifferencing(leaf, mid);
    await scribble(leaf, 5);
    // An unrelated chain elsewhere, same size.
    mkdirSync(tmp.file('other'));
    const ob = tmp.file('other', 'ob.vhd');
    const oc = tmp.file('other', 'oc.vhd');
    await chain(ob, oc, 50);
    const ocBytes = readFileSync(oc);
    const ocView = await readThrough(oc);
    const swap = swapBeforeOpen(leaf, 'r+', () => {
      renameSync(leaf, tmp.file('leaf-real.vhd'));
      copyFileSync(oc, leaf);
    });
    const err = await runOperation({ op: 'merge', disk: mid }).catch((e: unknown) => e);
    expect(swap.fired()).toBe(true);
    restore!();
    restore = null;
    expect(err, 'merge went on and relinked an impostor').toBeInstanceOf(VhdError);
    expect(readFileSync(leaf).equals(ocBytes), 'the impostor at leaf.vhd was written').toBe(true);
    // Recovery must not relink it either.
    await recover(tmp.dir).catch(() => undefined);
    expect(readFileSync(leaf).equals(ocBytes), 'recover wrote the impostor').toBe(true);
    expect(existsSync(oc)).toBe(true);
    expect((await readThrough(oc)).equals(ocView)).toBe(true);
  });

  for (const impostor of ['a differencing disk of another layout', 'a file that is not a VHD'] as const) {
    it(`reparent recovery: the child replaced by ${impostor} is refused, not overwritten`, async () => {
      const base = tmp.file('base.vhd');
      const child = tmp.file('child.vhd');
      await chain(base, child);
      const view = await readThrough(child);
      copyFileSync(base, tmp.file('moved.vhd'));
      // An interrupted reparent: new locators written, the journal holds the new header.
      const r = await prepareRelink(child, tmp.file('moved.vhd'));
      const j: ReparentJournal = {
        ...journalHeader('reparent', 'apply'),
        child: r.child,
        parent: tmp.file('moved.vhd'),
        headerOffset: r.headerOffset,
        header: Buffer.from(r.header).toString('base64'),
      };
      await writeJournal(journalPath(child), j);
      renameSync(child, tmp.file('child-real.vhd'));
      if (impostor === 'a file that is not a VHD') writeFileSync(child, Buffer.alloc(8192, 0x41));
      else {
        mkdirSync(tmp.file('other'));
        await createDynamic(tmp.file('other', 'ob.vhd'), SIZE, { blockSize: 64 * 1024 });
        await createDifferencing(tmp.file('other', 'oc.vhd'), tmp.file('other', 'ob.vhd'));
        copyFileSync(tmp.file('other', 'oc.vhd'), child);
      }
      const before = readFileSync(child);
      const err = await recover(tmp.dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VhdError);
      expect((err as VhdError).code).toBe('CHILD_CHANGED');
      expect(readFileSync(child).equals(before), 'the impostor was written').toBe(true);
      // Put back, the real child is finished by the same journal.
      renameSync(tmp.file('child-real.vhd'), child);
      const done = await recover(tmp.dir);
      expect(done.map((x) => [x.op, x.action])).toEqual([['reparent', 'completed']]);
      const d = await openDisk(child);
      const parent = d.layers[1]?.path;
      await d.close();
      expect(parent).toBe(tmp.file('moved.vhd'));
      expect((await readThrough(child)).equals(view)).toBe(true);
    });
  }
});

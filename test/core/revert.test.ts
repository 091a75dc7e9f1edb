// Revert: trees built with the reference model and real writes. After a
// revert the path reads exactly like the target snapshot's model view, every
// other file is byte-for-byte unchanged, --keep keeps the old state readable
// with its exact content, refusals carry their codes, an interrupted revert is
// finished or rolled back by recover, and the reverted path takes writes.
import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { CancelledError, RefusedError } from '../../core/errors.js';
import { findJournals, journalPath, writeJournal } from '../../core/journal.js';
import { setFileOpener } from '../../core/io/file.js';
import { getLabel, setLabel } from '../../core/library/sidecar.js';
import { scanLibrary, type TreeNode } from '../../core/library/scan.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { planRevert, revert, type RevertJournal } from '../../core/ops/revert.js';
import { Rng } from '../support/model.js';
import { buildTree, parentOf, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { plainFile } from '../support/plain-file.js';
import { expectCheckClean } from '../support/check.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 3 * MiB + 5 * 512;

/** Every regular file in the folder (VHDs, sidecar) by name, with its bytes. */
function snapshotFiles(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isFile()) m.set(n, readFileSync(p));
  }
  return m;
}

/** Every file in `before` except `except` is still there with identical bytes. */
function expectUnchanged(dir: string, before: Map<string, Buffer>, except: string[] = []): void {
  for (const [n, bytes] of before) {
    if (except.includes(n)) continue;
    const p = path.join(dir, n);
    expect(existsSync(p), `${n} still exists`).toBe(true);
    expect(readFileSync(p).equals(bytes), `${n} is byte-identical`).toBe(true);
  }
}

async function uuidOf(p: string): Promise<string> {
  const f = await VhdFile.open(p);
  try {
    return f.uuid;
  } finally {
    await f.close();
  }
}

async function allocatedBlocks(p: string): Promise<number> {
  const f = await VhdFile.open(p);
  try {
    let n = 0;
    for (let b = 0; b < f.blockCount; b++) if (f.blockOffset(b) !== null) n++;
    return n;
  } finally {
    await f.close();
  }
}

function find(n: TreeNode, p: string): TreeNode | null {
  if (n.path === p) return n;
  for (const c of n.children) {
    const f = find(c, p);
    if (f) return f;
  }
  return null;
}

describe('revert', () => {
  const tmp = useTmpDir();

  it('turns the current disk into an empty child of its parent; it reads like the parent and every other file is unchanged', async () => {
    const { model, paths } = await buildTree(tmp.dir, 71, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB });
    // The current state differs from its parent, or the test could not fail.
    expect((await readThrough(paths[2])).equals(model.view(1))).toBe(false);
    const oldUuid = await uuidOf(paths[2]);
    const before = snapshotFiles(tmp.dir);

    const plan = await planRevert(paths[2]);
    expect(plan.refusals).toEqual([]);
    expect(plan.snapshot).toBe(paths[1]);
    expect(plan.kept).toBeNull();
    expect(plan.changes).toEqual([{ path: paths[2], action: 'modify', detail: expect.stringContaining('discarded') }]);
    expectUnchanged(tmp.dir, before); // planning writes nothing

    const r = await revert(paths[2]);
    expect(r).toEqual({ active: paths[2], snapshot: paths[1], kept: null, discarded: true });
    expect((await readThrough(paths[2])).equals(model.view(1))).toBe(true);
    expect(await parentOf(paths[2])).toBe(paths[1]);
    expect(await allocatedBlocks(paths[2])).toBe(0);
    expect(await uuidOf(paths[2])).not.toBe(oldUuid);
    expectUnchanged(tmp.dir, before, ['d2.vhd']);
    // Nothing left behind: no journal, no temporary child, no extra disk.
    expect(await findJournals(tmp.dir)).toEqual([]);
    expect(readdirSync(tmp.dir).sort()).toEqual(['d0.vhd', 'd1.vhd', 'd2.vhd']);
    expect(statSync(paths[1]).mode & 0o222).toBe(0);
    await expectCheckClean([paths[2]]);

    // The reverted path takes writes, visible over the snapshot's content.
    const layer = model.addChild(1);
    const rng = new Rng(710);
    const disk = await openDisk(paths[2], { writable: true });
    for (let i = 0; i < 6; i++) {
      const len = rng.range(1, 70000);
      const off = rng.int(SIZE - len);
      const data = rng.bytes(len);
      await disk.write(off, data);
      model.write(layer, off, data);
    }
    await disk.close();
    expect((await readThrough(paths[2])).equals(model.view(layer))).toBe(true);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    await expectCheckClean([paths[2]]);
  });

  it('--keep preserves the current state at the reported path, byte for byte, as a sibling branch', async () => {
    const { model, paths } = await buildTree(tmp.dir, 72, { parents: [null, 0, 1], size: SIZE, blockSize: 64 * KiB });
    const oldUuid = await uuidOf(paths[2]);
    await setLabel(paths[2], oldUuid, { name: 'work in progress' });
    const before = snapshotFiles(tmp.dir);
    const now = new Date(2026, 0, 2, 3, 4, 5);

    const plan = await planRevert(paths[2], { keep: true, now });
    expect(plan.kept).toBe(path.join(tmp.dir, 'd2-state-20260102-030405.vhd'));
    expect(plan.changes.map((c) => [c.path, c.action])).toEqual([
      [plan.kept, 'create'],
      [paths[2], 'modify'],
    ]);

    const r = await revert(paths[2], { keep: true, now });
    expect(r).toEqual({ active: paths[2], snapshot: paths[1], kept: plan.kept, discarded: false });
    const kept = r.kept!;
    expect(readFileSync(kept).equals(before.get('d2.vhd')!)).toBe(true);
    expect((await readThrough(kept)).equals(model.view(2))).toBe(true);
    expect((await readThrough(paths[2])).equals(model.view(1))).toBe(true);
    expect(await parentOf(kept)).toBe(paths[1]);
    expectUnchanged(tmp.dir, before, ['d2.vhd', '.vhdsnap.json']);
    // The label follows the kept state (same id), and the tree shows both branches under d1.
    expect((await getLabel(kept, oldUuid))?.name).toBe('work in progress');
    const forest = await scanLibrary([tmp.dir]);
    expect(forest.orphans).toEqual([]);
    const d1 = find(forest.roots[0], paths[1])!;
    expect(d1.children.map((c) => c.path).sort()).toEqual([kept, paths[2]].sort());
    await expectCheckClean([paths[2], kept]);
  });

  it('--to a grand-ancestor of a fixed-base chain: reads like it; the skipped snapshot becomes a leaf', async () => {
    const { model, paths } = await buildTree(tmp.dir, 73, { parents: [null, 0, 1, 2], size: SIZE, blockSize: 512 * KiB, base: 'fixed' });
    const before = snapshotFiles(tmp.dir);
    const r = await revert(paths[3], { to: paths[0] });
    expect(r).toEqual({ active: paths[3], snapshot: paths[0], kept: null, discarded: true });
    expect((await readThrough(paths[3])).equals(model.view(0))).toBe(true);
    expect(await parentOf(paths[3])).toBe(paths[0]);
    expectUnchanged(tmp.dir, before, ['d3.vhd']);
    for (let i = 0; i < 3; i++) expect((await readThrough(paths[i])).equals(model.view(i)), `layer ${i}`).toBe(true);
    await expectCheckClean([paths[3], paths[2]]);
  });

  it('--to a grand-ancestor with --keep (relative --to path)', async () => {
    const { model, paths } = await buildTree(tmp.dir, 74, { parents: [null, 0, 1, 2], size: SIZE, blockSize: 128 * KiB });
    const before = snapshotFiles(tmp.dir);
    const r = await revert(paths[3], { to: path.relative(process.cwd(), paths[1]), keep: true });
    expect(r.snapshot).toBe(paths[1]);
    expect((await readThrough(paths[3])).equals(model.view(1))).toBe(true);
    expect((await readThrough(r.kept!)).equals(model.view(3))).toBe(true);
    expect(await parentOf(r.kept!)).toBe(paths[2]);
    expectUnchanged(tmp.dir, before, ['d3.vhd']);
    await expectCheckClean([paths[3], r.kept!]);
  });

  it('--to a snapshot on another branch of the same tree', async () => {
    // d0 ← d1 ← d2, and d0 ← d3: d1 is a snapshot but not an ancestor of d3.
    const { model, paths } = await buildTree(tmp.dir, 75, { parents: [null, 0, 1, 0], size: SIZE, blockSize: 512 * KiB });
    const before = snapshotFiles(tmp.dir);
    const r = await revert(paths[3], { to: paths[1] });
    expect(r.snapshot).toBe(paths[1]);
    expect((await readThrough(paths[3])).equals(model.view(1))).toBe(true);
    expect(await parentOf(paths[3])).toBe(paths[1]);
    expectUnchanged(tmp.dir, before, ['d3.vhd']);
    await expectCheckClean([paths[3], paths[2]]);
  });

  describe('refusals', () => {
    const cases: { name: string; code: string; setup: (dir: string) => Promise<{ disk: string; to?: string }> }[] = [
      {
        name: 'a disk that has children (a snapshot, not a current state)',
        code: 'HAS_CHILDREN',
        setup: async (dir) => {
          const { paths } = await buildTree(dir, 81, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
          return { disk: paths[1] };
        },
      },
      {
        name: 'a base disk without --to',
        code: 'NO_PARENT',
        setup: async (dir) => {
          const { paths } = await buildTree(dir, 82, { parents: [null], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
          return { disk: paths[0] };
        },
      },
      {
        name: '--to a disk of another tree',
        code: 'NOT_IN_TREE',
        setup: async (dir) => {
          const { paths } = await buildTree(dir, 83, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
          await createDynamic(path.join(dir, 'other.vhd'), SIZE, { blockSize: 512 * KiB });
          await createDifferencing(path.join(dir, 'other-child.vhd'), path.join(dir, 'other.vhd'));
          return { disk: paths[1], to: path.join(dir, 'other.vhd') };
        },
      },
      {
        name: '--to a current state of another branch (no children)',
        code: 'NOT_A_SNAPSHOT',
        setup: async (dir) => {
          const { paths } = await buildTree(dir, 84, { parents: [null, 0, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
          return { disk: paths[2], to: paths[1] };
        },
      },
      {
        name: '--to the disk itself',
        code: 'SAME_DISK',
        setup: async (dir) => {
          const { paths } = await buildTree(dir, 85, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
          return { disk: paths[1], to: paths[1] };
        },
      },
    ];
    for (const c of cases) {
      it(`refuses ${c.name} with ${c.code} and changes nothing`, async () => {
        const { disk, to } = await c.setup(tmp.dir);
        const before = snapshotFiles(tmp.dir);
        const plan = await planRevert(disk, { to, keep: true });
        expect(plan.refusals.map((x) => x.code)).toContain(c.code);
        const err = await revert(disk, { to, keep: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RefusedError);
        expect((err as RefusedError).code).toBe(c.code);
        expectUnchanged(tmp.dir, before);
        expect(readdirSync(tmp.dir).sort()).toEqual([...before.keys()].sort());
      });
    }
  });

  it('fails cleanly when the new child cannot be written: the path is unchanged, nothing is left behind', async () => {
    const { model, paths } = await buildTree(tmp.dir, 86, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 4 });
    const before = snapshotFiles(tmp.dir);
    let writes = 0;
    const restore = setFileOpener(async (p, mode) => {
      const f = await plainFile(p, mode);
      if (!p.includes('.revert.tmp')) return f;
      // The child gets its first pieces, then the disk fills up.
      return {
        ...f,
        write: async (buf: Uint8Array, at: number) => {
          if (++writes === 3) throw Object.assign(new Error('injected: disk full'), { code: 'ENOSPC' });
          return f.write(buf, at);
        },
      };
    });
    try {
      await expect(revert(paths[2], { keep: true })).rejects.toThrow(/disk full/);
    } finally {
      restore();
    }
    expectUnchanged(tmp.dir, before);
    expect(readdirSync(tmp.dir).sort()).toEqual([...before.keys()].sort());
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
  });

  it('honours a cancelled signal before the first change', async () => {
    const { paths } = await buildTree(tmp.dir, 87, { parents: [null, 0], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
    const before = snapshotFiles(tmp.dir);
    const ac = new AbortController();
    ac.abort();
    await expect(revert(paths[1], {}, { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    expectUnchanged(tmp.dir, before);
    expect(await findJournals(tmp.dir)).toEqual([]);
  });

  describe('recovery of an interrupted revert', () => {
    async function journalFor(paths: string[], phase: RevertJournal['phase'], kept: string | null): Promise<RevertJournal> {
      return {
        version: 1,
        op: 'revert',
        phase,
        pid: process.pid,
        startedAt: new Date().toISOString(),
        path: paths[2],
        oldUuid: await uuidOf(paths[2]),
        target: paths[1],
        targetUuid: await uuidOf(paths[1]),
        tmp: path.join(tmp.dir, '.d2.vhd.revert.tmp'),
        kept,
        newUuid: null,
      };
    }

    it('rolls back when the new child was not complete (phase create): the disk is untouched', async () => {
      const { model, paths } = await buildTree(tmp.dir, 91, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 5 });
      const before = snapshotFiles(tmp.dir);
      const j = await journalFor(paths, 'create', null);
      await fsp.writeFile(j.tmp, Buffer.alloc(700, 7)); // a torn, partial child
      await writeJournal(journalPath(paths[2]), j);
      const r = await recover(tmp.dir);
      expect(r).toEqual([expect.objectContaining({ op: 'revert', action: 'discarded', detail: expect.stringContaining('rolled back') })]);
      expect(existsSync(j.tmp)).toBe(false);
      expect(await findJournals(tmp.dir)).toEqual([]);
      expectUnchanged(tmp.dir, before);
      expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    });

    it('rolls forward once the child is complete (phase swap), creating the kept name if it is missing', async () => {
      const { model, paths } = await buildTree(tmp.dir, 92, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 5 });
      const before = snapshotFiles(tmp.dir);
      const kept = path.join(tmp.dir, 'd2-state-x.vhd');
      const j = await journalFor(paths, 'swap', kept);
      await createDifferencing(j.tmp, paths[1]);
      j.newUuid = await uuidOf(j.tmp);
      await writeJournal(journalPath(paths[2]), j);
      const r = await recover(paths[2]);
      expect(r).toEqual([expect.objectContaining({ op: 'revert', action: 'completed' })]);
      expect(existsSync(j.tmp)).toBe(false);
      expect(await uuidOf(paths[2])).toBe(j.newUuid);
      expect((await readThrough(paths[2])).equals(model.view(1))).toBe(true);
      expect(readFileSync(kept).equals(before.get('d2.vhd')!)).toBe(true);
      expect((await readThrough(kept)).equals(model.view(2))).toBe(true);
      expect(await findJournals(tmp.dir)).toEqual([]);
      expectUnchanged(tmp.dir, before, ['d2.vhd']);
    });

    it('finishes the bookkeeping when the crash came after the rename', async () => {
      const { model, paths } = await buildTree(tmp.dir, 93, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 5 });
      const j = await journalFor(paths, 'swap', null);
      await createDifferencing(j.tmp, paths[1]);
      j.newUuid = await uuidOf(j.tmp);
      await fsp.rename(j.tmp, paths[2]);
      await writeJournal(journalPath(paths[2]), j);
      const r = await recover(tmp.dir);
      expect(r).toEqual([expect.objectContaining({ op: 'revert', action: 'completed' })]);
      expect(await findJournals(tmp.dir)).toEqual([]);
      expect(statSync(paths[1]).mode & 0o222).toBe(0);
      expect((await readThrough(paths[2])).equals(model.view(1))).toBe(true);
    });

    it('leaves the journal when the path holds neither the old state nor the new child', async () => {
      const { paths } = await buildTree(tmp.dir, 94, { parents: [null, 0, 1], size: SIZE, blockSize: 512 * KiB, writesPerLayer: 3 });
      const j = await journalFor(paths, 'swap', null);
      j.newUuid = '00000000-0000-4000-8000-000000000000';
      await writeJournal(journalPath(paths[2]), j);
      const before = snapshotFiles(tmp.dir);
      const r = await recover(tmp.dir);
      expect(r).toEqual([expect.objectContaining({ op: 'revert', action: 'left' })]);
      expect(await findJournals(tmp.dir)).toHaveLength(1);
      expectUnchanged(tmp.dir, before);
    });
  });
});

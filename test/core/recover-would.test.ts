// `recover --dry-run` says what recover will really do. An in-place snapshot
// is rolled back by recover until its new child has taken the disk's path
// (its point of no return) and finished from then: its dry run must say so,
// rather than "would finish" for a job recover then rolls back. A job that runs
// another's journal (a delete's merge) is one job: one entry, one recovery.
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linkFile, tempSibling } from '../../core/io/file.js';
import { journalHeader, journalPath, writeJournal } from '../../core/journal.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { planDelete } from '../../core/ops/delete.js';
import { jobsWaitingIn, recoverFolder } from '../../core/ops/recover.js';
import { stampChildren } from '../../core/ops/relink.js';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { uuidToString } from '../../core/format/bytes.js';
import { expectBefore, takeBefore } from '../support/before.js';
import { interruptAtFirstReport } from '../support/interrupt.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const MiB = 2 ** 20;

describe('recover --dry-run of an interrupted in-place snapshot', () => {
  const tmp = useTmpDir();

  /** The files an in-place snapshot of d.vhd leaves when cut short: its journal, the new child under a temp name, the snapshot name linked to the disk; `renamed` when the child already took the disk's path. */
  async function interruptedSnapshot(renamed: boolean) {
    const disk = tmp.file('d.vhd');
    await createDynamic(disk, 4 * MiB);
    const before = await takeBefore(tmp.dir);
    const f = await VhdFile.open(disk);
    const uuid = f.uuid;
    await f.close();
    const snap = tmp.file('d-snap.vhd');
    const temp = tempSibling(disk, 'snapshot');
    await writeJournal(journalPath(disk), { ...journalHeader('snapshot', 'create'), via: 'link', disk, snapshot: snap, temp, uuid });
    await createDifferencing(temp, disk, { locatorTarget: snap });
    await linkFile(disk, snap);
    if (renamed) renameSync(temp, disk);
    return { disk, snap, before };
  }

  it('before the child took the path: "would roll back", and recover does roll back (the disk as before, nothing left)', async () => {
    const { snap, before } = await interruptedSnapshot(false);
    for (const rollback of [false, true]) {
      const dry = await recoverFolder(tmp.dir, { dryRun: true, rollback });
      expect(dry.pending.map((p) => p.would)).toEqual([
        'would roll back snapshot of d.vhd, d-snap.vhd' + (rollback ? '' : ': it stopped short of its point of no return'),
      ]);
    }
    const r = await recoverFolder(tmp.dir);
    expect(r.recoveries.map((x) => x.action)).toEqual(['discarded']);
    expect(existsSync(snap)).toBe(false);
    expect(readdirSync(tmp.dir)).toEqual(['d.vhd']);
    await expectBefore(tmp.dir, before, 0);
  });

  it('after the child took the path: "would finish", and --rollback says it cannot', async () => {
    const { disk, snap } = await interruptedSnapshot(true);
    expect((await recoverFolder(tmp.dir, { dryRun: true })).pending.map((p) => p.would)).toEqual(['would finish snapshot of d.vhd, d-snap.vhd']);
    expect((await recoverFolder(tmp.dir, { dryRun: true, rollback: true })).pending.map((p) => p.would)).toEqual([
      'cannot roll back: past the point of no return, would finish snapshot of d.vhd, d-snap.vhd',
    ]);
    const r = await recoverFolder(tmp.dir, { rollback: true });
    expect(r.recoveries.map((x) => x.action)).toEqual(['completed']);
    const child = await VhdFile.open(disk);
    const s = await VhdFile.open(snap);
    expect(child.type).toBe('differencing');
    expect(uuidToString(child.header!.parentUniqueId)).toBe(s.uuid);
    await Promise.all([child.close(), s.close()]);
    expect(
      readdirSync(tmp.dir)
        .filter((n) => !n.startsWith('.'))
        .sort(),
    ).toEqual(['d-snap.vhd', 'd.vhd']);
  });
});

describe('an interrupted delete that merges its only child', () => {
  const tmp = useTmpDir();

  for (const rollback of [false, true]) {
    it(`is one pending job (not the delete and its merge), and one ${rollback ? 'rollback' : 'recovery'} deals with both journals`, async () => {
      // The child stores several 4 MiB batches: its first checkpoint comes well before the merge's point of no return.
      // A full base and the child over its first half: merging the child copies less than folding the base into it.
      const { paths, rng } = await buildTree(tmp.dir, 77, { parents: [null, 0], size: 32 * MiB, blockSize: 512 * 1024, writesPerLayer: 8 });
      const b = await openDisk(paths[0], { writable: true, sync: false });
      await b.write(0, rng.bytes(32 * MiB));
      await b.close();
      await stampChildren(paths[0]);
      const d = await openDisk(paths[1], { writable: true, sync: false });
      for (let off = 900; off + 2 * MiB < 16 * MiB; off += 2 * MiB + 300) await d.write(off, rng.bytes(2 * MiB - 13));
      await d.close();
      expect((await planDelete(paths[0])).strategy).toBe('merge-child');
      const childView = await readThrough(paths[1]);
      const before = await takeBefore(tmp.dir);
      await interruptAtFirstReport({ op: 'delete', disk: paths[0] }, 0);
      // Both journals are there: the delete's (under the child's name) and the merge it runs (under the base's).
      expect(
        readdirSync(tmp.dir)
          .filter((n) => n.endsWith('.json'))
          .sort(),
      ).toEqual(['.vhdsnap-journal-d0.vhd.json', '.vhdsnap-journal-d1.vhd.json']);
      const waiting = await jobsWaitingIn(tmp.dir);
      expect(waiting.map((w) => [w.op, w.code, w.pastNoReturn, w.forward])).toEqual([['delete', 'PENDING_JOB', false, 'finish']]);
      expect(waiting[0].progress).toEqual(expect.any(Number));
      expect((await recoverFolder(tmp.dir, { dryRun: true, rollback })).pending.map((p) => p.op)).toEqual(['delete']);
      const r = await recoverFolder(tmp.dir, { rollback });
      expect(r.recoveries.map((x) => [x.op, x.action])).toEqual([['delete', rollback ? 'discarded' : 'completed']]);
      if (rollback) await expectBefore(tmp.dir, before, 4096);
      else {
        expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.vhd'))).toEqual(['d1.vhd']);
        expect((await readThrough(paths[1])).equals(childView)).toBe(true);
      }
      expect(await jobsWaitingIn(tmp.dir)).toEqual([]);
    });
  }
});

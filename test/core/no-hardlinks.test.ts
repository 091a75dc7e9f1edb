// Folders without hard links (FAT32/exFAT, many SMB shares), emulated on
// Linux by swapping core/io/file.ts's linker for one that fails the way those
// file systems do. Snapshot in place goes by a journaled rename sequence (its
// plan says so), locks are created in place, outputs are renamed into place
// without replacing anything; contents are checked against the reference model.
import { existsSync, promises as fsp, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { IoError, RefusedError, VhdError } from '../../core/errors.js';
import { linkIntoPlace, setLinker, supportsHardLinks, tempSibling } from '../../core/io/file.js';
import { findJournals } from '../../core/journal.js';
import { acquireLock, clearStaleLocks, lockPathFor } from '../../core/lock.js';
import { planOperation, runOperation } from '../../core/operations.js';
import type { SnapshotPlan } from '../../core/ops/snapshot.js';
import { recover } from '../../core/ops/recover.js';
import { revert } from '../../core/ops/revert.js';
import { buildTree, parentOf, readThrough } from '../support/tree.js';
import { expectCheckClean } from '../support/check.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-nolinks-');
const KiB = 1024;
const SIZE = 2 * 1024 * KiB + 3 * 512;

let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

/** Every hard link fails with `code`, as link(2) does on such a folder; returns how many were tried. */
function noHardLinks(code = 'EPERM'): { tries: number } {
  const seen = { tries: 0 };
  restore = setLinker(async (a, b) => {
    seen.tries++;
    throw Object.assign(new Error(`${code}: operation not permitted, link '${a}' -> '${b}'`), { code, syscall: 'link' });
  });
  return seen;
}

const names = (dir: string) => readdirSync(dir).sort();

describe('probing a folder for hard links', () => {
  it('finds them on this file system and leaves nothing behind', async () => {
    expect(await supportsHardLinks(tmp.dir)).toBe(true);
    expect(names(tmp.dir)).toEqual([]);
  });

  it('reports none where link fails as on FAT or SMB, and leaves nothing behind', async () => {
    const seen = noHardLinks('EPERM');
    expect(await supportsHardLinks(tmp.dir)).toBe(false);
    expect(seen.tries).toBe(1);
    expect(names(tmp.dir)).toEqual([]);
  });

  it('cannot tell in a folder that does not exist (null, not "no links")', async () => {
    expect(await supportsHardLinks(tmp.file('missing'))).toBeNull();
  });
});

describe('snapshot in place without hard links', () => {
  it('the plan says which way it goes', async () => {
    const { paths } = await buildTree(tmp.dir, 3, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 4 });
    const withLinks = (await planOperation({ op: 'snapshot', disk: paths[1] })) as SnapshotPlan;
    expect(withLinks.via).toBe('link');
    noHardLinks();
    const without = (await planOperation({ op: 'snapshot', disk: paths[1] })) as SnapshotPlan;
    expect(without.via).toBe('rename');
    expect(without.changes[0].detail).toMatch(/no hard links/);
    expect(names(tmp.dir)).toEqual(['d0.vhd', 'd1.vhd']);
  });

  for (const code of ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EISDIR', 'EMLINK', 'ENOSYS']) {
    it(`link failing with ${code}: renamed, the snapshot holds the old content and the path its empty child`, async () => {
      const { paths, model } = await buildTree(tmp.dir, 7, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 6 });
      const before = await readThrough(paths[1]);
      expect(before.equals(model.view(1))).toBe(true);
      const uuid = (await VhdFile.open(paths[1]).then(async (f) => [f.uuid, await f.close()]))[0];
      const seen = noHardLinks(code);
      const r = (await runOperation({ op: 'snapshot', disk: paths[1], name: 'no links' })) as { snapshot: string; active: string };
      expect(seen.tries).toBeGreaterThan(0);
      expect(r.active).toBe(path.resolve(paths[1]));
      // Two files, not two names of one: the snapshot is the old disk (its id), the path a new child of it.
      expect(statSync(r.snapshot).ino).not.toBe(statSync(r.active).ino);
      const s = await VhdFile.open(r.snapshot);
      expect(s.uuid).toBe(uuid);
      await s.close();
      expect((await readThrough(r.snapshot)).equals(model.view(1))).toBe(true);
      expect((await readThrough(r.active)).equals(model.view(1))).toBe(true);
      expect(await parentOf(r.active)).toBe(r.snapshot);
      expect(statSync(r.snapshot).mode & 0o222).toBe(0);
      expect(await findJournals(tmp.dir)).toEqual([]);
      expect(names(tmp.dir).filter((n) => n.startsWith('.') && n !== '.vhdsnap.json')).toEqual([]);
      await expectCheckClean([r.active, r.snapshot]);
    });
  }

  it('any other link failure is a typed error, and the disk is left exactly as it was', async () => {
    const { paths, model } = await buildTree(tmp.dir, 8, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 4 });
    const listing = names(tmp.dir);
    noHardLinks('EIO');
    const err = await runOperation({ op: 'snapshot', disk: paths[1] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect((err as VhdError).code).toBe('IO_EIO');
    expect(names(tmp.dir)).toEqual(listing);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    expect(await parentOf(paths[1])).toBe(path.resolve(paths[0]));
  });

  it('recover puts the disk back when a crash left it under the snapshot name (journal phase swap)', async () => {
    const { paths, model } = await buildTree(tmp.dir, 9, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 4 });
    // The state between the two renames, journal included, made by a run whose final rename fails.
    noHardLinks();
    // Every rename onto the disk's path fails: the child's, and the in-process rollback's.
    const realRename = fsp.rename;
    const target = path.resolve(paths[1]);
    (fsp as { rename: typeof fsp.rename }).rename = async (a, b) => {
      if (path.resolve(String(b)) === target) throw Object.assign(new Error(`EIO: i/o error, rename '${a}' -> '${b}'`), { code: 'EIO', syscall: 'rename' });
      return realRename(a, b);
    };
    try {
      const err = await runOperation({ op: 'snapshot', disk: paths[1] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VhdError);
      expect((err as VhdError).code).toBe('IO_EIO');
    } finally {
      (fsp as { rename: typeof fsp.rename }).rename = realRename;
    }
    expect(existsSync(paths[1])).toBe(false);
    const [jp] = await findJournals(tmp.dir);
    const j = JSON.parse(await fsp.readFile(jp, 'utf8'));
    expect([j.via, j.phase]).toEqual(['rename', 'swap']);
    const rec = await recover(tmp.dir);
    expect(rec.map((x) => `${x.op}:${x.action}`)).toContain('snapshot:discarded');
    expect(names(tmp.dir)).toEqual(['d0.vhd', 'd1.vhd']);
    expect((await readThrough(paths[1])).equals(model.view(1))).toBe(true);
    await expectCheckClean([paths[1]]);
  });
});

describe('other hard-link users without hard links', () => {
  it('linkIntoPlace renames the temp into place and never replaces an existing file', async () => {
    noHardLinks('EOPNOTSUPP');
    const t1 = tempSibling(tmp.file('out.bin'));
    writeFileSync(t1, 'first');
    await linkIntoPlace(t1, tmp.file('out.bin'));
    expect(await fsp.readFile(tmp.file('out.bin'), 'utf8')).toBe('first');
    const t2 = tempSibling(tmp.file('out.bin'));
    writeFileSync(t2, 'second');
    const err = await linkIntoPlace(t2, tmp.file('out.bin')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as VhdError).code).toBe('EXISTS');
    expect(await fsp.readFile(tmp.file('out.bin'), 'utf8')).toBe('first');
    expect(names(tmp.dir)).toEqual(['out.bin']);
  });

  it('revert --keep keeps a complete copy of the current state', async () => {
    const { paths, model } = await buildTree(tmp.dir, 10, { parents: [null, 0], size: SIZE, blockSize: 64 * KiB, writesPerLayer: 5 });
    noHardLinks('ENOTSUP');
    const r = await revert(paths[1], { keep: true });
    expect(r.kept).not.toBeNull();
    expect(statSync(r.kept!).ino).not.toBe(statSync(paths[1]).ino);
    expect((await readThrough(r.kept!)).equals(model.view(1))).toBe(true);
    expect((await readThrough(paths[1])).equals(model.view(0))).toBe(true);
  });
});

describe('locks without hard links', () => {
  const disk = () => tmp.file('d.vhd');

  it('a lock is created in place, refuses a second holder, and is released', async () => {
    const seen = noHardLinks();
    const held = await acquireLock(disk(), 'merge');
    expect(seen.tries).toBe(1);
    const lock = lockPathFor(disk());
    expect(JSON.parse(await fsp.readFile(lock, 'utf8')).token).toBe(held.info.token);
    const err = await acquireLock(disk(), 'delete').catch((e: unknown) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await held.release();
    expect(names(tmp.dir)).toEqual([]);
  });

  it('a lock file that does not parse, with no writer to vouch for it, is held (never free)', async () => {
    noHardLinks();
    writeFileSync(lockPathFor(disk()), '{"version":1,"pid":');
    const err = await acquireLock(disk(), 'merge').catch((e: unknown) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    expect(await clearStaleLocks(tmp.dir)).toEqual([]);
    expect(existsSync(lockPathFor(disk()))).toBe(true);
  });

  it('a lock torn by a kill while being written is stale once its writer (named by the temp beside it) is gone', async () => {
    noHardLinks();
    const lock = lockPathFor(disk());
    const dead = deadPid();
    const info = {
      version: 1,
      pid: dead,
      host: os.hostname(),
      op: 'merge',
      startedAt: new Date().toISOString(),
      path: path.resolve(disk()),
      token: 'deadbeefdeadbeef',
    };
    writeFileSync(`${lock}.${dead}-0123abcd.tmp`, JSON.stringify(info));
    writeFileSync(lock, '');
    const cleared = await clearStaleLocks(tmp.dir);
    expect(cleared.map((c) => path.basename(c.lockFile)).sort()).toEqual([path.basename(lock), `${path.basename(lock)}.${dead}-0123abcd.tmp`].sort());
    expect(names(tmp.dir)).toEqual([]);

    // And an acquirer takes such a lock over.
    writeFileSync(`${lock}.${dead}-0123abcd.tmp`, JSON.stringify(info));
    writeFileSync(lock, '{"vers');
    const held = await acquireLock(disk(), 'delete');
    expect(JSON.parse(await fsp.readFile(lock, 'utf8')).token).toBe(held.info.token);
    await held.release();
  });

  it('a lock being written by a live process is held', async () => {
    noHardLinks();
    const lock = lockPathFor(disk());
    const info = {
      version: 1,
      pid: process.pid,
      host: os.hostname(),
      op: 'merge',
      startedAt: new Date().toISOString(),
      path: path.resolve(disk()),
      token: 'feedfacefeedface',
    };
    writeFileSync(`${lock}.${process.pid}-89abcdef.tmp`, JSON.stringify(info));
    writeFileSync(lock, '');
    const err = await acquireLock(disk(), 'delete').catch((e: unknown) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    expect((err as Error).message).toContain('merge by pid');
  });
});

/** A pid no process can have: above the largest pid_max Linux allows (2^22). */
function deadPid(): number {
  return 4194304 + 12345;
}

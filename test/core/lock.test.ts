// Per-disk locks (core/lock.ts): one holder at a time across processes, a
// refusal that names the holder, stale locks taken over or cleared by recover,
// and runOperation locking every disk it touches.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, promises as fsp, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefusedError, VhdError } from '../../core/errors.js';
import { hasDiskExtension, parseTempName, setLinker, tempSibling } from '../../core/io/file.js';
import {
  acquireLock,
  acquireLocks,
  clearStaleLocks,
  LOCK_PREFIX,
  lockPathFor,
  ownerAlive,
  processStartTicks,
  oldLockPathFor,
  releaseLocks,
  userLockDir,
  type LockInfo,
} from '../../core/lock.js';
import { planOperation, runOperation, touchedPaths } from '../../core/operations.js';
import { recover, recoverFolder } from '../../core/ops/recover.js';
import { bundleEntries } from '../support/bundle.js';
import { buildTree, readThrough } from '../support/tree.js';
import { makeTmpDir, removeTmpDir, useTmpDir } from '../support/tmp.js';
import { leakLines } from '../support/gc-close.js';

const tmp = useTmpDir('vhdsnap-lock-');
let bundle: string;
let holder: string;
let cli: string;

beforeAll(async () => {
  bundle = await bundleEntries({ holder: 'test/faults/lock-holder.ts', vhdsnap: 'core/cli/bin.ts' }, 'vhdsnap-lock-bundle-');
  holder = nodePath.join(bundle, 'holder.cjs');
  cli = nodePath.join(bundle, 'vhdsnap.cjs');
});
afterAll(() => removeTmpDir(bundle));

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function staleLock(disk: string, pid: number, host = os.hostname(), startedAt = new Date(), file = lockPathFor(disk)): LockInfo {
  const info: LockInfo = { version: 1, pid, host, op: 'merge', startedAt: startedAt.toISOString(), path: nodePath.resolve(disk), token: 'feedfacefeedface' };
  writeFileSync(file, JSON.stringify(info));
  return info;
}

/** Starts a process holding the lock of `disk`; resolves once it holds it. */
async function startHolder(disk: string, op = 'merge'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [holder, 'hold', disk, op], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve();
    });
    child.on('exit', () => reject(new Error(`holder exited early: ${out}`)));
  });
  return child;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((r) => child.on('exit', r));
}

async function chain(dir: string): Promise<string[]> {
  const { paths } = await buildTree(dir, 7, { parents: [null, 0], size: 2 * 1024 * 1024, blockSize: 512 * 1024, writesPerLayer: 4 });
  return paths;
}

describe('lock and temp names', () => {
  it('never end in a disk extension, whatever the case of the disk name; temps carry the pid', () => {
    for (const disk of ['a.vhd', 'B.VHD', 'c.vhdx', 'd.AVHD', 'e.avhdx', 'f.raw']) {
      const names = [
        lockPathFor(`/x/${disk}`),
        `${lockPathFor(`/x/${disk}`)}.takeover`,
        tempSibling(lockPathFor(`/x/${disk}`)),
        tempSibling(`/x/${disk}`),
        tempSibling(`/x/${disk}`, 'compact'),
        tempSibling(`/x/.vhdsnap-journal-${disk}.json`),
      ].map((p) => nodePath.basename(p));
      for (const n of names) expect(hasDiskExtension(n), n).toBe(false);
      for (const n of names.slice(2)) expect(parseTempName(n), n).toBe(process.pid);
    }
    expect(hasDiskExtension(nodePath.basename(oldLockPathFor('/x/B.VHD')))).toBe(true); // why the naming changed
    expect(['x.Vhd', 'x.VHDX', 'x.avhd', 'x.AvHdX'].every(hasDiskExtension)).toBe(true);
    expect(['x.vhd.lock', 'x.vhd.tmp', 'x.vhdz'].some(hasDiskExtension)).toBe(false);
  });
});

describe('acquireLock', () => {
  it('writes who holds the lock, refuses a second holder naming the pid and op, and releases', async () => {
    const disk = tmp.file('a.vhd');
    const held = await acquireLock(disk, 'merge');
    const info = JSON.parse(readFileSync(lockPathFor(disk), 'utf8')) as LockInfo;
    expect(info).toMatchObject({ pid: process.pid, host: os.hostname(), op: 'merge', path: nodePath.resolve(disk) });
    expect(Number.isNaN(Date.parse(info.startedAt))).toBe(false);
    const err = await acquireLock(disk, 'delete').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as VhdError).code).toBe('LOCKED');
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect((err as Error).message).toContain('merge');
    await held.release();
    expect(await fsp.readdir(tmp.dir)).toEqual([]);
    const again = await acquireLock(disk, 'delete');
    await again.release();
  });

  it('takes over a stale lock (holder gone) but never a live one or one from another host', async () => {
    const disk = tmp.file('a.vhd');
    staleLock(disk, deadPid());
    const held = await acquireLock(disk, 'reparent');
    expect((JSON.parse(readFileSync(lockPathFor(disk), 'utf8')) as LockInfo).pid).toBe(process.pid);
    await held.release();

    staleLock(disk, process.ppid); // alive: the test runner's parent
    expect((await acquireLock(disk, 'x').catch((e: VhdError) => e.code)) as string).toBe('LOCKED');
    staleLock(disk, deadPid(), 'some-other-host');
    expect((await acquireLock(disk, 'x').catch((e: VhdError) => e.code)) as string).toBe('LOCKED');
  });

  it('takes over a lock whose pid is alive but was reused: the process started after the lock was written', async () => {
    const disk = tmp.file('a.vhd');
    // A container gives every run the same pid: the lock names our own pid, from before we started.
    staleLock(disk, process.pid, os.hostname(), new Date(Date.now() - process.uptime() * 1000 - 5000));
    const held = await acquireLock(disk, 'merge');
    expect((JSON.parse(readFileSync(lockPathFor(disk), 'utf8')) as LockInfo).token).toBe(held.info.token);
    await held.release();
    // The same for another live process (the runner's parent) where the system tells start times.
    if (process.platform === 'linux') {
      staleLock(disk, process.ppid, os.hostname(), new Date(1000));
      const h2 = await acquireLock(disk, 'merge');
      await h2.release();
    }
    // Written after our start: maybe a job running in this process (another worker thread); kept.
    staleLock(disk, process.pid, os.hostname(), new Date());
    expect((await acquireLock(disk, 'x').catch((e: VhdError) => e.code)) as string).toBe('LOCKED');
  });

  it('is refused by a live lock in the old naming (an older vhdsnap at work), and takes over a stale one', async () => {
    const disk = tmp.file('a.vhd');
    const old = tmp.file(`${LOCK_PREFIX}a.vhd`);
    staleLock(disk, process.ppid, os.hostname(), new Date(), old);
    const err = await acquireLock(disk, 'merge').catch((e: VhdError) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    expect((err as Error).message).toContain(`pid ${process.ppid}`);
    expect(await fsp.readdir(tmp.dir)).toEqual([`${LOCK_PREFIX}a.vhd`]);
    staleLock(disk, deadPid(), os.hostname(), new Date(), old);
    const held = await acquireLock(disk, 'merge');
    await held.release();
  });

  it('treats an unreadable lock file as held', async () => {
    const disk = tmp.file('a.vhd');
    writeFileSync(lockPathFor(disk), '{"version":1,"pi');
    const err = await acquireLock(disk, 'merge').catch((e: VhdError) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    expect((err as Error).message).toContain(lockPathFor(disk));
  });

  it('acquireLocks is all or none', async () => {
    const a = tmp.file('a.vhd');
    const b = tmp.file('b.vhd');
    const c = tmp.file('c.vhd');
    const held = await acquireLock(b, 'merge');
    const err = await acquireLocks([c, b, a], 'delete').catch((e: VhdError) => e);
    expect((err as VhdError).code).toBe('LOCKED');
    // a was taken first (sorted order), then released when b failed; c was never reached.
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual([`${LOCK_PREFIX}b.vhd.lock`]);
    await held.release();
  });
});

describe('owner liveness', () => {
  it.runIf(process.platform === 'linux')(
    'with the start ticks a writer recorded, a live holder is live whatever the wall clock says, and a reused pid is not',
    async () => {
      const h = await startHolder(tmp.file('d.vhd'), 'merge');
      try {
        const info = JSON.parse(readFileSync(lockPathFor(tmp.file('d.vhd')), 'utf8')) as LockInfo;
        expect(info.startTicks, 'the lock records its holder start').toEqual(expect.any(Number));
        // As if the wall clock had been stepped back an hour after the lock was written: the write time
        // alone would make the holder look started after it, and so a later process with the same pid.
        const hourAgo = Date.now() - 3_600_000;
        expect(ownerAlive(h.pid!, hourAgo, 100)).toBe(false);
        expect(ownerAlive(h.pid!, hourAgo, 100, info.startTicks)).toBe(true);
        // The same pid with other start ticks is another process.
        expect(ownerAlive(h.pid!, Date.now(), 100, info.startTicks! + 1)).toBe(false);
        expect(processStartTicks()).toEqual(expect.any(Number));
        // And the refusal stands, with the holder named.
        const err = await acquireLock(tmp.file('d.vhd'), 'delete').catch((e: unknown) => e);
        expect((err as VhdError).code).toBe('LOCKED');
        // A start time that is not a number cannot be matched: the wall clock judges, and the live holder still holds.
        writeFileSync(lockPathFor(tmp.file('d.vhd')), JSON.stringify({ ...info, startTicks: 'soon' }));
        const again = await acquireLock(tmp.file('d.vhd'), 'delete').catch((e: unknown) => e);
        expect((again as VhdError).code).toBe('LOCKED');
      } finally {
        h.stdin!.end();
        await exited(h);
      }
    },
  );
});

describe('locks across processes', () => {
  it('a lock held by another process refuses runOperation and the CLI; killed, it is stale and taken over', async () => {
    const [base, child] = await chain(tmp.dir);
    const before = await readThrough(child);
    const h = await startHolder(base, 'delete');
    try {
      const err = await runOperation({ op: 'merge', disk: child }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RefusedError);
      expect((err as VhdError).code).toBe('LOCKED');
      expect((err as Error).message).toContain(`pid ${h.pid}`);
      expect((err as Error).message).toContain('delete');
      const r = spawnSync(process.execPath, [cli, 'merge', child], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('[LOCKED]');
      expect(r.stderr).toContain(`pid ${h.pid}`);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(leakLines(r.stderr)).toEqual([]);
      // Nothing was written: the child still exists and reads as before.
      expect((await readThrough(child)).equals(before)).toBe(true);
      // Our own lock on the child was released after the refusal.
      expect(await fsp.readdir(tmp.dir)).not.toContain(nodePath.basename(lockPathFor(child)));
    } finally {
      h.kill('SIGKILL');
      await exited(h);
    }
    // The holder died with its lock in place: the next operation takes it over.
    expect(await fsp.readdir(tmp.dir)).toContain(nodePath.basename(lockPathFor(base)));
    // child is the active disk: the merge keeps it at its path (core/ops/merge-active.ts) and the base goes.
    const r = (await runOperation({ op: 'merge', disk: child })) as { merged: string };
    expect(r.merged).toBe(nodePath.resolve(child));
    expect((await readThrough(child)).equals(before)).toBe(true);
    expect((await fsp.readdir(tmp.dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('recover clears stale locks in both namings (and their temporaries) and keeps a live one', async () => {
    const dead = deadPid();
    staleLock(tmp.file('x.vhd'), dead);
    staleLock(tmp.file('w.vhd'), dead, os.hostname(), new Date(), tmp.file(`${LOCK_PREFIX}w.vhd`)); // the old naming
    writeFileSync(
      tmp.file(`${LOCK_PREFIX}w.vhd.takeover`),
      JSON.stringify({
        version: 1,
        pid: dead,
        host: os.hostname(),
        op: 'take over',
        startedAt: new Date().toISOString(),
        path: tmp.file('w.vhd'),
        token: 'aa',
      }),
    );
    writeFileSync(tmp.file(`${LOCK_PREFIX}y.vhd.${dead}.0badc0de.tmp`), '{"ver'); // old temp naming
    writeFileSync(tmp.file(`${LOCK_PREFIX}y.vhd.lock.${dead}-0badc0de.tmp`), '{"ver');
    const h = await startHolder(tmp.file('z.vhd'));
    try {
      const r = await recover(tmp.dir);
      expect(r.map((x) => [nodePath.basename(x.journal), x.op, x.action]).sort()).toEqual([
        [`${LOCK_PREFIX}w.vhd`, 'lock', 'removed'],
        [`${LOCK_PREFIX}w.vhd.takeover`, 'lock', 'removed'],
        [`${LOCK_PREFIX}x.vhd.lock`, 'lock', 'removed'],
        [`${LOCK_PREFIX}y.vhd.${dead}.0badc0de.tmp`, 'lock', 'removed'],
        [`${LOCK_PREFIX}y.vhd.lock.${dead}-0badc0de.tmp`, 'lock', 'removed'],
      ]);
      expect(await fsp.readdir(tmp.dir)).toEqual([`${LOCK_PREFIX}z.vhd.lock`]);
      expect(await clearStaleLocks(tmp.dir)).toEqual([]);
    } finally {
      h.stdin!.end();
      await exited(h);
    }
    expect(h.exitCode).toBe(0);
    expect(await fsp.readdir(tmp.dir)).toEqual([]);
  });

  for (const stale of [false, true]) {
    it(`six processes contending for one lock${stale ? ' (starting stale)' : ''} never hold it at the same time`, { timeout: 30_000 }, async () => {
      const disk = tmp.file('d.vhd');
      if (stale) staleLock(disk, deadPid());
      const log = tmp.file('holds.log');
      writeFileSync(log, '');
      const kids = Array.from({ length: 6 }, () => spawn(process.execPath, [holder, 'race', disk, '60', log], { stdio: ['ignore', 'pipe', 'inherit'] }));
      const outs = await Promise.all(
        kids.map(
          (k) =>
            new Promise<string>((resolve) => {
              let out = '';
              k.stdout!.on('data', (d: Buffer) => (out += d.toString()));
              k.on('exit', () => resolve(out.trim()));
            }),
        ),
      );
      expect(outs).toEqual(Array(6).fill('ok'));
      const holds = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ').map(Number))
        .sort((x, y) => x[1] - y[1]);
      expect(holds).toHaveLength(6);
      for (let i = 1; i < holds.length; i++) expect(holds[i][1], `hold ${i} starts before hold ${i - 1} ends`).toBeGreaterThanOrEqual(holds[i - 1][2]);
      expect((await fsp.readdir(tmp.dir)).sort()).toEqual(['holds.log']);
    });
  }
});

describe('two CLI processes', () => {
  it('two merges of the same disk started together: one merges, the other is refused; the result is whole', { timeout: 60_000 }, async () => {
    const { paths, model } = await buildTree(tmp.dir, 11, { parents: [null, 0], size: 24 * 1024 * 1024, blockSize: 512 * 1024, writesPerLayer: 40 });
    const child = paths[1];
    const run = () =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [cli, 'merge', child], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('exit', (status) => resolve({ status, stderr }));
      });
    const results = await Promise.all([run(), run()]);
    const ok = results.filter((r) => r.status === 0);
    const refused = results.filter((r) => r.status !== 0);
    expect(ok, JSON.stringify(results)).toHaveLength(1);
    expect(refused).toHaveLength(1);
    // Refused while the other held the lock or had the disk open (IN_USE), or (if it started after) because the child is gone; one line either way.
    expect(refused[0].stderr.trim().split('\n')).toHaveLength(1);
    for (const r of results) expect(leakLines(r.stderr)).toEqual([]);
    // Or, started after, because the child (the active disk, merged in place) has no parent any more.
    expect(refused[0].stderr).toMatch(/\[(LOCKED|BUSY|IN_USE|IO_ENOENT|NOT_FOUND|NOT_DIFFERENCING)\]/);
    console.log(`second merge: ${refused[0].stderr.trim()}`);
    expect((await readThrough(child)).equals(model.view(1))).toBe(true);
    expect((await fsp.readdir(tmp.dir)).sort()).toEqual(['d1.vhd']);
  });
});

describe('runOperation locking', () => {
  it('releases its locks after success and after a refusal', async () => {
    const [base, child] = await chain(tmp.dir);
    const refused = await runOperation({ op: 'merge', disk: base }).catch((e: VhdError) => e.code);
    expect(refused).toBe('NOT_DIFFERENCING');
    expect((await fsp.readdir(tmp.dir)).filter((n) => n.startsWith(LOCK_PREFIX))).toEqual([]);
    await runOperation({ op: 'snapshot', disk: child, out: tmp.file('c2.vhd') });
    expect((await fsp.readdir(tmp.dir)).filter((n) => n.startsWith(LOCK_PREFIX))).toEqual([]);
  });

  it('locks the disks named and every file its plan changes, and nothing else', async () => {
    // d0 <- d1 <- {d2, d3}, and d4 on its own: merging d1 changes d0, d2, d3; deleting d1 folds into d2 and d3.
    for (const op of ['merge', 'delete', 'compact'] as const) {
      const dir = tmp.file(op);
      await fsp.mkdir(dir);
      const { paths } = await buildTree(dir, 8, { parents: [null, 0, 1, 1, null], size: 2 * 1024 * 1024, blockSize: 512 * 1024, writesPerLayer: 4 });
      const req = { op, disk: op === 'compact' ? paths[2] : paths[1] };
      const plan = await planOperation(req);
      const expected = new Set([...touchedPaths(req), ...plan.changes.map((c) => nodePath.resolve(c.path))]);
      expect(expected.size, op).toBeGreaterThan(op === 'compact' ? 0 : 2);
      const before = await Promise.all(paths.map((p) => fsp.readFile(p)));
      // A lock held on any one of them (as by another vhdsnap) refuses the run before it writes.
      for (const p of expected) {
        const held = await acquireLock(p, 'test');
        const err = await runOperation(req).catch((e: unknown) => e);
        await held.release();
        expect(err instanceof VhdError ? err.code : err, `${op} with ${nodePath.basename(p)} locked`).toBe('LOCKED');
        for (const [i, p2] of paths.entries()) expect((await fsp.readFile(p2)).equals(before[i]), `${nodePath.basename(p2)} unchanged`).toBe(true);
      }
      // A disk outside the plan (d4) may be locked: the run goes ahead.
      expect(expected.has(nodePath.resolve(paths[4])), op).toBe(false);
      const other = await acquireLock(paths[4], 'test');
      try {
        await runOperation(req);
      } finally {
        await other.release();
      }
    }
  });

  it('two concurrent operations on one disk in one process: the second is refused', async () => {
    const [base, child] = await chain(tmp.dir);
    const held = await acquireLock(child, 'revert');
    try {
      for (const req of [
        { op: 'merge', disk: child },
        { op: 'snapshot', disk: child },
        { op: 'delete', disk: child },
        { op: 'reparent', disk: child, parent: base },
        { op: 'flatten', disk: child, out: tmp.file('flat.vhd'), format: 'dynamic' },
      ] as const) {
        const err = await runOperation(req).catch((e: unknown) => e);
        expect(err, req.op).toBeInstanceOf(RefusedError);
        expect((err as VhdError).code, req.op).toBe('LOCKED');
      }
      // merge also locks the parent it writes into.
      await held.release();
      const p = await acquireLock(base, 'compact');
      const err = await runOperation({ op: 'merge', disk: child }).catch((e: VhdError) => e.code);
      expect(err).toBe('LOCKED');
      await p.release();
    } finally {
      await held.release();
    }
    expect(await fsp.readdir(tmp.dir)).toEqual(['d0.vhd', 'd1.vhd']);
  });
});

describe('locks keyed by file identity', () => {
  const disk = () => tmp.file('d.vhd');
  const refusedCode = (p: Promise<unknown>) =>
    p.then(
      () => 'taken',
      (e: VhdError) => e.code,
    );

  it('a symlink (here or in another folder), a hard link or the real name: one lock for all of them', async () => {
    writeFileSync(disk(), 'x');
    const other = makeTmpDir('vhdsnap-lock-other-');
    try {
      symlinkSync(disk(), tmp.file('e.vhd'));
      symlinkSync(disk(), nodePath.join(other, 'far.vhd'));
      linkSync(disk(), tmp.file('hard.vhd'));
      const names = [disk(), tmp.file('e.vhd'), nodePath.join(other, 'far.vhd'), tmp.file('hard.vhd')];
      for (const first of names) {
        const held = await acquireLock(first, 'write');
        expect(held.identityLockFile).toBeDefined();
        expect(existsSync(held.identityLockFile!)).toBe(true);
        for (const second of names) expect(await refusedCode(acquireLock(second, 'write')), `${first} then ${second}`).toBe('LOCKED');
        await held.release();
        expect(existsSync(held.identityLockFile!)).toBe(false);
      }
      // One operation naming two names of one file takes one lock, not a refusal by itself.
      const both = await acquireLocks([tmp.file('e.vhd'), disk()], 'merge');
      expect(both).toHaveLength(1);
      await releaseLocks(both);
      expect(readdirSync(other)).toEqual(['far.vhd']);
    } finally {
      removeTmpDir(other);
    }
  });

  it('the identity lock lives in a private folder of this user', async () => {
    writeFileSync(disk(), 'x');
    const held = await acquireLock(disk(), 'write');
    const dir = nodePath.dirname(held.identityLockFile!);
    expect(dir).toBe(await userLockDir());
    if (process.platform !== 'win32') expect(statSync(dir).mode & 0o077).toBe(0);
    await held.release();
  });

  it('an identity lock older than the file (left for an earlier file with the same inode) does not lock it, even held by a live process', async () => {
    // A live holder that started before the lock was taken (so the lock is not stale by its pid)…
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    const lockedAt = Date.now() + 200;
    await new Promise((r) => setTimeout(r, 1800));
    // …and this file, made well after that lock was taken.
    writeFileSync(disk(), 'x');
    const id = statSync(disk(), { bigint: true });
    const idLock = nodePath.join(await userLockDir(), `.vhdsnap-lock-id-${id.dev}-${id.ino}.lock`);
    const leak = (startedAt: number) =>
      writeFileSync(
        idLock,
        JSON.stringify({
          version: 1,
          pid: holder.pid,
          host: os.hostname(),
          op: 'write',
          startedAt: new Date(startedAt).toISOString(),
          path: tmp.file('gone.vhd'),
          token: 'leaked',
        }),
      );
    try {
      leak(lockedAt);
      const held = await acquireLock(disk(), 'write');
      expect(JSON.parse(readFileSync(idLock, 'utf8')).token).toBe(held.info.token);
      await held.release();
      // Taken after the file was made: it may be this file's (renamed since, say), so it holds.
      leak(Date.now());
      expect(await refusedCode(acquireLock(disk(), 'write'))).toBe('LOCKED');
    } finally {
      holder.kill();
      await fsp.rm(idLock, { force: true });
    }
  });

  it('recover removes a lock temporary its dead writer left in the user lock folder, and keeps a live one', async () => {
    const lockDir = await userLockDir();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const lockName = `.vhdsnap-lock-id-0-${process.pid}-${Date.now()}.lock`;
    const deadTemp = nodePath.join(lockDir, `${lockName}.${dead}-0123abcd.tmp`);
    const liveTemp = nodePath.join(lockDir, `${lockName}.${process.pid}-4567cdef.tmp`);
    writeFileSync(deadTemp, '{"half":');
    writeFileSync(liveTemp, '{"half":');
    try {
      expect(parseTempName(nodePath.basename(deadTemp))).toBe(dead);
      const report = await recoverFolder(tmp.dir);
      expect(report.removed.map((x) => x.path)).toContain(deadTemp);
      expect(report.removed.map((x) => x.path)).not.toContain(liveTemp);
      expect(existsSync(deadTemp)).toBe(false);
      expect(existsSync(liveTemp)).toBe(true);
    } finally {
      await fsp.rm(deadTemp, { force: true });
      await fsp.rm(liveTemp, { force: true });
    }
  });

  it('a disk in a folder that cannot be written is still locked (in the user lock folder), never skipped', async () => {
    writeFileSync(disk(), 'x');
    // A read-only folder: creating the lock there fails with EACCES (root ignores chmod, so the link is failed instead).
    const restoreLinker = setLinker(async (a, b) => {
      if (nodePath.dirname(b) === tmp.dir) throw Object.assign(new Error(`EACCES: permission denied, link '${a}' -> '${b}'`), { code: 'EACCES' });
      await fsp.link(a, b);
    });
    try {
      const held = await acquireLock(disk(), 'write');
      expect(held.lockFile).toBe(held.identityLockFile);
      expect(existsSync(held.lockFile)).toBe(true);
      expect(await refusedCode(acquireLock(disk(), 'write'))).toBe('LOCKED');
      await held.release();
      // A file that does not exist yet has no identity: its lock is keyed by its path in the user's folder.
      const fresh = await acquireLock(tmp.file('new.vhd'), 'snapshot');
      expect(nodePath.dirname(fresh.lockFile)).toBe(await userLockDir());
      expect(await refusedCode(acquireLock(tmp.file('new.vhd'), 'create'))).toBe('LOCKED');
      await fresh.release();
      expect(existsSync(fresh.lockFile)).toBe(false);
    } finally {
      restoreLinker();
    }
    expect(readdirSync(tmp.dir).sort()).toEqual(['d.vhd']);
  });

  it('a stale identity lock (holder gone) is taken over', async () => {
    writeFileSync(disk(), 'x');
    const first = await acquireLock(disk(), 'write');
    const idFile = first.identityLockFile!;
    await first.release();
    const info: LockInfo = {
      version: 1,
      pid: deadPid(),
      host: os.hostname(),
      op: 'merge',
      startedAt: new Date().toISOString(),
      path: disk(),
      token: 'feedfacefeedface',
    };
    writeFileSync(idFile, JSON.stringify(info));
    const held = await acquireLock(tmp.file('d.vhd'), 'write');
    expect((JSON.parse(readFileSync(idFile, 'utf8')) as LockInfo).token).toBe(held.info.token);
    await held.release();
    expect(existsSync(idFile)).toBe(false);
  });
});

describe('a lock this thread left behind', () => {
  it('is stale once its release failed: a later operation on the same file (or a file reusing its inode) takes it', async () => {
    const disk = tmp.file('d.vhd');
    writeFileSync(disk, 'x');
    const held = await acquireLock(disk, 'write');
    const left = { ...held.info };
    await held.release();
    // As if the release had failed: the lock file is back, naming this thread, but no one holds it.
    writeFileSync(held.identityLockFile!, JSON.stringify(left));
    const again = await acquireLock(disk, 'write');
    expect((JSON.parse(readFileSync(again.identityLockFile!, 'utf8')) as LockInfo).token).toBe(again.info.token);
    // While held, it is live for this thread too.
    expect((await acquireLock(disk, 'x').catch((e: VhdError) => e.code)) as string).toBe('LOCKED');
    await again.release();
  });
});

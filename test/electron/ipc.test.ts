// The IPC surface end to end minus Electron: the real handlers and job worker
// behind a fake ipcMain that structured-clones like Electron, on real VHD files.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Channels, EventChannels, type DiskRef, type FolderGrant, type FolderView, type OperationArgsOf, type OperationName } from '../../server/api';
import { openDisk } from '../../core/disk/chain';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { Rng } from '../support/model';
import { useTmpDir } from '../support/tmp';
import { bundledWorker, makeHarness, manualRunner, type Harness } from './support';
import { readThrough } from '../support/tree.js';

const MiB = 1024 * 1024;
const tmp = useTmpDir('vhdsnap-ipc-');

beforeAll(async () => {
  await bundledWorker();
});

async function writeAt(p: string, offset: number, data: Uint8Array): Promise<void> {
  const d = await openDisk(p, { writable: true, sync: false });
  await d.write(offset, data);
  await d.close();
}

/** A harness with tmp.dir granted through the (stub) folder dialog. */
async function opened(opts: Parameters<typeof makeHarness>[0] = {}): Promise<{ h: Harness; folder: FolderGrant; ref: (file: string) => DiskRef }> {
  const h = await makeHarness(opts);
  h.dialogs.folder = tmp.dir;
  const folder = (await h.call(Channels.openFolder)) as FolderGrant;
  return { h, folder, ref: (file) => ({ folder: folder.id, file }) };
}

const noStack = (msg: string) => expect(msg).not.toMatch(/\n\s+at\s|\.ts:\d+|\.cjs:\d+/);

describe('sender and argument checks', () => {
  it('answers the app window and refuses any other sender without running the handler', async () => {
    const h = await makeHarness();
    expect(await h.call(Channels.appVersion)).toBe('9.8.7');
    h.dialogs.folder = tmp.dir;
    const r = await h.ipc.invoke({ id: 2 }, Channels.openFolder);
    expect(r).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('refused') } });
    expect(h.dialogs.calls).toBe(0);
  });

  it('registers every channel of the contract', async () => {
    const h = await makeHarness();
    const expected = Object.entries(Channels)
      .filter(([k]) => !(k in EventChannels))
      .map(([, v]) => v)
      .sort();
    expect([...h.ipc.listeners.keys()].sort()).toEqual(expected);
  });

  it.each([
    ['a number for a folder id', Channels.scan, [42], /argument 1: .*string/i],
    ['a made-up folder id', Channels.scan, ['../etc'], /argument 1: not an id issued by this app/],
    ['an extra argument', Channels.cancel, ['0123456789abcdef', 'x'], /BAD_ARGS|too/i],
    ['an unknown operation', Channels.start, [{ op: 'format-c', disk: { folder: '0123456789abcdef', file: 'a.vhd' } }], /argument 1 › op/],
    ['an unknown field', Channels.plan, [{ op: 'merge', disk: { folder: '0123456789abcdef', file: 'a.vhd' }, force: true }], /force/],
    ['a fractional size', Channels.plan, [{ op: 'resize', disk: { folder: '0123456789abcdef', file: 'a.vhd' }, size: 1.5 }], /size.*whole number/],
    ['a flag that is not a boolean', Channels.plan, [{ op: 'check', disk: { folder: '0123456789abcdef', file: 'a.vhd' }, deep: 'yes' }], /deep/],
    ['a disk named by path, not by reference', Channels.plan, [{ op: 'merge', disk: '/etc/a.vhd' }], /argument 1 › disk/],
    [
      'an output that is a path, not a grant',
      Channels.plan,
      [{ op: 'flatten', disk: { folder: '0123456789abcdef', file: 'a.vhd' }, out: '/etc/x' }],
      /out.*not an id/,
    ],
    [
      'a name longer than core allows',
      Channels.plan,
      [{ op: 'snapshot', disk: { folder: '0123456789abcdef', file: 'a.vhd' }, name: 'x'.repeat(201) }],
      /name is longer than 200/,
    ],
  ])('refuses %s with BAD_ARGS and a clear message', async (_what, channel, args, message) => {
    const h = await makeHarness();
    const r = await h.ipc.invoke(h.trusted, channel, ...args);
    expect(r.ok).toBe(false);
    expect(r.error.code).toBe('BAD_ARGS');
    expect(r.error.message).toMatch(message);
    noStack(r.error.message);
  });

  it.each(['../x.vhd', '..', '/etc/passwd', 'C:\\x.vhd', 'sub/x.vhd', 'sub\\x.vhd', 'x.vhd\0', ' x.vhd', ''])(
    'refuses the file name %j in a DiskRef',
    async (file) => {
      const { h, folder } = await opened();
      const r = await h.ipc.invoke(h.trusted, Channels.details, { folder: folder.id, file });
      expect(r.ok).toBe(false);
      expect(r.error.code).toBe('BAD_ARGS');
      expect(r.error.message).toMatch(/argument 1 › file/);
    },
  );

  it('refuses escapes at the grant layer too, symlinks included', async () => {
    const { h, folder } = await opened();
    const outside = path.join(path.dirname(tmp.dir), `outside-${path.basename(tmp.dir)}.vhd`);
    await createDynamic(outside, 8 * MiB);
    try {
      symlinkSync(outside, tmp.file('link.vhd'));
      await expect(h.ctx.grants.resolveDisk({ folder: folder.id, file: '../x.vhd' })).rejects.toMatchObject({ code: 'BAD_PATH' });
      await expect(h.ctx.grants.resolveDisk({ folder: folder.id, file: 'link.vhd' })).rejects.toMatchObject({ code: 'BAD_PATH' });
      await expect(h.call(Channels.details, { folder: folder.id, file: 'link.vhd' })).rejects.toMatchObject({ code: 'BAD_PATH' });
    } finally {
      (await import('node:fs')).rmSync(outside, { force: true });
    }
  });

  it('refuses a folder id that was never granted or was closed', async () => {
    const { h, folder, ref } = await opened();
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    await expect(h.call(Channels.details, { folder: 'ffffffffffffffffffffffffffffffff', file: 'a.vhd' })).rejects.toMatchObject({ code: 'NO_GRANT' });
    await h.call(Channels.closeFolder, folder.id);
    await expect(h.call(Channels.details, ref('a.vhd'))).rejects.toMatchObject({ code: 'NO_GRANT' });
  });
});

describe('grants and the recent list', () => {
  it('grants a dialog folder, remembers it on disk and re-opens only remembered paths', async () => {
    const recentFile = path.join(tmp.dir, 'user-data', 'recent-folders.json');
    const lib = tmp.file('library');
    mkdirSync(lib);
    const h = await makeHarness({ recentFile });
    h.dialogs.folder = null;
    expect(await h.call(Channels.openFolder)).toBeNull();
    h.dialogs.folder = lib;
    const g = (await h.call(Channels.openFolder)) as FolderGrant;
    expect(g).toMatchObject({ path: lib, name: 'library' });
    expect(g.id).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(readFileSync(recentFile, 'utf8')).folders.map((f: { path: string }) => f.path)).toEqual([lib]);

    // A new session (new grants) reads the stored list.
    const h2 = await makeHarness({ recentFile });
    expect(await h2.call(Channels.recentFolders)).toEqual([{ path: lib, name: 'library' }]);
    const again = (await h2.call(Channels.openRecent, lib)) as FolderGrant;
    expect(again.path).toBe(lib);
    await expect(h2.call(Channels.openRecent, tmp.dir)).rejects.toMatchObject({ code: 'NOT_RECENT' });
    await expect(h2.call(Channels.openRecent, '/')).rejects.toMatchObject({ code: 'NOT_RECENT' });
  });

  it('grants a dropped folder but not a dropped file', async () => {
    const h = await makeHarness();
    writeFileSync(tmp.file('plain.txt'), 'x');
    await expect(h.call(Channels.dropFolder, tmp.file('plain.txt'))).rejects.toMatchObject({ code: 'NOT_A_FOLDER' });
    await expect(h.call(Channels.dropFolder, tmp.file('missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await h.call(Channels.dropFolder, tmp.dir)).toMatchObject({ path: tmp.dir });
    expect(await h.call(Channels.recentFolders)).toEqual([{ path: tmp.dir, name: path.basename(tmp.dir) }]);
  });
});

describe('library', () => {
  it('scans a folder into a forest of refs the page can send back, with labels', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('disk.vhd'), 16 * MiB);
    const snap = await snapshot(tmp.file('disk.vhd'), { name: 'first' });
    await createDynamic(tmp.file('other.vhd'), 8 * MiB);
    writeFileSync(tmp.file('broken.vhd'), Buffer.alloc(100));

    await h.call(Channels.setLabel, ref('disk.vhd'), { name: 'current', description: 'the live disk' });
    const view = (await h.call(Channels.scan, ref('x').folder)) as FolderView;
    expect(view.roots.map((r) => r.ref.file)).toEqual([path.basename(snap.snapshot), 'other.vhd']);
    const base = view.roots[0];
    expect(base.isLeaf).toBe(false);
    expect(base.name).toBe('first');
    expect(base.children.map((c) => [c.ref, c.isLeaf, c.name, c.description])).toEqual([[ref('disk.vhd'), true, 'current', 'the live disk']]);
    expect(view.unreadable.map((u) => [u.ref.file, u.code])).toEqual([['broken.vhd', 'FILE_TOO_SMALL']]);
    expect(view.orphans).toEqual([]);
  });

  it('details: allocation map and unique bytes match what was written', async () => {
    const { h, ref } = await opened();
    const bs = 512 * 1024;
    await createDynamic(tmp.file('base.vhd'), 8 * bs, { blockSize: bs });
    const rng = new Rng(7);
    await writeAt(tmp.file('base.vhd'), 0, rng.bytes(bs)); // block 0 full
    await writeAt(tmp.file('base.vhd'), 5 * bs + 1024, rng.bytes(3 * 512)); // block 5: 3 sectors (a fresh dynamic block is all present)
    await snapshot(tmp.file('base.vhd'), { out: tmp.file('child.vhd') });
    await writeAt(tmp.file('child.vhd'), 2 * bs + 512 * 7, rng.bytes(700)); // block 2: sectors 7 and 8
    await writeAt(tmp.file('child.vhd'), 7 * bs, rng.bytes(bs)); // block 7 full

    const child = await h.call(Channels.details, ref('child.vhd'));
    expect(child.ref).toEqual(ref('child.vhd'));
    expect(child.info.type).toBe('differencing');
    expect(child.info.chain).toEqual([tmp.file('child.vhd'), tmp.file('base.vhd')]);
    expect(child.blocksPerCell).toBe(1);
    expect(child.allocationMap).toEqual([0, 0, 1, 0, 0, 0, 0, 2]);
    expect(child.uniqueBytes).toBe(2 * 512 + bs);
  });

  it('details: buckets a large disk into at most 65536 cells', async () => {
    const { h, ref } = await opened();
    const bs = 4096;
    const blocks = 65536 * 2 + 1; // → 3 blocks per cell, 43691 cells
    await createDynamic(tmp.file('big.vhd'), blocks * bs, { blockSize: bs });
    await writeAt(tmp.file('big.vhd'), 0, new Uint8Array(3 * bs).fill(1)); // cell 0: all full
    await writeAt(tmp.file('big.vhd'), 3 * bs, new Uint8Array(512).fill(1)); // cell 1: one block of three
    await writeAt(tmp.file('big.vhd'), (blocks - 3) * bs, new Uint8Array(3 * bs).fill(1)); // last cell: all three blocks
    const d = await h.call(Channels.details, ref('big.vhd'));
    expect(d.blocksPerCell).toBe(3);
    expect(d.allocationMap).toHaveLength(43691);
    expect(d.allocationMap.slice(0, 3)).toEqual([2, 1, 0]);
    expect(d.allocationMap[43690]).toBe(2);
    expect(d.allocationMap.filter((c: number) => c !== 0)).toHaveLength(3);
    // Dynamic disks allocate whole blocks with every bit set: 7 blocks stored.
    expect(d.uniqueBytes).toBe(7 * bs);
  });
});

describe('jobs', () => {
  it('runs check as a job and streams its report', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    const { jobId } = await h.call(Channels.start, { op: 'check', disk: ref('a.vhd'), deep: true });
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
    const end = await h.finished(jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'check' } });
    if (end.kind !== 'done' || end.outcome.op !== 'check') throw new Error('not a check result');
    const reports = end.outcome.result;
    expect(reports.map((r) => [r.path, r.errors])).toEqual([[tmp.file('a.vhd'), []]]);
  });

  it('flattens into a save-dialog grant with progress, and the output reads the same', async () => {
    const { h, ref, folder } = await opened();
    await createDynamic(tmp.file('base.vhd'), 16 * MiB);
    const rng = new Rng(3);
    await writeAt(tmp.file('base.vhd'), 1 * MiB + 5, rng.bytes(3 * MiB));
    await snapshot(tmp.file('base.vhd'), { out: tmp.file('child.vhd') });
    await writeAt(tmp.file('child.vhd'), 9 * MiB, rng.bytes(MiB));

    h.dialogs.output = tmp.file('flat.vhd');
    const out = await h.call(Channels.chooseOutput, 'flat.vhd', folder.id);
    expect(out).toMatchObject({ path: tmp.file('flat.vhd'), name: 'flat.vhd' });
    const plan = await h.call(Channels.plan, { op: 'flatten', disk: ref('child.vhd'), out: out.id, format: 'dynamic' });
    expect(plan.operation).toBe('flatten');
    expect(plan.refusals).toEqual([]);
    const { jobId } = await h.call(Channels.start, { op: 'flatten', disk: ref('child.vhd'), out: out.id, format: 'dynamic' });
    const end = await h.finished(jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'flatten', result: { path: tmp.file('flat.vhd'), format: 'dynamic' } } });
    const progress = h.events.filter((e) => e.jobId === jobId && e.kind === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    const last = progress.at(-1) as { progress: { done: number; total: number } };
    expect(last.progress.done).toBe(last.progress.total);
    expect((await readThrough(tmp.file('flat.vhd'))).equals(await readThrough(tmp.file('child.vhd')))).toBe(true);
  });

  it('refuses an output id that no dialog granted', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    await expect(h.call(Channels.start, { op: 'flatten', disk: ref('a.vhd'), out: '0123456789abcdef0123456789abcdef', format: 'raw' })).rejects.toMatchObject({
      code: 'NO_GRANT',
    });
  });

  it('cancels a running job: a cancelled event, no output left behind', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('big.vhd'), 64 * MiB);
    await writeAt(tmp.file('big.vhd'), 0, new Uint8Array(64 * MiB).fill(0x5a));
    h.dialogs.output = tmp.file('big.raw');
    const out = await h.call(Channels.chooseOutput, 'big.raw');
    const { jobId } = await h.call(Channels.start, { op: 'flatten', disk: ref('big.vhd'), out: out.id, format: 'raw' });
    await h.call(Channels.cancel, jobId);
    const end = await h.finished(jobId);
    expect(end).toMatchObject({ kind: 'cancelled' });
    expect(existsSync(tmp.file('big.raw'))).toBe(false);
    // The disk is free again.
    await expect(h.call(Channels.cancel, jobId)).rejects.toMatchObject({ code: 'NO_JOB' });
    const again = await h.call(Channels.start, { op: 'check', disk: ref('big.vhd'), deep: false });
    expect((await h.finished(again.jobId)).kind).toBe('done');
  });

  it('refuses a second job on a busy disk with BUSY, and the plan says so', async () => {
    const manual = manualRunner();
    const { h, ref } = await opened({ runner: manual.runner });
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    await createDynamic(tmp.file('b.vhd'), 8 * MiB);
    h.dialogs.output = tmp.file('a.raw');
    const out = await h.call(Channels.chooseOutput, 'a.raw');
    const first = await h.call(Channels.start, { op: 'flatten', disk: ref('a.vhd'), out: out.id, format: 'raw' });
    expect(manual.started.map((j) => j.req)).toEqual([{ op: 'flatten', disk: tmp.file('a.vhd'), out: tmp.file('a.raw'), format: 'raw' }]);
    await expect(h.call(Channels.start, { op: 'check', disk: ref('a.vhd'), deep: false })).rejects.toEqual({
      code: 'BUSY',
      message: expect.stringMatching(/^a\.vhd is busy: a flatten job is still running on it/),
    });
    // The output is held too: nothing else may write it meanwhile.
    const out2 = h.ctx.grants.grantFile('output', tmp.file('a.raw'));
    await expect(h.call(Channels.start, { op: 'flatten', disk: ref('b.vhd'), out: out2.id, format: 'raw' })).rejects.toMatchObject({ code: 'BUSY' });
    const plan = await h.call(Channels.plan, { op: 'compact', disk: ref('a.vhd') });
    expect(plan.refusals.map((r: { code: string }) => r.code)).toContain('BUSY');
    const other = await h.call(Channels.start, { op: 'check', disk: ref('b.vhd'), deep: false }); // another disk is free
    expect(manual.started).toHaveLength(2);

    manual.started[0].end({ type: 'progress', progress: { phase: 'copy', done: 1, total: 2, rate: 1, eta: 1 } });
    await expect(h.call(Channels.start, { op: 'check', disk: ref('a.vhd'), deep: false })).rejects.toMatchObject({ code: 'BUSY' });
    manual.started[0].end({ type: 'done', outcome: { op: 'check', result: [] } });
    expect(h.events.filter((e) => e.jobId === first.jobId).map((e) => e.kind)).toEqual(['progress', 'done']);
    const third = await h.call(Channels.start, { op: 'check', disk: ref('a.vhd'), deep: false });
    expect(third.jobId).not.toBe(first.jobId);
    // A failure releases the disk as well.
    manual.started[1].end({ type: 'failed', error: { code: 'X', message: 'y' } });
    await h.call(Channels.start, { op: 'check', disk: ref('b.vhd'), deep: false });
    expect(h.events.find((e) => e.jobId === other.jobId)).toEqual({ jobId: other.jobId, kind: 'failed', error: { code: 'X', message: 'y' } });
  });

  it('a job holds the chain it reads: the parent of a busy child is busy too', async () => {
    const manual = manualRunner();
    const { h, ref } = await opened({ runner: manual.runner });
    await createDynamic(tmp.file('base.vhd'), 8 * MiB);
    await snapshot(tmp.file('base.vhd'), { out: tmp.file('child.vhd') });
    await createDynamic(tmp.file('lone.vhd'), 8 * MiB);
    await h.call(Channels.start, { op: 'check', disk: ref('child.vhd'), deep: false });
    await expect(h.call(Channels.start, { op: 'check', disk: ref('base.vhd'), deep: false })).rejects.toMatchObject({
      code: 'BUSY',
      message: expect.stringContaining('base.vhd is busy'),
    });
    await expect(h.call(Channels.start, { op: 'merge', disk: ref('child.vhd') })).rejects.toMatchObject({ code: 'BUSY' });
    await h.call(Channels.start, { op: 'check', disk: ref('lone.vhd'), deep: false });
    manual.started[0].end({ type: 'cancelled', message: 'operation cancelled' });
    await h.call(Channels.start, { op: 'check', disk: ref('base.vhd'), deep: false });
    expect(manual.started.map((j) => j.req?.disk)).toEqual([tmp.file('child.vhd'), tmp.file('lone.vhd'), tmp.file('base.vhd')]);
  });

  it('cancel reaches the running job', async () => {
    const manual = manualRunner();
    const { h, ref } = await opened({ runner: manual.runner });
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    const { jobId } = await h.call(Channels.start, { op: 'compact', disk: ref('a.vhd') });
    expect(manual.started[0].cancelled).toBe(false);
    await h.call(Channels.cancel, jobId);
    expect(manual.started[0].cancelled).toBe(true);
  });

  it('reports a core refusal as failed {code, message} without a stack', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('base.vhd'), 8 * MiB);
    const { jobId } = await h.call(Channels.start, { op: 'merge', disk: ref('base.vhd') });
    const end = await h.finished(jobId);
    expect(end.kind).toBe('failed');
    const err = (end as { error: { code: string; message: string } }).error;
    expect(Object.keys(err).sort()).toEqual(['code', 'message']);
    expect(err.code).toMatch(/^[A-Z_]+$/);
    noStack(err.message);
  });

  it('snapshots through a job and the scan shows the new chain', async () => {
    const { h, ref, folder } = await opened();
    await createDynamic(tmp.file('vm.vhd'), 8 * MiB);
    const { jobId } = await h.call(Channels.start, { op: 'snapshot', disk: ref('vm.vhd'), name: 'clean install' });
    const end = await h.finished(jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'snapshot', result: { active: tmp.file('vm.vhd') } } });
    const view = (await h.call(Channels.scan, folder.id)) as FolderView;
    expect(view.roots).toHaveLength(1);
    expect(view.roots[0].name).toBe('clean install');
    expect(view.roots[0].children.map((c) => c.ref.file)).toEqual(['vm.vhd']);
  });
});

describe('every core operation through the contract', () => {
  it('the schema derived from the registry takes each operation, with its file fields named the page’s way', async () => {
    const { OperationArgsSchema } = await import('../../server/contract');
    const { operationNames } = await import('../../core/registry');
    const d: DiskRef = { folder: '0123456789abcdef', file: 'a.vhd' };
    const id = '0123456789abcdef0123456789abcdef';
    // One sample per operation: the type makes a new operation add its own here.
    const samples: { [K in OperationName]: OperationArgsOf<K> } = {
      snapshot: { op: 'snapshot', disk: d, out: id, name: 'n' },
      merge: { op: 'merge', disk: d, into: d },
      flatten: { op: 'flatten', disk: d, out: id, format: 'raw', parentPath: d },
      delete: { op: 'delete', disk: d },
      reparent: { op: 'reparent', disk: d, parent: d },
      check: { op: 'check', disk: d, deep: true },
      revert: { op: 'revert', disk: d, to: d, keep: false },
      repair: { op: 'repair', disk: d },
      compact: { op: 'compact', disk: d },
      resize: { op: 'resize', disk: d, size: 2 * MiB },
      write: { op: 'write', disk: d, input: id, offset: 512 },
      name: { op: 'name', disk: d, description: 'x' },
      switch: { op: 'switch', disk: d },
      'set-active': { op: 'set-active', disk: d },
    };
    expect(Object.keys(samples).sort()).toEqual([...operationNames].sort());
    for (const op of operationNames) {
      expect(OperationArgsSchema.safeParse(samples[op]).success, op).toBe(true);
      // A file field given as a path (what core takes) is refused: the page never names paths.
      expect(OperationArgsSchema.safeParse({ ...samples[op], disk: '/x/a.vhd' }).success, op).toBe(false);
    }
  });

  it('write: the file chosen in the open dialog is copied into the disk at the offset', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('w.vhd'), 4 * MiB);
    const data = new Rng(7).bytes(64 * 1024);
    writeFileSync(tmp.file('image.raw'), data);
    h.dialogs.input = tmp.file('image.raw');
    const input = await h.call(Channels.chooseInput);
    expect(input).toMatchObject({ path: tmp.file('image.raw'), name: 'image.raw' });
    const args = { op: 'write', disk: ref('w.vhd'), input: input!.id, offset: MiB } as const;
    const plan = await h.call(Channels.plan, args);
    expect(plan.refusals).toEqual([]);
    const end = await h.finished((await h.call(Channels.start, args)).jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'write', result: { offset: MiB, bytes: data.length } } });
    const seen = await readThrough(tmp.file('w.vhd'));
    expect(seen.subarray(MiB, MiB + data.length).equals(Buffer.from(data))).toBe(true);
    expect(seen.subarray(0, MiB).every((b) => b === 0)).toBe(true);
    // An id the dialog did not grant is refused.
    await expect(h.call(Channels.plan, { ...args, input: '0123456789abcdef0123456789abcdef' })).rejects.toMatchObject({ code: 'NO_GRANT' });
  });

  it('merge --into: the plan covers every level and the job folds the chain into the ancestor', async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('m0.vhd'), 4 * MiB);
    await writeAt(tmp.file('m0.vhd'), 0, new Rng(1).bytes(4096));
    await snapshot(tmp.file('m0.vhd'), { out: tmp.file('m1.vhd') });
    await writeAt(tmp.file('m1.vhd'), MiB, new Rng(2).bytes(4096));
    await snapshot(tmp.file('m1.vhd'), { out: tmp.file('m2.vhd') });
    await writeAt(tmp.file('m2.vhd'), 2 * MiB, new Rng(3).bytes(4096));
    // m3 is the active disk (merge --into from it would remove its path, and is refused): m2 is merged down, m3 relinked.
    await snapshot(tmp.file('m2.vhd'), { out: tmp.file('m3.vhd') });
    await writeAt(tmp.file('m3.vhd'), 3 * MiB, new Rng(4).bytes(4096));
    const before = await readThrough(tmp.file('m2.vhd'));
    const active = await readThrough(tmp.file('m3.vhd'));
    const args = { op: 'merge', disk: ref('m2.vhd'), into: ref('m0.vhd') } as const;
    const plan = await h.call(Channels.plan, args);
    expect(plan.refusals).toEqual([]);
    expect(plan.changes.map((c: { path: string }) => path.basename(c.path))).toEqual(expect.arrayContaining(['m0.vhd', 'm1.vhd', 'm2.vhd']));
    const end = await h.finished((await h.call(Channels.start, args)).jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'merge' } });
    if (end.kind !== 'done' || end.outcome.op !== 'merge') throw new Error('not a merge result');
    expect(end.outcome.result.steps).toHaveLength(2);
    expect((await readThrough(end.outcome.result.merged)).equals(before)).toBe(true);
    expect((await readThrough(tmp.file('m3.vhd'))).equals(active)).toBe(true);
  });
});

describe('pins', () => {
  it("start with the plan's pins creates the snapshot the plan named; a pin naming a file field is refused", async () => {
    const { h, ref } = await opened();
    await createDynamic(tmp.file('p.vhd'), 4 * MiB);
    const args = { op: 'snapshot', disk: ref('p.vhd') } as const;
    const plan = await h.call(Channels.plan, args);
    expect(plan.pins?.snapshotFile).toMatch(/^p-snap-/);
    await expect(h.call(Channels.start, args, { disk: '/etc/passwd' })).rejects.toMatchObject({ code: 'BAD_ARGS' });
    await new Promise((r) => setTimeout(r, 1100));
    const end = await h.finished((await h.call(Channels.start, args, plan.pins)).jobId);
    if (end.kind !== 'done' || end.outcome.op !== 'snapshot') throw new Error(`not a snapshot result: ${JSON.stringify(end)}`);
    expect(path.basename(end.outcome.result.snapshot)).toBe(plan.pins!.snapshotFile);
  });
});

describe('children in every open folder', () => {
  it('a child another program made in a second open folder is found: the plan and the job refuse to merge its sibling into their parent', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const h = await makeHarness();
    h.dialogs.folder = tmp.file('A');
    const a = (await h.call(Channels.openFolder)) as FolderGrant;
    await createDynamic(tmp.file('A', 'base.vhd'), 4 * MiB);
    await snapshot(tmp.file('A', 'base.vhd'), { out: tmp.file('A', 's1.vhd') });
    // Made as another tool would: no record beside the parent.
    await createDifferencing(tmp.file('B', 'vm2.vhd'), tmp.file('A', 'base.vhd'));
    const args = { op: 'merge', disk: { folder: a.id, file: 's1.vhd' } } as const;
    expect((await h.call(Channels.plan, args)).refusals).toEqual([]);
    h.dialogs.folder = tmp.file('B');
    await h.call(Channels.openFolder);
    const plan = await h.call(Channels.plan, args);
    expect(plan.refusals.map((r: { code: string }) => r.code)).toContain('PARENT_HAS_OTHER_CHILDREN');
    const end = await h.finished((await h.call(Channels.start, args)).jobId);
    expect(end).toMatchObject({ kind: 'failed', error: { code: 'PARENT_HAS_OTHER_CHILDREN' } });
    expect(existsSync(tmp.file('A', 's1.vhd'))).toBe(true);
  });
});

describe('interrupted work', () => {
  it('a cut-short merge shows in its folder; other jobs there are refused (PENDING_JOB) until the person resumes it', async () => {
    const { merge } = await import('../../core/ops/merge');
    const { releaseJournals } = await import('../../core/ops/recover');
    const { h, ref, folder } = await opened();
    await createDynamic(tmp.file('p0.vhd'), 4 * MiB, { blockSize: 64 * 1024 });
    await writeAt(tmp.file('p0.vhd'), 0, new Rng(11).bytes(256 * 1024));
    await snapshot(tmp.file('p0.vhd'), { out: tmp.file('p1.vhd') });
    await writeAt(tmp.file('p1.vhd'), 128 * 1024, new Rng(12).bytes(512 * 1024));
    await createDynamic(tmp.file('other.vhd'), 4 * MiB);
    const want = await readThrough(tmp.file('p1.vhd'));
    // Cut short in this thread as a crash would, by merge itself (the runner runs the active disk's merge as the delete of its parent), its journal released as the runner does: left, and no longer naming a running thread.
    await expect(
      merge(tmp.file('p1.vhd'), {
        onProgress: () => {
          throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    await releaseJournals([tmp.file('p1.vhd')]);

    const view = (await h.call(Channels.scan, folder.id)) as FolderView;
    expect(view.pending).toHaveLength(1);
    expect(view.pending[0]).toMatchObject({ code: 'PENDING_JOB', op: 'merge' });
    expect(view.pending[0].job).toMatch(/^merge \(p1\.vhd, p0\.vhd; started .* at its \w+ step\)$/);

    // An unrelated disk of the folder: the plan says why, and the job (in another worker thread) refuses without writing.
    const before = readFileSync(tmp.file('other.vhd'));
    const plan = await h.call(Channels.plan, { op: 'snapshot', disk: ref('other.vhd') });
    expect(plan.refusals.map((r: { code: string }) => r.code)).toEqual(['PENDING_JOB']);
    const refused = await h.finished((await h.call(Channels.start, { op: 'snapshot', disk: ref('other.vhd') })).jobId);
    expect(refused).toMatchObject({ kind: 'failed', error: { code: 'PENDING_JOB' } });
    expect(readFileSync(tmp.file('other.vhd')).equals(before)).toBe(true);

    // Only a journal can be resumed.
    await expect(h.call(Channels.resume, ref('other.vhd'))).rejects.toMatchObject({ code: 'BAD_ARGS' });
    const end = await h.finished((await h.call(Channels.resume, view.pending[0].ref)).jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'recover', result: { op: 'merge', action: 'completed' } } });
    expect(((await h.call(Channels.scan, folder.id)) as FolderView).pending).toEqual([]);
    expect(existsSync(tmp.file('p1.vhd'))).toBe(false);
    expect((await readThrough(tmp.file('p0.vhd'))).equals(want)).toBe(true);
    const ok = await h.finished((await h.call(Channels.start, { op: 'snapshot', disk: ref('other.vhd') })).jobId);
    expect(ok).toMatchObject({ kind: 'done', outcome: { op: 'snapshot' } });
  });
});

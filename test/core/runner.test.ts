// The one runner (core/operations.ts) and the registry it reads: requests
// checked against each descriptor's schema, one plan per run handed to the
// run, refusals decided before the first write, journals validated by their
// operation's schema before recovery acts on them.
import { existsSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { threadId } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, RefusedError, VhdError } from '../../core/errors.js';
import { JOURNAL_PREFIX, journalHeader, journalPath, writeJournal } from '../../core/journal.js';
import { planOperation, runOperation } from '../../core/operations.js';
import { createDynamic } from '../../core/ops/create.js';
import { recover } from '../../core/ops/recover.js';
import { isOperationName, operationNamed, operationNames } from '../../core/registry.js';
import { recordActive } from '../../core/library/active.js';
import { readSidecar } from '../../core/library/sidecar.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { folderState } from '../support/compare.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir();
const KiB = 1024;
const MiB = 1024 * KiB;

async function codeOf(p: Promise<unknown>): Promise<{ cls: string; code: string; field?: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof VhdError)) throw new Error(`expected a typed error, got ${String(err)}`);
  return { cls: err.constructor.name, code: err.code, field: err.field };
}

describe('registry', () => {
  it('lists each operation once, under its own name, and only those', () => {
    expect(new Set(operationNames).size).toBe(operationNames.length);
    for (const n of operationNames) expect(operationNamed(n).op).toBe(n);
    expect(operationNames).toEqual(expect.arrayContaining(['snapshot', 'merge', 'write', 'name', 'check']));
    expect(isOperationName('toString')).toBe(false);
    expect(isOperationName('merge')).toBe(true);
  });
});

describe('requests', () => {
  it('an unknown operation and a missing or mistyped field are usage errors naming the field', async () => {
    // @ts-expect-error: not an operation (requests arrive as JSON)
    expect(await codeOf(runOperation({ op: 'frobnicate', disk: 'x.vhd' }))).toMatchObject({ cls: 'UsageError', code: 'UNKNOWN_OPERATION' });
    // @ts-expect-error: disk missing
    expect(await codeOf(runOperation({ op: 'merge' }))).toMatchObject({ cls: 'UsageError', code: 'BAD_REQUEST', field: 'disk' });
    // @ts-expect-error: size must be a number
    expect(await codeOf(planOperation({ op: 'resize', disk: 'x.vhd', size: '1G' }))).toMatchObject({ code: 'BAD_REQUEST', field: 'size' });
    expect(await codeOf(runOperation({ op: 'write', disk: 'x.vhd', input: 'in.bin', offset: -1 }))).toMatchObject({ code: 'BAD_REQUEST', field: 'offset' });
  });
});

describe('runner', () => {
  const restore: (() => void)[] = [];
  afterEach(() => restore.splice(0).forEach((f) => f()));

  it('plans once per run, under the locks, and hands that plan to the run', async () => {
    const { paths } = await buildTree(tmp.dir, 301, { parents: [null, 0], size: 2 * MiB, blockSize: 64 * KiB });
    const d = operationNamed('compact');
    const plan = d.plan;
    let plans = 0;
    d.plan = (...args) => {
      plans++;
      return plan(...args);
    };
    restore.push(() => (d.plan = plan));
    const r = await runOperation({ op: 'compact', disk: paths[1] });
    expect(plans).toBe(1);
    expect(r.path).toBe(nodePath.resolve(paths[1]));
  });

  it('the run creates the snapshot file its plan names (the name a person was shown)', async () => {
    const { model, paths } = await buildTree(tmp.dir, 302, { parents: [null], size: 1 * MiB, blockSize: 64 * KiB });
    const d = operationNamed('snapshot');
    const plan = d.plan;
    const chosen = tmp.file('Before upgrade.vhd');
    d.plan = async (...args) => ({ ...(await plan(...args)), snapshot: chosen });
    restore.push(() => (d.plan = plan));
    const r = await runOperation({ op: 'snapshot', disk: paths[0] });
    expect(r.snapshot).toBe(chosen);
    expect(Buffer.compare(await readThrough(chosen), model.view(0))).toBe(0);
    expect(Buffer.compare(await readThrough(paths[0]), model.view(0))).toBe(0);
  });

  it('merge --into from the active disk is refused before any write: it would remove the path the VM uses', async () => {
    const { paths } = await buildTree(tmp.dir, 305, { parents: [null, 0, 1, 2], size: 2 * MiB, blockSize: 64 * KiB });
    const before = folderState(tmp.dir);
    const plan = await planOperation({ op: 'merge', disk: paths[3], into: paths[1] });
    expect(plan.refusals.map((r) => r.code)).toEqual(['ACTIVE_DISK']);
    await expect(runOperation({ op: 'merge', disk: paths[3], into: paths[1] })).rejects.toMatchObject({ code: 'ACTIVE_DISK' });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('merge --into decides every level before the first write (a ← b ← {c ← d, e})', async () => {
    // 0=a, 1=b, 2=c, 3=d, 4=e
    const { paths } = await buildTree(tmp.dir, 303, { parents: [null, 0, 1, 2, 1], size: 2 * MiB, blockSize: 64 * KiB });
    const before = folderState(tmp.dir);
    const plan = await planOperation({ op: 'merge', disk: paths[3], into: paths[0] });
    expect(plan.refusals.map((r) => r.code)).toContain('PARENT_HAS_OTHER_CHILDREN');
    expect(plan.segment.map((p) => nodePath.basename(p))).toEqual(['d3.vhd', 'd2.vhd', 'd1.vhd', 'd0.vhd']);
    const err = await runOperation({ op: 'merge', disk: paths[3], into: paths[0] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as RefusedError).code).toBe('PARENT_HAS_OTHER_CHILDREN');
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('merge --into folds a chain level by level into the ancestor; the content is unchanged', async () => {
    // d3 is a saved state (d4, a branch of the base, is the active disk): merge --into from the active disk is refused (below).
    const { model, paths } = await buildTree(tmp.dir, 304, { parents: [null, 0, 1, 2, 0], size: 2 * MiB, blockSize: 64 * KiB });
    await recordActive(paths[4]);
    const plan = await planOperation({ op: 'merge', disk: paths[3], into: paths[1] });
    expect(plan.refusals).toEqual([]);
    expect(
      plan.changes
        .filter((c) => c.action === 'delete')
        .map((c) => nodePath.basename(c.path))
        .sort(),
    ).toEqual(['d2.vhd', 'd3.vhd']);
    const r = await runOperation({ op: 'merge', disk: paths[3], into: paths[1] });
    expect(r.steps).toHaveLength(2);
    expect(r.merged).toBe(nodePath.resolve(paths[1]));
    expect([paths[2], paths[3]].map(existsSync)).toEqual([false, false]);
    expect(Buffer.compare(await readThrough(paths[1]), model.view(3))).toBe(0);
    expect(Buffer.compare(await readThrough(paths[0]), model.view(0))).toBe(0);
  });

  it('merge --into a disk that is not an ancestor is a usage error naming the field', async () => {
    const { paths } = await buildTree(tmp.dir, 305, { parents: [null, 0, 0], size: 1 * MiB, blockSize: 64 * KiB });
    expect(await codeOf(planOperation({ op: 'merge', disk: paths[1], into: paths[2] }))).toMatchObject({
      cls: 'UsageError',
      code: 'NOT_AN_ANCESTOR',
      field: 'into',
    });
  });

  it('reparent onto its own descendant is refused by the plan, before any write (a ← b ← c)', async () => {
    const { paths } = await buildTree(tmp.dir, 306, { parents: [null, 0, 1], size: 1 * MiB, blockSize: 64 * KiB });
    const before = folderState(tmp.dir);
    const plan = await planOperation({ op: 'reparent', disk: paths[1], parent: paths[2], ignoreIdMismatch: true });
    expect(plan.refusals.map((r) => r.code)).toContain('CHAIN_CYCLE');
    expect(await codeOf(runOperation({ op: 'reparent', disk: paths[1], parent: paths[2], ignoreIdMismatch: true }))).toMatchObject({
      cls: 'RefusedError',
      code: 'CHAIN_CYCLE',
    });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a deep check reports progress and can be cancelled (it only reads)', async () => {
    const { paths } = await buildTree(tmp.dir, 310, { parents: [null, 0], size: 2 * MiB, blockSize: 64 * KiB });
    const seen: string[] = [];
    const reports = await runOperation({ op: 'check', disk: paths[1], deep: true }, { onProgress: (p) => seen.push(`${p.phase}:${p.done}/${p.total}`) });
    expect(reports.map((r) => r.ok)).toEqual([true, true]);
    expect(seen).toContain('check:32/32');
    const ac = new AbortController();
    ac.abort();
    const err = await runOperation({ op: 'check', disk: paths[1], deep: true }, { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
  });

  it('write and name are operations like the others', async () => {
    const { model, paths } = await buildTree(tmp.dir, 307, { parents: [null, 0], size: 1 * MiB, blockSize: 64 * KiB });
    const input = tmp.file('data.bin');
    const data = Buffer.alloc(3000, 0x5a);
    await fsp.writeFile(input, data);
    expect(await codeOf(runOperation({ op: 'write', disk: paths[0], input, offset: 0 }))).toMatchObject({ code: 'HAS_CHILDREN' });
    expect(await codeOf(runOperation({ op: 'write', disk: paths[1], input, offset: 1 * MiB - 100 }))).toMatchObject({
      cls: 'UsageError',
      code: 'WRITE_PAST_END',
      field: 'offset',
    });
    const w = await runOperation({ op: 'write', disk: paths[1], input, offset: 777 });
    expect(w).toEqual({ path: nodePath.resolve(paths[1]), offset: 777, bytes: 3000 });
    model.write(1, 777, data);
    expect(Buffer.compare(await readThrough(paths[1]), model.view(1))).toBe(0);
    expect((await planOperation({ op: 'name', disk: paths[0], name: 'Clean install' })).summary).toBe('Name d0.vhd ‘Clean install’.');
    const n = await runOperation({ op: 'name', disk: paths[0], name: 'Clean install', description: 'before drivers' });
    expect(n).toMatchObject({ name: 'Clean install', description: 'before drivers' });
    expect((await runOperation({ op: 'name', disk: paths[0], name: '' })).name).toBeNull();
  });
});

describe('journals', () => {
  it('a journal whose fields are not what its operation writes is left in place, naming the field', async () => {
    const { paths } = await buildTree(tmp.dir, 308, { parents: [null, 0], size: 1 * MiB, blockSize: 64 * KiB });
    const before = folderState(tmp.dir);
    const jpath = journalPath(paths[0]);
    // A merge journal whose copy position is text: acting on it could copy from anywhere.
    await writeJournal(jpath, {
      ...journalHeader('merge', 'copy'),
      pid: 999999999,
      child: paths[1],
      childUuid: 'x',
      parent: paths[0],
      parentUuid: 'y',
      nextBlock: 'zero',
      grandchildren: [],
      relinks: [],
    });
    const done = await recover(tmp.dir);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ op: 'merge', action: 'left' });
    expect(done[0].detail).toContain('nextBlock');
    expect(existsSync(jpath)).toBe(true);
    const after = folderState(tmp.dir);
    delete after[nodePath.basename(jpath)];
    expect(after).toEqual(before);
    expect(nodePath.basename(jpath).startsWith(JOURNAL_PREFIX)).toBe(true);
  });

  it("whose work is it: a job of another thread of this process is running (LOCKED); this thread's own leftover, or a dead process's, is pending", async () => {
    const { paths } = await buildTree(tmp.dir, 310, { parents: [null, 0], size: 1 * MiB, blockSize: 64 * KiB });
    const jpath = journalPath(paths[0]);
    const cases = [
      { who: 'another worker thread of this process (the app runs each job in one)', fields: { pid: process.pid, thread: threadId + 1000 }, code: 'LOCKED' },
      { who: 'this thread, not carrying it out (an earlier job here was cut short)', fields: { pid: process.pid, thread: threadId }, code: 'PENDING_JOB' },
      { who: 'a process that is gone', fields: { pid: 999999999 }, code: 'PENDING_JOB' },
    ];
    for (const c of cases) {
      await writeJournal(jpath, { ...journalHeader('teleport', 'go'), ...c.fields });
      const before = folderState(tmp.dir);
      const plan = await planOperation({ op: 'snapshot', disk: paths[1] });
      expect(
        plan.refusals.map((r) => r.code),
        c.who,
      ).toEqual([c.code]);
      await expect(runOperation({ op: 'snapshot', disk: paths[1] }), c.who).rejects.toMatchObject({ code: c.code });
      expect(folderState(tmp.dir), c.who).toEqual(before);
    }
    // A job that only reads is not held back.
    expect(await runOperation({ op: 'check', disk: paths[1] })).toHaveLength(2);
    await fsp.unlink(jpath);
    expect((await planOperation({ op: 'snapshot', disk: paths[1] })).refusals).toEqual([]);
  });

  it('a journal of an operation nobody knows is left in place', async () => {
    const { paths } = await buildTree(tmp.dir, 309, { parents: [null], size: 1 * MiB, blockSize: 64 * KiB });
    const jpath = journalPath(paths[0]);
    await writeJournal(jpath, { ...journalHeader('teleport', 'go'), pid: 999999999 });
    const done = await recover(tmp.dir);
    expect(done).toMatchObject([{ op: 'teleport', action: 'left' }]);
    expect(existsSync(jpath)).toBe(true);
  });
});

describe('a plan pins what it shows (Plan.pins)', () => {
  it('snapshot in place: the plan names the snapshot file and pins it; a later run with the pin creates exactly that name, or refuses when it has been taken', async () => {
    const disk = tmp.file('pinned.vhd');
    await createDynamic(disk, 2 ** 20);
    const plan = await planOperation({ op: 'snapshot', disk });
    const name = plan.pins?.snapshotFile;
    expect(name).toMatch(/^pinned-snap-\d{8}-\d{6}\.vhd$/);
    expect(plan.changes.map((c) => c.path)).toContain(tmp.file(name!));
    await new Promise((r) => setTimeout(r, 1100));
    const r = await runOperation({ op: 'snapshot', disk, snapshotFile: name });
    expect(r.snapshot).toBe(tmp.file(name!));
    // The same name again (taken now): refused, not renamed.
    const again = await planOperation({ op: 'snapshot', disk: tmp.file('pinned.vhd'), snapshotFile: name });
    expect(again.refusals.map((x) => x.code)).toContain('EXISTS');
    await expect(runOperation({ op: 'snapshot', disk, snapshotFile: '../escape.vhd' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('revert --keep and switch: the kept state gets the file name and label its plan showed, however much later the run', async () => {
    const base = tmp.file('vm.vhd');
    await createDynamic(base, 2 ** 20);
    await runOperation({ op: 'snapshot', disk: base, name: 'Clean' });
    const plan = await planOperation({ op: 'revert', disk: base, keep: true });
    expect(plan.pins?.at).toBe(plan.plannedAt);
    await new Promise((r) => setTimeout(r, 1100));
    const r = await runOperation({ op: 'revert', disk: base, keep: true, ...plan.pins });
    expect(r.kept).toBe(plan.kept);
    const keptFile = await VhdFile.open(r.kept!);
    const keptId = keptFile.uuid;
    await keptFile.close();
    expect((await readSidecar(tmp.dir)).disks[keptId]?.name).toBe(plan.keptLabel);
    // Switching back to that state keeps what the path shows now, again under the plan's names.
    const sw = await planOperation({ op: 'switch', disk: r.kept! });
    await new Promise((res) => setTimeout(res, 1100));
    const done = await runOperation({ op: 'switch', disk: r.kept!, ...sw.pins });
    expect(done.kept).toBe(sw.kept);
    expect(done.keptLabel).toBe(sw.keptLabel);
    // Without keep nothing is generated, so nothing is pinned; a bad time is refused.
    expect((await planOperation({ op: 'revert', disk: base })).pins).toBeUndefined();
    await expect(runOperation({ op: 'revert', disk: base, at: 'yesterday-ish' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

// The in-use guard through the app's IPC (real handlers and job worker): the
// plan dialog shows IN_USE while another program holds a disk, a job started
// anyway fails with IN_USE and changes no byte, and the app's own handles (its
// main thread, its job workers: one process) never refuse its own jobs.
import { promises as fsp } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Channels, type FolderGrant } from '../../server/api';
import { createDynamic } from '../../core/ops/create';
import { useHolders } from '../support/holders';
import { useTmpDir } from '../support/tmp';
import { bundledWorker, makeHarness } from './support';
import { folderState } from '../support/compare.js';

const MiB = 1024 * 1024;
const tmp = useTmpDir('vhdsnap-ipc-inuse-');
const holders = useHolders();

beforeAll(async () => {
  await bundledWorker();
});

describe.skipIf(process.platform !== 'linux')('the app and a disk in use', () => {
  it('the plan refuses with IN_USE, and a job started anyway fails with it, changing nothing', async () => {
    const h = await makeHarness();
    h.dialogs.folder = tmp.dir;
    const folder = (await h.call(Channels.openFolder)) as FolderGrant;
    await createDynamic(tmp.file('win10.vhd'), 8 * MiB);
    const q = await holders.qemuIo(tmp.file('win10.vhd'));
    const message = `‘win10.vhd’ is in use by qemu-io (pid ${q.pid}): shut the VM down first`;
    const disk = { folder: folder.id, file: 'win10.vhd' };
    const before = folderState(tmp.dir);

    const plan = await h.call(Channels.plan, { op: 'compact', disk });
    expect(plan.refusals).toContainEqual({ code: 'IN_USE', message });
    const { jobId } = await h.call(Channels.start, { op: 'compact', disk });
    expect(await h.finished(jobId)).toMatchObject({ kind: 'failed', error: { code: 'IN_USE', message } });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('the details pane warns that a disk in use is a moving target, and a check job says so too', async () => {
    const h = await makeHarness();
    h.dialogs.folder = tmp.dir;
    const folder = (await h.call(Channels.openFolder)) as FolderGrant;
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    const disk = { folder: folder.id, file: 'a.vhd' };
    const quiet = await h.call(Channels.details, disk);
    expect(quiet.info.warnings.filter((w: { code: string }) => w.code === 'IN_USE')).toEqual([]);
    const n = await holders.node(tmp.file('a.vhd'));
    const warning = {
      code: 'IN_USE',
      message: `‘a.vhd’ is in use by node (pid ${n.pid}): the result is a snapshot of a moving target (it may change while and after it is read)`,
    };
    expect((await h.call(Channels.details, disk)).info.warnings).toContainEqual(warning);
    const { jobId } = await h.call(Channels.start, { op: 'check', disk, deep: false });
    const end = await h.finished(jobId);
    expect(end).toMatchObject({ kind: 'done', outcome: { op: 'check' } });
    if (end.kind !== 'done' || end.outcome.op !== 'check') throw new Error('not a check result');
    expect(end.outcome.result[0].warnings).toContainEqual(warning);
  });

  it("the app's own open handle does not refuse its own job", async () => {
    const h = await makeHarness();
    h.dialogs.folder = tmp.dir;
    const folder = (await h.call(Channels.openFolder)) as FolderGrant;
    await createDynamic(tmp.file('a.vhd'), 8 * MiB);
    const own = await fsp.open(tmp.file('a.vhd'), 'r');
    try {
      const disk = { folder: folder.id, file: 'a.vhd' };
      expect((await h.call(Channels.plan, { op: 'compact', disk })).refusals).toEqual([]);
      const { jobId } = await h.call(Channels.start, { op: 'compact', disk });
      expect(await h.finished(jobId)).toMatchObject({ kind: 'done' });
    } finally {
      await own.close();
    }
  });
});

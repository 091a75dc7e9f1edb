// @vitest-environment happy-dom
// The plan step of every destructive action: refusals disable Confirm; the
// operation dialog sends the right arguments to plan() and start(); revert
// keeps the current state unless the user says otherwise; flatten's format
// and output name agree (the name follows the format and the format the name).
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import OperationDialog from '../../renderer/src/components/OperationDialog.vue';
import PlanDialog from '../../renderer/src/components/PlanDialog.vue';
import { refKey } from '../../renderer/src/lib/operations.js';
import type { DiskNode, OperationArgs } from '../../server/api.js';
import { asInput, asSelect } from './dom.js';
import RevertForm from '../../renderer/src/actions/revert.vue';
import { disk, okPlan, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);

afterEach(() => {
  removeBridge();
});

describe('PlanDialog', () => {
  it('lists refusals with their reasons and disables Confirm', async () => {
    const plan = okPlan({
      refusals: [
        { code: 'HAS_CHILDREN', message: 'snap-a.vhd has 2 children; merge needs exactly one' },
        { code: 'NO_SPACE', message: 'needs 12 MiB, 4 MiB free' },
      ],
    });
    const w = mount(PlanDialog, { props: { plan } });
    const refusals = w.findAll('[data-testid="plan-refusal"]').map((r) => r.text());
    expect(refusals).toEqual(['snap-a.vhd has 2 children; merge needs exactly one (HAS_CHILDREN)', 'needs 12 MiB, 4 MiB free (NO_SPACE)']);
    const confirm = w.get('[data-testid="plan-confirm"]');
    expect(confirm.attributes('disabled')).toBeDefined();
    await confirm.trigger('click');
    expect(w.emitted('confirm')).toBeUndefined();
  });

  it('shows summary, changes and sizes, and confirms when nothing is refused', async () => {
    const w = mount(PlanDialog, { props: { plan: okPlan({ freeSpace: 4 * 2 ** 20 }) } });
    expect(w.get('[data-testid="plan-summary"]').text()).toBe('remove snap-a.vhd and fold its content into its children');
    expect(w.get('[data-testid="plan-changes"]').text()).toContain('/data/lab/snap-a.vhd');
    expect(w.get('[data-testid="plan-bytes"]').text()).toBe('6 MiB');
    // The exact bytes are on hover.
    expect(w.get('[data-testid="plan-bytes"]').attributes('title')).toBe('6,291,456 bytes');
    expect(w.get('[data-testid="plan-growth"]').text()).toBe('12 MiB');
    // Worst-case growth above the free space is called out.
    expect(w.get('[data-testid="plan-free"]').text()).toBe('4 MiB — may not be enough');
    expect(w.find('[data-testid="plan-refusals"]').exists()).toBe(false);
    const confirm = w.get('[data-testid="plan-confirm"]');
    expect(confirm.attributes('disabled')).toBeUndefined();
    await confirm.trigger('click');
    expect(w.emitted('confirm')).toHaveLength(1);
  });

  it('shows what is kept and lost in one sentence, where the plan says it', () => {
    const keepLose = 'The snapshot ‘before upgrade’ will no longer exist; your current disk leaf-a1.vhd keeps all its data.';
    expect(
      mount(PlanDialog, { props: { plan: okPlan({ keepLose }) } })
        .get('[data-testid="plan-keep-lose"]')
        .text(),
    ).toBe(keepLose);
    expect(
      mount(PlanDialog, { props: { plan: okPlan({}) } })
        .find('[data-testid="plan-keep-lose"]')
        .exists(),
    ).toBe(false);
  });

  it('shows the cautions (not reasons to refuse: Confirm stays enabled), and nothing of them where there are none', () => {
    const caution = 'children of /data/lab/base.vhd made in other folders by other programs cannot be found';
    const w = mount(PlanDialog, { props: { plan: okPlan({ cautions: [caution] }) } });
    expect(w.findAll('[data-testid="plan-caution"]').map((c) => c.text())).toEqual([caution]);
    expect(w.get('[data-testid="plan-confirm"]').attributes('disabled')).toBeUndefined();
    expect(
      mount(PlanDialog, { props: { plan: okPlan({}) } })
        .find('[data-testid="plan-cautions"]')
        .exists(),
    ).toBe(false);
  });

  it('says when free space is unknown and does not warn then', () => {
    const w = mount(PlanDialog, { props: { plan: okPlan({ freeSpace: null }) } });
    expect(w.get('[data-testid="plan-free"]').text()).toBe('unknown');
  });
});

async function dialog(action: Exclude<OperationArgs['op'], 'name'>, file: string) {
  const ctx = await openLab();
  const node = ctx.library.index.get(refKey({ folder: 'lab', file }))!.node as DiskNode;
  const w = mount(OperationDialog, {
    props: { action, target: { ref: node.ref, node, label: file } },
    global: { plugins: [ctx.pinia] },
    attachTo: 'body',
  });
  await flushPromises();
  return { ...ctx, w, node };
}

describe('OperationDialog', () => {
  it('delete: plans at once, refusals block, otherwise Confirm starts the job', async () => {
    const { w, fake } = await dialog('delete', 'snap-a.vhd');
    expect(fake.callsOf('plan')).toEqual([[{ op: 'delete', disk: { folder: 'lab', file: 'snap-a.vhd' } }]]);
    await w.get('[data-testid="plan-confirm"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('start')).toEqual([[{ op: 'delete', disk: { folder: 'lab', file: 'snap-a.vhd' } }]]);
    expect(w.emitted('started')).toEqual([['job-1']]);
    expect(w.emitted('close')).toHaveLength(1);
  });

  it('merge with a refused plan never starts', async () => {
    const ctx = await openLab();
    ctx.fake.nextPlan = okPlan({ refusals: [{ code: 'HAS_CHILDREN', message: 'base.vhd has two children' }] });
    const node = ctx.library.index.get(refKey({ folder: 'lab', file: 'snap-a.vhd' }))!.node;
    const w = mount(OperationDialog, { props: { action: 'merge', target: { ref: node.ref, node, label: 'snap-a' } }, global: { plugins: [ctx.pinia] } });
    await flushPromises();
    expect(w.get('[data-testid="plan-confirm"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="plan-confirm"]').trigger('click');
    await flushPromises();
    expect(ctx.fake.callsOf('start')).toEqual([]);
  });

  it('revert of a leaf: keep current state is on by default and is sent', async () => {
    const { w, fake } = await dialog('revert', 'leaf-b.vhd');
    expect(asInput(w.get('[data-testid="opt-keep"]').element).checked).toBe(true);
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'revert', disk: { folder: 'lab', file: 'leaf-b.vhd' }, keep: true }]]);
  });

  it('revert to an inner snapshot defaults to the active disk, not the first leaf', async () => {
    const a1 = disk('lab', 'leaf-a1.vhd', { active: false, state: 'saved' });
    const a2 = disk('lab', 'leaf-a2.vhd');
    const snap = disk('lab', 'snap-a.vhd', { children: [a1, a2] });
    let sent: OperationArgs | null = null;
    const w = mount(RevertForm, {
      props: { target: { ref: snap.ref, node: snap, label: 'snap-a.vhd' }, args: null, 'onUpdate:args': (v: OperationArgs | null) => (sent = v) },
    });
    await flushPromises();
    expect(asSelect(w.get('[data-testid="opt-revert-from"]').element).value).toBe(refKey(a2.ref));
    expect(sent).toEqual({ op: 'revert', disk: a2.ref, to: snap.ref, keep: true });
  });

  it('revert to an inner snapshot: picks one of its leaves (the active disk first), and unchecking keep is honoured', async () => {
    const { w, fake } = await dialog('revert', 'snap-a.vhd');
    const from = w.get('[data-testid="opt-revert-from"]');
    expect(Array.from(asSelect(from.element).options).map((o) => o.text)).toEqual(['Dev box (leaf-a1.vhd) — Now', 'leaf-a2.vhd (leaf-a2.vhd) — saved state']);
    expect(asSelect(from.element).value).toBe(refKey({ folder: 'lab', file: 'leaf-a1.vhd' }));
    await from.setValue(refKey({ folder: 'lab', file: 'leaf-a2.vhd' }));
    expect(asInput(w.get('[data-testid="opt-keep"]').element).checked).toBe(true);
    await w.get('[data-testid="opt-keep"]').setValue(false);
    expect(w.text()).toContain('will be lost');
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([
      [{ op: 'revert', disk: { folder: 'lab', file: 'leaf-a2.vhd' }, to: { folder: 'lab', file: 'snap-a.vhd' }, keep: false }],
    ]);
  });

  it('flatten: chooses the output first, then the format', async () => {
    const { w, fake } = await dialog('flatten', 'leaf-a1.vhd');
    expect(w.get('[data-testid="opt-review"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="opt-choose-output"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('chooseOutput')).toEqual([['leaf-a1-flat.vhd']]);
    expect(w.get('[data-testid="opt-output"]').text()).toBe('/data/out/flat.vhd');
    await w.get('[data-testid="opt-format"]').setValue('fixed');
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'flatten', disk: { folder: 'lab', file: 'leaf-a1.vhd' }, out: 'out-1', format: 'fixed' }]]);
  });

  it('flatten: a name that says VHDX turns the format into VHDX, fixed staying fixed; a format the chosen name does not fit asks for the file again', async () => {
    const { w, fake } = await dialog('flatten', 'leaf-a1.vhd');
    const format = () => asSelect(w.get('[data-testid="opt-format"]').element).value;
    expect(format()).toBe('dynamic');
    expect(Array.from(asSelect(w.get('[data-testid="opt-format"]').element).options).map((o) => o.value)).toEqual([
      'dynamic',
      'fixed',
      'vhdx',
      'vhdx-fixed',
      'raw',
    ]);
    await w.get('[data-testid="opt-format"]').setValue('fixed');
    fake.output = { id: 'out-2', path: '/data/out/flat.vhdx', name: 'flat.vhdx' };
    await w.get('[data-testid="opt-choose-output"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('chooseOutput')).toEqual([['leaf-a1-flat.vhd']]);
    expect(format()).toBe('vhdx-fixed');
    expect(w.get('[data-testid="opt-output"]').text()).toBe('/data/out/flat.vhdx');
    // raw fits any name but a disk's: the .vhdx is chosen again.
    await w.get('[data-testid="opt-format"]').setValue('raw');
    expect(w.get('[data-testid="opt-output"]').text()).toBe('no file chosen');
    expect(w.get('[data-testid="opt-review"]').attributes('disabled')).toBeDefined();
    fake.output = { id: 'out-3', path: '/data/out/flat.raw', name: 'flat.raw' };
    await w.get('[data-testid="opt-choose-output"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('chooseOutput').at(-1)).toEqual(['leaf-a1-flat.raw']);
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'flatten', disk: { folder: 'lab', file: 'leaf-a1.vhd' }, out: 'out-3', format: 'raw' }]]);
  });

  it('flatten of a VHDX chain offers a dynamic VHDX first, named .vhdx', async () => {
    const ctx = await openLab();
    const node = { ...(ctx.library.index.get(refKey({ folder: 'lab', file: 'leaf-a1.vhd' }))!.node as DiskNode), format: 'vhdx' as const };
    const w = mount(OperationDialog, { props: { action: 'flatten', target: { ref: node.ref, node, label: 'leaf-a1' } }, global: { plugins: [ctx.pinia] } });
    await flushPromises();
    expect(asSelect(w.get('[data-testid="opt-format"]').element).value).toBe('vhdx');
    await w.get('[data-testid="opt-choose-output"]').trigger('click');
    await flushPromises();
    expect(ctx.fake.callsOf('chooseOutput')).toEqual([['leaf-a1-flat.vhdx']]);
  });

  it('merge: into the parent by default, or an older snapshot of the chain', async () => {
    const { w, fake } = await dialog('merge', 'leaf-a1.vhd');
    const options = Array.from(asSelect(w.get('[data-testid="opt-into"]').element).options).map((o) => o.text);
    expect(options).toEqual(['its parent, before upgrade', 'Windows base (base.vhd)']);
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'merge', disk: { folder: 'lab', file: 'leaf-a1.vhd' } }]]);
    w.unmount();

    const again = await dialog('merge', 'leaf-a1.vhd');
    await again.w.get('[data-testid="opt-into"]').setValue('lab\u0000base.vhd');
    await again.w.get('form').trigger('submit');
    await flushPromises();
    expect(again.fake.callsOf('plan')).toEqual([[{ op: 'merge', disk: { folder: 'lab', file: 'leaf-a1.vhd' }, into: { folder: 'lab', file: 'base.vhd' } }]]);
  });

  it('merge of a disk whose parent is the base goes straight to the plan', async () => {
    const { w, fake } = await dialog('merge', 'snap-a.vhd');
    await flushPromises();
    expect(w.find('[data-testid="opt-into"]').exists()).toBe(false);
    expect(fake.callsOf('plan')).toEqual([[{ op: 'merge', disk: { folder: 'lab', file: 'snap-a.vhd' } }]]);
  });

  it('write: the file comes from the open dialog (or a name in the folder), the offset in human units', async () => {
    const { w, fake } = await dialog('write', 'leaf-b.vhd');
    expect(w.get('[data-testid="opt-review"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="opt-input-name"]').setValue('image.raw');
    await w.get('[data-testid="opt-choose-input"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('chooseInput')).toEqual([['image.raw', 'lab']]);
    expect(w.get('[data-testid="opt-input"]').text()).toBe('/data/lab/image.raw');
    await w.get('[data-testid="opt-offset"]').setValue('1x');
    expect(w.text()).toContain('Enter an offset');
    expect(w.get('[data-testid="opt-review"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="opt-offset"]').setValue('1M');
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'write', disk: { folder: 'lab', file: 'leaf-b.vhd' }, input: 'in-1', offset: 2 ** 20 }]]);
  });

  it('grow: refuses sizes not larger than the current one, sends bytes', async () => {
    const { w, fake } = await dialog('resize', 'leaf-b.vhd');
    await w.get('[data-testid="opt-size"]').setValue('4G');
    expect(w.text()).toContain('must be larger than 8 GiB');
    expect(w.get('[data-testid="opt-review"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="opt-size"]').setValue('12G');
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([[{ op: 'resize', disk: { folder: 'lab', file: 'leaf-b.vhd' }, size: 12 * 2 ** 30 }]]);
  });

  it('reconnect: the new parent is chosen among the disks of the granted folders', async () => {
    const ctx = await openLab();
    const ref = { folder: 'lab', file: 'lost.vhd' };
    const w = mount(OperationDialog, { props: { action: 'reparent', target: { ref, node: null, label: 'lost.vhd' } }, global: { plugins: [ctx.pinia] } });
    const select = w.get('[data-testid="opt-parent"]');
    const values = Array.from(asSelect(select.element).options)
      .map((o) => o.value)
      .filter(Boolean);
    // Every tree disk is offered; the orphan itself is not.
    expect(values).toHaveLength(7);
    expect(values).not.toContain(refKey(ref));
    await select.setValue(refKey({ folder: 'lab', file: 'snap-b.vhd' }));
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(ctx.fake.callsOf('plan')).toEqual([[{ op: 'reparent', disk: ref, parent: { folder: 'lab', file: 'snap-b.vhd' }, ignoreIdMismatch: false }]]);
  });

  it('check skips the plan and starts with the deep option', async () => {
    const { w, fake } = await dialog('check', 'base.vhd');
    await w.get('[data-testid="opt-deep"]').setValue(true);
    await w.get('[data-testid="opt-run-check"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('plan')).toEqual([]);
    expect(fake.callsOf('start')).toEqual([[{ op: 'check', disk: { folder: 'lab', file: 'base.vhd' }, deep: true }]]);
  });

  it('a rejected plan or start is shown in words', async () => {
    const ctx = await openLab();
    const err = new Error("Error invoking remote method 'job:plan': Error: disk is locked by another program");
    err.stack = 'Error: disk is locked\n    at secret (/app/main.js:1:1)';
    ctx.fake.nextPlan = err;
    const node = ctx.library.index.get(refKey({ folder: 'lab', file: 'leaf-b.vhd' }))!.node;
    const w = mount(OperationDialog, { props: { action: 'compact', target: { ref: node.ref, node, label: 'leaf-b' } }, global: { plugins: [ctx.pinia] } });
    await flushPromises();
    const text = w.get('[data-testid="dialog-error"]').text();
    expect(text).toContain('disk is locked by another program');
    expect(text).not.toMatch(/\bat |main\.js|invoking/);

    ctx.fake.nextPlan = okPlan();
    ctx.fake.nextStart = { code: 'BUSY', message: 'another job is using leaf-b.vhd' };
    const w2 = mount(OperationDialog, { props: { action: 'repair', target: { ref: node.ref, node, label: 'leaf-b' } }, global: { plugins: [ctx.pinia] } });
    await flushPromises();
    await w2.get('[data-testid="plan-confirm"]').trigger('click');
    await flushPromises();
    expect(w2.get('[data-testid="dialog-error"]').text()).toBe('another job is using leaf-b.vhd (BUSY)');
    expect(w2.emitted('close')).toBeUndefined();
  });
});

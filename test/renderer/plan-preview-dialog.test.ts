// @vitest-environment happy-dom
// The preview in the plan dialog (PlanPreview.vue): the open folder's tree
// after the plan beside its sentences, each disk marked by what happens to it;
// none for a refused plan (it does nothing).
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import PlanDialog from '../../renderer/src/components/PlanDialog.vue';
import { okPlan, removeBridge } from './fake-api.js';
import { openLab } from './support.js';

enableAutoUnmount(afterEach);
afterEach(() => removeBridge());

// Delete of snap-a in the lab folder: base → snap-a → {leaf-a1 (Now), leaf-a2}, base → snap-b → leaf-b.
const deleteSnapA = () =>
  okPlan({ effect: { removed: ['/data/lab/snap-a.vhd'], changed: ['/data/lab/leaf-a1.vhd', '/data/lab/leaf-a2.vhd'], created: [], moved: [] } });

describe('PlanPreview in the plan dialog', () => {
  it('shows the tree after the plan: the snapshot ghosted, its children changed under the base, Now kept', async () => {
    const { pinia } = await openLab();
    const w = mount(PlanDialog, { props: { plan: deleteSnapA() }, global: { plugins: [pinia] } });
    await flushPromises();
    const rows = w
      .findAll('[data-testid="preview-node"]')
      .map((r) => `${r.attributes('data-file')}:${r.attributes('data-status')}${r.find('[data-testid="preview-now"]').exists() ? ':now' : ''}`);
    expect(rows).toEqual(['base.vhd:same', 'snap-a.vhd:removed', 'leaf-a1.vhd:changed:now', 'leaf-a2.vhd:changed', 'snap-b.vhd:same', 'leaf-b.vhd:same']);
    // Said in words too, not only in colour; names as the tree shows them.
    const ghost = w.get('[data-file="snap-a.vhd"]');
    expect(ghost.classes()).toContain('is-removed');
    expect(ghost.text()).toBe('before upgraderemoved');
    expect(ghost.attributes('title')).toBe('before upgrade (snap-a.vhd) — will no longer exist');
    expect(w.get('[data-testid="plan"]').classes()).toContain('with-preview');
  });

  it('shows no preview for a refused plan, nor for one without an effect', async () => {
    const { pinia } = await openLab();
    const refused = mount(PlanDialog, {
      props: { plan: { ...deleteSnapA(), refusals: [{ code: 'NO_SPACE', message: 'full' }] } },
      global: { plugins: [pinia] },
    });
    expect(refused.find('[data-testid="plan-preview"]').exists()).toBe(false);
    const plain = mount(PlanDialog, { props: { plan: okPlan() }, global: { plugins: [pinia] } });
    expect(plain.find('[data-testid="plan-preview"]').exists()).toBe(false);
    expect(plain.get('[data-testid="plan"]').classes()).not.toContain('with-preview');
  });
});

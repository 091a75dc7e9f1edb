// The before/after preview of the plan dialogs, in Chromium on real files:
// snapshot, delete and merge (of the active disk) each show the tree as it
// will be — what goes ghosted, what changes highlighted, what is new marked,
// Now where it will be — with the whole dialog inside the window, at 1280×800
// and 1024×640, light and dark. Nothing is confirmed: the folder never changes.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { missingPrerequisite, openRecent, vhdFiles, useE2eSuite } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

const SIZES = [
  { width: 1280, height: 800 },
  { width: 1024, height: 640 },
] as const;
const THEMES = ['light', 'dark'] as const;

describe.skipIf(missing !== null)(
  'the plan preview (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'preview',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        const vm = path.join(folder, 'vm.vhd');
        await createDynamic(vm, 8 * MiB);
        base = path.basename((await snapshot(vm, { now: new Date(2026, 0, 2, 3, 4, 5), name: 'Fresh install' })).snapshot);
        middle = path.basename((await snapshot(vm, { now: new Date(2026, 0, 3, 3, 4, 5), name: 'Before upgrade' })).snapshot);
        await runOperation({ op: 'name', disk: vm, name: 'Work' });
      },
    });
    const { $, problems } = e2e;
    /** The files of the chain: base ← middle ← vm.vhd (the active disk). */
    let base = '';
    let middle = '';

    /** The preview's rows as "file:status[:now]", top to bottom. */
    const previewRows = () =>
      e2e.page
        .locator('[data-testid=plan-preview] [data-testid=preview-node]')
        .evaluateAll((rows) =>
          rows.map((r) => `${r.getAttribute('data-file')}:${r.getAttribute('data-status')}${r.querySelector('[data-testid=preview-now]') ? ':now' : ''}`),
        );

    /** Opens an action's plan on a disk through the context menu (the toolbar may fold it away); `review` when it asks first. */
    async function openPlan(file: string, action: string, before?: () => Promise<void>) {
      await $(`tree-row-${file}`).click({ button: 'right' });
      await $(`menu-${action}`).click();
      if (before) await before();
      await $('plan-preview').waitFor();
    }

    /** The dialog, the preview and Confirm are wholly inside the window. */
    async function expectInside(width: number, height: number) {
      for (const sel of ['[role=dialog]', '[data-testid=plan-preview]', '[data-testid=plan-confirm]']) {
        const box = (await e2e.page.locator(sel).first().boundingBox())!;
        expect(box, sel).not.toBeNull();
        expect(box.x, sel).toBeGreaterThanOrEqual(0);
        expect(box.y, sel).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width, sel).toBeLessThanOrEqual(width);
        expect(box.y + box.height, sel).toBeLessThanOrEqual(height);
      }
    }

    async function cancel() {
      await $('plan-cancel').click();
      await expect.poll(() => e2e.page.locator('[role=dialog]').count()).toBe(0);
    }

    for (const size of SIZES)
      for (const theme of THEMES)
        it(`snapshot, delete and merge at ${size.width}×${size.height}, ${theme}`, async () => {
          await e2e.open({ ...size, colorScheme: theme });
          await e2e.page.goto(e2e.server.url);
          await openRecent(e2e.page);
          await $('tree-row-vm.vhd').waitFor();
          const shot = (name: string) => e2e.page.screenshot({ path: path.join(e2e.artifacts, `preview-${name}-${size.width}-${theme}.png`) });

          // Snapshot: the new snapshot, named as typed, between the middle snapshot and vm.vhd, which keeps Now.
          await openPlan('vm.vhd', 'snapshot', async () => {
            await $('opt-name').fill('Before the driver update');
            await $('opt-review').click();
          });
          const snap = await previewRows();
          expect(snap).toHaveLength(4);
          expect(snap.slice(0, 2)).toEqual([`${base}:same`, `${middle}:same`]);
          expect(snap[2]).toMatch(/^vm-snap-\d{8}-\d{6}\.vhd:new$/);
          expect(snap[3]).toBe('vm.vhd:same:now');
          expect(await e2e.page.locator('[data-testid=preview-node][data-status=new]').textContent()).toContain('Before the driver update');
          await expectInside(size.width, size.height);
          await shot('snapshot');
          await cancel();

          // Delete of the middle snapshot: a ghost where it was, vm.vhd changed (it takes the middle's data) and hanging from the base.
          await openPlan(middle, 'delete');
          expect(await previewRows()).toEqual([`${base}:same`, `${middle}:removed`, 'vm.vhd:changed:now']);
          const ghost = e2e.page.locator('[data-testid=preview-node][data-status=removed] .pv-name');
          expect(await ghost.evaluate((e) => getComputedStyle(e).textDecorationLine)).toBe('line-through');
          // Muted rather than faded (faded text fails the contrast scan): its colour is not a kept disk's.
          const kept = e2e.page.locator('[data-testid=preview-node][data-status=same] .pv-name').first();
          expect(await ghost.evaluate((e) => getComputedStyle(e).color)).not.toBe(await kept.evaluate((e) => getComputedStyle(e).color));
          // The ghost is a sibling of vm.vhd now (one level in), not its parent.
          const indent = (file: string) =>
            e2e.page.locator(`[data-testid=preview-node][data-file="${file}"]`).evaluate((e) => parseFloat(getComputedStyle(e).paddingLeft));
          expect(await indent(middle)).toBe(await indent('vm.vhd'));
          expect(await indent(base)).toBeLessThan(await indent('vm.vhd'));
          await expectInside(size.width, size.height);
          await shot('delete');
          await cancel();

          // Merge of the active disk into its parent: it runs as the delete of the parent, so the same tree, Now still on vm.vhd.
          await openPlan('vm.vhd', 'merge', () => $('opt-review').click());
          expect(await previewRows()).toEqual([`${base}:same`, `${middle}:removed`, 'vm.vhd:changed:now']);
          const changed = e2e.page.locator('[data-testid=preview-node][data-status=changed]');
          expect(await changed.evaluate((e) => getComputedStyle(e).borderLeftStyle)).toBe('solid');
          await expectInside(size.width, size.height);
          await shot('merge');
          await cancel();
          await e2e.page.context().close();
        });

    it('nothing was confirmed: the folder is as it was', () => {
      expect(vhdFiles(e2e.folder)).toEqual([base, middle, 'vm.vhd'].sort());
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  180_000,
);

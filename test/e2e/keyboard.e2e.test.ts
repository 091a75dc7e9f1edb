// Keyboard only, in Chromium on real files: open a folder, select with the
// arrows, snapshot (Ctrl+S), rename (F2), revert (Ctrl+R), delete (Delete),
// each through its dialog and plan; the context menu, a toolbar button and
// the `?` overlay. After every key the focus is on a visible element with a
// visible ring, never the page body; Tab stays inside each dialog; Escape
// closes it and the focus goes back to its opener. Screenshots (light at
// 1280×800, dark at 1024×640) go to test-artifacts/e2e/a11y-kbd-*.png.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { actionNames, labelOf, missingPrerequisite, parentsByFile, vhdFiles, useE2eSuite } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

/** What the page says about its focused element. */
interface Focus {
  tag: string;
  testid: string | null;
  role: string | null;
  file: string | null;
  width: number;
  height: number;
  ring: string;
  inDialog: string | null;
}

describe.skipIf(missing !== null)(
  'the app by keyboard alone (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'kbd',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        // base ← mid ← vm.vhd (the active disk), and a standalone data.vhd.
        const vm = path.join(folder, 'vm.vhd');
        await createDynamic(vm, 8 * MiB);
        await runOperation({ op: 'name', disk: vm, name: 'Installed' });
        base = path.basename((await snapshot(vm, { now: new Date(2026, 0, 2, 3, 4, 5) })).snapshot);
        await runOperation({ op: 'name', disk: vm, name: 'Updated' });
        mid = path.basename((await snapshot(vm, { now: new Date(2026, 0, 3, 3, 4, 5) })).snapshot);
        await createDynamic(path.join(folder, 'data.vhd'), 4 * MiB);
      },
    });
    const { $, problems } = e2e;
    let base = '';
    let mid = '';

    const focus = (): Promise<Focus> =>
      e2e.page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el || el === document.body) return { tag: 'BODY', testid: null, role: null, file: null, width: 0, height: 0, ring: 'none', inDialog: null };
        const r = el.getBoundingClientRect();
        const s = getComputedStyle(el);
        // The ring: an outline, or a box-shadow; a tree shows it on its selected row (aria-activedescendant).
        const row = el.getAttribute('role') === 'tree' ? el.querySelector<HTMLElement>('[aria-selected="true"]') : null;
        const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 ? `outline ${s.outlineWidth} ${s.outlineStyle}` : '';
        const shadow = s.boxShadow !== 'none' ? `shadow ${s.boxShadow}` : row && getComputedStyle(row).boxShadow !== 'none' ? 'row shadow' : '';
        return {
          tag: el.tagName,
          testid: el.getAttribute('data-testid'),
          role: el.getAttribute('role'),
          file: el.getAttribute('data-file'),
          width: r.width,
          height: r.height,
          ring: outline || shadow || 'none',
          inDialog: el.closest('[role="dialog"]')?.getAttribute('data-testid') ?? null,
        };
      });

    /** The focus after a key: on an element of the page (not the body), with a box and a visible ring. */
    async function expectFocusVisible(step: string): Promise<Focus> {
      const f = await focus();
      expect(f.tag, `${step}: focus on the page body`).not.toBe('BODY');
      expect(f.width * f.height, `${step}: focused ${f.tag} ${f.testid} has no box`).toBeGreaterThan(0);
      expect(f.ring, `${step}: focused ${f.tag} ${f.testid ?? f.role} shows no focus ring`).not.toBe('none');
      return f;
    }

    async function press(key: string, step = key): Promise<Focus> {
      await e2e.page.keyboard.press(key);
      return expectFocusVisible(step);
    }

    /** Tab (or Shift+Tab) until the element with this test id has the focus, checking the focus at every stop. */
    async function tabTo(testid: string, dialog: string | null, back = false): Promise<void> {
      for (let i = 0; i < 25; i++) {
        const f = await expectFocusVisible(`tab towards ${testid}`);
        if (dialog) expect(f.inDialog, `Tab left ${dialog}`).toBe(dialog);
        if (f.testid === testid) return;
        await e2e.page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
      }
      throw new Error(`Tab never reached ${testid}`);
    }

    /** Records every time the body still holds the focus a moment after a change of the page (none expected inside a flow), with what had it before. */
    const watchBody = () =>
      e2e.page.evaluate(() => {
        const w = window as unknown as { __bodyFocus: string[] };
        w.__bodyFocus = [];
        let before = 'nothing';
        document.addEventListener('focusin', (e) => {
          const el = e.target as HTMLElement;
          before = `${el.tagName.toLowerCase()} ${el.getAttribute('data-testid') ?? el.getAttribute('role') ?? ''}`.trim();
        });
        new MutationObserver(() => {
          if (document.activeElement !== document.body) return;
          const dialog = document.querySelector('[role=dialog]')?.getAttribute('data-testid') ?? 'no dialog';
          setTimeout(() => {
            if (document.activeElement === document.body) w.__bodyFocus.push(`${dialog}, after ${before}`);
          }, 50);
        }).observe(document.body, { childList: true, subtree: true, attributes: true });
      });
    /** The body-focus records since the last look (taken, so one test's lapse is not blamed on the next). */
    const bodyFocusSeen = () => e2e.page.evaluate(() => (window as unknown as { __bodyFocus: string[] }).__bodyFocus.splice(0));

    const selectedFile = () => e2e.page.evaluate(() => document.querySelector('[role=treeitem][aria-selected=true]')?.getAttribute('data-file') ?? null);

    /** Arrow keys in the tree until `file` is selected. */
    async function arrowTo(file: string) {
      for (let i = 0; i < 12 && (await selectedFile()) !== file; i++) await press('ArrowDown', `ArrowDown towards ${file}`);
      for (let i = 0; i < 12 && (await selectedFile()) !== file; i++) await press('ArrowUp', `ArrowUp towards ${file}`);
      expect(await selectedFile()).toBe(file);
      expect((await focus()).role).toBe('tree');
    }

    /** Tab and Shift+Tab many times: the focus never leaves the dialog. */
    async function tabStaysIn(dialog: string) {
      for (const key of ['Tab', 'Shift+Tab'])
        for (let i = 0; i < 12; i++) expect((await press(key, `${key} in ${dialog}`)).inDialog, `${key} left ${dialog}`).toBe(dialog);
    }

    /** Escape closes the dialog and the focus is back on the tree with the same disk selected. */
    async function escapeBackToTree(dialog: string, file: string) {
      await e2e.page.keyboard.press('Escape');
      await $(dialog).waitFor({ state: 'detached' });
      const f = await expectFocusVisible(`after Escape in ${dialog}`);
      expect(f.role, `focus did not go back to the tree after ${dialog}`).toBe('tree');
      expect(await selectedFile()).toBe(file);
    }

    /** Marks the result shown now, so the next wait sees only a newer one. */
    const markResult = () => e2e.page.evaluate(() => document.querySelectorAll('[data-testid=result-panel]').forEach((el) => el.setAttribute('data-seen', '')));
    async function nextResult(): Promise<string> {
      const panel = e2e.page.locator('[data-testid=result-panel]:not([data-seen]):not([data-status=running])');
      await panel.waitFor();
      expect(await panel.getAttribute('data-status'), (await panel.textContent()) ?? '').toBe('done');
      return (await panel.textContent()) ?? '';
    }

    /** In a plan: the focus is inside, then Tab to Confirm and Enter; the dialog closes and the focus is back on the tree. */
    async function confirmPlan(dialog: string, shot?: string) {
      await $('plan').waitFor();
      await markResult();
      const f = await expectFocusVisible(`${dialog} plan shown`);
      expect(f.inDialog).toBe(dialog);
      expect(['plan-confirm', 'plan-cancel']).toContain(f.testid);
      if (shot) await e2e.page.screenshot({ path: path.join(e2e.artifacts, shot) });
      await tabTo('plan-confirm', dialog);
      await e2e.page.keyboard.press('Enter');
      await $(dialog).waitFor({ state: 'detached' });
      expect((await expectFocusVisible(`${dialog} confirmed`)).role).toBe('tree');
      await nextResult();
      expect((await expectFocusVisible(`${dialog} finished`)).role).toBe('tree');
    }

    it('opens the folder from the keyboard: the focus goes into its tree', async () => {
      await e2e.open({ width: 1280, height: 800, colorScheme: 'light' });
      await e2e.page.goto(e2e.server.url);
      await $('empty-state').waitFor();
      await e2e.page.keyboard.press('Tab');
      await expect.poll(() => e2e.page.getByTestId('recent-folder').count()).toBeGreaterThan(0);
      await tabTo('recent-folder', null);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-01-empty-focus.png') });
      await e2e.page.keyboard.press('Enter');
      await $('folder-tree').waitFor();
      await expect.poll(async () => (await focus()).role).toBe('tree');
      await expectFocusVisible('folder opened');
      await watchBody();
      await arrowTo('vm.vhd');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-02-tree-focus.png') });
    });

    it('Ctrl+S: the snapshot dialog keeps Tab inside, Escape returns to the tree; Enter goes to the plan and Confirm takes it', async () => {
      await press('Control+s');
      await $('dialog-snapshot').waitFor();
      expect((await expectFocusVisible('snapshot dialog open')).testid).toBe('opt-name');
      await tabStaysIn('dialog-snapshot');
      await escapeBackToTree('dialog-snapshot', 'vm.vhd');

      const before = new Set(vhdFiles(e2e.folder));
      await press('Control+s');
      await $('dialog-snapshot').waitFor();
      await tabTo('opt-name', 'dialog-snapshot');
      await e2e.page.keyboard.type('Keyboard snapshot');
      await press('Enter', 'review the snapshot plan');
      await confirmPlan('dialog-snapshot', 'a11y-kbd-03-plan-snapshot.png');
      const created = vhdFiles(e2e.folder).filter((f) => !before.has(f));
      expect(created).toHaveLength(1);
      expect(await labelOf(e2e.folder, created[0])).toBe('Keyboard snapshot');
      expect((await parentsByFile(e2e.folder)).get('vm.vhd')).toBe(created[0]);
      await e2e.page.locator(`[data-file="${created[0]}"]`).first().waitFor();
    });

    it('F2 renames the selected disk in place; Escape first leaves it unchanged; focus goes back to the tree', async () => {
      await arrowTo('vm.vhd');
      const nameBefore = await labelOf(e2e.folder, 'vm.vhd');
      await press('F2');
      await $('detail-name-input').waitFor();
      expect((await expectFocusVisible('inline rename open')).testid).toBe('detail-name-input');
      await e2e.page.keyboard.type('not saved');
      await e2e.page.keyboard.press('Escape');
      await $('detail-name-input').waitFor({ state: 'detached' });
      expect((await expectFocusVisible('after Escape in the name field')).role, 'focus did not go back to the tree').toBe('tree');
      expect(await selectedFile()).toBe('vm.vhd');
      expect(await labelOf(e2e.folder, 'vm.vhd')).toBe(nameBefore);

      await press('F2');
      await $('detail-name-input').waitFor();
      await e2e.page.keyboard.press('Control+a');
      await e2e.page.keyboard.type('Daily work');
      await e2e.page.keyboard.press('Enter');
      await $('detail-name-input').waitFor({ state: 'detached' });
      expect((await expectFocusVisible('renamed')).role).toBe('tree');
      await expect.poll(() => labelOf(e2e.folder, 'vm.vhd')).toBe('Daily work');
    });

    it('Ctrl+R reverts through options and plan', async () => {
      await arrowTo('vm.vhd');
      await press('Control+r');
      await $('dialog-revert').waitFor();
      expect((await expectFocusVisible('revert dialog open')).inDialog).toBe('dialog-revert');
      await tabStaysIn('dialog-revert');
      await escapeBackToTree('dialog-revert', 'vm.vhd');

      const parentBefore = (await parentsByFile(e2e.folder)).get('vm.vhd');
      await press('Control+r');
      await $('dialog-revert').waitFor();
      await tabTo('opt-review', 'dialog-revert');
      await press('Enter', 'review the revert plan');
      await confirmPlan('dialog-revert');
      // The kept state is a new saved leaf; vm.vhd still hangs off the same snapshot, now empty again.
      const parents = await parentsByFile(e2e.folder);
      expect(parents.get('vm.vhd')).toBe(parentBefore);
      expect([...parents.values()].filter((p) => p === parentBefore).length).toBe(2);
    });

    it('Delete removes a snapshot through its plan (which starts on Cancel)', async () => {
      await e2e.page.locator(`[role=treeitem][data-file="${mid}"]`).waitFor();
      await arrowTo(mid);
      await press('Delete');
      await $('dialog-delete').waitFor();
      await $('plan').waitFor();
      expect((await expectFocusVisible('delete plan shown')).testid).toBe('plan-cancel');
      await tabStaysIn('dialog-delete');
      await escapeBackToTree('dialog-delete', mid);

      await press('Delete');
      await $('dialog-delete').waitFor();
      await confirmPlan('dialog-delete', 'a11y-kbd-04-plan-delete.png');
      expect(vhdFiles(e2e.folder)).not.toContain(mid);
      expect([...(await parentsByFile(e2e.folder)).values()]).toContain(base);
      expect(await bodyFocusSeen(), 'the focus fell on the page body during a flow').toEqual([]);
    });

    it('the context menu opens with Shift+F10, moves with the arrows, closes with Escape, and opens Check', async () => {
      await arrowTo('data.vhd');
      const first = await press('Shift+F10', 'context menu');
      await $('context-menu').waitFor();
      expect(first.role).toBe('menuitem');
      const second = await press('ArrowDown', 'menu down');
      expect(second.testid).not.toBe(first.testid);
      expect(await e2e.page.locator('[data-testid=menu-check] kbd').textContent()).toBe('Ctrl+K');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-05-menu.png') });
      await e2e.page.keyboard.press('Escape');
      await $('context-menu').waitFor({ state: 'detached' });
      expect((await expectFocusVisible('menu closed')).role).toBe('tree');

      await press('Shift+F10', 'context menu again');
      for (let i = 0; i < 20 && (await focus()).testid !== 'menu-check'; i++) await press('ArrowDown', 'menu towards Check');
      expect((await focus()).testid).toBe('menu-check');
      await e2e.page.keyboard.press('Enter');
      await $('dialog-check').waitFor();
      expect((await expectFocusVisible('check dialog from the menu')).inDialog).toBe('dialog-check');
      await escapeBackToTree('dialog-check', 'data.vhd');
    });

    it('a toolbar button opens its dialog and gets the focus back after Escape; Ctrl+K runs a check', async () => {
      await e2e.page.keyboard.press('Shift+Tab');
      await tabTo('action-check', null, true);
      await e2e.page.keyboard.press('Enter');
      await $('dialog-check').waitFor();
      await e2e.page.keyboard.press('Escape');
      await $('dialog-check').waitFor({ state: 'detached' });
      expect((await expectFocusVisible('after Escape from the toolbar')).testid).toBe('action-check');
      expect(await $('action-check').getAttribute('title')).toContain('Ctrl+K');

      await tabTo('folder-tree', null);
      await press('Control+k');
      await $('dialog-check').waitFor();
      await markResult();
      await tabTo('opt-run-check', 'dialog-check');
      await e2e.page.keyboard.press('Enter');
      await $('dialog-check').waitFor({ state: 'detached' });
      expect((await expectFocusVisible('check started')).role).toBe('tree');
      expect(await nextResult()).toContain('data.vhd');
    });

    it('? lists every shortcut in a modal overlay that Escape closes', async () => {
      await press('?');
      const overlay = $('shortcuts-overlay');
      await overlay.waitFor();
      expect(await overlay.getAttribute('aria-modal')).toBe('true');
      const text = (await overlay.textContent()) ?? '';
      for (const k of ['Ctrl+S', 'Ctrl+R', 'Del', 'F2', 'Ctrl+K', 'Shift+F10', 'Escape']) expect(text, `overlay lacks ${k}`).toContain(k);
      await tabStaysIn('shortcuts-overlay');
      // Keys inside the overlay do not reach the app behind it.
      await press('Delete', 'Delete in the overlay');
      expect(await e2e.page.locator('[role=dialog]').count()).toBe(1);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-06-shortcuts.png') });
      await escapeBackToTree('shortcuts-overlay', 'data.vhd');
      expect(await bodyFocusSeen(), 'the focus fell on the page body during a flow').toEqual([]);
    });

    it('dark theme at 1024×640: dialogs and the tree show their focus ring too', async () => {
      await e2e.page.context().close();
      await e2e.open({ width: 1024, height: 640, colorScheme: 'dark' });
      await e2e.page.goto(e2e.server.url);
      await $('empty-state').waitFor();
      await e2e.page.keyboard.press('Tab');
      await tabTo('recent-folder', null);
      await e2e.page.keyboard.press('Enter');
      await $('folder-tree').waitFor();
      await expect.poll(async () => (await focus()).role).toBe('tree');
      await arrowTo('vm.vhd');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-07-tree-dark-1024.png') });
      await press('Control+s');
      await $('dialog-snapshot').waitFor();
      await press('Tab', 'tab in the dark dialog');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-08-dialog-dark-1024.png') });
      await escapeBackToTree('dialog-snapshot', 'vm.vhd');
      await press('?');
      await $('shortcuts-overlay').waitFor();
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'a11y-kbd-09-shortcuts-dark-1024.png') });
      await escapeBackToTree('shortcuts-overlay', 'vm.vhd');
    });

    it('Escape closes the dialog of every action, each opened from the context menu by keyboard alone', async () => {
      // The page of the previous test: 1024×640, dark, the folder open. Every disk's menu lists the actions that apply to it.
      await watchBody();
      const files = await e2e.page.$$eval('[role=tree] [role=treeitem]', (els) => els.map((e) => e.getAttribute('data-file')!));
      const closed = new Set<string>();
      for (const file of files) {
        await arrowTo(file);
        await press('Shift+F10', `menu of ${file}`);
        await $('context-menu').waitFor();
        const items = await e2e.page.$$eval('[data-testid=context-menu] [role=menuitem]:not([disabled])', (els) =>
          els.map((e) => e.getAttribute('data-testid')!.replace(/^menu-/, '')).filter((n) => n !== 'details'),
        );
        await e2e.page.keyboard.press('Escape');
        await $('context-menu').waitFor({ state: 'detached' });
        for (const action of items.filter((a) => !closed.has(a))) {
          await press('Shift+F10', `menu of ${file} for ${action}`);
          for (let i = 0; i < 25 && (await focus()).testid !== `menu-${action}`; i++) await press('ArrowDown', `menu towards ${action}`);
          expect((await focus()).testid).toBe(`menu-${action}`);
          await e2e.page.keyboard.press('Enter');
          const dialog = `dialog-${action}`;
          await $(dialog).waitFor();
          expect(await $(dialog).getAttribute('aria-modal')).toBe('true');
          await expect.poll(async () => (await focus()).inDialog, { message: `focus inside ${dialog}` }).toBe(dialog);
          await expectFocusVisible(`${dialog} open`);
          await escapeBackToTree(dialog, file);
          closed.add(action);
        }
      }
      // Every action the app has (renderer/src/actions), toolbar and menu-only alike.
      expect([...closed].sort()).toEqual(actionNames().sort());
      expect(await bodyFocusSeen(), 'the focus fell on the page body during a flow').toEqual([]);
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  120_000,
);

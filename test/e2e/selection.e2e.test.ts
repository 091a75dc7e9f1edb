// One selection, in Chromium on real files: the details pane and the toolbar
// follow a click in the tree, the arrow keys, a click and the arrow keys in the
// graph, and the context menu; an action that cannot apply is disabled with
// its reason; a check that finds an error ends as problems. Screenshots at
// 1024×640 and 1280×800, light and dark.
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { flipByte } from '../support/corrupt';
import { missingPrerequisite, openRecent, toolbarActionDisabled, useE2eSuite } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

describe.skipIf(missing !== null)(
  'one selection in the app (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'sel',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        // base ← s1 ← {vm.vhd, branch.vhd}; and a standalone damaged.vhd.
        const vm = path.join(folder, 'vm.vhd');
        await createDynamic(vm, 8 * MiB);
        await runOperation({ op: 'name', disk: vm, name: 'Fresh install' });
        const s1 = await snapshot(vm, { now: new Date(2026, 0, 2, 3, 4, 5) });
        await runOperation({ op: 'name', disk: vm, name: 'Work' });
        await snapshot(s1.snapshot, { out: path.join(folder, 'branch.vhd') });
        const damaged = path.join(folder, 'damaged.vhd');
        await createDynamic(damaged, 4 * MiB);
        // The trailing footer's checksum no longer matches: the disk opens (from its copy at 0) and check reports the error.
        await flipByte(damaged, statSync(damaged).size - 512 + 100);
      },
    });
    const { $, problems } = e2e;
    const shown = () => $('detail-file').textContent();

    async function open(width: number, height: number, colorScheme: 'light' | 'dark') {
      await e2e.open({ width, height, colorScheme });
      const context = e2e.page.context();
      await e2e.page.goto(e2e.server.url);
      await openRecent(e2e.page);
      await $('tree-row-vm.vhd').waitFor();
      return context;
    }

    it('the details pane and the toolbar follow the tree, the keyboard, the graph and the menu', async () => {
      const context = await open(1280, 800, 'light');
      const base = (await e2e.page.locator('[data-testid^=tree-row-vm-snap-]').getAttribute('data-file'))!;
      await $('tree-row-vm.vhd').click();
      await expect.poll(shown).toBe('vm.vhd');
      await expect.poll(() => $('detail-unique').textContent()).not.toBe('loading…');
      // Arrow keys: the pane follows at once (and main's details once the selection rests).
      await e2e.page.keyboard.press('ArrowUp');
      await expect.poll(shown).toBe('branch.vhd');
      await e2e.page.keyboard.press('ArrowUp');
      await expect.poll(shown).toBe(base);
      await expect.poll(() => $('detail-name').textContent()).toBe('Fresh install');
      expect(await $('action-snapshot').isDisabled()).toBe(true);
      expect(await $('action-snapshot').getAttribute('title')).toContain('is not available: it has snapshots below it');
      expect(await toolbarActionDisabled(e2e.page, 'resize')).toBe(true);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'sel-01-tree-keys-1280.png') });
      // The context menu of another row selects it too.
      await $('tree-row-branch.vhd').click({ button: 'right' });
      await $('context-menu').waitFor();
      await expect.poll(shown).toBe('branch.vhd');
      await e2e.page.keyboard.press('Escape');
      // The graph: a click, then arrows (Left to the parent, Right to its first child).
      await $('view-graph').click();
      await e2e.page.locator('[data-testid=graph-node][data-file="vm.vhd"]').click();
      await expect.poll(shown).toBe('vm.vhd');
      await e2e.page.keyboard.press('ArrowLeft');
      await expect.poll(shown).toBe(base);
      await expect.poll(() => e2e.page.evaluate(() => document.activeElement?.getAttribute('data-file'))).toBe(base);
      await e2e.page.keyboard.press('ArrowRight');
      await expect.poll(shown).toBe('branch.vhd');
      await e2e.page.keyboard.press('ArrowDown');
      await expect.poll(shown).toBe('vm.vhd');
      await e2e.page.keyboard.press('ArrowUp');
      await expect.poll(shown).toBe('branch.vhd');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'sel-02-graph-keys-1280.png') });
      await $('view-tree').click();
      expect(await e2e.page.locator('[role=treeitem][aria-selected=true]').getAttribute('data-file')).toBe('branch.vhd');
      await context.close();
    });

    it('a check that finds an error ends as problems, and the badge says so', async () => {
      const context = await open(1024, 640, 'dark');
      await $('tree-row-damaged.vhd').click();
      await $('action-check').click();
      await $('opt-run-check').click();
      const panel = e2e.page.locator('[data-testid=result-panel]:not([data-status=running])');
      await panel.waitFor();
      expect(await panel.getAttribute('data-tone')).toBe('problems');
      expect(await $('result-headline').textContent()).toMatch(/^Check of damaged\.vhd found \d+ problems?\.$/);
      await expect.poll(() => $('tree-row-damaged.vhd').getByTestId('health-badge').getAttribute('data-health')).toBe('errors');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'sel-03-check-problems-1024-dark.png') });
      await context.close();
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  120_000,
);

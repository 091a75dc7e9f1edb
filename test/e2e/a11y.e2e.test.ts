// Accessibility scan (axe-core through @axe-core/playwright) of the main
// states of the app in Chromium on real files: empty, folder open, details,
// the snapshot, revert, check, merge and delete dialogs and plans, a running
// job's progress, its result, the orphan list, the context menu, the
// shortcuts overlay, the graph, and the dark theme. No serious or critical
// violation may show; a failure lists each rule with its targets.
// Screenshots go to test-artifacts/e2e/a11y-*.png.
import { rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { WebSocketRoute } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { flipByte } from '../support/corrupt';
import { missingPrerequisite, openRecent, useE2eSuite } from './support';

const MiB = 2 ** 20;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

describe.skipIf(missing !== null)(
  'accessibility of the app (axe-core in Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'a11y',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        // base ← mid ← vm.vhd; a standalone data.vhd; damaged.vhd (a bad footer checksum); lost.vhd whose parent is gone (an orphan).
        const vm = path.join(folder, 'vm.vhd');
        await createDynamic(vm, 8 * MiB);
        await runOperation({ op: 'name', disk: vm, name: 'Installed' });
        await snapshot(vm, { now: new Date(2026, 0, 2, 3, 4, 5) });
        await runOperation({ op: 'name', disk: vm, name: 'Updated' });
        mid = path.basename((await snapshot(vm, { now: new Date(2026, 0, 3, 3, 4, 5) })).snapshot);
        await createDynamic(path.join(folder, 'data.vhd'), 4 * MiB);
        const damaged = path.join(folder, 'damaged.vhd');
        await createDynamic(damaged, 4 * MiB);
        await flipByte(damaged, statSync(damaged).size - 512 + 100);
        const lost = path.join(folder, 'lost.vhd');
        await createDynamic(lost, 4 * MiB);
        rmSync((await snapshot(lost, { now: new Date(2026, 0, 4, 3, 4, 5) })).snapshot);
        // A saved state beside vm.vhd (for Switch and Make active), and a file to write into a disk.
        await snapshot(path.join(folder, mid), { out: path.join(folder, 'branch.vhd') });
        await runOperation({ op: 'set-active', disk: vm });
        writeFileSync(path.join(folder, 'patch.bin'), Buffer.alloc(4096, 0x5a));
      },
    });
    const { $, problems } = e2e;
    const row = (file: string) => e2e.page.locator(`[role=treeitem][data-file="${file}"]`);
    let mid = '';
    /** While set, the end of every job is held back from the page, so its progress stays on screen. */
    let holding = false;
    const held: (() => void)[] = [];

    /** The page's socket to main, passed through except job ends while `holding`. */
    function relay(ws: WebSocketRoute) {
      const main = ws.connectToServer();
      ws.onMessage((m) => main.send(m));
      main.onMessage((m) => {
        const kind = typeof m === 'string' ? (JSON.parse(m) as { event?: { kind?: string } }).event?.kind : undefined;
        if (holding && kind && kind !== 'progress') held.push(() => ws.send(m));
        else ws.send(m);
      });
    }

    async function open(width: number, height: number, colorScheme: 'light' | 'dark') {
      await e2e.open({ width, height, colorScheme });
      await e2e.page.routeWebSocket(/.*/, relay);
      await e2e.page.goto(e2e.server.url);
      await $('empty-state').waitFor();
    }

    async function openFolder() {
      await openRecent(e2e.page);
      await row('vm.vhd').waitFor();
    }

    /** Scans the page as it is now: no serious or critical violation; the screenshot shows what was scanned. */
    async function scan(state: string) {
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, `a11y-${state}.png`) });
      const results = await new AxeBuilder({ page: e2e.page }).analyze();
      const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      const report = bad.map(
        (v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')} — ${n.failureSummary ?? ''}`).join('\n')}`,
      );
      expect(report, `axe in state "${state}"`).toEqual([]);
      // The scan ran rules on this state's markup (not an empty page).
      expect(results.passes.length).toBeGreaterThan(10);
    }

    async function closeDialog(id: string) {
      await e2e.page.keyboard.press('Escape');
      await $(id).waitFor({ state: 'detached' });
    }

    it('empty window, folder open, details', async () => {
      await open(1280, 800, 'light');
      await scan('empty');
      await openFolder();
      await scan('folder-open');
      await row('vm.vhd').click();
      await expect.poll(() => $('detail-file').textContent()).toBe('vm.vhd');
      await expect.poll(() => $('detail-unique').textContent()).not.toBe('loading…');
      await scan('details');
    });

    it('the orphan list', async () => {
      await $('orphans').waitFor();
      expect(await $('orphans').textContent()).toContain('lost.vhd');
      await $('orphans').scrollIntoViewIfNeeded();
      await scan('orphans');
    });

    it('snapshot options and plan, revert options and plan, the check dialog', async () => {
      await row('vm.vhd').click();
      await $('action-snapshot').click();
      await $('dialog-snapshot').waitFor();
      await scan('dialog-snapshot-options');
      await $('opt-review').click();
      await $('plan').waitFor();
      await scan('plan-snapshot');
      await closeDialog('dialog-snapshot');

      await $('action-revert').click();
      await $('dialog-revert').waitFor();
      await scan('dialog-revert-options');
      await $('opt-review').click();
      await $('plan').waitFor();
      await scan('plan-revert');
      await closeDialog('dialog-revert');

      await $('action-check').click();
      await $('dialog-check').waitFor();
      await scan('dialog-check');
      await closeDialog('dialog-check');
    });

    it('merge and delete plans', async () => {
      await row(mid).click();
      await $('action-merge').click();
      await $('dialog-merge').waitFor();
      await $('plan').waitFor();
      await scan('plan-merge');
      await closeDialog('dialog-merge');

      await $('action-delete').click();
      await $('dialog-delete').waitFor();
      await $('plan').waitFor();
      await scan('plan-delete');
      await closeDialog('dialog-delete');
    });

    /** Every other operation's dialog, opened from the disk's context menu (the toolbar folds some away): its options, then its plan. */
    const OTHERS: { action: string; file: string; fill?: () => Promise<void> }[] = [
      { action: 'rename', file: 'data.vhd' },
      {
        action: 'flatten',
        file: 'vm.vhd',
        fill: async () => {
          await $('opt-choose-output').click();
          await expect.poll(() => $('opt-output').textContent()).toMatch(/\.vhd$/);
        },
      },
      { action: 'compact', file: 'data.vhd' },
      { action: 'resize', file: 'data.vhd', fill: () => $('opt-size').fill('16M') },
      {
        action: 'write',
        file: 'data.vhd',
        fill: async () => {
          // In the browser the input is a file of this name in the disk's folder.
          await $('opt-input-name').fill('patch.bin');
          await $('opt-choose-input').click();
          await expect.poll(() => $('opt-input').textContent()).toMatch(/patch\.bin$/);
        },
      },
      { action: 'repair', file: 'damaged.vhd' },
      {
        action: 'reparent',
        file: 'vm.vhd',
        fill: () =>
          $('opt-parent')
            .selectOption({ index: 1 })
            .then(() => undefined),
      },
      { action: 'switch', file: 'branch.vhd' },
      { action: 'set-active', file: 'branch.vhd' },
    ];
    it('every other operation: rename, flatten, compact, resize, write, repair, reparent, switch, make active', async () => {
      const scanned: string[] = [];
      for (const o of OTHERS) {
        await row(o.file).click({ button: 'right' });
        await $('context-menu').waitFor();
        const item = $(`menu-${o.action}`);
        expect(await item.isDisabled(), `${o.action} applies to ${o.file}`).toBe(false);
        await item.click();
        const dialog = $(`dialog-${o.action}`);
        await dialog.waitFor();
        if (o.action !== 'rename' && (await $('opt-review').count())) {
          await o.fill?.();
          await scan(`dialog-${o.action}-options`);
          await $('opt-review').click();
        }
        if (o.action !== 'rename') {
          await $('plan').or($('dialog-error')).first().waitFor();
          expect(await $('dialog-error').count(), `${o.action} planned without an error`).toBe(0);
        }
        await scan(o.action === 'rename' ? 'dialog-rename' : `plan-${o.action}`);
        scanned.push(o.action);
        await closeDialog(`dialog-${o.action}`);
      }
      expect(scanned).toEqual(OTHERS.map((o) => o.action));
    });

    it('a running job, then its result (problems found) and the error badge', async () => {
      await row('damaged.vhd').click();
      await $('action-check').click();
      holding = true;
      try {
        await $('opt-run-check').click();
        await $('job-progress').waitFor();
        await scan('progress');
      } finally {
        holding = false;
        for (const send of held.splice(0)) send();
      }
      await e2e.page.locator('[data-testid=result-panel]:not([data-status=running])').waitFor();
      await expect.poll(() => row('damaged.vhd').getByTestId('health-badge').getAttribute('data-health')).toBe('errors');
      await scan('result');
      await e2e.page.emulateMedia({ colorScheme: 'dark' });
      await scan('result-dark');
      await e2e.page.emulateMedia({ colorScheme: 'light' });
    });

    it('the context menu and the shortcuts overlay', async () => {
      await row('data.vhd').click({ button: 'right' });
      await $('context-menu').waitFor();
      await scan('context-menu');
      await e2e.page.keyboard.press('Escape');
      await $('context-menu').waitFor({ state: 'detached' });
      await e2e.page.keyboard.press('?');
      await $('shortcuts-overlay').waitFor();
      await scan('shortcuts');
      await closeDialog('shortcuts-overlay');
    });

    it('the graph view', async () => {
      await $('view-graph').click();
      await $('tree-graph').waitFor();
      await scan('graph');
      await $('view-tree').click();
    });

    it('dark theme at 1024×640: folder, details, a plan, the graph', async () => {
      await e2e.page.context().close();
      await open(1024, 640, 'dark');
      await openFolder();
      await row('vm.vhd').click();
      await expect.poll(() => $('detail-unique').textContent()).not.toBe('loading…');
      await scan('dark-folder');
      await row(mid).click();
      await $('action-merge').click();
      await $('plan').waitFor();
      await scan('dark-plan-merge');
      await closeDialog('dialog-merge');
      await $('view-graph').click();
      await $('tree-graph').waitFor();
      await scan('dark-graph');
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  120_000,
);

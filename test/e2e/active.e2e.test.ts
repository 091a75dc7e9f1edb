// End to end, the active disk: the built app in Chromium over `vhdsnap serve`
// on three folders of real VHDs — a linear history of named snapshots, a
// branched tree, and a folder where revert --keep left a saved state. Each
// tree shows exactly one Now, on its active disk; Revert on a snapshot
// defaults to it; merging the active disk keeps its path and content and the
// plan names the snapshot that goes; Switch makes the active path show a saved
// state. Screenshots at 1280×800 and 1024×640, light and dark, go to
// test-artifacts/e2e/active-*.png.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOperation } from '../../core/operations';
import { buildTree } from '../support/tree';
import {
  dismissResult as dismissLastResult,
  firstDifference,
  missingPrerequisite,
  openRecent,
  readWhole,
  resultDone as finishedJob,
  useE2eSuite,
} from './support';

const KiB = 1024;
const MiB = 1024 * KiB;
const SPEC = { size: 8 * MiB, blockSize: 512 * KiB, writesPerLayer: 8 };
const UI_TIMEOUT = 15_000;

const missing = missingPrerequisite();
if (missing) console.info(`e2e skipped: ${missing}`);

describe.skipIf(missing !== null)(
  'one active disk per tree, in Chromium over `vhdsnap serve`',
  () => {
    const e2e = useE2eSuite({
      name: 'active',
      timeout: UI_TIMEOUT,
      setupTimeout: 90_000,
      page: { failedRequests: false },
      serve: () => Object.values(dirs),
      setup: async ({ tmp }) => {
        for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) {
          dirs[k] = path.join(tmp, k);
          mkdirSync(dirs[k]);
        }
        // linear: d0 ← d1 "Before upgrade" ← d2 (the active disk, derived: the only leaf).
        const lin = await buildTree(dirs.linear, 1401, { parents: [null, 0, 1], ...SPEC });
        await runOperation({ op: 'name', disk: lin.paths[0], name: 'Clean install' });
        await runOperation({ op: 'name', disk: lin.paths[1], name: 'Before upgrade' });
        // branched: d0 with two branches; d1 made the active disk, d2 a saved state.
        const br = await buildTree(dirs.branched, 1402, { parents: [null, 0, 0, 2], ...SPEC });
        await runOperation({ op: 'set-active', disk: br.paths[1] });
        // kept: vm.vhd snapshotted, then reverted with --keep: vm.vhd is active, the kept state saved.
        const kept = await buildTree(dirs.kept, 1403, { parents: [null], ...SPEC });
        const vm = path.join(dirs.kept, 'vm.vhd');
        const { renameSync } = await import('node:fs');
        renameSync(kept.paths[0], vm);
        await runOperation({ op: 'snapshot', disk: vm, name: 'Fresh VM' });
        const disk = await (await import('../../core/disk/chain')).openDisk(vm, { writable: true });
        await disk.write(MiB, Buffer.alloc(64 * KiB, 0x5a));
        await disk.close();
        keptFile = path.basename((await runOperation({ op: 'revert', disk: vm, keep: true })).kept!);
      },
    });
    const { $, problems } = e2e;
    const dirs = { linear: '', branched: '', kept: '' };
    let keptFile = '';

    const section = (name: string) => $(`folder-${name}`);
    const row = (folder: string, file: string) => section(folder).getByTestId(`tree-row-${file}`);
    const shot = (name: string) => e2e.page.screenshot({ path: path.join(e2e.artifacts, `active-${name}.png`), fullPage: true });
    /** Files of the rows marked Now in one folder's section. */
    const nowRows = (folder: string) =>
      section(folder)
        .locator('[role=treeitem]:has([data-testid=now-marker])')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-file')));

    const resultDone = () => finishedJob(e2e.page, UI_TIMEOUT);
    const dismissResult = () => dismissLastResult(e2e.page, UI_TIMEOUT);
    /** Both sizes, in the current theme. */
    async function shots(name: string) {
      await shot(`${name}-1280`);
      await e2e.page.setViewportSize({ width: 1024, height: 640 });
      await shot(`${name}-1024`);
      await e2e.page.setViewportSize({ width: 1280, height: 800 });
    }

    it('linear, branched and revert --keep folders: exactly one Now per tree, on the active disk; other leaves say saved state', async () => {
      await e2e.page.goto(e2e.server.url);
      for (const name of Object.keys(dirs)) {
        await openRecent(e2e.page, name);
        await section(name).waitFor();
      }
      await row('kept', 'vm.vhd').waitFor();
      expect(await nowRows('linear')).toEqual(['d2.vhd']);
      expect(await nowRows('branched')).toEqual(['d1.vhd']);
      expect(await nowRows('kept')).toEqual(['vm.vhd']);
      expect(await row('branched', 'd3.vhd').getByTestId('saved-state').count()).toBe(1);
      expect(await row('kept', keptFile).getByTestId('saved-state').count()).toBe(1);
      expect(await row('kept', keptFile).textContent()).toContain('State before revert to ‘Fresh VM’');
      // Snapshots carry neither mark.
      expect(await row('linear', 'd1.vhd').locator('[data-testid=now-marker], [data-testid=saved-state]').count()).toBe(0);
      // The details pane says the same.
      await row('kept', keptFile).click();
      await $('detail-saved').waitFor();
      await row('kept', 'vm.vhd').click();
      await $('detail-now').waitFor();
      await shots('tree-light');
      await e2e.page.emulateMedia({ colorScheme: 'dark' });
      await shots('tree-dark');
      // The graph: one Now per tree too.
      await $('view-graph').click();
      await expect.poll(() => e2e.page.getByTestId('graph-now').count()).toBe(3);
      await shots('graph-dark');
      await e2e.page.emulateMedia({ colorScheme: 'light' });
      await shots('graph-light');
      await $('view-tree').click();
    });

    it('revert on a snapshot defaults to the active disk, not the first leaf', async () => {
      await row('branched', 'd0.vhd').click();
      await $('action-revert').click();
      await $('dialog-revert').waitFor();
      expect(await e2e.page.locator('[data-testid=opt-revert-from] option:checked').textContent()).toContain('d1.vhd');
      await shot('revert-default');
      await $('dialog-cancel').first().click();
      await $('dialog-revert').waitFor({ state: 'detached' });
    });

    it('merge of the active disk: the plan names the snapshot that goes; its path still exists with the same content', async () => {
      const d2 = path.join(dirs.linear, 'd2.vhd');
      const before = await readWhole(d2);
      await row('linear', 'd2.vhd').click();
      await $('action-merge').click();
      await $('dialog-merge').waitFor();
      // d2 has older snapshots to choose from: the form first, into its parent by default.
      await $('opt-review').click();
      await $('plan').waitFor();
      expect(await $('plan-keep-lose').textContent()).toBe('The snapshot ‘Before upgrade’ will no longer exist; your current disk d2.vhd keeps all its data.');
      expect(await $('plan-refusals').count()).toBe(0);
      await shots('plan-merge-active');
      await e2e.page.emulateMedia({ colorScheme: 'dark' });
      await shot('plan-merge-active-dark-1280');
      await e2e.page.emulateMedia({ colorScheme: 'light' });
      await $('plan-confirm').click();
      await $('dialog-merge').waitFor({ state: 'detached' });
      await resultDone();
      expect(existsSync(d2)).toBe(true);
      expect(existsSync(path.join(dirs.linear, 'd1.vhd'))).toBe(false);
      const after = await readWhole(d2);
      expect(firstDifference(after.bytes, before.bytes), 'd2.vhd must read as before the merge').toBe(-1);
      expect(after.layers).toBe(2);
      await expect.poll(() => nowRows('linear')).toEqual(['d2.vhd']);
      await dismissResult();
    });

    it('switch to a saved state: the active path shows it, what it showed is kept as a saved state', async () => {
      const vm = path.join(dirs.kept, 'vm.vhd');
      const [was, state] = [await readWhole(vm), await readWhole(path.join(dirs.kept, keptFile))];
      expect(firstDifference(was.bytes, state.bytes)).not.toBe(-1); // or the switch could not be seen
      await row('kept', keptFile).click({ button: 'right' });
      await $('context-menu').waitFor();
      await shots('menu-switch');
      await $('menu-switch').click();
      await $('dialog-switch').waitFor();
      await $('plan').waitFor();
      expect(await $('plan-keep-lose').textContent()).toMatch(/^Nothing is lost: your current disk vm\.vhd will show ‘State before revert to ‘Fresh VM’/);
      await shot('plan-switch');
      await $('plan-confirm').click();
      await $('dialog-switch').waitFor({ state: 'detached' });
      await resultDone();
      expect(firstDifference((await readWhole(vm)).bytes, state.bytes)).toBe(-1);
      const newKept = readdirSync(dirs.kept).filter((f) => /^vm-state-.*\.vhd$/.test(f) && f !== keptFile);
      expect(newKept).toHaveLength(1);
      expect(firstDifference((await readWhole(path.join(dirs.kept, newKept[0]))).bytes, was.bytes)).toBe(-1);
      await expect.poll(() => nowRows('kept')).toEqual(['vm.vhd']);
      expect(await row('kept', newKept[0]).getByTestId('saved-state').count()).toBe(1);
      await shots('after-switch');
    });

    it('logged no console errors or page errors', () => {
      expect(problems).toEqual([]);
    });
  },
  180_000,
);

// The details pane, the allocation map and the words, in Chromium on real
// files: a 20 GiB sparse dynamic disk's map is a readable grid (at most 512
// cells) whose legend and scale are in view; the name is renamed in place and
// the rename undone; a merge's plan, progress and result name the snapshots
// and show no raw byte counts or field names. 1280×800 and 1024×640, light
// and dark; screenshots test-artifacts/e2e/words-*.png.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { runOperation } from '../../core/operations';
import { labelOf, missingPrerequisite, openRecent, parentsByFile, useE2eSuite } from './support';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

/** Words no sentence for people should contain: result field names, and byte counts nobody can read (file names and paths, with their time stamps, aside). */
const JARGON = /\b(strategy|merge-child|relinked|remaining|bytesBefore|blocksAfter)\b|\b\d{5,}\b|\d+ bytes\b/;
const jargonIn = (text: string) => JARGON.exec(text.replace(/\/\S*?\.vhd|[\w-]+\.vhd/g, 'FILE'))?.[0] ?? null;

async function writeAt(file: string, offset: number, data: Uint8Array): Promise<void> {
  const d = await openDisk(file, { writable: true, sync: false });
  await d.write(offset, data);
  await d.close();
}

describe.skipIf(missing !== null)(
  'details, allocation map and words in the app (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'words',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        // big.vhd, 20 GiB sparse: ‘Clean build’ ← ‘After 6 months’ ← big.vhd (the active disk).
        const vm = path.join(folder, 'big.vhd');
        await createDynamic(vm, 20 * GiB);
        for (const at of [0, 3 * GiB, 7 * GiB + 5 * MiB, 19 * GiB]) await writeAt(vm, at, new Uint8Array(4 * MiB).fill(7));
        await runOperation({ op: 'name', disk: vm, name: 'Clean build' });
        base = (await snapshot(vm, { now: new Date(2026, 0, 2, 3, 4, 5) })).snapshot;
        await writeAt(vm, 2 * GiB, new Uint8Array(3 * MiB).fill(9));
        await writeAt(vm, 11 * GiB + 512, new Uint8Array(1536).fill(9));
        // Enough for the merge to be seen running (its progress in words).
        for (let i = 0; i < 10; i++) await writeAt(vm, 12 * GiB + i * 32 * MiB, new Uint8Array(32 * MiB).fill(i + 1));
        await runOperation({ op: 'name', disk: vm, name: 'After 6 months' });
        mid = (await snapshot(vm, { now: new Date(2026, 5, 2, 3, 4, 5) })).snapshot;
      },
    });
    const { $, problems } = e2e;
    let base = '';
    let mid = '';

    async function open(width: number, height: number, colorScheme: 'light' | 'dark') {
      await e2e.open({ width, height, colorScheme });
      const context = e2e.page.context();
      await e2e.page.goto(e2e.server.url);
      await openRecent(e2e.page);
      await $('tree-row-big.vhd').waitFor();
      return context;
    }

    /** The box of an element, and whether it lies inside the window. */
    async function inViewport(id: string): Promise<boolean> {
      const box = await $(id).boundingBox();
      const vp = e2e.page.viewportSize()!;
      return box !== null && box.y >= 0 && box.x >= 0 && box.y + box.height <= vp.height && box.x + box.width <= vp.width;
    }

    for (const [width, height, scheme] of [
      [1280, 800, 'light'],
      [1024, 640, 'dark'],
      [1280, 800, 'dark'],
      [1024, 640, 'light'],
    ] as const) {
      it(`${width}×${height} ${scheme}: a 20 GiB disk's allocation map is a readable grid with its legend and scale in view`, async () => {
        const context = await open(width, height, scheme);
        await $(`tree-row-${path.basename(base)}`).dblclick();
        await $('allocation-legend').waitFor();
        const cells = await e2e.page.getByTestId('allocation-cell').count();
        // 10,240 blocks of 2 MiB, 32 to a cell: 320 cells.
        expect(cells).toBe(320);
        expect(cells).toBeLessThanOrEqual(512);
        expect(await $('allocation-scale').textContent()).toBe('each cell: 32 blocks = 64 MiB');
        expect(await inViewport('allocation-legend')).toBe(true);
        expect(await $('detail-allocated').textContent()).toBe('9 of 10,240 blocks (2 MiB each)');
        expect(await $('detail-creator').textContent()).toBe('Windows (Hyper-V / Disk Management) 10.0');
        // Four writes of 4 MiB: the first at block 0 fills 2 blocks of cell 0, of 32.
        const tip = await e2e.page.getByTestId('allocation-cell').first().locator('title').textContent();
        expect(tip).toBe('blocks 0–31 (0 B to 64 MiB): 6% stored, 4 MiB of 64 MiB');
        expect(await e2e.page.locator('[data-testid=allocation-cell][data-state=empty]').count()).toBeGreaterThan(300);
        await e2e.page.screenshot({ path: path.join(e2e.artifacts, `words-01-allocation-${width}-${scheme}.png`) });
        await context.close();
      });
    }

    it('renames inline (a click, then F2) and undoes it through the same name operation', async () => {
      const context = await open(1280, 800, 'light');
      await $(`tree-row-${path.basename(mid)}`).click();
      await expect.poll(() => $('detail-name').textContent()).toBe('After 6 months');
      await $('detail-rename').click();
      const input = $('detail-name-input');
      expect(await input.evaluate((e) => e === document.activeElement)).toBe(true);
      await input.fill('Half a year in');
      await e2e.page.keyboard.press('Enter');
      await expect.poll(() => $('detail-name').textContent()).toBe('Half a year in');
      await expect.poll(() => labelOf(e2e.folder, path.basename(mid))).toBe('Half a year in');
      expect(await $('detail-undo-line').textContent()).toContain('Renamed to ‘Half a year in’.');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-02-renamed-1280.png') });
      await $('detail-undo').click();
      await expect.poll(() => $('detail-name').textContent()).toBe('After 6 months');
      await expect.poll(() => labelOf(e2e.folder, path.basename(mid))).toBe('After 6 months');
      // F2 on the selected disk, from the tree; Ctrl+Z afterwards.
      await $(`tree-row-${path.basename(mid)}`).click();
      await e2e.page.keyboard.press('F2');
      await $('detail-name-input').waitFor();
      await e2e.page.keyboard.press('ControlOrMeta+a');
      await e2e.page.keyboard.type('Six months on');
      await e2e.page.keyboard.press('Enter');
      await expect.poll(() => labelOf(e2e.folder, path.basename(mid))).toBe('Six months on');
      await $(`tree-row-${path.basename(mid)}`).click();
      await expect.poll(() => $('detail-undo-line').textContent()).toContain('Renamed to ‘Six months on’.');
      await e2e.page.keyboard.press('ControlOrMeta+z');
      await expect.poll(() => labelOf(e2e.folder, path.basename(mid))).toBe('After 6 months');
      await expect.poll(() => $('detail-name').textContent()).toBe('After 6 months');
      // A description, in place too.
      await $('detail-description').click();
      await $('detail-description-input').fill('Six months of updates');
      await e2e.page.keyboard.press('Enter');
      await expect.poll(() => $('detail-description').textContent()).toContain('Six months of updates');
      await context.close();
    });

    it('a merge says what it does and did by snapshot name, in sentences without raw byte counts or field names', async () => {
      const context = await open(1024, 640, 'dark');
      await $(`tree-row-${path.basename(mid)}`).click();
      await $('action-merge').click();
      await $('dialog-merge').waitFor();
      await $('plan').waitFor();
      const summary = (await $('plan-summary').textContent()) ?? '';
      expect(summary).toMatch(
        /^Copy the [\d.]+ MiB stored in ‘After 6 months’ \(big-snap-[\d-]+\.vhd\) into ‘Clean build’ \(big-snap-[\d-]+\.vhd\), then delete big-snap-[\d-]+\.vhd\.$/,
      );
      const planText = (await $('plan').textContent()) ?? '';
      expect(jargonIn(planText)).toBeNull();
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-03-plan-merge-1024-dark.png') });
      await $('plan-confirm').click();
      // While it runs: the job by name, the phase in words with its percentage.
      await $('job-progress').waitFor({ timeout: 30_000 });
      expect(await $('job-progress').textContent()).toContain('Merge of ‘After 6 months’ into its parent');
      await expect.poll(() => $('progress-phase').textContent(), { timeout: 30_000, interval: 10 }).toMatch(/^Copying [\d.]+ (MiB )?of [\d.]+ MiB \(\d+%\)$/);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-03b-progress-merge-1024-dark.png') });
      const panel = e2e.page.locator('[data-testid=result-panel]:not([data-status=running])');
      await panel.waitFor({ timeout: 60_000 });
      expect(await panel.getAttribute('data-status')).toBe('done');
      const headline = (await $('result-headline').textContent()) ?? '';
      expect(headline).toBe('Merge of ‘After 6 months’ into its parent finished.');
      const said = (await $('result-sentences').textContent()) ?? '';
      expect(said).toBe(
        'The content of ‘After 6 months’ is now part of ‘Clean build’, and its file is gone.big.vhd now points at ‘Clean build’ as its parent.',
      );
      expect(jargonIn(`${headline} ${said}`)).toBeNull();
      // The result panel is not clipped: its last sentence is inside the window.
      expect(await inViewport('result-sentences')).toBe(true);
      expect((await parentsByFile(e2e.folder)).get('big.vhd')).toBe(path.basename(base));
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-04-result-merge-1024-dark.png') });
      // After the merge, the merged disk's details show no warning in orange.
      await $(`tree-row-${path.basename(base)}`).dblclick();
      await $('allocation-legend').waitFor();
      expect(await $('detail-warnings').count()).toBe(0);
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-05-after-merge-1024-dark.png') });
      await context.close();
    });

    it('a snapshot with no name given gets the next "Snapshot N" of its tree', async () => {
      const context = await open(1280, 800, 'light');
      await $('tree-row-big.vhd').click();
      await $('action-snapshot').click();
      await $('dialog-snapshot').waitFor();
      expect(await $('opt-name').getAttribute('placeholder')).toBe('Snapshot 1');
      await $('opt-review').click();
      await $('plan').waitFor();
      expect(await $('plan-summary').textContent()).toMatch(
        /^Preserve the current content of big\.vhd as the snapshot ‘Snapshot 1’ \(big-snap-[\d-]+\.vhd\); big\.vhd becomes an empty child of it\.$/,
      );
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-06-plan-snapshot-1280.png') });
      await $('plan-confirm').click();
      const panel = e2e.page.locator('[data-testid=result-panel]:not([data-status=running])');
      await panel.waitFor({ timeout: 30_000 });
      expect(await $('result-sentences').textContent()).toMatch(
        /^The snapshot ‘Snapshot 1’ keeps the content as it was\.big\.vhd is now an empty child of it: new writes go there\.$/,
      );
      const forest = await parentsByFile(e2e.folder);
      const snap = [...forest.keys()].find((f) => forest.get('big.vhd') === f)!;
      expect(await labelOf(e2e.folder, snap)).toBe('Snapshot 1');
      await e2e.page.screenshot({ path: path.join(e2e.artifacts, 'words-07-result-snapshot-1280.png') });
      await context.close();
    });

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  180_000,
);

// End to end: the built renderer in Debian's Chromium, its window.vhdsnap
// bridged over the loopback WebSocket of `vhdsnap serve` to the real handlers,
// job worker and core, on real VHD files in a temp folder. The steps build on
// each other (one folder, one browser page): open the folder, snapshot, write
// with the CLI, merge, flatten, check a corrupted file, graph view, dark theme.
// Every on-disk effect is read back through core and compared with a raw
// reference model of what each disk should contain. Screenshots of the main
// states go to test-artifacts/e2e/.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDynamic } from '../../core/ops/create';
import { snapshot } from '../../core/ops/snapshot';
import { merge } from '../../core/ops/merge';
import { releaseJournals } from '../../core/ops/recover';
import { formatBytes } from '../../renderer/src/lib/format';
import { flipByte } from '../support/corrupt';
import { DiskModel, Rng } from '../support/model';
import {
  dismissResult as dismissLastResult,
  dist,
  firstDifference,
  labelOf,
  missingPrerequisite,
  parentsByFile,
  readWhole,
  resultDone as finishedJob,
  root,
  untilClosedHere,
  vhdFiles,
  useE2eSuite,
} from './support';

const MiB = 2 ** 20;
const SIZE = 16 * MiB;
const UI_TIMEOUT = 15_000;
const STEP_TIMEOUT = 45_000;
const BASE = 'disk-snap-20200101-000000.vhd';
const DISK = 'disk.vhd';
const OTHER = 'other.vhd';
const FLAT = 'disk-flat.vhd';

const missing = missingPrerequisite();
if (missing) console.info(`e2e skipped: ${missing}`);

describe.skipIf(missing !== null)(
  'the app in Chromium over `vhdsnap serve`',
  () => {
    const rng = new Rng(0x5eed_e2e);
    const model = new DiskModel(SIZE);
    /** Model layers by what they stand for. */
    const layer = { base: -1, snap: -1, disk: -1 };
    const e2e = useE2eSuite({
      name: 'app',
      timeout: UI_TIMEOUT,
      folderName: 'disks',
      page: {},
      setup: async ({ folder }) => {
        // disk.vhd with data, snapshotted by core: BASE holds that data, disk.vhd is its child.
        const disk = path.join(folder, DISK);
        await createDynamic(disk, SIZE);
        layer.base = model.addBase();
        await writeThroughCore(disk, layer.base, 0, 64 * 1024);
        await writeThroughCore(disk, layer.base, 3 * MiB + 1234, 10_000); // unaligned: partial sectors
        await writeThroughCore(disk, layer.base, 9 * MiB, 2 * MiB); // spans two blocks
        const snap = await snapshot(disk, { now: new Date(2020, 0, 1, 0, 0, 0), name: 'setup base' });
        expect(path.basename(snap.snapshot)).toBe(BASE);
        layer.snap = model.addChild(layer.base);
        // Data of the child's own (this is what the UI snapshot will preserve and the merge will fold down).
        await writeThroughCore(disk, layer.snap, 32 * 1024, 8 * 1024); // overlaps the base's data
        await writeThroughCore(disk, layer.snap, 6 * MiB + 777, 300_000);

        // A standalone disk to corrupt later.
        const other = path.join(folder, OTHER);
        await createDynamic(other, 4 * MiB);
        const o = await openDisk(other, { writable: true });
        await o.write(MiB, rng.bytes(4096));
        await o.close();
      },
    });
    const { $, problems } = e2e;
    /** The snapshot file the UI creates (found on disk after the snapshot step). */
    let snapFile = '';

    const row = (file: string) => $(`tree-row-${file}`);
    const shot = (name: string) => e2e.page.screenshot({ path: path.join(e2e.artifacts, name), fullPage: true });

    async function writeThroughCore(file: string, l: number, offset: number, length: number) {
      const data = rng.bytes(length);
      const disk = await openDisk(file, { writable: true });
      try {
        await disk.write(offset, data);
      } finally {
        await disk.close();
      }
      model.write(l, offset, data);
    }

    const resultDone = () => finishedJob(e2e.page, UI_TIMEOUT);

    /** Records, from now on, whether a running job's progress ever showed (jobs here take well under a second). */
    async function watchProgress() {
      await e2e.page.evaluate(() => {
        const w = window as unknown as { __progress: { seen: boolean; bars: number } };
        w.__progress = { seen: false, bars: 0 };
        const look = () => {
          const el = document.querySelector('[data-testid=job-progress]');
          if (el) {
            w.__progress.seen = true;
            if (el.querySelector('[data-testid=progress-bar]')) w.__progress.bars++;
          }
        };
        new MutationObserver(look).observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
      });
    }
    const progressSeen = () => e2e.page.evaluate(() => (window as unknown as { __progress: { seen: boolean; bars: number } }).__progress);

    const dismissResult = () => dismissLastResult(e2e.page, UI_TIMEOUT);

    /** The File size cell of a tree row. */
    const fileSizeCell = (file: string) => row(file).locator('[title="File size"]');

    it('opens the pre-granted folder from the recent list and shows its tree', async () => {
      await e2e.page.goto(e2e.server.url);
      await $('empty-state').waitFor();
      await $('recent-toggle').click();
      const item = $('recent-list').getByTestId('recent-folder');
      await expect.poll(() => item.textContent(), { timeout: UI_TIMEOUT }).toBe('disks');
      await item.click();

      await $('folder-disks').waitFor();
      await $('folder-tree').waitFor();
      for (const f of [BASE, DISK, OTHER]) await row(f).waitFor();
      expect(await e2e.page.locator('[data-testid^=tree-row-]').count()).toBe(3);
      // disk.vhd sits under its snapshot, and is the active disk (Now); the names come from the sidecar.
      expect(await row(BASE).getAttribute('aria-level')).toBe('1');
      expect(await row(DISK).getAttribute('aria-level')).toBe('2');
      expect(await row(OTHER).getAttribute('aria-level')).toBe('1');
      expect(await row(DISK).getByTestId('now-marker').count()).toBe(1);
      expect(await row(BASE).getByTestId('now-marker').count()).toBe(0);
      expect(await row(BASE).textContent()).toContain('setup base');
      expect(await fileSizeCell(DISK).textContent()).toBe(formatBytes(statSync(path.join(e2e.folder, DISK)).size));
      // Nothing checked yet.
      expect(await row(OTHER).getByTestId('health-badge').getAttribute('data-health')).toBe('unknown');

      await row(DISK).click();
      await expect.poll(() => $('detail-file').textContent()).toBe(DISK);
      expect(await $('detail-type').textContent()).toBe('differencing');
      expect(await $('detail-virtual-size').textContent()).toBe(formatBytes(SIZE));
      await shot('01-folder-tree.png');
    });

    it('takes a snapshot through the plan and sees it on disk', async () => {
      const before = new Set(vhdFiles(e2e.folder));
      await row(DISK).click();
      await $('action-snapshot').click();
      await $('dialog-snapshot').waitFor();
      await $('opt-name').fill('e2e snapshot');
      await $('opt-review').click();
      await $('plan').waitFor();
      expect(await $('plan-refusals').count()).toBe(0);
      expect(await $('plan-changes').textContent()).toContain(DISK);
      expect(await $('plan-confirm').isEnabled()).toBe(true);
      await shot('02-plan-snapshot.png');
      // The plan names the snapshot file (with the time in it): past the next second, the job must still create that very name.
      const planned = (await $('plan-changes').textContent()) ?? '';
      await e2e.page.waitForTimeout(1100);
      await $('plan-confirm').click();
      await $('dialog-snapshot').waitFor({ state: 'detached' });
      expect(await resultDone()).toContain(DISK);

      // On disk: one new snapshot file; core sees BASE -> snapshot -> disk.vhd.
      const created = vhdFiles(e2e.folder).filter((f) => !before.has(f));
      expect(created).toHaveLength(1);
      snapFile = created[0];
      expect(snapFile).toMatch(/^disk-snap-\d{8}-\d{6}(-\d+)?\.vhd$/);
      expect(planned).toContain(snapFile);
      const parents = await parentsByFile(e2e.folder);
      expect(parents.get(DISK)).toBe(snapFile);
      expect(parents.get(snapFile)).toBe(BASE);
      expect(parents.get(BASE)).toBeNull();
      expect(await labelOf(e2e.folder, snapFile)).toBe('e2e snapshot');
      // The snapshot kept the content; disk.vhd is its new empty child.
      layer.disk = model.addChild(layer.snap);
      const seen = await readWhole(path.join(e2e.folder, snapFile));
      expect(firstDifference(seen.bytes, model.view(layer.snap))).toBe(-1);

      // The page rescanned by itself after the job.
      await row(snapFile).waitFor();
      expect(await row(snapFile).textContent()).toContain('e2e snapshot');
      expect(await row(DISK).getAttribute('aria-level')).toBe('3');
    });

    it('sees data written with the CLI after a rescan', async () => {
      const disk = path.join(e2e.folder, DISK);
      const sizeBefore = statSync(disk).size;
      const writes = [
        { offset: MiB + 512, length: 300_000 },
        { offset: 13 * MiB + 5, length: 4096 }, // unaligned both ends
        { offset: 40 * 1024, length: 1024 }, // over both older layers' data
      ];
      for (const [i, w] of writes.entries()) {
        const data = rng.bytes(w.length);
        const input = path.join(e2e.tmp, `write-${i}.bin`);
        writeFileSync(input, data);
        await untilClosedHere(disk, UI_TIMEOUT);
        execFileSync(process.execPath, [dist.cli, 'write', disk, '--offset', String(w.offset), '--input', input], { cwd: root, stdio: 'pipe' });
        model.write(layer.disk, w.offset, data);
      }
      const sizeAfter = statSync(disk).size;
      expect(sizeAfter).toBeGreaterThan(sizeBefore);
      const seen = await readWhole(disk);
      expect(firstDifference(seen.bytes, model.view(layer.disk))).toBe(-1);

      await $('rescan').click();
      await expect.poll(() => fileSizeCell(DISK).textContent(), { timeout: UI_TIMEOUT }).toBe(formatBytes(sizeAfter));
    });

    it('merges the middle snapshot into its parent: plan, progress, result, content', async () => {
      await dismissResult();
      await row(snapFile).click();
      await $('action-merge').click();
      await $('dialog-merge').waitFor();
      await $('plan').waitFor(); // merge has no options: straight to the plan
      expect(await $('plan-refusals').count()).toBe(0);
      const bytes = (await $('plan-bytes').textContent()) ?? '';
      expect(bytes).not.toBe(formatBytes(0));
      expect(bytes).toMatch(/^[\d.]+ (KiB|MiB)$/);
      const changes = (await $('plan-changes').textContent()) ?? '';
      expect(changes).toContain(BASE);
      expect(changes).toContain(snapFile);
      await shot('03-plan-merge.png');

      await watchProgress();
      await $('plan-confirm').click();
      // The headline names the snapshot by its name, not its file.
      expect(await resultDone()).toBe('Merge of ‘e2e snapshot’ into its parent finished.');
      expect((await progressSeen()).seen, 'the job area never showed the running merge').toBe(true);
      await shot('04-result-merge.png');

      // On disk: the snapshot is gone, disk.vhd hangs off BASE, and every byte is where the model says.
      expect(existsSync(path.join(e2e.folder, snapFile))).toBe(false);
      const parents = await parentsByFile(e2e.folder);
      expect(parents.get(DISK)).toBe(BASE);
      expect(parents.has(snapFile)).toBe(false);
      const base = await readWhole(path.join(e2e.folder, BASE));
      expect(base.layers).toBe(1);
      expect(firstDifference(base.bytes, model.view(layer.snap)), 'BASE should now hold the merged snapshot').toBe(-1);
      const disk = await readWhole(path.join(e2e.folder, DISK));
      expect(disk.layers).toBe(2);
      expect(firstDifference(disk.bytes, model.view(layer.disk)), 'disk.vhd must read as before the merge').toBe(-1);

      await row(snapFile).waitFor({ state: 'detached' });
      expect(await row(DISK).getAttribute('aria-level')).toBe('2');
    });

    it('flattens disk.vhd into a new standalone file with the same content', async () => {
      await dismissResult();
      await row(DISK).click();
      await $('action-flatten').click();
      await $('dialog-flatten').waitFor();
      await $('opt-choose-output').click();
      await expect.poll(() => $('opt-output').textContent()).toBe(path.join(e2e.folder, FLAT));
      await $('opt-format').selectOption('dynamic');
      await shot('09-flatten-options.png');
      await $('opt-review').click();
      await $('plan').waitFor();
      expect(await $('plan-refusals').count()).toBe(0);
      expect(await $('plan-changes').textContent()).toContain(FLAT);
      await $('plan-confirm').click();
      expect(await resultDone()).toContain(DISK);

      const flat = await readWhole(path.join(e2e.folder, FLAT));
      expect(flat.layers).toBe(1);
      expect(flat.topType).toBe('dynamic');
      expect(firstDifference(flat.bytes, model.view(layer.disk))).toBe(-1);
      // The source is untouched.
      const disk = await readWhole(path.join(e2e.folder, DISK));
      expect(firstDifference(disk.bytes, model.view(layer.disk))).toBe(-1);
      await row(FLAT).waitFor();
      expect(await row(FLAT).getAttribute('aria-level')).toBe('1');
    });

    it('checks a corrupted disk and shows the error badge (and ok for a sound one)', async () => {
      await dismissResult();
      // Break the trailing footer's checksum of other.vhd.
      const other = path.join(e2e.folder, OTHER);
      await flipByte(other, statSync(other).size - 512 + 64);
      await $('rescan').click();

      await row(OTHER).click();
      await $('action-check').click();
      await $('dialog-check').waitFor();
      await $('opt-run-check').click();
      expect(await resultDone()).toContain(OTHER);
      const reports = (await $('result-reports').textContent()) ?? '';
      expect(reports).toContain(OTHER);
      expect(reports).toMatch(/[1-9]\d* errors?,/);
      const badge = row(OTHER).getByTestId('health-badge');
      await expect.poll(() => badge.getAttribute('data-health'), { timeout: UI_TIMEOUT }).toBe('errors');
      expect(await badge.getAttribute('title')).toContain('FOOTER_CHECKSUM');
      await shot('05-check-error-badge.png');

      // The flattened file is sound: its badge says ok; unchecked disks stay unknown.
      await dismissResult();
      await row(FLAT).click();
      await $('action-check').click();
      await $('dialog-check').waitFor();
      await $('opt-run-check').click();
      expect(await resultDone()).toContain(FLAT);
      await expect.poll(() => row(FLAT).getByTestId('health-badge').getAttribute('data-health'), { timeout: UI_TIMEOUT }).toBe('ok');
      expect(await row(BASE).getByTestId('health-badge').getAttribute('data-health')).toBe('unknown');
      expect(await row(OTHER).getByTestId('health-badge').getAttribute('data-health')).toBe('errors');
    });

    it('shows one graph node per disk and the parent link', async () => {
      await $('view-graph').click();
      await $('tree-graph').waitFor();
      const nodes = $('graph-node');
      const files = vhdFiles(e2e.folder);
      expect(files).toEqual([BASE, FLAT, DISK, OTHER].sort());
      await expect.poll(() => nodes.count()).toBe(files.length);
      const shown = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute('data-file')));
      expect(shown.sort()).toEqual(files);
      const links = await $('graph-link').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-parent')} -> ${e.getAttribute('data-child')}`));
      expect(links).toEqual([`${BASE} -> ${DISK}`]);
      await shot('06-graph.png');
      await $('view-tree').click();
      await $('folder-tree').waitFor();
    });

    it('follows a dark system theme, and a theme picked in the app over it', async () => {
      const background = () => e2e.page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      const luminance = (css: string) => {
        const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? []).map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const light = await background();
      await e2e.page.emulateMedia({ colorScheme: 'dark' });
      await expect.poll(async () => luminance(await background())).toBeLessThan(80);
      expect(luminance(light)).toBeGreaterThan(170);
      await shot('07-dark-theme.png');
      // A theme picked in the app wins over the system's, either way.
      await $('theme').selectOption('light');
      await expect.poll(async () => luminance(await background())).toBeGreaterThan(170);
      await e2e.page.emulateMedia({ colorScheme: 'light' });
      await $('theme').selectOption('dark');
      await expect.poll(async () => luminance(await background())).toBeLessThan(80);
      await $('theme').selectOption('system');
      await expect.poll(async () => luminance(await background())).toBeGreaterThan(170);
    });

    it('shows an interrupted merge above its folder, refuses other work there, and resumes it', async () => {
      await dismissResult();
      // flat.vhd gets a child with data of its own; merging it is cut short, as by a crash.
      const flat = path.join(e2e.folder, FLAT);
      const child = path.join(e2e.folder, 'flat-child.vhd');
      const flatLayer = model.addBase();
      model.write(flatLayer, 0, model.view(layer.disk));
      await snapshot(flat, { out: child });
      const childLayer = model.addChild(flatLayer);
      await writeThroughCore(child, childLayer, 5 * MiB + 100, 70_000);
      // merge itself, cut short as a crash would (the runner would run the merge of the active disk as the delete of its parent): its journal left, then released as the runner does.
      await expect(
        merge(child, {
          onProgress: () => {
            throw new Error('interrupted');
          },
        }),
      ).rejects.toThrow('interrupted');
      await releaseJournals([child]);
      await $('rescan').click();
      const banner = $('pending-jobs');
      await banner.waitFor();
      expect(await banner.textContent()).toMatch(
        /Merge of ‘.+’ into ‘.+’ was interrupted.*\(merge \(flat-child\.vhd, disk-flat\.vhd; started .* at its \w+ step\)\)/,
      );
      await shot('08-interrupted-job.png');
      await e2e.page.setViewportSize({ width: 1024, height: 640 });
      await shot('08-interrupted-job-1024.png');
      const box = await banner.boundingBox();
      expect(box && box.x + box.width).toBeLessThanOrEqual(1024);
      await e2e.page.setViewportSize({ width: 1280, height: 800 });

      // Another operation in that folder: its plan says why, in words, and nothing starts.
      await row(OTHER).click();
      await $('action-compact').click();
      await $('dialog-compact').waitFor();
      await $('plan').waitFor();
      expect(await $('plan-refusals').textContent()).toContain('interrupted merge');
      await $('plan-cancel').click();

      await e2e.page.getByTestId(/^resume-/).click();
      expect(await resultDone()).toContain('Resuming the interrupted merge');
      await expect.poll(() => $('pending-jobs').count(), { timeout: UI_TIMEOUT }).toBe(0);
      expect(existsSync(child)).toBe(false);
      const merged = await readWhole(flat);
      expect(firstDifference(merged.bytes, model.view(childLayer))).toBe(-1);
    });

    it('logged no console errors, page errors or failed requests', () => {
      expect(problems).toEqual([]);
    });
  },
  STEP_TIMEOUT,
);

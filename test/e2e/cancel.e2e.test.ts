// Cancel means before, in the app (issue 14): the built renderer in Chromium
// against `vhdsnap serve` run as a process of its own, on real files. Cancel a
// merge half way → every disk reads as before, byte for byte, no banner; kill
// the serve process mid-merge → on restart the banner offers Resume and Roll
// back, a snapshot there is refused (PENDING_JOB); Roll back → the before
// state; another run, Resume → the after state. Screenshots in
// test-artifacts/e2e/ (cancel-*.png, both themes, 1280×800 and 1024×640).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { Rng } from '../support/model';
import { missingPrerequisite, root, useE2eSuite } from './support';

const MiB = 2 ** 20;
// The issue asks for a cancel with at least 1 GiB to copy.
const SIZE = 2048 * MiB;
const CHILD_DATA = 1088 * MiB;
const UI_TIMEOUT = 20_000;
const BIN = path.join(root, 'bin', 'vhdsnap.cjs');
const PARENT = 'base.vhd';
const CHILD = 'child.vhd';
// The VM's disk on top: child.vhd is a snapshot under it (a merge of the active disk itself would be the delete of its parent).
const ACTIVE = 'vm.vhd';

const missing = missingPrerequisite();

/** sha256 of the whole virtual disk read through its chain, 16 MiB at a time. */
async function viewHash(file: string): Promise<string> {
  const d = await openDisk(file);
  try {
    const h = createHash('sha256');
    for (let at = 0; at < d.virtualSize; at += 16 * MiB) h.update(await d.read(at, Math.min(16 * MiB, d.virtualSize - at)));
    return h.digest('hex');
  } finally {
    await d.close();
  }
}

const stray = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.vhdsnap-journal-') || n.endsWith('.tmp'));

describe.skipIf(missing !== null)(
  'Cancel and Roll back in the app',
  () => {
    const e2e = useE2eSuite({
      name: 'cancel',
      timeout: UI_TIMEOUT,
      setupTimeout: 180_000,
      folderName: 'disks',
      // Killing the server on purpose makes the page's requests fail: only its uncaught errors count.
      page: { consoleErrors: false, failedRequests: false },
      setup: async ({ tmp, folder }) => {
        pristine = path.join(tmp, 'pristine');
        mkdirSync(pristine);
        // A sparse 2 GiB parent storing a little, and a child storing 1088 MiB over it (unaligned runs too).
        const rng = new Rng(0xca9ce1);
        const p = path.join(pristine, PARENT);
        await createDynamic(p, SIZE);
        let d = await openDisk(p, { writable: true, sync: false });
        for (let at = 0; at < 64 * MiB; at += 8 * MiB) await d.write(at + 4096, rng.bytes(3 * MiB + 1000));
        await d.close();
        await createDifferencing(path.join(pristine, CHILD), p);
        d = await openDisk(path.join(pristine, CHILD), { writable: true, sync: false });
        const chunk = rng.bytes(8 * MiB);
        for (let at = 0; at < CHILD_DATA; at += 8 * MiB) {
          chunk[0] = at / MiB;
          await d.write(at + 1536, chunk.subarray(0, 8 * MiB - 3000));
        }
        await d.close();
        await createDifferencing(path.join(pristine, ACTIVE), path.join(pristine, CHILD));
        await restore();
        // The snapshots' names, as people see them in the banner.
        const { runOperation } = await import('../../core/operations');
        await runOperation({ op: 'name', disk: path.join(folder, PARENT), name: 'Clean build agent' });
        await runOperation({ op: 'name', disk: path.join(folder, CHILD), name: 'After 6 months' });
        before = {
          parent: await viewHash(path.join(folder, PARENT)),
          child: await viewHash(path.join(folder, CHILD)),
          sizes: { [PARENT]: statSync(path.join(folder, PARENT)).size, [CHILD]: statSync(path.join(folder, CHILD)).size },
        };
        after = before.child;
      },
    });
    const { $, problems } = e2e;
    let pristine = '';
    let serve: ChildProcess | null = null;
    let before: { parent: string; child: string; sizes: Record<string, number> };
    let after = '';
    let url = '';
    const row = (file: string) => $(`tree-row-${file}`);
    const shot = (name: string) => e2e.page.screenshot({ path: path.join(e2e.artifacts, name), fullPage: true });

    /** Starts `vhdsnap serve` on the folder as its own process; resolves to the address it prints. */
    async function startServe(): Promise<string> {
      const p = spawn(process.execPath, [BIN, 'serve', '--port', '0', e2e.folder], { stdio: ['ignore', 'pipe', 'pipe'] });
      serve = p;
      return new Promise<string>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /open (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        p.on('exit', (code) => reject(new Error(`vhdsnap serve exited ${code}: ${out}`)));
      });
    }

    async function killServe(): Promise<void> {
      const p = serve;
      serve = null;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((r) => p.on('exit', r));
      p.kill('SIGKILL');
      await gone;
    }

    /** Puts the pristine parent and child back (cp -p keeps the parent's time stamp the child recorded). */
    async function restore(): Promise<void> {
      for (const n of readdirSync(e2e.folder))
        if (!n.startsWith('.vhdsnap.json')) await import('node:fs/promises').then((f) => f.rm(path.join(e2e.folder, n), { force: true }));
      const { execFileSync } = await import('node:child_process');
      execFileSync('cp', ['-p', path.join(pristine, PARENT), path.join(pristine, CHILD), path.join(pristine, ACTIVE), e2e.folder]);
    }

    async function expectBefore(): Promise<void> {
      expect(stray(e2e.folder), 'journal or temp left').toEqual([]);
      expect(await viewHash(path.join(e2e.folder, PARENT)), 'base.vhd reads as before').toBe(before.parent);
      expect(await viewHash(path.join(e2e.folder, CHILD)), 'child.vhd reads as before').toBe(before.child);
      expect(await viewHash(path.join(e2e.folder, ACTIVE)), 'vm.vhd reads as before').toBe(before.child);
      for (const [n, size] of Object.entries(before.sizes)) expect(Math.abs(statSync(path.join(e2e.folder, n)).size - size)).toBeLessThanOrEqual(2 * MiB + 512);
    }

    async function openApp(url: string): Promise<void> {
      await e2e.page.goto(url);
      await $('empty-state').or($('folder-disks')).first().waitFor();
      if (await $('folder-disks').count()) return;
      await $('recent-toggle').click();
      await $('recent-list').getByTestId('recent-folder').first().click();
      await $('folder-disks').waitFor();
    }

    /** Starts the merge of child.vhd through its plan and waits until its progress shows at least `pct` %. */
    async function mergeUntil(pct: number): Promise<void> {
      await row(CHILD).click();
      await $('action-merge').click();
      await $('dialog-merge').waitFor();
      await $('plan').waitFor();
      await $('plan-confirm').click();
      await expect
        .poll(
          async () => {
            const t =
              (await $('progress-bytes')
                .textContent()
                .catch(() => '')) ?? '';
            const m = /\((\d+)%\)/.exec(t);
            return m ? Number(m[1]) : 0;
          },
          { timeout: 60_000, interval: 20 },
        )
        .toBeGreaterThanOrEqual(pct);
    }

    // Registered after the suite's tear-down, so it runs first: the serve process ends before its folder goes.
    afterAll(() => killServe());

    it('Cancel at about half way rolls the merge back: every disk as before, byte for byte, and no banner', async () => {
      url = await startServe();
      await openApp(url);
      await mergeUntil(30);
      const cancel = $('job-cancel');
      expect(await cancel.textContent()).toContain('Cancel');
      await cancel.click();
      const panel = e2e.page.locator('[data-testid=result-panel][data-status=cancelled]');
      await panel.waitFor({ timeout: 60_000 });
      expect(await panel.textContent()).toMatch(/as before/);
      await shot('cancel-01-cancelled.png');
      await expectBefore();
      await $('rescan').click();
      await row(CHILD).waitFor();
      expect(await $('pending-jobs').count()).toBe(0);
    }, 180_000);

    it('kill -9 of the serve process mid-merge: the banner offers Resume and Roll back; a snapshot is refused; Roll back gives the before state', async () => {
      await restore();
      await openApp(url);
      // Half way: past a checkpoint (once a second), which is what the banner's percentage counts.
      await mergeUntil(50);
      await killServe();
      expect(stray(e2e.folder).some((n) => n.startsWith('.vhdsnap-journal-'))).toBe(true);
      await openApp(await startServe());
      const banner = $('pending-jobs');
      await banner.waitFor();
      expect(await banner.textContent()).toMatch(/Merge of ‘After 6 months’ into ‘Clean build agent’ was interrupted( at [1-9]\d* %)?\./);
      await e2e.page.getByTestId(/^rollback-/).waitFor();
      await e2e.page.getByTestId(/^resume-/).waitFor();
      await shot('cancel-02-interrupted-1280.png');
      await e2e.page.setViewportSize({ width: 1024, height: 640 });
      await shot('cancel-02-interrupted-1024.png');
      await e2e.page.emulateMedia({ colorScheme: 'dark' });
      await shot('cancel-02-interrupted-1024-dark.png');
      await e2e.page.setViewportSize({ width: 1280, height: 800 });
      await shot('cancel-02-interrupted-1280-dark.png');
      await e2e.page.emulateMedia({ colorScheme: 'light' });

      // A snapshot meanwhile: its plan refuses with PENDING_JOB, naming the job; nothing starts.
      await row(ACTIVE).click();
      await $('action-snapshot').click();
      await $('dialog-snapshot').waitFor();
      if (await $('opt-review').count()) await $('opt-review').click();
      await $('plan').waitFor();
      expect(await $('plan-refusals').textContent()).toMatch(/PENDING_JOB|interrupted merge/);
      expect(await $('plan-confirm').isEnabled()).toBe(false);
      await $('plan-cancel').click();

      await e2e.page.getByTestId(/^rollback-/).click();
      const done = e2e.page.locator('[data-testid=result-panel][data-status=done]');
      await done.waitFor({ timeout: 60_000 });
      expect(await done.textContent()).toMatch(/rolled back/);
      await expect.poll(() => $('pending-jobs').count(), { timeout: UI_TIMEOUT }).toBe(0);
      await shot('cancel-03-rolled-back.png');
      await expectBefore();
    }, 240_000);

    it('another run: killed mid-merge, then Resume gives the after state', async () => {
      await e2e.page
        .getByTestId('result-dismiss')
        .click()
        .catch(() => undefined);
      await mergeUntil(20);
      await killServe();
      await openApp(await startServe());
      await $('pending-jobs').waitFor();
      await e2e.page.getByTestId(/^resume-/).click();
      const done = e2e.page.locator('[data-testid=result-panel][data-status=done]');
      await done.waitFor({ timeout: 60_000 });
      await expect.poll(() => $('pending-jobs').count(), { timeout: UI_TIMEOUT }).toBe(0);
      expect(existsSync(path.join(e2e.folder, CHILD))).toBe(false);
      expect(await viewHash(path.join(e2e.folder, ACTIVE)), 'vm.vhd shows what it showed, now over base.vhd').toBe(after);
      expect(stray(e2e.folder)).toEqual([]);
      expect(await viewHash(path.join(e2e.folder, PARENT)), 'base.vhd now shows what child.vhd showed').toBe(after);
      expect(problems).toEqual([]);
    }, 240_000);
  },
  600_000,
);

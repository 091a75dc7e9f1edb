// @vitest-environment happy-dom
// The whole window against the fake bridge: a clear message without the
// bridge; open a folder; tree/graph toggle; orphans and unreadable files;
// drag and drop; a destructive action from plan to progress to result.
import { enableAutoUnmount, flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import App from '../../renderer/src/App.vue';
import { useJobsStore } from '../../renderer/src/stores/jobs.js';
import { DETAILS_DELAY_MS } from '../../renderer/src/stores/library.js';
import { asInput, page } from './dom.js';

const asSelectValue = (el: unknown) => asInput(el).value;
import { allDisks, installFake, labView, removeBridge } from './fake-api.js';

enableAutoUnmount(afterEach);

beforeEach(() => {
  page.localStorage.clear();
});

afterEach(() => {
  removeBridge();
});

function mountApp() {
  const pinia = createPinia();
  setActivePinia(pinia);
  return mount(App, { global: { plugins: [pinia] }, attachTo: 'body' });
}

describe('App', () => {
  it('without window.vhdsnap shows a clear message instead of failing', async () => {
    removeBridge();
    const w = mountApp();
    await flushPromises();
    expect(w.get('[data-testid="no-bridge"]').text()).toContain('window.vhdsnap is missing');
    expect(w.find('[data-testid="open-folder"]').exists()).toBe(false);
  });

  it('a bridge installed after mount is picked up on vhdsnap:ready', async () => {
    removeBridge();
    const w = mountApp();
    const fake = installFake();
    page.dispatchEvent(new Event('vhdsnap:ready'));
    await flushPromises();
    expect(w.find('[data-testid="no-bridge"]').exists()).toBe(false);
    expect(w.find('[data-testid="empty-state"]').exists()).toBe(true);
    expect(fake.listenerCount).toBe(1);
    w.unmount();
    expect(fake.listenerCount).toBe(0);
  });

  it('opens a folder and shows its forest, orphans and unreadable files', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    expect(w.find('[data-testid="empty-state"]').exists()).toBe(true);
    expect(w.findAll('[data-testid="recent-folder"]').map((b) => b.text())).toContain('lab /data/lab');
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('openFolder')).toHaveLength(1);
    expect(fake.callsOf('scan')).toEqual([['lab']]);
    expect(w.findAll('[role="treeitem"]')).toHaveLength(allDisks(labView()).length);
    expect(w.get('[data-testid="orphan-lost.vhd"]').text()).toContain('parent gone.vhd not found');
    expect(w.get('[data-testid="unreadable-junk.vhd"]').text()).toContain('footer checksum does not match');
    // The job area is there (reserved) before any job runs.
    expect(w.get('[data-testid="job-area"]').text()).toBe('No job running.');

    await w.get('[data-testid="view-graph"]').trigger('click');
    expect(w.find('[role="tree"]').exists()).toBe(false);
    expect(w.findAll('[data-testid="graph-node"]')).toHaveLength(allDisks(labView()).length);
    await w.get('[data-testid="view-tree"]').trigger('click');
    expect(w.find('[role="tree"]').exists()).toBe(true);

    // Reconnect on an orphan opens the reparent dialog for it.
    await w.get('[data-testid="reconnect-lost.vhd"]').trigger('click');
    expect(w.get('[data-testid="dialog-reparent"]').text()).toContain('lost.vhd');
  });

  it('one selection: the details pane, the toolbar and the row follow a click, the arrow keys and the graph alike', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    const shown = () => w.get('[data-testid="detail-file"]').text();
    const rest = async () => {
      await new Promise((r) => setTimeout(r, DETAILS_DELAY_MS + 30));
      await flushPromises();
    };
    await w.get('[data-testid="tree-row-snap-b.vhd"]').trigger('click');
    await rest();
    expect(shown()).toBe('snap-b.vhd');
    // snap-b has children: the toolbar acts on it, so taking a snapshot of it is not offered.
    expect(w.get('[data-testid="action-snapshot"]').attributes('disabled')).toBeDefined();
    expect(w.get('[data-testid="action-snapshot"]').attributes('title')).toBe(
      'Take snapshot is not available: it has snapshots below it: only a current state can change',
    );
    const tree = w.get('[role="tree"]');
    await tree.trigger('keydown', { key: 'ArrowDown' });
    const below = w.get('[role="treeitem"][aria-selected="true"]').attributes('data-testid')!.replace('tree-row-', '');
    expect(below).not.toBe('snap-b.vhd');
    // At once for the tree's facts, and main's details for that same disk once the selection rests.
    expect(shown()).toBe(below);
    await rest();
    expect(fake.callsOf('details').at(-1)).toEqual([{ folder: 'lab', file: below }]);
    await w.get('[data-testid="view-graph"]').trigger('click');
    await w.get('[data-testid="graph-node"][data-file="leaf-a1.vhd"]').trigger('click');
    await rest();
    expect(shown()).toBe('leaf-a1.vhd');
    expect(w.get('[data-testid="action-snapshot"]').attributes('disabled')).toBeUndefined();
    expect(fake.callsOf('details').at(-1)).toEqual([{ folder: 'lab', file: 'leaf-a1.vhd' }]);
    await w.get('[data-testid="view-tree"]').trigger('click');
    expect(w.get('[role="treeitem"][aria-selected="true"]').attributes('data-testid')).toBe('tree-row-leaf-a1.vhd');
  });

  it('a folder dropped on the window is handed to api.dropFolder', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    const file = new File([], 'lab');
    await w.get('.app').trigger('drop', { dataTransfer: { files: [file], types: ['Files'] } });
    await flushPromises();
    expect(fake.callsOf('dropFolder')).toEqual([[file]]);
    expect(fake.callsOf('scan')).toEqual([['lab']]);
  });

  it('delete: plan, confirm, progress with cancel, result, rescan', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    // Right click opens the menu for the row; its Delete opens the plan.
    await w.get('[data-testid="tree-row-snap-a.vhd"]').trigger('contextmenu', { clientX: 10, clientY: 20 });
    await w.get('[data-testid="menu-delete"]').trigger('click');
    await flushPromises();
    // Selecting the row asks its delete plan for the Cost column's would-free figure; the dialog asks its own.
    const delA = [{ op: 'delete', disk: { folder: 'lab', file: 'snap-a.vhd' } }];
    expect(fake.callsOf('plan')).toEqual([delA, delA]);
    expect(w.find('[data-testid="context-menu"]').exists()).toBe(false);
    await w.get('[data-testid="plan-confirm"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('start')).toHaveLength(1);
    expect(w.find('[data-testid="dialog-delete"]').exists()).toBe(false);

    fake.emit({ jobId: 'job-1', kind: 'progress', progress: { phase: 'folding', done: 3 * 2 ** 20, total: 6 * 2 ** 20, rate: 2 ** 20, eta: 3 } });
    await flushPromises();
    expect(w.get('[data-testid="progress-phase"]').text()).toBe('Folding 3 of 6 MiB (50%)');
    // The busy disk's actions are off while the job runs.
    expect(w.get('[data-testid="tree-row-snap-a.vhd"]').attributes('aria-busy')).toBe('true');
    expect(w.get('[data-testid="action-delete"]').attributes('disabled')).toBeDefined();
    await w.get('[data-testid="job-cancel"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('cancel')).toEqual([['job-1']]);

    const after = labView();
    after.roots[0].children.splice(0, 1); // snap-a gone
    fake.views.set('lab', after);
    fake.emit({ jobId: 'job-1', kind: 'done', outcome: { op: 'delete', result: { strategy: 'merge-child', removed: '/data/lab/snap-a.vhd', changed: [] } } });
    await flushPromises();
    expect(w.get('[data-testid="result-panel"]').attributes('data-status')).toBe('done');
    expect(fake.callsOf('scan')).toHaveLength(2);
    expect(w.find('[data-testid="tree-row-snap-a.vhd"]').exists()).toBe(false);
    expect(useJobsStore().running).toHaveLength(0);
    await w.get('[data-testid="result-dismiss"]').trigger('click');
    expect(w.get('[data-testid="job-area"]').text()).toBe('No job running.');
  });

  it('recent folders open through api.openRecent', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="recent-folder"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('openRecent')).toEqual([['/data/lab']]);
    expect(w.findAll('[role="treeitem"]').length).toBeGreaterThan(0);
  });

  it("write image is in a current state's context menu, not on the toolbar (which it would crowd), and opens its dialog", async () => {
    installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    expect(w.find('[data-testid="action-write"]').exists()).toBe(false);
    await w.get('[data-testid="tree-row-snap-a.vhd"]').trigger('contextmenu');
    expect(w.find('[data-testid="menu-write"]').exists()).toBe(false); // a snapshot: read-only
    await w.get('[data-testid="tree-row-leaf-a2.vhd"]').trigger('contextmenu');
    await w.get('[data-testid="menu-write"]').trigger('click');
    await flushPromises();
    expect(w.find('[data-testid="dialog-write"]').exists()).toBe(true);
  });

  it('rename / describe goes through api.setLabel and rescans', async () => {
    const fake = installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    await w.get('[data-testid="tree-row-leaf-a2.vhd"]').trigger('contextmenu');
    await w.get('[data-testid="menu-rename"]').trigger('click');
    await w.get('[data-testid="label-name"]').setValue('  Build agent ');
    await w.get('[data-testid="label-description"]').setValue('CI runner');
    await w.get('[data-testid="dialog-rename"]').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('setLabel')).toEqual([
      [
        { folder: 'lab', file: 'leaf-a2.vhd' },
        { name: 'Build agent', description: 'CI runner' },
      ],
    ]);
    expect(fake.callsOf('scan')).toHaveLength(2);
    expect(w.find('[data-testid="dialog-rename"]').exists()).toBe(false);
  });

  it('theme choice is applied to the document and remembered', async () => {
    installFake();
    const w = mountApp();
    await flushPromises();
    const root = w.element.ownerDocument.documentElement;
    expect(root.getAttribute('data-theme')).toBeNull();
    await w.get('[data-testid="theme"]').setValue('dark');
    expect(root.getAttribute('data-theme')).toBe('dark');
    w.unmount();
    // A new page reads the saved choice.
    const again = mountApp();
    await flushPromises();
    expect(asSelectValue(again.get('[data-testid="theme"]').element)).toBe('dark');
    await again.get('[data-testid="theme"]').setValue('system');
    expect(root.getAttribute('data-theme')).toBeNull();
  });

  it('a failed open is reported in words', async () => {
    const fake = installFake();
    fake.openFolder = async () => {
      throw new Error(
        "Error invoking remote method 'library:open-folder': Error: permission denied: /data/lab\n    at grant (/app/dist/electron/main.cjs:10:2)",
      );
    };
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    const text = w.get('[data-testid="library-error"]').text();
    expect(text).toContain('permission denied: /data/lab');
    expect(text).not.toContain('main.cjs');
  });
});

describe('interrupted work in a folder', () => {
  it('is shown with Resume, which starts a job for that journal and rescans the folder when it ends', async () => {
    const fake = installFake();
    const view = labView();
    view.pending = [
      {
        journal: '/data/lab/.vhdsnap-journal-snap-a.vhd.json',
        op: 'merge',
        code: 'PENDING_JOB',
        job: 'merge (leaf-a1.vhd, snap-a.vhd; started 2026-12-04 21:40 UTC; at its copy step)',
        message: 'an interrupted merge is waiting',
        files: ['/data/lab/leaf-a1.vhd', '/data/lab/snap-a.vhd'],
        progress: 51,
        pastNoReturn: false,
        ref: { folder: 'lab', file: '.vhdsnap-journal-snap-a.vhd.json' },
      },
    ];
    fake.views.set('lab', view);
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    const banner = w.get('[data-testid="pending-jobs"]');
    expect(banner.attributes('role')).toBe('alert');
    expect(banner.text()).toMatch(/^Merge of ‘Dev box’ into ‘before upgrade’ was interrupted at 51 %\./);
    expect(banner.text()).toContain('(merge (leaf-a1.vhd, snap-a.vhd; started 2026-12-04 21:40 UTC; at its copy step))');
    expect(w.get('[data-testid="rollback-.vhdsnap-journal-snap-a.vhd.json"]').attributes('disabled')).toBeUndefined();
    fake.nextStart = { jobId: 'job-9' };
    await w.get('[data-testid="resume-.vhdsnap-journal-snap-a.vhd.json"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('resume')).toEqual([[{ folder: 'lab', file: '.vhdsnap-journal-snap-a.vhd.json' }]]);
    const scans = fake.callsOf('scan').length;
    fake.views.set('lab', labView());
    fake.emit({
      jobId: 'job-9',
      kind: 'done',
      outcome: { op: 'recover', result: { journal: view.pending[0].journal, op: 'merge', action: 'completed', detail: 'merged into snap-a.vhd' } },
    });
    await flushPromises();
    expect(fake.callsOf('scan').length).toBe(scans + 1);
    expect(w.find('[data-testid="pending-jobs"]').exists()).toBe(false);
    expect(w.get('[data-testid="result-headline"]').text()).toContain('Resuming the interrupted merge');
    expect(w.get('[data-testid="result-panel"]').text()).toContain('merged into snap-a.vhd');
  });

  it('Roll back starts a rollback job for that journal; past the point of no return it is disabled with the reason', async () => {
    const fake = installFake();
    const view = labView();
    const pending = (file: string, pastNoReturn: boolean) => ({
      journal: `/data/lab/${file}`,
      op: 'merge',
      code: 'PENDING_JOB' as const,
      job: 'merge (leaf-a1.vhd, snap-a.vhd; at its copy step)',
      message: 'an interrupted merge is waiting',
      files: ['/data/lab/leaf-a1.vhd', '/data/lab/snap-a.vhd'],
      progress: null,
      pastNoReturn,
      ref: { folder: 'lab', file },
    });
    view.pending = [pending('.vhdsnap-journal-a.json', false), pending('.vhdsnap-journal-b.json', true)];
    fake.views.set('lab', view);
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    expect(w.get('[data-testid="pending-.vhdsnap-journal-a.json"]').text()).toContain('was interrupted.');
    const past = w.get('[data-testid="rollback-.vhdsnap-journal-b.json"]');
    expect(past.attributes('disabled')).toBeDefined();
    expect(past.attributes('title')).toContain('point of no return');
    fake.nextStart = { jobId: 'job-10' };
    await w.get('[data-testid="rollback-.vhdsnap-journal-a.json"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('rollback')).toEqual([[{ folder: 'lab', file: '.vhdsnap-journal-a.json' }]]);
    expect(fake.callsOf('resume')).toEqual([]);
    expect(w.get('[data-testid="job-progress"]').text()).toContain('Rolling back merge');
  });

  it('a job that recover would roll back (a snapshot short of its rename) offers Roll back alone, not a Resume that would not finish it', async () => {
    const fake = installFake();
    const view = labView();
    view.pending = [
      {
        journal: '/data/lab/.vhdsnap-journal-leaf-a1.vhd.json',
        op: 'snapshot',
        code: 'PENDING_JOB' as const,
        job: 'snapshot (leaf-a1.vhd)',
        message: 'an interrupted snapshot is waiting',
        files: ['/data/lab/leaf-a1.vhd'],
        progress: null,
        pastNoReturn: false,
        forward: 'roll back' as const,
        ref: { folder: 'lab', file: '.vhdsnap-journal-leaf-a1.vhd.json' },
      },
    ];
    fake.views.set('lab', view);
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    expect(w.find('[data-testid="resume-.vhdsnap-journal-leaf-a1.vhd.json"]').exists()).toBe(false);
    const back = w.get('[data-testid="rollback-.vhdsnap-journal-leaf-a1.vhd.json"]');
    expect(back.attributes('disabled')).toBeUndefined();
    expect(back.classes()).toContain('primary');
    expect(back.attributes('title')).toContain('stopped before changing anything');
  });
});

describe('keyboard', () => {
  it('shortcuts act on the selected disk: Ctrl+S takes a snapshot of a current state, Delete deletes a snapshot, F2 renames; not on a disk they do not apply to', async () => {
    installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    const key = async (init: KeyboardEventInit) => {
      page.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true, ...init }));
      await flushPromises();
    };
    const close = async () => {
      await w.get('[data-testid="dialog-cancel"]').trigger('click');
      await flushPromises();
    };
    await w.get('[data-testid="tree-row-leaf-a1.vhd"]').trigger('click');
    await key({ key: 's', ctrlKey: true });
    expect(w.find('[data-testid="dialog-snapshot"]').exists()).toBe(true);
    await close();
    // F2 renames in place, in the details pane; Escape leaves the name as it was.
    await key({ key: 'F2' });
    expect(w.find('[data-testid="dialog-rename"]').exists()).toBe(false);
    const input = w.get<HTMLInputElement>('[data-testid="detail-name-input"]');
    expect(document.activeElement).toBe(input.element);
    await input.trigger('keydown', { key: 'Escape' });
    await flushPromises();
    expect(w.find('[data-testid="detail-name-input"]').exists()).toBe(false);
    await w.get('[data-testid="tree-row-snap-a.vhd"]').trigger('click');
    await key({ key: 's', ctrlKey: true });
    expect(w.find('[data-testid="dialog-snapshot"]').exists()).toBe(false);
    await key({ key: 'Delete' });
    expect(w.find('[data-testid="dialog-delete"]').exists()).toBe(true);
  });

  it('Tab stays inside an open dialog, wrapping around', async () => {
    installFake();
    const w = mountApp();
    await flushPromises();
    await w.get('[data-testid="open-folder"]').trigger('click');
    await flushPromises();
    await w.get('[data-testid="tree-row-leaf-a1.vhd"]').trigger('click');
    await w.get('[data-testid="action-snapshot"]').trigger('click');
    await flushPromises();
    const overlay = w.get('[data-testid="dialog-snapshot"]').element.parentElement!;
    const focusable = overlay.querySelectorAll<HTMLElement>('input, textarea, button:not([disabled])');
    const last = focusable[focusable.length - 1];
    last.focus();
    overlay.dispatchEvent(new KeyboardEvent('keydown', { key: 'Tab', bubbles: true, cancelable: true }));
    expect(document.activeElement).toBe(focusable[0]);
    overlay.dispatchEvent(new KeyboardEvent('keydown', { key: 'Tab', shiftKey: true, bubbles: true, cancelable: true }));
    expect(document.activeElement).toBe(last);
  });
});

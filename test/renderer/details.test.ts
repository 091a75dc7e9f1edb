// @vitest-environment happy-dom
// The details pane: the disk's fields, and the allocation map with one cell
// per entry and a legend whose counts match the map.
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import AllocationMap from '../../renderer/src/components/AllocationMap.vue';
import DetailsPane from '../../renderer/src/components/DetailsPane.vue';
import { startInlineRename } from '../../renderer/src/lib/inline-label.js';
import { refKey } from '../../renderer/src/lib/operations.js';
import { useJobsStore } from '../../renderer/src/stores/jobs.js';
import { Rng } from '../support/model.js';
import { removeBridge, sampleInfo } from './fake-api.js';
import { openLab } from './support.js';

afterEach(() => {
  removeBridge();
});

describe('DetailsPane', () => {
  it('shows the fields of the open disk and its allocation map', async () => {
    const { fake, pinia, library } = await openLab();
    const map = [2, 2, 0, 1, 0, 0, 2, 1, 0, 2];
    fake.detailsFor = (ref) => ({
      ref,
      info: sampleInfo(ref, {
        path: '/data/lab/leaf-b.vhd',
        type: 'differencing',
        virtualSize: 8 * 2 ** 30,
        uuid: '11111111-2222-4333-8444-555555555555',
        timestamp: '2026-01-10T12:00:00.000Z',
        creatorApp: 'vhds',
        creatorVersion: '1.2',
        fileSize: 3 * 2 ** 20,
        totalBlocks: 4096,
        description: 'test branch',
        parent: { uuid: 'x', name: 'snap-b.vhd', path: '/data/lab/snap-b.vhd', timestamp: '2026-01-10T12:00:00.000Z', locators: [] },
        chain: ['/data/lab/leaf-b.vhd', '/data/lab/snap-b.vhd', '/data/lab/base.vhd'],
      }),
      uniqueBytes: 1536 * 1024,
      allocationMap: map,
      blocksPerCell: 1,
    });
    const wrapper = mount(DetailsPane, { global: { plugins: [pinia] } });
    expect(wrapper.text()).toContain('Select a disk');
    await library.openDetails(refKey({ folder: 'lab', file: 'leaf-b.vhd' }));
    await flushPromises();

    const field = (id: string) => wrapper.get(`[data-testid="detail-${id}"]`).text();
    expect(field('name')).toBe('leaf-b.vhd');
    expect(field('description')).toBe('test branch');
    expect(field('file')).toBe('leaf-b.vhd');
    expect(field('type')).toBe('differencing');
    expect(field('virtual-size')).toBe('8 GiB');
    expect(field('file-size')).toBe('3 MiB');
    expect(field('allocated')).toBe('1 of 4,096 blocks (2 MiB each)');
    expect(field('unique')).toBe('1.5 MiB');
    expect(field('creator')).toBe('vhdsnap 1.2');
    expect(wrapper.get('[data-testid="detail-creator"]').attributes('title')).toBe('creator “vhds” 1.2, host “Wi2k”');
    expect(field('created')).toContain('2026-01-10 12:00:00 UTC');
    expect(field('created')).toMatch(/ago|just now/);
    expect(field('parent')).toBe('snap-b.vhd');
    expect(field('chain')).toBe('3 files');
    // leaf-b is a saved state of its tree (leaf-a1 is the active disk): marked so, not Now.
    expect(wrapper.find('[data-testid="detail-saved"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="detail-now"]').exists()).toBe(false);

    const cells = wrapper.findAll('[data-testid="allocation-cell"]');
    expect(cells).toHaveLength(map.length);
    expect(cells.map((c) => c.attributes('data-state'))).toEqual(map.map((v) => ['empty', 'partial', 'full'][v]));
    expect(wrapper.get('[data-testid="blocks-full"]').text()).toBe('4');
    expect(wrapper.get('[data-testid="blocks-partial"]').text()).toBe('2');
    expect(wrapper.get('[data-testid="allocation-scale"]').text()).toBe('each cell: one block = 2 MiB');
    wrapper.unmount();
  });

  it('renames and describes in place, and Undo (or Ctrl+Z) puts the old label back through the same call', async () => {
    const { fake, pinia, library } = await openLab();
    const wrapper = mount(DetailsPane, { global: { plugins: [pinia] }, attachTo: document.body });
    const ref = { folder: 'lab', file: 'leaf-a1.vhd' };
    library.select(refKey(ref));
    await flushPromises();
    expect(wrapper.get('[data-testid="detail-name"]').text()).toBe('Dev box');
    // Escape leaves it as it was, without a call.
    await wrapper.get('[data-testid="detail-rename"]').trigger('click');
    await flushPromises();
    await wrapper.get('[data-testid="detail-name-input"]').trigger('keydown', { key: 'Escape' });
    expect(wrapper.find('[data-testid="detail-name-input"]').exists()).toBe(false);
    expect(fake.callsOf('setLabel')).toEqual([]);
    // F2 from the app asks for the same edit.
    expect(startInlineRename(refKey(ref))).toBe(true);
    await flushPromises();
    const input = wrapper.get<HTMLInputElement>('[data-testid="detail-name-input"]');
    expect(document.activeElement).toBe(input.element);
    expect(input.element.value).toBe('Dev box');
    await input.setValue('  Workstation ');
    await wrapper.get('form.edit-name').trigger('submit');
    await flushPromises();
    expect(fake.callsOf('setLabel')).toEqual([[ref, { name: 'Workstation' }]]);
    expect(wrapper.get('[data-testid="detail-undo-line"]').text()).toBe('Renamed to ‘Workstation’. Undo');
    await wrapper.get('[data-testid="detail-undo"]').trigger('click');
    await flushPromises();
    expect(fake.callsOf('setLabel')[1]).toEqual([ref, { name: 'Dev box', description: '' }]);
    expect(wrapper.find('[data-testid="detail-undo-line"]').exists()).toBe(false);
    // The description, then Ctrl+Z outside a text field.
    await wrapper.get('[data-testid="detail-description"]').trigger('click');
    await flushPromises();
    await wrapper.get('[data-testid="detail-description-input"]').setValue('my main VM');
    await wrapper.get('[data-testid="detail-description-input"]').trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(fake.callsOf('setLabel')[2]).toEqual([ref, { description: 'my main VM' }]);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'z', ctrlKey: true }));
    await flushPromises();
    expect(fake.callsOf('setLabel')[3]).toEqual([ref, { name: 'Dev box', description: '' }]);
    wrapper.unmount();
    // No pane, no inline edit: the app opens the dialog instead.
    expect(startInlineRename(refKey(ref))).toBe(false);
  });

  it('shows an out-of-date parent timestamp as a muted note, and not at all while a job runs', async () => {
    const { fake, pinia, library } = await openLab();
    fake.detailsFor = (ref) => ({
      ref,
      info: sampleInfo(ref, {
        warnings: [
          { code: 'PARENT_TIMESTAMP_MISMATCH', message: 'the parent was modified after this child recorded it' },
          { code: 'IN_USE', message: 'another program has this disk open' },
        ],
      }),
      uniqueBytes: 0,
      allocationMap: [],
      blocksPerCell: 1,
    });
    const wrapper = mount(DetailsPane, { global: { plugins: [pinia] } });
    await library.openDetails(refKey({ folder: 'lab', file: 'leaf-b.vhd' }));
    await flushPromises();
    expect(wrapper.get('[data-testid="detail-warnings"]').text()).toBe('another program has this disk open (IN_USE)');
    expect(wrapper.get('[data-testid="detail-notes"]').text()).toContain('the parent was modified after this child recorded it');
    const jobs = useJobsStore();
    jobs.entry('j1').args = { op: 'merge', disk: { folder: 'lab', file: 'snap-b.vhd' } };
    await flushPromises();
    expect(wrapper.find('[data-testid="detail-notes"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="detail-warnings"]').exists()).toBe(true);
  });

  it('shows a details failure in words', async () => {
    const { fake, pinia, library } = await openLab();
    fake.detailsFor = () => {
      throw { code: 'IO_ERROR', message: 'cannot read leaf-a2.vhd: permission denied' };
    };
    const wrapper = mount(DetailsPane, { global: { plugins: [pinia] } });
    await library.openDetails(refKey({ folder: 'lab', file: 'leaf-a2.vhd' }));
    await flushPromises();
    expect(wrapper.get('[data-testid="details-error"]').text()).toBe('cannot read leaf-a2.vhd: permission denied');
    // The scan's fields still show.
    expect(wrapper.get('[data-testid="detail-file"]').text()).toBe('leaf-a2.vhd');
  });
});

describe('AllocationMap', () => {
  it('groups a large map into at most 512 cells, each a range shaded by the fraction stored, and says what a cell is', () => {
    const rng = new Rng(7);
    for (let round = 0; round < 5; round++) {
      // Up to 12,000 entries of 1 or 3 blocks each: 20 GiB of 2 MiB blocks is 10,240.
      const per = round % 2 ? 3 : 1;
      const cells = Array.from({ length: 1 + rng.int(12000) }, () => rng.int(3));
      const w = mount(AllocationMap, { props: { cells, blocksPerCell: per, blockSize: 2 ** 21 } });
      const count = (v: number) => cells.filter((c) => c === v).length * per;
      expect(w.get('[data-testid="blocks-full"]').text()).toBe(count(2).toLocaleString('en-US'));
      expect(w.get('[data-testid="blocks-partial"]').text()).toBe(count(1).toLocaleString('en-US'));
      const rects = w.findAll('[data-testid="allocation-cell"]');
      expect(rects.length).toBeLessThanOrEqual(512);
      // The group is the smallest power of two that fits: one step smaller would not.
      const group = Math.ceil(cells.length / rects.length) <= 1 ? 1 : 2 ** Math.ceil(Math.log2(cells.length / 512));
      expect(rects).toHaveLength(Math.ceil(cells.length / Math.max(1, group)));
      const blocks = Math.max(1, group) * per;
      expect(w.get('[data-testid="allocation-scale"]').text()).toBe(
        blocks === 1
          ? 'each cell: one block = 2 MiB'
          : `each cell: ${blocks} blocks = ${blocks * 2 >= 1024 ? `${(blocks * 2) / 1024} GiB` : `${blocks * 2} MiB`}`,
      );
      // The first cell's tooltip names its range and what of it is stored.
      const first = cells.slice(0, Math.max(1, group));
      const stored = first.reduce((n, v) => n + (v === 2 ? 1 : v === 1 ? 0.5 : 0), 0) / first.length;
      expect(rects[0].get('title').text()).toMatch(blocks === 1 ? /^block 0 \(0 B to 2 MiB\): / : new RegExp(`^blocks 0–${blocks - 1} `));
      expect(rects[0].get('title').text()).toContain(stored === 0 ? 'nothing stored' : stored === 1 ? 'all stored' : `${Math.round(stored * 100)}% stored`);
      w.unmount();
    }
  });

  it('says why a disk has no map', () => {
    const w = mount(AllocationMap, { props: { cells: [], blocksPerCell: 1, blockSize: null } });
    expect(w.text()).toContain('no block table');
    expect(w.findAll('rect')).toHaveLength(0);
  });
});

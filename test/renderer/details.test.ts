// @vitest-environment happy-dom
// The details pane: the disk's fields, and the allocation map with one cell
// per entry and a legend whose counts match the map.
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import AllocationMap from '../../renderer/src/components/AllocationMap.vue';
import DetailsPane from '../../renderer/src/components/DetailsPane.vue';
import { refKey } from '../../renderer/src/lib/operations.js';
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
    expect(field('allocated')).toBe('1 of 4096 × 2 MiB');
    expect(field('unique')).toBe('1.5 MiB');
    expect(field('creator')).toBe('vhds 1.2 on Wi2k');
    expect(field('created')).toContain('2026-01-10 12:00:00 UTC');
    expect(field('created')).toMatch(/ago|just now/);
    expect(field('parent')).toBe('snap-b.vhd');
    expect(field('chain')).toBe('3 file(s)');
    // leaf-b is a saved state of its tree (leaf-a1 is the active disk): marked so, not Now.
    expect(wrapper.find('[data-testid="detail-saved"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="detail-now"]').exists()).toBe(false);

    const cells = wrapper.findAll('[data-testid="allocation-map"] rect[data-state]');
    expect(cells).toHaveLength(map.length);
    expect(cells.map((c) => c.attributes('data-state'))).toEqual(map.map((v) => ['empty', 'partial', 'full'][v]));
    expect(wrapper.get('[data-testid="cells-full"]').text()).toBe('4');
    expect(wrapper.get('[data-testid="cells-partial"]').text()).toBe('2');
    expect(wrapper.get('[data-testid="cells-empty"]').text()).toBe('4');
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
  it('counts random maps exactly and lays cells out in rows of 64', () => {
    const rng = new Rng(7);
    for (let round = 0; round < 5; round++) {
      const cells = Array.from({ length: 1 + rng.int(300) }, () => rng.int(3));
      const w = mount(AllocationMap, { props: { cells, blocksPerCell: 4, blockSize: 2 ** 21 } });
      const count = (v: number) => cells.filter((c) => c === v).length;
      expect(w.get('[data-testid="cells-full"]').text()).toBe(String(count(2)));
      expect(w.get('[data-testid="cells-partial"]').text()).toBe(String(count(1)));
      expect(w.get('[data-testid="cells-empty"]').text()).toBe(String(count(0)));
      const rects = w.findAll('rect[data-state]');
      expect(rects).toHaveLength(cells.length);
      const last = rects[rects.length - 1];
      expect(Number(last.attributes('y'))).toBe(Math.floor((cells.length - 1) / 64) * 7);
      expect(w.text()).toContain('4 blocks');
      w.unmount();
    }
  });

  it('says why a disk has no map', () => {
    const w = mount(AllocationMap, { props: { cells: [], blocksPerCell: 1, blockSize: null } });
    expect(w.text()).toContain('no block table');
    expect(w.findAll('rect')).toHaveLength(0);
  });
});

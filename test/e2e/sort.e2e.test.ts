// Sorting a branched tree, in Chromium over `vhdsnap serve` on real files:
// base ← {Alpha ← {Yankee, Zulu}, Bravo ← Bravo work, Charlie ← Charlie work},
// made so that names, creation times and costs each order the siblings
// differently. For each key, both directions and back to the scan's order,
// the visible rows are exactly the expected order, every disk stays under its
// parent at its depth, and the header says how it sorts. At 1280×800 light and
// 1024×640 dark; screenshots in test-artifacts/e2e/sort-*.png.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain';
import { createDifferencing, createDynamic } from '../../core/ops/create';
import { runOperation } from '../../core/operations';
import { Rng } from '../support/model';
import { missingPrerequisite, openRecent, parentsByFile, useE2eSuite } from './support';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512 * KiB;
const UI_TIMEOUT = 15_000;
const missing = missingPrerequisite();

/** file → [parent file, its name, the whole blocks it stores itself]; made in this order. */
const DISKS: [file: string, parent: string | null, name: string, blocks: number][] = [
  ['base.vhd', null, 'Base install', 4],
  ['charlie.vhd', 'base.vhd', 'Charlie', 3],
  ['c1.vhd', 'charlie.vhd', 'Charlie work', 0],
  // A new second from here: Alpha is newer than Charlie.
  ['alpha.vhd', 'base.vhd', 'Alpha', 1],
  ['yankee.vhd', 'alpha.vhd', 'Yankee', 2],
  // And again: Bravo and Zulu are the newest of their siblings.
  ['bravo.vhd', 'base.vhd', 'Bravo', 2],
  ['b1.vhd', 'bravo.vhd', 'Bravo work', 0],
  ['zulu.vhd', 'alpha.vhd', 'Zulu', 1],
];
const NEW_SECOND_BEFORE = new Set(['alpha.vhd', 'bravo.vhd']);

/** The rows top to bottom, for each header state (name ascends first; cost and created start largest and newest). */
const ORDERS = {
  'name asc': ['base', 'alpha', 'yankee', 'zulu', 'bravo', 'b1', 'charlie', 'c1'],
  'name desc': ['base', 'charlie', 'c1', 'bravo', 'b1', 'alpha', 'zulu', 'yankee'],
  'cost desc': ['base', 'charlie', 'c1', 'bravo', 'b1', 'alpha', 'yankee', 'zulu'],
  'cost asc': ['base', 'alpha', 'zulu', 'yankee', 'bravo', 'b1', 'charlie', 'c1'],
  'created desc': ['base', 'bravo', 'b1', 'alpha', 'zulu', 'yankee', 'charlie', 'c1'],
  'created asc': ['base', 'charlie', 'c1', 'alpha', 'yankee', 'zulu', 'bravo', 'b1'],
};

describe.skipIf(missing !== null)(
  'sorting a branched tree (Chromium over `vhdsnap serve`)',
  () => {
    const e2e = useE2eSuite({
      name: 'sort',
      timeout: UI_TIMEOUT,
      setup: async ({ folder }) => {
        const rng = new Rng(0x5027);
        for (const [file, parent, name, blocks] of DISKS) {
          // Creation times are whole seconds (the VHD footer's): wait into the next one.
          if (NEW_SECOND_BEFORE.has(file)) await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000)));
          const p = path.join(folder, file);
          if (parent === null) await createDynamic(p, 8 * MiB, { blockSize: BLOCK });
          else await createDifferencing(p, path.join(folder, parent));
          const d = await openDisk(p, { writable: true });
          try {
            for (let b = 0; b < blocks; b++) await d.write(b * BLOCK, rng.bytes(BLOCK));
          } finally {
            await d.close();
          }
          await runOperation({ op: 'name', disk: p, name });
        }
      },
    });
    const { $, problems } = e2e;

    /** The visible rows: file (without .vhd) and tree level, top to bottom. */
    const rows = () =>
      e2e.page.$$eval('[role=tree] [role=treeitem]', (els) =>
        els.map((e) => ({ file: (e.getAttribute('data-file') ?? '').replace(/\.vhd$/, ''), level: Number(e.getAttribute('aria-level')) })),
      );

    /** Each row's parent as the indentation shows it (the nearest row above one level up) equals its parent on disk. */
    async function expectChildrenUnderParents(state: string) {
      const onDisk = await parentsByFile(e2e.folder);
      const shown = await rows();
      shown.forEach((r, i) => {
        const above = shown.slice(0, i).reverse();
        const parent = r.level === 1 ? null : above.find((a) => a.level === r.level - 1);
        const want = onDisk.get(`${r.file}.vhd`);
        expect(parent === null ? null : `${parent?.file}.vhd`, `${state}: ${r.file} under its parent`).toBe(want ?? null);
      });
    }

    async function expectOrder(state: keyof typeof ORDERS | 'unsorted', scanOrder: string[]) {
      const want = state === 'unsorted' ? scanOrder : ORDERS[state];
      await expect.poll(async () => (await rows()).map((r) => r.file), { message: `rows sorted by ${state}` }).toEqual(want);
      await expectChildrenUnderParents(state);
      for (const key of ['name', 'cost', 'created'] as const) {
        const text = (await $(`sort-${key}`).textContent()) ?? '';
        const title = (await $(`sort-${key}`).getAttribute('title')) ?? '';
        const [k, dir] = state.split(' ');
        if (k === key) {
          expect(text, `${key} header in ${state}`).toContain(dir === 'asc' ? '▲' : '▼');
          expect(title).toContain(dir === 'asc' ? 'now ascending' : 'now descending');
        } else {
          expect(text, `${key} header in ${state}`).not.toMatch(/[▲▼]/);
          expect(title).toContain('not sorted by it');
        }
      }
    }

    for (const [width, height, scheme] of [
      [1280, 800, 'light'],
      [1024, 640, 'dark'],
    ] as const) {
      it(`each key sorts the siblings both ways and back, children staying under their parents (${width}×${height}, ${scheme})`, async () => {
        await e2e.open({ width, height, colorScheme: scheme, goto: true });
        await openRecent(e2e.page);
        await $('tree-row-zulu.vhd').waitFor();
        // Costs arrive after the tree: every cost cell shows a size before sorting by it.
        await expect
          .poll(() => e2e.page.$$eval('[data-testid=cost-cell] .amount', (els) => els.filter((e) => /\d/.test(e.textContent ?? '')).length))
          .toBe(DISKS.length);
        const scanOrder = (await rows()).map((r) => r.file);
        expect([...scanOrder].sort()).toEqual([...ORDERS['name asc']].sort());
        await expectOrder('unsorted', scanOrder);
        for (const [key, first, second] of [
          ['name', 'asc', 'desc'],
          ['cost', 'desc', 'asc'],
          ['created', 'desc', 'asc'],
        ] as const) {
          await $(`sort-${key}`).click();
          await expectOrder(`${key} ${first}`, scanOrder);
          await e2e.shot(`sort-${key}-${first}-${width}-${scheme}`);
          await $(`sort-${key}`).click();
          await expectOrder(`${key} ${second}`, scanOrder);
          await e2e.shot(`sort-${key}-${second}-${width}-${scheme}`);
          await $(`sort-${key}`).click();
          await expectOrder('unsorted', scanOrder);
        }
        // A sort keeps the selection and the keyboard order: ArrowDown from the top follows the sorted rows.
        await $('sort-cost').click();
        await $('tree-row-base.vhd').click();
        for (const file of ORDERS['cost desc'].slice(1, 4)) {
          await e2e.page.keyboard.press('ArrowDown');
          await expect.poll(() => e2e.page.locator('[role=treeitem][aria-selected=true]').getAttribute('data-file')).toBe(`${file}.vhd`);
        }
        await e2e.page.context().close();
      });
    }

    it('no page reported an error', () => {
      expect(problems).toEqual([]);
    });
  },
  120_000,
);

// The pure parts of the tree's layout: the middle ellipsis, how many toolbar
// actions fit, sibling sorting and the name filter (the tree stays a tree),
// deep chains, what removing a disk frees, and Check all's targets and turns.
import { describe, expect, it } from 'vitest';
import type { DiskNode } from '../../server/api.js';
import { checkInTurn, checkTargets } from '../../renderer/src/lib/check-all.js';
import { costSentence, freeRequest } from '../../renderer/src/lib/cost.js';
import { commonPrefixLength, middleShorten, middleSplit, tailLength } from '../../renderer/src/lib/middle-ellipsis.js';
import { displayName } from '../../renderer/src/lib/operations.js';
import { fitCount } from '../../renderer/src/lib/overflow.js';
import { buildRows, DEEP_CHAIN, deepestChains, sortSiblings, type RowOptions } from '../../renderer/src/lib/tree-rows.js';
import { disk, labView } from './fake-api.js';

const files = (rows: { node: DiskNode }[]) => rows.map((r) => r.node.ref.file);

describe('middle ellipsis', () => {
  it('middleShorten keeps short names and cuts long ones in the middle, keeping the distinguishing end', () => {
    expect(middleShorten('d1.vhd', 32)).toBe('d1.vhd');
    const a = middleShorten('win10-snapshot-before-upgrade-20261203-010203.vhd', 32);
    const b = middleShorten('win10-snapshot-before-upgrade-20261203-010204.vhd', 32);
    expect(Array.from(a).length).toBeLessThanOrEqual(32);
    expect(a).toMatch(/^win10-snap.*….*010203\.vhd$/);
    expect(a).not.toBe(b);
    // Code points, not UTF-16 units: an emoji is never split.
    expect(Array.from(middleShorten('😀'.repeat(40), 10))).toHaveLength(10);
  });
  const names = ['disk-snap-20200101-010203.vhd', 'disk-snap-20200101-020304.vhd', 'disk-snap-20200101-030405.vhd'];

  it('finds the prefix the names share, by code point', () => {
    expect(commonPrefixLength(names)).toBe('disk-snap-20200101-0'.length);
    expect(commonPrefixLength(['a😀b', 'a😀c'])).toBe(2);
    expect(commonPrefixLength(['only.vhd'])).toBe(0);
  });

  it('keeps the part where the names differ, starting after a separator', () => {
    const shared = commonPrefixLength(names);
    const t = tailLength(names[0], shared);
    expect(middleSplit(names[0], t)).toEqual({ head: 'disk-snap-20200101-', tail: '010203.vhd' });
    // Every name's tail tells it from the others.
    const tails = names.map((n) => middleSplit(n, tailLength(n, shared)).tail);
    expect(new Set(tails).size).toBe(names.length);
  });

  it('keeps at least a few characters and at most the limit, and never splits a surrogate pair', () => {
    expect(tailLength('ab.vhd', 0)).toBe(6);
    expect(tailLength('abcdefghijklmnopqrstuvwxyz', 0)).toBe(12);
    expect(tailLength('abcdefghijklmnopqrstuvwxyz', 25)).toBe(8);
    const s = middleSplit('x😀yz', 3);
    expect(s).toEqual({ head: 'x', tail: '😀yz' });
    expect(middleSplit('abc', 10)).toEqual({ head: '', tail: 'abc' });
  });
});

describe('toolbar overflow', () => {
  it('shows everything that fits, else keeps room for More', () => {
    expect(fitCount([50, 50, 50], 170, 5, 40)).toBe(3);
    // 3 × 50 + 2 gaps = 160 does not fit 150: More (40) + gap + 50 + gap + 50 = 150.
    expect(fitCount([50, 50, 50], 150, 5, 40)).toBe(2);
    expect(fitCount([50, 50, 50], 149, 5, 40)).toBe(1);
    expect(fitCount([50, 50, 50], 30, 5, 40)).toBe(0);
    expect(fitCount([], 0, 5, 40)).toBe(0);
  });
});

describe('tree rows', () => {
  const opts = (over: Partial<RowOptions> = {}): RowOptions => ({
    collapsed: {},
    sort: null,
    query: '',
    nameOf: displayName,
    costOf: () => null,
    ...over,
  });

  /** Each row's parent comes before it and is its tree parent: sorting and filtering keep the structure. */
  function expectTreeShape(rows: ReturnType<typeof buildRows>) {
    rows.forEach((r, i) => {
      if (r.parentKey === null) expect(r.depth).toBe(0);
      else {
        const p = rows.findIndex((x) => x.key === r.parentKey);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(i);
        expect(rows[p].node.children).toContain(r.node);
        expect(r.depth).toBe(rows[p].depth + 1);
      }
    });
  }

  it('lists depth first in the scan order by default', () => {
    const rows = buildRows(labView().roots, opts());
    expect(files(rows)).toEqual(['base.vhd', 'snap-a.vhd', 'leaf-a1.vhd', 'leaf-a2.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'lone.vhd']);
    expectTreeShape(rows);
  });

  it('sorts siblings by cost, children staying under their parent', () => {
    const cost: Record<string, number> = {
      'base.vhd': 10,
      'snap-a.vhd': 1,
      'snap-b.vhd': 5,
      'leaf-a1.vhd': 2,
      'leaf-a2.vhd': 7,
      'leaf-b.vhd': 3,
      'lone.vhd': 50,
    };
    const costOf = (n: DiskNode) => cost[n.ref.file] ?? null;
    const down = buildRows(labView().roots, opts({ sort: { key: 'cost', dir: 'desc' }, costOf }));
    expect(files(down)).toEqual(['lone.vhd', 'base.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'snap-a.vhd', 'leaf-a2.vhd', 'leaf-a1.vhd']);
    expectTreeShape(down);
    const up = buildRows(labView().roots, opts({ sort: { key: 'cost', dir: 'asc' }, costOf }));
    expect(files(up)).toEqual(['base.vhd', 'snap-a.vhd', 'leaf-a1.vhd', 'leaf-a2.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'lone.vhd']);
    // Unknown costs go last whichever way.
    const partial = sortSiblings(labView().roots, { key: 'cost', dir: 'asc' }, { nameOf: displayName, costOf: (n) => (n.ref.file === 'lone.vhd' ? 1 : null) });
    expect(partial.map((n) => n.ref.file)).toEqual(['lone.vhd', 'base.vhd']);
  });

  it('sorts siblings by creation time and by name (numbers in names in numeric order)', () => {
    const t = (iso: string) => ({ timestamp: iso });
    const roots = [
      disk('f', 'snap-10.vhd', t('2026-01-03T00:00:00Z')),
      disk('f', 'snap-9.vhd', t('2026-01-01T00:00:00Z')),
      disk('f', 'snap-2.vhd', t('2026-01-02T00:00:00Z')),
    ];
    const by = (sort: RowOptions['sort']) => files(buildRows(roots, opts({ sort })));
    expect(by({ key: 'created', dir: 'desc' })).toEqual(['snap-10.vhd', 'snap-2.vhd', 'snap-9.vhd']);
    expect(by({ key: 'created', dir: 'asc' })).toEqual(['snap-9.vhd', 'snap-2.vhd', 'snap-10.vhd']);
    expect(by({ key: 'name', dir: 'asc' })).toEqual(['snap-2.vhd', 'snap-9.vhd', 'snap-10.vhd']);
    expect(by({ key: 'name', dir: 'desc' })).toEqual(['snap-10.vhd', 'snap-9.vhd', 'snap-2.vhd']);
  });

  it('filters by shown name or file name, keeping the chain above each match and dimming it', () => {
    // "Dev box" is leaf-a1's name; base and snap-a stay to show where it is.
    const rows = buildRows(labView().roots, opts({ query: 'dev BOX' }));
    expect(files(rows)).toEqual(['base.vhd', 'snap-a.vhd', 'leaf-a1.vhd']);
    expect(rows.map((r) => r.match)).toEqual([false, false, true]);
    expectTreeShape(rows);
    // A match's children that do not match are left out; set sizes count what is shown.
    const snap = buildRows(labView().roots, opts({ query: 'snap-' }));
    expect(files(snap)).toEqual(['base.vhd', 'snap-a.vhd', 'snap-b.vhd']);
    expect(snap.filter((r) => r.depth === 1).map((r) => r.setsize)).toEqual([2, 2]);
    expect(buildRows(labView().roots, opts({ query: 'nothing like it' }))).toEqual([]);
    // A filter shows matches under collapsed nodes too.
    const base = labView().roots[0];
    expect(files(buildRows(labView().roots, opts({ query: 'leaf-b', collapsed: { [`lab\u0000${base.ref.file}`]: true } })))).toEqual([
      'base.vhd',
      'snap-b.vhd',
      'leaf-b.vhd',
    ]);
  });

  it('leaves out the children of collapsed nodes', () => {
    const rows = buildRows(labView().roots, opts({ collapsed: { 'lab\u0000snap-a.vhd': true } }));
    expect(files(rows)).toEqual(['base.vhd', 'snap-a.vhd', 'snap-b.vhd', 'leaf-b.vhd', 'lone.vhd']);
  });

  it('finds chains deep enough to warn about, deepest first', () => {
    let node = disk('f', `d${DEEP_CHAIN + 2}.vhd`);
    for (let i = DEEP_CHAIN + 1; i >= 1; i--) node = disk('f', `d${i}.vhd`, { children: [node] });
    const short = disk('f', 's2.vhd');
    const found = deepestChains([node, disk('f', 's1.vhd', { children: [short] })], DEEP_CHAIN);
    expect(found.map((c) => [c.leaf.ref.file, c.depth])).toEqual([[`d${DEEP_CHAIN + 2}.vhd`, DEEP_CHAIN + 2]]);
    expect(deepestChains(labView().roots, DEEP_CHAIN)).toEqual([]);
    expect(deepestChains(labView().roots, 3).map((c) => c.leaf.ref.file)).toEqual(['leaf-a1.vhd', 'leaf-a2.vhd', 'leaf-b.vhd']);
  });
});

describe('what removing a disk frees', () => {
  const MiB = 2 ** 20;
  const [base, lone] = labView().roots;
  const snapA = base.children[0];
  const cost: Record<string, number> = { 'snap-a.vhd': 1 * MiB, 'snap-b.vhd': 2 * MiB, 'leaf-a2.vhd': 0.5 * MiB, 'leaf-b.vhd': 1 * MiB };
  const costOf = (n: DiskNode) => cost[n.ref.file] ?? null;

  it('asks the delete plan for a snapshot, the merge plan for a leaf; a disk of its own has neither', () => {
    expect(freeRequest(snapA)).toEqual({ op: 'delete', disk: snapA.ref });
    expect(freeRequest(base)).toEqual({ op: 'delete', disk: base.ref });
    expect(freeRequest(snapA.children[1])).toEqual({ op: 'merge', disk: snapA.children[1].ref });
    expect(freeRequest(lone)).toMatch(/disk of its own/);
  });

  it("says the plan's figure, exactly, once the plan has said it", () => {
    expect(costSentence(snapA, costOf, undefined)).toMatch(/^Stores 1 MiB of its own .* asking its plan…$/);
    expect(costSentence(snapA, costOf, 'pending')).toMatch(/asking its plan…$/);
    expect(costSentence(snapA, costOf, { bytes: 3 * MiB - 1024, how: 'delete' })).toMatch(
      /Deleting this snapshot frees 3 MiB \(3,144,704 bytes\), as its plan says\.$/,
    );
    expect(costSentence(snapA.children[1], costOf, { bytes: 512, how: 'merge' })).toMatch(/Merging it into its parent frees 512 B \(512 bytes\)/);
    // The active leaf's merge runs as its parent's delete: it keeps its path.
    expect(costSentence(snapA.children[0], costOf, { bytes: 512, how: 'merge' })).toMatch(/Merging it with its parent \(which keeps it at its path\) frees/);
    // A fold into several children can take more than the file gave back.
    expect(costSentence(snapA, costOf, { bytes: -2 * MiB, how: 'delete' })).toMatch(/frees nothing: the folder grows by 2 MiB \(2,097,152 bytes\)/);
    expect(costSentence(base, costOf, { refused: 'it is the base of 2 branches' })).toMatch(/Nothing is freed by removing it: it is the base of 2 branches\.$/);
    expect(costSentence(snapA, () => null, undefined)).toMatch(/^Not known yet/);
  });
});

describe('Check all', () => {
  it('checks each leaf (with its chain, every disk once reached), one job after the other', async () => {
    const targets = checkTargets(labView().roots).map((r) => r.file);
    expect(targets).toEqual(['leaf-a1.vhd', 'leaf-a2.vhd', 'leaf-b.vhd', 'lone.vhd']);
    const log: string[] = [];
    let running = 0;
    const result = await checkInTurn(
      checkTargets(labView().roots),
      async (d) => {
        if (d.file === 'leaf-b.vhd') throw { code: 'BUSY', message: 'busy' };
        running++;
        expect(running).toBe(1);
        log.push(`start ${d.file}`);
        return `job-${d.file}`;
      },
      async (id) => {
        await new Promise((r) => setTimeout(r, 1));
        running--;
        log.push(`end ${id}`);
      },
    );
    expect(result).toEqual({ checked: 3, skipped: 1 });
    expect(log).toEqual(['start leaf-a1.vhd', 'end job-leaf-a1.vhd', 'start leaf-a2.vhd', 'end job-leaf-a2.vhd', 'start lone.vhd', 'end job-lone.vhd']);
  });
});

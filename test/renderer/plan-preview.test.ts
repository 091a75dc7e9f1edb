// The after-tree of the plan preview: the tree as it is now with a plan's
// effect (core Plan.effect) applied, for each kind of operation.
import { describe, expect, it } from 'vitest';
import { afterTree, type PreviewNode } from '../../renderer/src/lib/plan-preview.js';
import type { DiskNode, Plan } from '../../server/api.js';

type Effect = NonNullable<Plan['effect']>;
const effect = (e: Partial<Effect>): Effect => ({ removed: [], changed: [], created: [], moved: [], ...e });

/** A disk of /vms named by its file; children make it a snapshot. */
function disk(file: string, children: DiskNode[] = [], active = false): DiskNode {
  return {
    ...({} as DiskNode),
    path: `/vms/${file}`,
    ref: { folder: 'f', file },
    name: null,
    active,
    isLeaf: children.length === 0,
    state: children.length > 0 ? 'snapshot' : active ? 'active' : 'saved',
    children,
  };
}
const p = (file: string) => `/vms/${file}`;

/** The preview as indented lines: "label [status] (now)", so a whole tree compares at once. */
function lines(nodes: PreviewNode[], depth = 0): string[] {
  return nodes.flatMap((n) => [
    `${'  '.repeat(depth)}${n.label}${n.status === 'same' ? '' : ` [${n.status}]`}${n.moved ? ' (moved)' : ''}${n.active ? ' (now)' : ''}`,
    ...lines(n.children, depth + 1),
  ]);
}

// base → s1 → current (active); another tree beside it that no plan here touches.
const chain = () => [disk('base.vhd', [disk('s1.vhd', [disk('current.vhd', [], true)])]), disk('other.vhd', [], true)];

describe('afterTree', () => {
  it('leaves out the trees the effect does not touch, and marks nothing where nothing changes', () => {
    expect(lines(afterTree(chain(), effect({ changed: [] })))).toEqual([]);
    expect(lines(afterTree(chain(), effect({ changed: [p('other.vhd')] })))).toEqual(['other.vhd [changed] (now)']);
  });

  it('snapshot in place: the new snapshot between the disk and its parent, Now still on the disk', () => {
    const t = afterTree(chain(), effect({ created: [{ path: p('current-snap-1.vhd'), place: { above: p('current.vhd') } }], active: p('current.vhd') }));
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd', '    current-snap-1.vhd [new]', '      current.vhd (now)']);
  });

  it('snapshot --out of the active disk: a new child, which becomes the active disk', () => {
    const t = afterTree(chain(), effect({ created: [{ path: p('child.vhd'), place: { under: p('current.vhd') } }], active: p('child.vhd') }));
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd', '    current.vhd', '      child.vhd [new] (now)']);
  });

  it('delete of a snapshot: a ghost where it was, its child hanging from its parent, changed', () => {
    const t = afterTree(chain(), effect({ removed: [p('s1.vhd')], changed: [p('current.vhd')] }));
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd [removed]', '  current.vhd [changed] (now)']);
  });

  it('delete of a base with one child (merge-child): the base a ghost, the child the new root', () => {
    const t = afterTree([disk('base.vhd', [disk('current.vhd', [], true)])], effect({ removed: [p('base.vhd')], changed: [p('current.vhd')] }));
    expect(lines(t)).toEqual(['base.vhd [removed]', 'current.vhd [changed] (now)']);
  });

  it('merge of a snapshot into its parent: the parent changed, the child a ghost, the grandchild relinked', () => {
    // What core's default effect says for merge: the parent modified, the child deleted, grandchildren modified.
    const t = afterTree(chain(), effect({ removed: [p('s1.vhd')], changed: [p('base.vhd'), p('current.vhd')] }));
    expect(lines(t)).toEqual(['base.vhd [changed]', '  s1.vhd [removed]', '  current.vhd [changed] (now)']);
  });

  it('merge of the active disk (run as the delete of its parent): the parent goes, Now stays on the disk', () => {
    const t = afterTree(chain(), effect({ removed: [p('s1.vhd')], changed: [p('current.vhd')] }));
    const now = t[0].children.find((c) => c.active);
    expect(now?.path).toBe(p('current.vhd'));
    expect(t[0].children.find((c) => c.path === p('s1.vhd'))).toMatchObject({ status: 'removed', active: false, children: [] });
  });

  it('merge of a saved state leaf: Now stays where it is', () => {
    const roots = [disk('base.vhd', [disk('s1.vhd', [disk('saved.vhd')]), disk('current.vhd', [], true)])];
    const t = afterTree(roots, effect({ removed: [p('saved.vhd')], changed: [p('s1.vhd')] }));
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd [changed]', '    saved.vhd [removed]', '  current.vhd (now)']);
  });

  it('revert keeping the current state: the disk moves under the snapshot, the kept state is new where it was', () => {
    const t = afterTree(
      chain(),
      effect({
        moved: [{ path: p('current.vhd'), place: { under: p('base.vhd') } }],
        changed: [p('current.vhd')],
        created: [{ path: p('current-state-1.vhd'), place: { beside: p('current.vhd') } }],
        active: p('current.vhd'),
      }),
    );
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd', '    current-state-1.vhd [new]', '  current.vhd [changed] (moved) (now)']);
  });

  it('revert discarding the current state: a ghost of it where it was, the disk under the snapshot', () => {
    const t = afterTree(
      chain(),
      effect({
        removed: [p('current.vhd')],
        moved: [{ path: p('current.vhd'), place: { under: p('base.vhd') } }],
        changed: [p('current.vhd')],
        active: p('current.vhd'),
      }),
    );
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd', '    current.vhd [removed]', '  current.vhd [changed] (moved) (now)']);
    expect(new Set(t[0].children.flatMap((c) => [c.key, ...c.children.map((g) => g.key)])).size).toBe(3);
  });

  it('switch: the active path takes the saved state’s place, what it showed is kept where it was', () => {
    const roots = [disk('base.vhd', [disk('s1.vhd', [disk('current.vhd', [], true)]), disk('saved.vhd')])];
    const t = afterTree(
      roots,
      effect({
        removed: [p('saved.vhd')],
        moved: [{ path: p('current.vhd'), place: { beside: p('saved.vhd') } }],
        changed: [p('current.vhd')],
        created: [{ path: p('current-state-2.vhd'), place: { beside: p('current.vhd') } }],
        active: p('current.vhd'),
      }),
    );
    expect(lines(t)).toEqual(['base.vhd', '  s1.vhd', '    current-state-2.vhd [new]', '  saved.vhd [removed]', '  current.vhd [changed] (moved) (now)']);
  });

  it('flatten: the output is a standalone new disk; the source tree is shown unchanged', () => {
    const t = afterTree(chain(), effect({ created: [{ path: '/out/flat.vhd' }], changed: [] }));
    expect(lines(t)).toEqual(['flat.vhd [new] (now)']);
    // An effect that also names a disk of a tree shows that tree too, before the standalone disk.
    const withSource = afterTree(chain(), effect({ created: [{ path: '/out/flat.vhd' }], changed: [p('current.vhd')] }));
    expect(lines(withSource)[0]).toBe('base.vhd');
    expect(lines(withSource).at(-1)).toBe('flat.vhd [new] (now)');
  });

  it('set-active: only the Now marker moves', () => {
    const roots = [disk('base.vhd', [disk('saved.vhd'), disk('current.vhd', [], true)])];
    const t = afterTree(roots, effect({ active: p('saved.vhd') }));
    expect(lines(t)).toEqual(['base.vhd', '  saved.vhd (now)', '  current.vhd']);
  });

  it('does not change the tree it is given', () => {
    const roots = chain();
    const before = JSON.stringify(roots);
    afterTree(roots, effect({ removed: [p('s1.vhd')], created: [{ path: p('x.vhd'), place: { above: p('current.vhd') } }] }));
    expect(JSON.stringify(roots)).toBe(before);
  });
});

// @vitest-environment happy-dom
// The UI's actions are the files of renderer/src/actions/, found by the
// folder's index: every job operation has one, in one order, and an action
// that asks nothing builds its request for the disk it was started on.
import { describe, expect, it } from 'vitest';
import { operationNames } from '../../core/registry.js';
import { ACTION_ORDER, actionNamed, optionsForm, VHDX_READ_ONLY } from '../../renderer/src/actions/index.js';
import type { DiskNode } from '../../server/api.js';

const ref = { folder: '/vms', file: 'disk.vhd' };
const node = (type: DiskNode['type'], children: DiskNode[] = []): DiskNode => ({ ...({} as DiskNode), ref, type, children, name: null });

describe('actions', () => {
  it('one action per operation (rename standing for name), each once, in a strict order', () => {
    const expected = operationNames.map((op) => (op === 'name' ? 'rename' : op));
    expect([...ACTION_ORDER].sort()).toEqual([...expected].sort());
    const orders = ACTION_ORDER.map((a) => actionNamed(a)!.order);
    expect(new Set(orders).size).toBe(orders.length);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    expect(ACTION_ORDER[0]).toBe('snapshot');
  });

  it('an action is either an options form or a request of its own (or a dialog of its own: rename)', () => {
    for (const a of ACTION_ORDER) {
      const def = actionNamed(a)!;
      if (a === 'rename') continue;
      expect(optionsForm(a) !== undefined || def.request !== undefined, a).toBe(true);
      const req = def.request?.({ ref, node: null, label: 'Disk' });
      if (req) {
        expect(req.op).toBe(a);
        expect(req.disk).toEqual(ref);
      }
    }
  });

  it('where each applies: snapshot and grow on a leaf only, merge and reconnect on differencing disks, compact not on fixed', () => {
    const leaf = node('differencing');
    const inner = node('dynamic', [leaf]);
    const applies = (a: Parameters<typeof actionNamed>[0], n: DiskNode) => actionNamed(a)!.applies(n) === true;
    expect(applies('snapshot', leaf)).toBe(true);
    expect(applies('snapshot', inner)).toBe(false);
    expect(applies('resize', inner)).toBe(false);
    expect(applies('merge', leaf)).toBe(true);
    expect(applies('merge', inner)).toBe(false);
    expect(applies('reparent', inner)).toBe(false);
    expect(applies('compact', node('fixed'))).toBe(false);
    expect(applies('compact', inner)).toBe(true);
    expect(applies('delete', node('dynamic'))).toBe(false);
    // Grow is not offered on a differencing disk (its size is its parent's), and says why.
    expect(applies('resize', leaf)).toBe(false);
    expect(actionNamed('resize')!.applies(leaf)).toMatch(/size of its parent/);
    expect(applies('resize', node('dynamic'))).toBe(true);
    for (const a of ACTION_ORDER) {
      const r = actionNamed(a)!.applies(inner);
      expect(r === true || (typeof r === 'string' && r.length > 10), a).toBe(true);
    }
  });

  it('switch and make-active apply to saved states only: not the active disk, not a snapshot', () => {
    const saved = { ...node('differencing'), active: false, state: 'saved' as const };
    const active = { ...node('differencing'), active: true, state: 'active' as const };
    const snapshot = { ...node('dynamic', [active]), active: false, state: 'snapshot' as const };
    for (const a of ['switch', 'set-active'] as const) {
      expect(
        [saved, active, snapshot].map((n) => actionNamed(a)!.applies(n) === true),
        a,
      ).toEqual([true, false, false]);
      expect(actionNamed(a)!.request!({ ref, node: saved, label: 'Disk' })).toEqual({ op: a, disk: ref });
    }
  });

  it('on a VHDX disk only check, compact, flatten, merge, rename, repair, reparent, revert, snapshot, switch, write and (for a saved state) set-active and delete apply; every other action says why, and a VHD disk is unaffected', () => {
    const vhdxLeaf: DiskNode = { ...node('differencing'), format: 'vhdx', isLeaf: true, active: true, state: 'active' };
    const vhdLeaf: DiskNode = { ...node('differencing'), isLeaf: true };
    const on = ACTION_ORDER.filter((a) => actionNamed(a)!.applies(vhdxLeaf) === true);
    expect(on.sort()).toEqual(['check', 'compact', 'flatten', 'merge', 'rename', 'repair', 'reparent', 'revert', 'snapshot', 'write']);
    // A saved state of a VHDX tree: switch, set-active and delete as for VHD.
    const vhdxSaved: DiskNode = { ...vhdxLeaf, active: false, state: 'saved' };
    expect(ACTION_ORDER.filter((a) => actionNamed(a)!.applies(vhdxSaved) === true).sort()).toEqual([
      'check',
      'compact',
      'delete',
      'flatten',
      'merge',
      'rename',
      'repair',
      'reparent',
      'revert',
      'set-active',
      'snapshot',
      'switch',
      'write',
    ]);
    expect(actionNamed('switch')!.applies({ ...vhdxSaved, state: 'active', active: true })).toMatch(/active disk already/);
    expect(actionNamed('set-active')!.applies(vhdxSaved)).toBe(true);
    expect(actionNamed('set-active')!.applies(vhdxLeaf)).toMatch(/active disk already/);
    expect(actionNamed('delete')!.applies(vhdxLeaf)).toMatch(/active disk/);
    const vhdxSnapshot: DiskNode = { ...node('dynamic', [vhdxLeaf]), format: 'vhdx', isLeaf: false, active: false, state: 'snapshot' };
    expect(actionNamed('delete')!.applies(vhdxSnapshot)).toBe(true);
    expect(actionNamed('delete')!.applies({ ...vhdxSnapshot, children: [vhdxLeaf, vhdxSaved] })).toBe(true);
    expect(actionNamed('delete')!.applies({ ...node('dynamic', [vhdLeaf]), state: 'snapshot' })).toBe(true);
    expect(actionNamed('compact')!.applies({ ...node('fixed'), format: 'vhdx' })).toMatch(/fixed disk/);
    expect(actionNamed('resize')!.applies({ ...node('dynamic'), format: 'vhdx' })).toBe(VHDX_READ_ONLY);
    expect(actionNamed('resize')!.applies(node('dynamic'))).toBe(true);
    expect(actionNamed('revert')!.applies(vhdLeaf)).toBe(true);
    expect(actionNamed('merge')!.applies({ ...node('dynamic'), format: 'vhdx' })).toMatch(/no parent/);
  });
});

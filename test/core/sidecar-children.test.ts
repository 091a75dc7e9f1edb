// Children recorded beside their parent (core/library/sidecar.ts): only those
// outside the parent's folder, stale ones pruned, old and hostile sidecars
// read within bounds, labels and records kept together.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSidecar, recordChild, recordedChildren, setLabel, SIDECAR_NAME } from '../../core/library/sidecar.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-sidecar-');

describe('children recorded in the sidecar', () => {
  it('records a child in another folder, not one beside its parent; names and records survive each other', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const parent = tmp.file('A', 'p.vhd');
    writeFileSync(parent, 'p');
    writeFileSync(tmp.file('A', 'near.vhd'), 'c');
    writeFileSync(tmp.file('B', 'far.vhd'), 'c');
    await recordChild(parent, 'pid-1', tmp.file('A', 'near.vhd'), 'c-1');
    expect((await readSidecar(tmp.file('A'))).children).toBeUndefined();
    await recordChild(parent, 'pid-1', tmp.file('B', 'far.vhd'), 'c-2');
    await setLabel(parent, 'pid-1', { name: 'Parent' });
    expect(await recordedChildren(parent, 'pid-1')).toEqual([{ path: tmp.file('B', 'far.vhd'), id: 'c-2' }]);
    expect((await readSidecar(tmp.file('A'))).disks['pid-1'].name).toBe('Parent');
    // Recording the same path again replaces its record (one record per path).
    await recordChild(parent, 'pid-1', tmp.file('B', 'far.vhd'), 'c-3');
    expect(await recordedChildren(parent, 'pid-1')).toEqual([{ path: tmp.file('B', 'far.vhd'), id: 'c-3' }]);
  });

  it('prunes records of the parent whose file is gone when it records again', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const parent = tmp.file('A', 'p.vhd');
    writeFileSync(parent, 'p');
    for (const n of ['x', 'y']) writeFileSync(tmp.file('B', `${n}.vhd`), n);
    await recordChild(parent, 'pid', tmp.file('B', 'x.vhd'), 'x');
    unlinkSync(tmp.file('B', 'x.vhd'));
    await recordChild(parent, 'pid', tmp.file('B', 'y.vhd'), 'y');
    expect((await recordedChildren(parent, 'pid')).map((r) => nodePath.basename(r.path))).toEqual(['y.vhd']);
  });

  it('reads sidecars of older versions (no children) and skips malformed records', async () => {
    const dir = tmp.dir;
    writeFileSync(nodePath.join(dir, SIDECAR_NAME), JSON.stringify({ version: 1, disks: { a: { name: 'A' } } }));
    expect(await readSidecar(dir)).toEqual({ version: 1, disks: { a: { name: 'A' } } });
    const hostile = {
      version: 1,
      disks: {},
      children: {
        p: [{ path: 'relative.vhd', id: 'x' }, { path: '/abs/c.vhd', id: 7 }, null, 'junk', { path: '/abs/ok.vhd', id: 'ok' }],
        q: 'not a list',
        many: Array.from({ length: 5000 }, (_, i) => ({ path: `/abs/c${i}.vhd`, id: String(i) })),
      },
    };
    writeFileSync(nodePath.join(dir, SIDECAR_NAME), JSON.stringify(hostile));
    const s = await readSidecar(dir);
    expect(s.children?.p).toEqual([{ path: '/abs/ok.vhd', id: 'ok' }]);
    expect(s.children?.q).toBeUndefined();
    expect(s.children?.many.length).toBe(1000);
    expect(readFileSync(nodePath.join(dir, SIDECAR_NAME), 'utf8')).toContain('relative.vhd'); // reading never rewrites
  });
});

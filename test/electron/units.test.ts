// Small pieces of main: error shaping, the recent list file, free output
// names, allocation buckets, and a fixed disk's details.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { RefusedError } from '../../core/errors';
import { createFixed } from '../../core/ops/create';
import { freeName, Grants } from '../../server/grants';
import { ApiFailure, toApiError } from '../../server/errors';
import { allocationOf, bucketMap } from '../../server/library';
import { RecentFolders } from '../../server/recent';
import { useTmpDir } from '../support/tmp';

const tmp = useTmpDir('vhdsnap-units-');

describe('toApiError', () => {
  it('keeps code and message of typed errors and nothing else', () => {
    expect(toApiError(new RefusedError('HAS_CHILDREN', 'disk has children', { path: '/x' }))).toEqual({ code: 'HAS_CHILDREN', message: 'disk has children' });
    expect(toApiError(new ApiFailure('BUSY', 'busy'))).toEqual({ code: 'BUSY', message: 'busy' });
  });

  it('turns errno errors into the typed environment codes the CLI prints (naming the path), others into IO_ codes, anything else into INTERNAL', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/d.vhd'"), { code: 'ENOENT', syscall: 'open', path: '/x/d.vhd' });
    expect(toApiError(enoent)).toEqual({ code: 'NOT_FOUND', message: 'cannot open /x/d.vhd: no such file or folder; check the path' });
    const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' });
    expect(toApiError(eio)).toEqual({ code: 'IO_EIO', message: 'cannot read: EIO: i/o error, read' });
    const e = new TypeError('boom\n    at thing (/src/x.ts:1:2)');
    expect(toApiError(e)).toEqual({ code: 'INTERNAL', message: 'boom' });
    expect(toApiError('text')).toEqual({ code: 'INTERNAL', message: 'text' });
  });
});

describe('RecentFolders', () => {
  it('keeps the newest ten, most recent first, across instances', async () => {
    const file = tmp.file('ud', 'recent.json');
    const r = new RecentFolders(file);
    for (let i = 0; i < 12; i++) await r.add(`/f${i}`);
    await r.add('/f5');
    const again = await new RecentFolders(file).list();
    expect(again.map((e) => e.path)).toEqual(['/f5', '/f11', '/f10', '/f9', '/f8', '/f7', '/f6', '/f4', '/f3', '/f2']);
    expect(await new RecentFolders(file).has('/f1')).toBe(false);
  });

  it('treats a damaged file as empty and drops entries that are not absolute paths', async () => {
    const file = tmp.file('recent.json');
    writeFileSync(file, '{not json');
    expect(await new RecentFolders(file).list()).toEqual([]);
    writeFileSync(file, JSON.stringify({ folders: [{ path: 'relative', name: 'x' }, { path: '/ok', name: 'ok' }, 42] }));
    expect(await new RecentFolders(file).list()).toEqual([{ path: '/ok', name: 'ok' }]);
  });
});

describe('grants', () => {
  it('freeName never names an existing file', async () => {
    writeFileSync(tmp.file('out.vhd'), '');
    writeFileSync(tmp.file('out-1.vhd'), '');
    expect(await freeName(tmp.dir, 'out.vhd')).toBe(tmp.file('out-2.vhd'));
    expect(await freeName(tmp.dir, 'new.raw')).toBe(tmp.file('new.raw'));
    await expect(freeName(tmp.dir, '../out.vhd')).rejects.toMatchObject({ code: 'BAD_PATH' });
  });

  it('freeName makes a name valid on Windows and within 255 bytes from an odd or long disk name', async () => {
    expect(path.basename(await freeName(tmp.dir, 'a?b|c*-flat.vhd'))).toBe('a_b_c_-flat.vhd');
    expect(path.basename(await freeName(tmp.dir, 'CON.vhd'))).toBe('_CON.vhd');
    const long = `${'x'.repeat(251)}.vhd`;
    writeFileSync(tmp.file(long), '');
    const next = path.basename(await freeName(tmp.dir, long));
    expect(Buffer.byteLength(next)).toBeLessThanOrEqual(255);
    expect(next.endsWith('-1.vhd')).toBe(true);
  });

  it('grants a folder once, by its real path, and refuses files and relative paths', async () => {
    const g = new Grants();
    mkdirSync(tmp.file('lib'));
    const a = await g.grantFolder(tmp.file('lib'));
    expect(await g.grantFolder(tmp.file('lib', '..', 'lib'))).toBe(a);
    writeFileSync(tmp.file('f'), '');
    await expect(g.grantFolder(tmp.file('f'))).rejects.toMatchObject({ code: 'NOT_A_FOLDER' });
    await expect(g.grantFolder('lib')).rejects.toMatchObject({ code: 'BAD_PATH' });
    expect(() => g.file('output', '0'.repeat(32))).toThrow(/not chosen/);
  });
});

describe('allocation map', () => {
  it('buckets: 0 or 2 only when every block in the cell is', () => {
    expect(bucketMap(Uint8Array.from([0, 0, 2, 2, 0, 2, 1]), 4)).toEqual({ cells: [0, 2, 1, 1], blocksPerCell: 2 });
    expect(bucketMap(Uint8Array.from([2, 0]), 4096)).toEqual({ cells: [2, 0], blocksPerCell: 1 });
    expect(bucketMap(new Uint8Array(0))).toEqual({ cells: [], blocksPerCell: 1 });
  });

  it('a fixed disk is all present, every byte its own', async () => {
    await createFixed(tmp.file('fixed.vhd'), 5 * 1024 * 1024);
    const a = await allocationOf(tmp.file('fixed.vhd'));
    expect([...a.blocks]).toEqual([2, 2, 2]); // 2 MiB units
    expect(a.uniqueBytes).toBe(5 * 1024 * 1024);
    expect(readFileSync(tmp.file('fixed.vhd')).length).toBe(5 * 1024 * 1024 + 512);
  });
});

describe("a folder's costs", () => {
  it("are what each disk stores itself (the details' figure), in order, null for a missing or damaged file", async () => {
    const { createDynamic } = await import('../../core/ops/create');
    const { openDisk } = await import('../../core/disk/chain');
    const { diskCosts } = await import('../../server/library');
    const a = tmp.file('cost-a.vhd');
    const b = tmp.file('cost-b.vhd');
    await createDynamic(a, 8 * 1024 * 1024);
    await createDynamic(b, 8 * 1024 * 1024);
    const d = await openDisk(a, { writable: true, sync: false });
    // Two blocks written (a dynamic base stores whole blocks: 2 × 2 MiB of its own).
    await d.write(0, new Uint8Array(3 * 512).fill(7));
    await d.write(4 * 1024 * 1024 + 100, new Uint8Array(10).fill(9));
    await d.close();
    writeFileSync(tmp.file('junk.vhd'), 'not a vhd');
    const costs = await diskCosts([a, tmp.file('missing.vhd'), b, tmp.file('junk.vhd'), null]);
    expect(costs).toEqual([4 * 1024 * 1024, null, 0, null, null]);
    expect(costs[0]).toBe((await allocationOf(a)).uniqueBytes);
  });
});

describe('details of a damaged disk', () => {
  it('still shows the info, with a warning instead of the allocation map', async () => {
    const { createDynamic } = await import('../../core/ops/create');
    const { openDisk } = await import('../../core/disk/chain');
    const { VhdFile } = await import('../../core/disk/vhd-file');
    const { diskDetails } = await import('../../server/library');
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const p = tmp.file('bad.vhd');
    await createDynamic(p, 8 * 1024 * 1024);
    const d = await openDisk(p, { writable: true, sync: false });
    await d.write(0, new Uint8Array(512).fill(1));
    await d.close();
    const f = await VhdFile.open(p);
    const batAt = Number(f.header!.tableOffset);
    await f.close();
    const fd = openSync(p, 'r+');
    const entry = Buffer.alloc(4);
    entry.writeUInt32BE(0x00fffff0);
    writeSync(fd, entry, 0, 4, batAt);
    closeSync(fd);
    const ref = { folder: '0'.repeat(32), file: 'bad.vhd' };
    const details = await diskDetails(ref, p);
    expect(details.info.path).toBe(p);
    expect(details.allocationMap).toEqual([]);
    expect(details.info.warnings.map((w) => w.code)).toContain('BAT_ENTRY_PAST_EOF');
  });
});

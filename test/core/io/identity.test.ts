// File identity (core/io/identity.ts): every name of one file is the same
// disk; two files with equal content are not.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileIdentity, fileIdentityOrNull, identityKey, isSameFile, sameIdentity } from '../../../core/io/identity.js';
import { useTmpDir } from '../../support/tmp.js';

const tmp = useTmpDir('vhdsnap-identity-');

describe('file identity', () => {
  it('a hard link, a symlink and a path through another folder are the same file; a copy is not', async () => {
    const dir = tmp.dir;
    const a = nodePath.join(dir, 'a.vhd');
    await fsp.writeFile(a, 'x');
    await fsp.mkdir(nodePath.join(dir, 'other'));
    const hard = nodePath.join(dir, 'other', 'hard.vhd');
    const soft = nodePath.join(dir, 'soft.vhd');
    const copy = nodePath.join(dir, 'copy.vhd');
    await fsp.link(a, hard);
    await fsp.symlink(a, soft);
    await fsp.copyFile(a, copy);
    expect(await isSameFile(a, hard)).toBe(true);
    expect(await isSameFile(a, soft)).toBe(true);
    expect(await isSameFile(a, nodePath.join(dir, 'other', '..', 'a.vhd'))).toBe(true);
    expect(await isSameFile(a, copy)).toBe(false);
    expect(identityKey(await fileIdentity(a), a)).toBe(identityKey(await fileIdentity(hard), hard));
    expect(identityKey(await fileIdentity(a), a)).not.toBe(identityKey(await fileIdentity(copy), copy));
  });

  it('a missing file has no identity and is never the same as anything', async () => {
    const dir = tmp.dir;
    const gone = nodePath.join(dir, 'gone.vhd');
    expect(await fileIdentityOrNull(gone)).toBeNull();
    await expect(fileIdentity(gone)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await isSameFile(gone, gone)).toBe(false);
  });

  it('inode 0 (unknown identity) falls back to the path and never matches', () => {
    const z = { dev: 5n, ino: 0n };
    expect(sameIdentity(z, z)).toBe(false);
    expect(identityKey(z, '/p/a.vhd')).toBe('path:/p/a.vhd');
  });
});

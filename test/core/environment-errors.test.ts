// fromSystemError (core/errors.ts): the one mapping from what the system
// refused to a typed error naming the path and saying what to do.
import { describe, expect, it } from 'vitest';
import { EnvironmentError, fromSystemError, IoError, RefusedError } from '../../core/errors.js';

const sys = (code: string, syscall: string, path?: string) =>
  Object.assign(new Error(`${code}: from the system, ${syscall}${path ? ` '${path}'` : ''}`), { code, syscall, ...(path ? { path } : {}) });

describe('fromSystemError', () => {
  const table: [string, string][] = [
    ['EACCES', 'NO_PERMISSION'],
    ['EPERM', 'NO_PERMISSION'],
    ['EROFS', 'READ_ONLY'],
    ['ENOENT', 'NOT_FOUND'],
    ['ENOTDIR', 'NOT_A_FOLDER'],
    ['ELOOP', 'LINK_LOOP'],
    ['EISDIR', 'IS_A_FOLDER'],
    ['ENOSPC', 'NO_SPACE'],
    ['EDQUOT', 'NO_SPACE'],
    ['EMFILE', 'TOO_MANY_FILES'],
    ['ENFILE', 'TOO_MANY_FILES'],
    ['EBUSY', 'BUSY'],
    ['ENAMETOOLONG', 'NAME_TOO_LONG'],
  ];
  for (const [errno, code] of table) {
    it(`${errno} is EnvironmentError ${code}, naming the path, saying what to do, keeping the cause`, () => {
      const raw = sys(errno, 'open', '/srv/vm/d.vhd');
      const e = fromSystemError(raw);
      expect(e).toBeInstanceOf(EnvironmentError);
      // Still an IoError: code that tells real I/O failures from "not there" keeps working.
      expect(e).toBeInstanceOf(IoError);
      expect(e.code).toBe(code);
      expect(e.path).toBe('/srv/vm/d.vhd');
      expect(e.message).toMatch(/^cannot open \/srv\/vm\/d\.vhd: .+; .+/);
      expect(e.cause).toBe(raw);
      expect(e instanceof EnvironmentError && e.errno).toBe(errno);
    });
  }

  it('the path and the words given win over the system call`s', () => {
    const e = fromSystemError(sys('EACCES', 'open', '/srv/vm/.d.vhd.1-00000000.tmp'), '/srv/vm/d.vhd', 'cannot create');
    expect(e.path).toBe('/srv/vm/d.vhd');
    expect(e.message.startsWith('cannot create /srv/vm/d.vhd: permission denied')).toBe(true);
  });

  it('creating a file, a missing, non-folder, unwritable or read-only folder is named as its folder', () => {
    const creating = (errno: string) => fromSystemError(sys(errno, 'open'), '/srv/vm/new.vhd', 'cannot create', { creating: true });
    expect(creating('ENOENT').message).toBe('cannot create /srv/vm/new.vhd: its folder /srv/vm does not exist; create it or check the path');
    expect(creating('ENOTDIR').message).toContain('/srv/vm is not a folder');
    expect(creating('EACCES').message).toContain('permission denied in its folder /srv/vm');
    expect(creating('EROFS').message).toContain('its folder /srv/vm is on a read-only file system');
    // A full disk is not the folder's fault: the plain words.
    expect(creating('ENOSPC').message).toContain('no space left on the device');
  });

  it('other system codes stay IO_<errno>; typed errors pass unchanged; a non-system error is not mapped', () => {
    const eio = fromSystemError(sys('EIO', 'read', '/srv/vm/d.vhd'));
    expect(eio).toBeInstanceOf(IoError);
    expect(eio).not.toBeInstanceOf(EnvironmentError);
    expect(eio.code).toBe('IO_EIO');
    expect(eio.message).toContain('/srv/vm/d.vhd');
    const refused = new RefusedError('IN_USE', 'held');
    expect(fromSystemError(refused)).toBe(refused);
    expect(fromSystemError(new Error('no code')).code).toBe('IO_EIO');
  });
});

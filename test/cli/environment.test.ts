// What the environment refuses, as a user meets it on the command line: a
// missing path, a file where a folder should be, a link loop, no permission,
// a read-only or full file system, too many open files. Each gives its typed
// code (core/errors.ts EnvironmentError) naming the path, exit 2 in the dry
// run as in the run, the --json error document on stdout, never "internal
// error", and writes nothing.
//
// Root ignores permissions, so the permission cases run the bundled CLI as
// `nobody` when the tests run as root (as themselves otherwise); EROFS and a
// full disk need a small tmpfs, mounted only where the tests may (root on
// Linux), skipped with the reason elsewhere. The same codes are also forced
// through the file opener (core/io/file.ts setFileOpener), which runs anywhere.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toIoError } from '../../core/errors.js';
import { fsError, nodeOpener, setFileOpener } from '../../core/io/file.js';
import { journalHeader } from '../../core/journal.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { bundleEntries, bundled } from '../support/bundle.js';
import { cli, type CliRun } from '../support/cli.js';
import { folderState } from '../support/compare.js';
import { removeTmpDir, useTmpDir } from '../support/tmp.js';

const MiB = 1024 * 1024;
const tmp = useTmpDir('vhdsnap-cli-env-');
const isRoot = process.getuid?.() === 0;
const posix = process.platform !== 'win32';

/** Every file of every folder given, by folder and name (sha256): an environment failure must leave them all as they were. */
function state(dirs: string[]): Record<string, Record<string, string>> {
  return Object.fromEntries(dirs.filter((d) => existsSync(d)).map((d) => [d, folderState(d)]));
}

/** The run failed as the environment's: exit 2, `[code]` naming `names` on stderr, one line, no internal error. */
function expectEnvFailure(r: CliRun, code: string, names: string, what: string): void {
  expect(r.code, `${what}: ${r.err}`).toBe(2);
  expect(r.err, what).toContain(`[${code}]`);
  expect(r.err, what).toContain(names);
  expect(r.err, what).not.toMatch(/internal error/i);
  expect(r.err.trim().split('\n'), what).toHaveLength(1);
}

/** The --json run printed one error document with that code, naming `names`, with a path. */
function expectEnvDocument(r: CliRun, code: string, names: string, what: string): void {
  expect(r.code, `${what}: ${r.err}`).toBe(2);
  const doc = JSON.parse(r.out);
  expect(doc.error.code, what).toBe(code);
  expect(doc.error.message, what).toContain(names);
  expect(typeof doc.error.path, what).toBe('string');
}

/** Runs `argv` plain and with --json (and each with --dry-run where `dry`): all fail with `code` naming `names`, and nothing changes in `watch`. */
async function expectEnv(argv: string[], code: string, names: string, watch: string[], opts: { dry?: boolean } = {}): Promise<void> {
  const before = state(watch);
  for (const extra of opts.dry ? [[], ['--dry-run']] : [[]]) {
    const what = ['vhdsnap', ...argv, ...extra].join(' ');
    expectEnvFailure(await cli(...argv, ...extra), code, names, what);
    expectEnvDocument(await cli(...argv, ...extra, '--json'), code, names, `${what} --json`);
  }
  expect(state(watch)).toEqual(before);
}

async function diskWithChild(dir: string): Promise<{ base: string; leaf: string; data: string }> {
  const base = nodePath.join(dir, 'base.vhd');
  const leaf = nodePath.join(dir, 'leaf.vhd');
  await createDynamic(base, 4 * MiB);
  await createDifferencing(leaf, base);
  const data = nodePath.join(dir, 'data.bin');
  writeFileSync(data, Buffer.alloc(4096, 7));
  return { base, leaf, data };
}

describe('a path that is not there', () => {
  it('a disk in a missing folder: every command says NOT_FOUND naming it', async () => {
    const { leaf, data } = await diskWithChild(tmp.dir);
    const gone = tmp.file('missing', 'x.vhd');
    const cases: { argv: string[]; dry?: boolean }[] = [
      { argv: ['info', gone] },
      { argv: ['check', gone] },
      { argv: ['tree', gone] },
      { argv: ['recover', gone] },
      { argv: ['snapshot', gone], dry: true },
      { argv: ['merge', gone], dry: true },
      { argv: ['delete', gone], dry: true },
      { argv: ['revert', gone], dry: true },
      { argv: ['compact', gone], dry: true },
      { argv: ['resize', gone, '--size', '8M'], dry: true },
      { argv: ['repair', gone], dry: true },
      { argv: ['reparent', gone, leaf], dry: true },
      { argv: ['flatten', gone, tmp.file('flat.vhd')], dry: true },
      { argv: ['name', gone, 'x'] },
      { argv: ['write', gone, '--offset', '0', '--input', data] },
      { argv: ['export', gone, tmp.file('out.raw')] },
    ];
    for (const c of cases) await expectEnv(c.argv, 'NOT_FOUND', gone, [tmp.dir], { dry: c.dry });
  });

  it('a missing input file, snapshot to go back to or new parent: NOT_FOUND naming it', async () => {
    const { leaf } = await diskWithChild(tmp.dir);
    const gone = tmp.file('nope.bin');
    await expectEnv(['write', leaf, '--offset', '0', '--input', gone], 'NOT_FOUND', gone, [tmp.dir]);
    await expectEnv(['import', gone, tmp.file('i.vhd')], 'NOT_FOUND', gone, [tmp.dir]);
    await expectEnv(['revert', leaf, '--to', tmp.file('nope.vhd')], 'NOT_FOUND', tmp.file('nope.vhd'), [tmp.dir], { dry: true });
    // A new parent that cannot be read is unreadable input (2), not a refusal (1), in the dry run too.
    await expectEnv(['reparent', leaf, tmp.file('nope.vhd')], 'NOT_FOUND', tmp.file('nope.vhd'), [tmp.dir], { dry: true });
  });

  it('output into a missing folder (--out, flatten, export, create, import): NOT_FOUND naming the folder, before any write', async () => {
    const { base, leaf, data } = await diskWithChild(tmp.dir);
    const missing = tmp.file('missing');
    const into = (name: string) => nodePath.join(missing, name);
    await expectEnv(['snapshot', leaf, '--out', into('c.vhd')], 'NOT_FOUND', missing, [tmp.dir], { dry: true });
    await expectEnv(['snapshot', base, '--out', '/nonexistent-vhdsnap/c.vhd'], 'NOT_FOUND', '/nonexistent-vhdsnap', [tmp.dir], { dry: true });
    await expectEnv(['flatten', leaf, into('flat.vhd')], 'NOT_FOUND', missing, [tmp.dir], { dry: true });
    await expectEnv(['export', leaf, into('out.raw')], 'NOT_FOUND', missing, [tmp.dir]);
    await expectEnv(['create', into('new.vhd'), '--size', '1M'], 'NOT_FOUND', missing, [tmp.dir]);
    await expectEnv(['import', data, into('imp.vhd')], 'NOT_FOUND', missing, [tmp.dir]);
    expect(existsSync(missing)).toBe(false);
  });

  it('a file where a folder should be: NOT_A_FOLDER', async () => {
    const { leaf, data } = await diskWithChild(tmp.dir);
    const through = nodePath.join(data, 'x.vhd');
    await expectEnv(['info', through], 'NOT_A_FOLDER', through, [tmp.dir]);
    await expectEnv(['snapshot', through], 'NOT_A_FOLDER', through, [tmp.dir], { dry: true });
    await expectEnv(['snapshot', leaf, '--out', through], 'NOT_A_FOLDER', data, [tmp.dir], { dry: true });
    await expectEnv(['create', through, '--size', '1M'], 'NOT_A_FOLDER', data, [tmp.dir]);
    await expectEnv(['tree', through], 'NOT_A_FOLDER', through, [tmp.dir]);
  });

  it.skipIf(!posix)('a symbolic link loop: LINK_LOOP naming the link', async () => {
    await diskWithChild(tmp.dir);
    // In a folder of their own: the watched folder's state is read through links.
    mkdirSync(tmp.file('links'));
    const a = tmp.file('links', 'loop-a.vhd');
    symlinkSync(tmp.file('links', 'loop-b.vhd'), a);
    symlinkSync(a, tmp.file('links', 'loop-b.vhd'));
    for (const argv of [
      ['info', a],
      ['check', a],
      ['tree', a],
      ['name', a, 'x'],
      ['write', a, '--offset', '0', '--input', tmp.file('data.bin')],
    ])
      await expectEnv(argv, 'LINK_LOOP', a, [tmp.dir]);
    for (const argv of [
      ['snapshot', a],
      ['merge', a],
      ['compact', a],
    ])
      await expectEnv(argv, 'LINK_LOOP', a, [tmp.dir], { dry: true });
  });

  it('a folder where vhdsnap writes its journal or its sidecar: IS_A_FOLDER', async () => {
    const { leaf } = await diskWithChild(tmp.dir);
    const sidecar = tmp.file('.vhdsnap.json');
    mkdirSync(sidecar);
    await expectEnv(['name', leaf, 'x'], 'IS_A_FOLDER', sidecar, [tmp.dir]);
  });
});

/**
 * Opens of the files `match` selects fail with `code` exactly as the real
 * opener reports a refused open (fsError), whoever runs the tests.
 */
function failOpens(code: string, match: (path: string, mode: string) => boolean): () => void {
  return setFileOpener(async (path, mode) => {
    if (!match(path, mode)) return nodeOpener(path, mode);
    const raw = Object.assign(new Error(`${code}: injected, open '${path}'`), { code, syscall: 'open', path });
    throw await fsError(raw, path, mode === 'wx' ? 'cannot create' : 'cannot open', { creating: mode === 'wx' });
  });
}

/** The first write through the opener fails as a full disk's does (through the real file's error mapping). */
function failFirstWrite(): { remove: () => void; fired: () => boolean } {
  let fired = false;
  const remove = setFileOpener(async (path, mode) => {
    const f = await nodeOpener(path, mode);
    return {
      path: f.path,
      writable: f.writable,
      read: (buf, position) => f.read(buf, position),
      write: async (buf, position) => {
        if (fired) return f.write(buf, position);
        fired = true;
        throw toIoError(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' }), path, 'cannot write');
      },
      size: () => f.size(),
      truncate: (length) => f.truncate(length),
      sync: () => f.sync(),
      close: () => f.close(),
    };
  });
  return { remove, fired: () => fired };
}

describe('refused opens (injected at the file opener)', () => {
  const cases: { errno: string; code: string }[] = [
    { errno: 'EACCES', code: 'NO_PERMISSION' },
    { errno: 'EPERM', code: 'NO_PERMISSION' },
    { errno: 'EROFS', code: 'READ_ONLY' },
    { errno: 'EMFILE', code: 'TOO_MANY_FILES' },
    { errno: 'ENFILE', code: 'TOO_MANY_FILES' },
    { errno: 'EISDIR', code: 'IS_A_FOLDER' },
  ];
  for (const c of cases) {
    it(`${c.errno} opening a disk to write it: ${c.code} naming the disk; opening one to read it, the same`, async () => {
      const { leaf, data } = await diskWithChild(tmp.dir);
      const restore = failOpens(c.errno, (p, mode) => p === leaf && mode !== 'r');
      try {
        await expectEnv(['write', leaf, '--offset', '0', '--input', data], c.code, leaf, [tmp.dir]);
      } finally {
        restore();
      }
      const restoreRead = failOpens(c.errno, (p) => p === leaf);
      try {
        await expectEnv(['info', leaf], c.code, leaf, [tmp.dir]);
        await expectEnv(['snapshot', leaf], c.code, leaf, [tmp.dir], { dry: true });
        await expectEnv(['merge', leaf], c.code, leaf, [tmp.dir], { dry: true });
      } finally {
        restoreRead();
      }
    });
  }

  it('no space while a new file is written (create, snapshot --out, import, flatten): NO_SPACE, its temp removed', async () => {
    const { leaf, data } = await diskWithChild(tmp.dir);
    const runs: string[][] = [
      ['create', tmp.file('new.vhd'), '--size', '1M'],
      ['snapshot', leaf, '--out', tmp.file('c.vhd')],
      ['import', data, tmp.file('imp.vhd')],
      ['flatten', leaf, tmp.file('flat.vhd')],
    ];
    for (const argv of runs) {
      for (const json of [[], ['--json']]) {
        const before = folderState(tmp.dir);
        const f = failFirstWrite();
        let r: CliRun;
        try {
          r = await cli(...argv, ...json);
        } finally {
          f.remove();
        }
        const what = `vhdsnap ${argv.join(' ')} ${json.join(' ')}`;
        if (json.length > 0) expectEnvDocument(r, 'NO_SPACE', tmp.dir, what);
        else expectEnvFailure(r, 'NO_SPACE', tmp.dir, what);
        expect(f.fired(), what).toBe(true);
        expect(folderState(tmp.dir), what).toEqual(before);
      }
    }
  });
});

/** The bundled CLI (from the sources) run as another user (`nobody` when root), for permissions root would ignore. */
describe.skipIf(!posix)('no permission (a real EACCES)', () => {
  let bundleDir = '';
  let asUser: { uid: number; gid: number } | undefined;
  let skipReason: string | null = null;

  beforeAll(async () => {
    bundleDir = await bundleEntries({ vhdsnap: 'core/cli/bin.ts' }, 'vhdsnap-env-bundle-');
    chmodSync(bundleDir, 0o755);
    if (isRoot) {
      asUser = { uid: 65534, gid: 65534 };
      const probe = spawnSync('id', ['-u'], { ...asUser, encoding: 'utf8' });
      if (probe.status !== 0) skipReason = `running as root and cannot run a program as nobody (${probe.error?.message ?? probe.stderr})`;
    }
  }, 60_000);
  afterAll(() => {
    if (bundleDir) removeTmpDir(bundleDir);
  });

  const run = (...argv: string[]): CliRun => {
    const r = spawnSync(process.execPath, [bundled(bundleDir, 'vhdsnap'), ...argv], { ...asUser, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };

  /** Both forms (and the dry run where there is one) fail with NO_PERMISSION naming `names`; nothing in `watch` changes. */
  function expectRefused(argv: string[], names: string, watch: string[], dry: boolean): void {
    const before = state(watch);
    for (const extra of dry ? [[], ['--dry-run']] : [[]]) {
      const what = ['vhdsnap', ...argv, ...extra].join(' ');
      expectEnvFailure(run(...argv, ...extra), 'NO_PERMISSION', names, what);
      expectEnvDocument(run(...argv, ...extra, '--json'), 'NO_PERMISSION', names, `${what} --json`);
    }
    expect(state(watch)).toEqual(before);
  }

  /** A folder the other user can enter (the test's own is private to root). */
  function sharedDir(name: string): string {
    chmodSync(tmp.dir, 0o755);
    const dir = tmp.file(name);
    mkdirSync(dir);
    return dir;
  }

  it('a read-only folder holding writable disks: every operation that must write there says so, naming the folder, dry run included', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const dir = sharedDir('ro');
    const { base, leaf } = await diskWithChild(dir);
    const mid = nodePath.join(dir, 'mid.vhd');
    const top = nodePath.join(dir, 'top.vhd');
    await createDifferencing(mid, base);
    await createDifferencing(top, mid);
    for (const n of readdirSync(dir)) chmodSync(nodePath.join(dir, n), 0o666);
    chmodSync(dir, 0o555);
    try {
      const ops: string[][] = [
        ['snapshot', top],
        ['merge', top],
        ['revert', top],
        ['compact', leaf],
        ['delete', mid],
        ['resize', leaf, '--size', '8M'],
        ['reparent', leaf, base],
      ];
      for (const argv of ops) expectRefused(argv, dir, [dir], true);
      expectRefused(['name', leaf, 'x'], dir, [dir], false);
      expectRefused(['create', nodePath.join(dir, 'new.vhd'), '--size', '1M'], dir, [dir], false);
      expectRefused(['snapshot', top, '--out', nodePath.join(dir, 'c.vhd')], dir, [dir], true);
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it('a parent it cannot write, in a folder it can: merge says NO_PERMISSION naming the parent, in the dry run too, and leaves no journal', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const dir = sharedDir('foreign');
    const { base, leaf } = await diskWithChild(dir);
    chmodSync(dir, 0o777);
    chmodSync(leaf, 0o666);
    // base stays 0644 and root's: nobody can neither write it nor make it writable.
    if (!isRoot) ctx.skip('a file this user cannot make writable needs another owner: runs as root only');
    expectRefused(['merge', leaf], base, [dir], true);
  });

  it('tree, info and check of a folder it cannot read: NO_PERMISSION naming it', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const dir = sharedDir('closed');
    const { leaf } = await diskWithChild(dir);
    chmodSync(dir, 0o000);
    try {
      expectRefused(['tree', dir], dir, [], false);
      expectRefused(['info', leaf], leaf, [], false);
      expectRefused(['check', leaf], leaf, [], false);
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  it('recover of a folder it cannot list (with a pending journal inside): fails naming it, never "nothing to recover"', async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const dir = sharedDir('pending');
    await diskWithChild(dir);
    writeFileSync(nodePath.join(dir, '.vhdsnap-journal-leaf.vhd.json'), JSON.stringify({ ...journalHeader('merge', 'copy'), pid: 1 }));
    chmodSync(dir, 0o300);
    try {
      const before = run('recover', dir);
      expectEnvFailure(before, 'NO_PERMISSION', dir, 'vhdsnap recover');
      expect(before.out).toBe('');
      expectRefused(['recover', dir], dir, [], true);
    } finally {
      chmodSync(dir, 0o755);
    }
    expect(existsSync(nodePath.join(dir, '.vhdsnap-journal-leaf.vhd.json'))).toBe(true);
  });
});

/** A small tmpfs (Linux, root): a real EROFS and a real ENOSPC. Elsewhere skipped, saying why. */
describe.skipIf(process.platform !== 'linux')('a read-only and a full file system (real EROFS, ENOSPC)', () => {
  const mountCase = (title: string, fn: (dir: string) => Promise<void>) =>
    it(title, async (ctx) => {
      if (!isRoot) ctx.skip('mounting a tmpfs needs root');
      const dir = tmp.file('mnt');
      mkdirSync(dir);
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir], { encoding: 'utf8' });
      if (m.status !== 0) ctx.skip(`cannot mount a tmpfs here: ${m.error?.message ?? m.stderr.trim()}`);
      try {
        await fn(dir);
      } finally {
        spawnSync('umount', [dir]);
      }
    });

  mountCase('read-only: snapshot, merge, name, write and create say READ_ONLY naming the path; nothing written', async (dir) => {
    const { leaf, data } = await diskWithChild(dir);
    const outside = tmp.file('data.bin');
    writeFileSync(outside, Buffer.alloc(4096, 3));
    expect(spawnSync('mount', ['-o', 'remount,ro', dir]).status).toBe(0);
    await expectEnv(['snapshot', leaf], 'READ_ONLY', dir, [dir], { dry: true });
    await expectEnv(['merge', leaf], 'READ_ONLY', dir, [dir], { dry: true });
    await expectEnv(['name', leaf, 'x'], 'READ_ONLY', dir, [dir]);
    await expectEnv(['write', leaf, '--offset', '0', '--input', outside], 'READ_ONLY', leaf, [dir]);
    await expectEnv(['create', nodePath.join(dir, 'n.vhd'), '--size', '1M'], 'READ_ONLY', dir, [dir]);
    expect(data).toBeTruthy();
  });

  mountCase('full: name and snapshot --out say NO_SPACE and leave no temp file', async (dir) => {
    const { leaf } = await diskWithChild(dir);
    // Fill what is left, a page at a time, until the file system refuses.
    const filler = nodePath.join(dir, 'filler');
    const page = Buffer.alloc(4096, 1);
    for (let i = 0; ; i++) {
      try {
        writeFileSync(filler, page, { flag: 'a' });
      } catch {
        break;
      }
      expect(i).toBeLessThan(1024);
    }
    for (const argv of [
      ['name', leaf, 'a name long enough to need a page'],
      ['snapshot', leaf, '--out', nodePath.join(dir, 'c.vhd')],
    ]) {
      await expectEnv(argv, 'NO_SPACE', dir, [dir]);
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

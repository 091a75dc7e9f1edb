// The in-use guard (core/inuse.ts): other processes holding a disk are found
// by file identity (any name of the file), named by program and pid; this
// process's own handles never count; plans refuse with IN_USE and the run
// re-checks under its locks. The holders are real processes (qemu-io with its
// OFD locks, a Node child with a bare descriptor), checked against /proc and
// against Python's os.major/os.minor for the lock fields.
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp, linkSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { IN_USE, RefusedError } from '../../core/errors.js';
import { findInUse, inUseError, linuxMajorMinor, parseLsof, parseProcLocks, prefetchLocks, scanLsof, scanProc } from '../../core/inuse.js';
import { fileIdentity } from '../../core/io/identity.js';
import { planOperation, runOperation, type OperationRequest } from '../../core/operations.js';
import { createDynamic } from '../../core/ops/create.js';
import { useHolders } from '../support/holders.js';
import { buildTree } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';
import { folderState } from '../support/compare.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const linux = process.platform === 'linux';

describe.skipIf(!linux)('findInUse on Linux', () => {
  const tmp = useTmpDir('vhdsnap-inuse-');
  const holders = useHolders();

  it('finds qemu-io holding a disk (descriptor and OFD locks), by program and pid; an unheld disk has no holder', async () => {
    const d = tmp.file('d.vhd');
    const other = tmp.file('other.vhd');
    await createDynamic(d, 4 * MiB);
    await createDynamic(other, 4 * MiB);
    const q = await holders.qemuIo(d);
    const found = await findInUse([d, other]);
    expect(found).toEqual([{ path: d, holders: [{ pid: q.pid, program: 'qemu-io' }] }]);
  });

  it('finds a Node child holding a plain descriptor (no lock), and several holders of one file', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const a = await holders.node(d);
    expect(await findInUse([d])).toEqual([{ path: d, holders: [{ pid: a.pid, program: 'node' }] }]);
    const b = await holders.node(d);
    const [u] = await findInUse([d]);
    expect(u.holders.map((h) => h.pid).sort()).toEqual([a.pid, b.pid].sort());
  });

  it('a prefetched read of /proc/locks (the CLI, for info and check) serves the next scan only, with what it read', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const id = statSync(d, { bigint: true });
    const { major, minor } = linuxMajorMinor(id.dev);
    // What the prefetch reads: an OFD lock on d.vhd (no pid, no descriptor), which only /proc/locks can show.
    const locks = `1: OFDLCK ADVISORY  WRITE -1 ${major.toString(16)}:${minor.toString(16)}:${id.ino} 0 EOF\n`;
    const reads = vi.spyOn(fsp, 'readFile');
    const locksReads = () => reads.mock.calls.filter(([p]) => p === '/proc/locks').length;
    try {
      reads.mockImplementationOnce((async () => locks) as unknown as typeof fsp.readFile);
      prefetchLocks();
      expect(locksReads()).toBe(1);
      expect(await findInUse([d])).toEqual([{ path: d, holders: [{ pid: null, program: null }] }]);
      expect(locksReads()).toBe(1);
      // The next scan reads the kernel's own list again: nobody holds d.vhd.
      expect(await findInUse([d])).toEqual([]);
      expect(locksReads()).toBe(2);
    } finally {
      reads.mockRestore();
    }
  });

  it('a file held through one name is found through a hard link and a symlink, and the reverse', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    linkSync(d, tmp.file('hard.vhd'));
    symlinkSync(d, tmp.file('soft.vhd'));
    const viaLink = await holders.node(tmp.file('hard.vhd'));
    for (const name of ['d.vhd', 'soft.vhd']) {
      expect((await findInUse([tmp.file(name)]))[0]?.holders, name).toEqual([{ pid: viaLink.pid, program: 'node' }]);
    }
    await viaLink.kill();
    expect(await findInUse([tmp.file('hard.vhd')])).toEqual([]);
    const viaSymlink = await holders.node(tmp.file('soft.vhd'));
    expect((await findInUse([tmp.file('hard.vhd')]))[0]?.holders).toEqual([{ pid: viaSymlink.pid, program: 'node' }]);
  });

  it('finds nothing when only this process has the file open', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const own = await fsp.open(d, 'r+');
    try {
      expect(await findInUse([d])).toEqual([]);
      // The same file is found at once when another process opens it: the empty answer is not blindness.
      const n = await holders.node(d);
      expect((await findInUse([d]))[0]?.holders).toEqual([{ pid: n.pid, program: 'node' }]);
    } finally {
      await own.close();
    }
  });

  it("decodes /proc/locks' MAJ:MIN:INODE as the kernel shows it for qemu-io's lock (checked with Python's os.major/os.minor)", async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    await holders.qemuIo(d);
    const id = await fileIdentity(d);
    const ours = parseProcLocks(readFileSync('/proc/locks', 'utf8')).filter((l) => l.ino === id.ino);
    expect(ours.length).toBeGreaterThan(0);
    const py = execFileSync('/usr/bin/python3', ['-c', 'import os,sys; s=os.stat(sys.argv[1]); print(os.major(s.st_dev), os.minor(s.st_dev))', d], {
      encoding: 'utf8',
    }).trim();
    const mm = linuxMajorMinor(id.dev);
    expect(`${mm.major} ${mm.minor}`).toBe(py);
    for (const l of ours) expect(`${l.major} ${l.minor}`).toBe(py);
  });

  it('a lock seen only in /proc/locks names its holder; an OFD lock (pid -1) is reported without a pid (fake /proc)', async () => {
    const d = tmp.file('d.vhd');
    const e = tmp.file('e.vhd');
    writeFileSync(d, 'x');
    writeFileSync(e, 'y');
    const [pd, pe] = [d, e].map((p) =>
      execFileSync(
        '/usr/bin/python3',
        ['-c', 'import os,sys; s=os.stat(sys.argv[1]); print("%x:%02x:%d" % (os.major(s.st_dev), os.minor(s.st_dev), s.st_ino))', p],
        { encoding: 'utf8' },
      ).trim(),
    );
    const proc = tmp.file('proc');
    mkdirSync(nodePath.join(proc, '4242'), { recursive: true });
    writeFileSync(nodePath.join(proc, '4242', 'comm'), 'qemu-system-x86\n');
    // A process whose descriptor table names d.vhd (the fd entry is a link to the file, as in /proc).
    mkdirSync(nodePath.join(proc, '777', 'fd'), { recursive: true });
    writeFileSync(nodePath.join(proc, '777', 'comm'), 'VBoxHeadless\n');
    symlinkSync(d, nodePath.join(proc, '777', 'fd', '5'));
    writeFileSync(
      nodePath.join(proc, 'locks'),
      [`1: POSIX  ADVISORY  WRITE 4242 ${pd} 0 EOF`, `2: OFDLCK ADVISORY  READ -1 ${pe} 100 101`, `3: -> FLOCK  ADVISORY  WRITE 4242 ${pe} 0 EOF`, ''].join(
        '\n',
      ),
    );
    const found = await findInUse([d, e], (w) => scanProc(w, proc));
    expect(found).toEqual([
      {
        path: d,
        holders: [
          { pid: 777, program: 'VBoxHeadless' },
          { pid: 4242, program: 'qemu-system-x86' },
        ],
      },
      {
        path: e,
        holders: [
          { pid: null, program: null },
          { pid: 4242, program: 'qemu-system-x86' },
        ],
      },
    ]);
  });
});

describe('inUseError (the scan’s refusal, also without a named holder)', () => {
  it('is a RefusedError IN_USE naming the file, with or without known holders', () => {
    const bare = inUseError('/vms/win10.vhd');
    expect(bare).toBeInstanceOf(RefusedError);
    expect(bare).toMatchObject({ code: IN_USE, message: '‘win10.vhd’ is in use by another program: shut the VM down or close the program first' });
    const named = inUseError('/vms/win10.vhd', [{ pid: 4242, program: 'qemu-system-x86' }]);
    expect(named).toMatchObject({
      code: IN_USE,
      path: '/vms/win10.vhd',
      message: '‘win10.vhd’ is in use by qemu-system-x86 (pid 4242): shut the VM down first',
    });
  });
});

describe.skipIf(!linux || !existsSync('/usr/bin/lsof'))("the macOS scan (lsof) run on Linux's lsof", () => {
  const tmp = useTmpDir('vhdsnap-inuse-');
  const holders = useHolders();

  it('finds a holder through another name of the file, and nothing once it is gone; never this process', async () => {
    const d = tmp.file('d.vhd');
    const other = tmp.file('other.vhd');
    await createDynamic(d, 4 * MiB);
    await createDynamic(other, 4 * MiB);
    linkSync(d, tmp.file('hard.vhd'));
    const own = await fsp.open(other, 'r');
    try {
      const n = await holders.node(tmp.file('hard.vhd'));
      expect(await findInUse([d, other], scanLsof)).toEqual([{ path: d, holders: [{ pid: n.pid, program: 'node' }] }]);
      await n.kill();
      expect(await findInUse([d, other], scanLsof)).toEqual([]);
    } finally {
      await own.close();
    }
  });
});

describe('lsof output (macOS best effort)', () => {
  it('parses -F pcn records: pid, command, and each matching name', () => {
    const text = [
      'p4242',
      'cqemu-system-x86',
      'f12',
      'n/Users/me/win10.vhd',
      'p77',
      'cVBoxHeadless',
      'f3',
      'n/Users/me/a.vhd',
      'f4',
      'n/Users/me/b.vhd',
      '',
    ].join('\n');
    expect(parseLsof(text)).toEqual([
      { pid: 4242, program: 'qemu-system-x86', name: '/Users/me/win10.vhd' },
      { pid: 77, program: 'VBoxHeadless', name: '/Users/me/a.vhd' },
      { pid: 77, program: 'VBoxHeadless', name: '/Users/me/b.vhd' },
    ]);
  });
});

describe.skipIf(!linux)('plans and runs refuse a disk in use (IN_USE)', () => {
  const tmp = useTmpDir('vhdsnap-inuse-');
  const holders = useHolders();

  it('the plan refuses, naming program and pid; the run refuses the same, and no byte changes', async () => {
    const { paths } = await buildTree(tmp.dir, 7, { parents: [null, 0, 1], size: 2 * MiB, blockSize: 64 * KiB, writesPerLayer: 4 });
    const before = folderState(tmp.dir);
    const q = await holders.qemuIo(paths[1]);
    const req: OperationRequest = { op: 'merge', disk: paths[2] };
    const plan = await planOperation(req);
    const message = `‘d1.vhd’ is in use by qemu-io (pid ${q.pid}): shut the VM down first`;
    expect(plan.refusals).toEqual([{ code: IN_USE, message }]);
    const err = await runOperation(req).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RefusedError);
    expect(err).toMatchObject({ code: IN_USE, message });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a program that opens the disk after the plan is still refused by the run (re-checked under the locks)', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const req: OperationRequest = { op: 'snapshot', disk: d };
    expect((await planOperation(req)).refusals).toEqual([]);
    const n = await holders.node(d);
    const before = folderState(tmp.dir);
    await expect(runOperation(req)).rejects.toMatchObject({ code: IN_USE, message: `‘d.vhd’ is in use by node (pid ${n.pid}): close that program first` });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a passing reader (a holder gone within moments, as another vhdsnap planning the same disk) does not refuse the run', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const n = await holders.node(d);
    const gone = new Promise((r) => setTimeout(r, 150)).then(() => n.kill());
    const result = await runOperation({ op: 'snapshot', disk: d });
    await gone;
    expect(result).toMatchObject({ active: d });
    expect(await findInUse([d])).toEqual([]);
  });

  it('several holders are all named', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * MiB);
    const a = await holders.node(d);
    const b = await holders.qemuIo(d);
    const [r] = (await planOperation({ op: 'compact', disk: d })).refusals;
    expect(r.code).toBe(IN_USE);
    expect(r.message).toContain(`node (pid ${a.pid})`);
    expect(r.message).toContain(`qemu-io (pid ${b.pid})`);
    expect(r.message).toMatch(/^‘d\.vhd’ is in use by .* and .*: shut the VM down first$/);
  });

  it("check and flatten read a disk in use, with a moving-target warning; this process's own handle is not a holder", async () => {
    const { paths } = await buildTree(tmp.dir, 8, { parents: [null, 0], size: 2 * MiB, blockSize: 64 * KiB, writesPerLayer: 4 });
    const own = await fsp.open(paths[1], 'r');
    try {
      const clean = (await runOperation({ op: 'check', disk: paths[1] })) as { warnings: { code: string }[] }[];
      expect(clean[0].warnings.filter((w) => w.code === IN_USE)).toEqual([]);
      const n = await holders.node(paths[1]);
      const reports = (await runOperation({ op: 'check', disk: paths[1] })) as { path: string; ok: boolean; warnings: { code: string; message: string }[] }[];
      expect(reports[0].ok).toBe(true);
      expect(reports[0].warnings).toContainEqual({
        code: IN_USE,
        message: `‘d1.vhd’ is in use by node (pid ${n.pid}): the result is a snapshot of a moving target (it may change while and after it is read)`,
      });
      const out = tmp.file('flat.vhd');
      const r = (await runOperation({ op: 'flatten', disk: paths[1], out, format: 'dynamic' })) as { warnings: { code: string }[] };
      expect(r.warnings.map((w) => w.code)).toEqual([IN_USE]);
      expect(statSync(out).isFile()).toBe(true);
    } finally {
      await own.close();
    }
  });
});

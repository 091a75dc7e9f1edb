// vhdsnap cleans up after itself: operations that write into a parent keep
// their children's parent timestamps true (check afterwards has no
// PARENT_TIMESTAMP_MISMATCH), a merge resumed after a full disk ends no
// larger than a clean one, and a `name` that fails leaves no temp file.
import { promises as fsp, readdirSync } from 'node:fs';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeOpener, setFileOpener, type RandomAccessFile } from '../../core/io/file.js';
import { FOOTER_SIZE } from '../../core/format/footer.js';
import { cli } from '../support/cli.js';
import { flipByte } from '../support/corrupt.js';
import { useHolders } from '../support/holders.js';
import { sha } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-cli-clean-');
const MiB = 1024 * 1024;

async function ok(...argv: string[]): Promise<string> {
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
  return r.out;
}

const f = (name: string, dir = tmp.dir): string => nodePath.join(dir, `${name}.vhd`);

/**
 * Sets a file's mtime `seconds` into the past. Done to each parent before its
 * child is made, so the timestamp the child records differs from "now" and a
 * later write into the parent within the same second still shows.
 */
async function age(path: string, seconds: number): Promise<void> {
  const t = new Date(Date.now() - seconds * 1000);
  await fsp.utimes(path, t, t);
}

/** Writes `mib` MiB of `fill` at `atMiB` through the CLI. */
async function write(disk: string, atMiB: number, mib: number, fill: number): Promise<void> {
  const data = tmp.file(`data-${fill}.bin`);
  await fsp.writeFile(data, Buffer.alloc(mib * MiB, fill));
  await ok('write', disk, '--offset', String(atMiB * MiB), '--input', data);
}

/** base ← names[0] ← names[1] ..., each with its own data, each parent aged before its child is made. */
async function chain(names: string[], dir = tmp.dir, mibEach = 1): Promise<string[]> {
  await ok('create', f('base', dir), '--size', '64M');
  await write(f('base', dir), 0, mibEach, 1);
  const all = ['base', ...names];
  for (let i = 1; i < all.length; i++) {
    await age(f(all[i - 1], dir), 100 * (all.length - i));
    await ok('snapshot', f(all[i - 1], dir), '--out', f(all[i], dir));
    await write(f(all[i], dir), i * mibEach, mibEach, i + 1);
  }
  return all.map((n) => f(n, dir));
}

/** Every warning and error code `check` reports for the disk's chain. */
async function checkCodes(disk: string): Promise<string[]> {
  const r = await cli('check', disk, '--json');
  const reports: { errors: { code: string }[]; warnings: { code: string }[] }[] = JSON.parse(r.out);
  return reports.flatMap((x) => [...x.errors, ...x.warnings].map((e) => e.code));
}

describe('parent timestamps stay true', () => {
  it('delete of a middle snapshot: the folded child was written, its child is stamped', async () => {
    const [, , , s3] = await chain(['s1', 's2', 's3']);
    expect(await checkCodes(s3)).toEqual([]);
    await ok('delete', f('s1'));
    expect(await checkCodes(s3)).toEqual([]);
  });

  it('repair of a parent: its children are stamped', async () => {
    const [base, c] = await chain(['c']);
    await fsp.chmod(base, 0o644);
    await flipByte(base, (await fsp.stat(base)).size - FOOTER_SIZE + 100);
    await ok('repair', base);
    expect(await checkCodes(c)).toEqual([]);
  });

  it('merge: the children of the relinked grandchild are stamped too', async () => {
    const [, , , gg] = await chain(['c', 'g', 'gg']);
    expect(await checkCodes(gg)).toEqual([]);
    await ok('merge', f('c'));
    expect(await checkCodes(gg)).toEqual([]);
  });

  it('delete of a base with one child: the grandchildren stay clean', async () => {
    const [, , , gg] = await chain(['c', 'g', 'gg']);
    await ok('delete', f('base'));
    expect(await checkCodes(gg)).toEqual([]);
  });
});

describe('a child another program has open', () => {
  const holders = useHolders();

  it('is not written: its stamp stays stale (a warning), the repair of its parent still succeeds', async () => {
    const [base, c] = await chain(['c']);
    await fsp.chmod(base, 0o644);
    await flipByte(base, (await fsp.stat(base)).size - FOOTER_SIZE + 100);
    await holders.node(c);
    const before = sha(c);
    await ok('repair', base);
    expect(sha(c)).toBe(before);
    expect(await checkCodes(c)).toContain('PARENT_TIMESTAMP_MISMATCH');
  });
});

describe('a merge or fold resumed after a full disk', () => {
  let restore: (() => void) | null = null;
  afterEach(() => {
    restore?.();
    restore = null;
  });

  /** Fails the `failAt`-th write into `target` with ENOSPC; records the furthest byte any write reached. */
  function fillUpAt(target: string, failAt: number): { furthest: () => number; stop: () => void } {
    let writes = 0;
    let furthest = 0;
    let failing = true;
    restore = setFileOpener(async (path, mode) => {
      const file = await nodeOpener(path, mode);
      if (nodePath.resolve(path) !== target) return file;
      const wrapped: RandomAccessFile = Object.create(file);
      wrapped.write = async (buf, at) => {
        if (failing && ++writes === failAt) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        furthest = Math.max(furthest, at + buf.length);
        return file.write(buf, at);
      };
      return wrapped;
    });
    return {
      furthest: () => furthest,
      stop: () => {
        failing = false;
        furthest = 0;
      },
    };
  }

  // 12 MiB in each disk: six 2 MiB blocks, staged 4 MiB at a time and committed at the end. The
  // written file's 12th write fails: two stages (four blocks) were already appended, their BAT
  // entries not yet written.
  const resumed = [
    { op: 'merge', argv: ['merge', 'c'], written: 'base' },
    { op: 'delete (fold)', argv: ['delete', 'c'], written: 'g' },
  ];
  for (const c of resumed) {
    it(`${c.op}: ends no larger than a clean one, and recover writes nothing past where the clean one ends`, async () => {
      const clean = tmp.file('clean');
      const hurt = tmp.file('hurt');
      await fsp.mkdir(clean);
      await fsp.mkdir(hurt);
      for (const dir of [clean, hurt]) await chain(['c', 'g'], dir, 12);
      await ok(c.argv[0], f(c.argv[1], clean));
      const cleanSize = (await fsp.stat(f(c.written, clean))).size;

      const fault = fillUpAt(f(c.written, hurt), 12);
      const failed = await cli(c.argv[0], f(c.argv[1], hurt));
      expect(failed.code).not.toBe(0);
      expect(failed.err).toContain('[NO_SPACE]');
      fault.stop();
      await ok('recover', hurt);
      expect(fault.furthest()).toBeLessThanOrEqual(cleanSize);
      expect((await fsp.stat(f(c.written, hurt))).size).toBe(cleanSize);
      expect(await checkCodes(f('g', hurt))).toEqual([]);
      const [a, b] = [tmp.file('a.raw'), tmp.file('b.raw')];
      await ok('export', f('g', clean), a);
      await ok('export', f('g', hurt), b);
      expect((await fsp.readFile(a)).equals(await fsp.readFile(b))).toBe(true);
    });
  }
});

describe('a failed name', () => {
  afterEach(() => vi.restoreAllMocks());

  it('removes its temp file at once and leaves the sidecar as it was', async () => {
    await ok('create', f('d'), '--size', '1M');
    await ok('name', f('d'), 'Clean install');
    const sidecar = await fsp.readFile(tmp.file('.vhdsnap.json'));
    const realOpen = fsp.open.bind(fsp);
    // The disk fills up while the new sidecar is written.
    vi.spyOn(fsp, 'open').mockImplementation(async (path, flags, mode) => {
      const fh = await realOpen(path, flags, mode);
      if (!/\.vhdsnap\.json\..*\.tmp$/.test(String(path))) return fh;
      return new Proxy(fh, {
        get(target, key) {
          if (key === 'writeFile') return async () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
          const v: unknown = Reflect.get(target, key);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    });
    const r = await cli('name', f('d'), 'Renamed');
    expect(r.code).not.toBe(0);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect((await fsp.readFile(tmp.file('.vhdsnap.json'))).equals(sidecar)).toBe(true);
  });
});

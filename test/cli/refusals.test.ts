// Every refusal a plan can make, as the commands a user would type: the
// dry run shows the refusal and exits 1, the real run refuses with the same
// code and exit code, and neither changes a byte of any file in the folder
// (nor leaves a temp, journal or lock file behind). One row per refusal code
// (and per way of reaching it where the ways differ).
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { promises as fsp, readdirSync, readSync, openSync, closeSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_DEPTH } from '../../core/disk/chain.js';
import { createDifferencing, newFooter } from '../../core/ops/create.js';
import { decodeFooter, DiskType, encodeFooter, FIXED_DATA_OFFSET, FOOTER_SIZE } from '../../core/format/footer.js';
import { cli } from '../support/cli.js';
import { sha } from '../support/compare.js';
import { flipByte } from '../support/corrupt.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-cli-refusals-');
const MiB = 1024 * 1024;

/**
 * Every file of the folder by name: its sha256, or for a huge sparse file
 * (the 3 TiB disk, which cannot be read whole) its size, mtime and the
 * sha256 of its first and last MiB.
 */
function folderState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const p = nodePath.join(dir, n);
    const st = statSync(p);
    if (!st.isFile()) continue;
    if (st.size <= 256 * MiB) {
      out[n] = sha(p);
      continue;
    }
    const h = createHash('sha256');
    const buf = Buffer.alloc(MiB);
    const fd = openSync(p, 'r');
    try {
      for (const at of [0, st.size - MiB]) h.update(buf.subarray(0, readSync(fd, buf, 0, MiB, at)));
    } finally {
      closeSync(fd);
    }
    out[n] = `${st.size}:${st.mtimeMs}:${h.digest('hex')}`;
  }
  return out;
}

/** Runs a command that must succeed (setting up the folder as a user would). */
async function ok(...argv: string[]): Promise<void> {
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
}

/** `<name>.vhd` in the test folder. */
const f = (name: string): string => tmp.file(`${name}.vhd`);

/** A dynamic disk holding 1 MiB of data at offset 0. */
async function disk(name: string, size = '8M'): Promise<string> {
  await ok('create', f(name), '--size', size);
  const data = tmp.file('data.bin');
  await fsp.writeFile(data, Buffer.alloc(MiB, 0x5a));
  await ok('write', f(name), '--offset', '0', '--input', data);
  return f(name);
}

/** `parent` ← `child`, made with snapshot --out (the parent stays as the snapshot). */
async function child(parent: string, name: string): Promise<string> {
  await ok('snapshot', f(parent), '--out', f(name));
  return f(name);
}

/** Damages the trailing footer's checksum: the disk still opens (from the copy at 0) but must be repaired before it is written. */
async function damageTrailingFooter(path: string): Promise<void> {
  const size = (await fsp.stat(path)).size;
  await fsp.chmod(path, 0o644);
  await flipByte(path, size - FOOTER_SIZE + 100);
}

/** Marks the disk as in a saved state, in both footers (checksums kept valid). */
async function setSavedState(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const at = [size - FOOTER_SIZE, ...(size >= 2 * FOOTER_SIZE ? [0] : [])];
    const raw = Buffer.alloc(FOOTER_SIZE);
    await fh.read(raw, 0, FOOTER_SIZE, size - FOOTER_SIZE);
    const footer = decodeFooter(raw);
    const bytes = encodeFooter({ ...footer, savedState: 1 });
    for (const pos of at) {
      const cur = Buffer.alloc(FOOTER_SIZE);
      await fh.read(cur, 0, FOOTER_SIZE, pos);
      if (cur.subarray(0, 8).toString('latin1') === 'conectix') await fh.write(bytes, 0, FOOTER_SIZE, pos);
    }
  } finally {
    await fh.close();
  }
}

/** A chain of `files` files ending at chain-<files-1>.vhd (made with the library: hundreds of snapshot commands would only be slower). */
async function chainOf(files: number): Promise<string> {
  await ok('create', tmp.file('chain-0.vhd'), '--size', '1M');
  for (let i = 1; i < files; i++) await createDifferencing(tmp.file(`chain-${i}.vhd`), tmp.file(`chain-${i - 1}.vhd`));
  return tmp.file(`chain-${files - 1}.vhd`);
}

interface Case {
  code: string;
  how: string;
  /** Builds the folder; returns the command that must be refused. */
  setup: () => Promise<string[]>;
  /** The command has no --dry-run (write). */
  noDryRun?: boolean;
}

const CASES: Case[] = [
  { code: 'EXISTS', how: 'snapshot --out onto an existing file', setup: async () => (await disk('d'), await disk('c'), ['snapshot', f('d'), '--out', f('c')]) },
  { code: 'HAS_CHILDREN', how: 'snapshot in place of a parent', setup: async () => (await disk('d'), await child('d', 'c'), ['snapshot', f('d')]) },
  {
    code: 'CHILD_TOO_LARGE',
    how: 'snapshot of a 3 TiB fixed disk made elsewhere',
    setup: async () => {
      // Sparse: a 3 TiB hole and a footer (vhdsnap itself no longer creates one that large).
      const size = 3 * 1024 ** 4;
      const fh = await fsp.open(f('big'), 'wx');
      await fh.write(encodeFooter(newFooter(DiskType.Fixed, size, FIXED_DATA_OFFSET)), 0, FOOTER_SIZE, size);
      await fh.close();
      return ['snapshot', f('big')];
    },
  },
  { code: 'CHAIN_TOO_DEEP', how: 'snapshot in place of a chain at the depth limit', setup: async () => ['snapshot', await chainOf(MAX_CHAIN_DEPTH)] },
  {
    code: 'CHAIN_TOO_DEEP',
    how: 'snapshot --out of a chain at the depth limit',
    setup: async () => ['snapshot', await chainOf(MAX_CHAIN_DEPTH), '--out', f('next')],
  },
  {
    code: 'CHAIN_TOO_DEEP',
    how: 'reparent under a chain at the depth limit',
    setup: async () => {
      const leaf = await chainOf(MAX_CHAIN_DEPTH);
      await ok('create', f('o'), '--size', '1M');
      await ok('snapshot', f('o'), '--out', f('x'));
      return ['reparent', f('x'), leaf, '--ignore-id-mismatch'];
    },
  },
  {
    code: 'CHAIN_TOO_DEEP',
    how: 'reparent of a disk whose descendants would pass the depth limit',
    setup: async () => {
      // 128 files above the new parent's child, and x with 128 descendants: 257 in the deepest chain.
      const parent = await chainOf(MAX_CHAIN_DEPTH / 2);
      await ok('create', f('o'), '--size', '1M');
      await ok('snapshot', f('o'), '--out', f('x'));
      await createDifferencing(f('y-1'), f('x'));
      for (let i = 2; i <= MAX_CHAIN_DEPTH / 2; i++) await createDifferencing(f(`y-${i}`), f(`y-${i - 1}`));
      return ['reparent', f('x'), parent, '--ignore-id-mismatch'];
    },
  },
  {
    code: 'NEEDS_REPAIR',
    how: 'snapshot of a disk with a bad trailing footer checksum',
    setup: async () => (await damageTrailingFooter(await disk('d')), ['snapshot', f('d')]),
  },
  {
    code: 'NEEDS_REPAIR',
    how: 'snapshot of a truncated disk',
    setup: async () => (await fsp.truncate(await disk('d'), 1000 * 1000), ['snapshot', f('d')]),
  },
  {
    code: 'DAMAGED',
    how: 'snapshot of a disk whose BAT points past the end of the file',
    setup: async () => {
      const d = await disk('d');
      const fh = await fsp.open(d, 'r+');
      // BAT entry 0 (at 1536) → sector 0x100000, 512 MiB into a 1 MiB file.
      await fh.write(Buffer.from([0x00, 0x10, 0x00, 0x00]), 0, 4, 1536);
      await fh.close();
      return ['snapshot', d];
    },
  },
  {
    code: 'HAS_CHILDREN',
    how: 'write into a parent',
    noDryRun: true,
    setup: async () => (await disk('d'), await child('d', 'c'), ['write', f('d'), '--offset', '0', '--input', tmp.file('data.bin')]),
  },
  {
    code: 'FIXED_DISK',
    how: 'compact of a fixed disk',
    setup: async () => (await ok('create', f('x'), '--size', '1M', '--type', 'fixed'), ['compact', f('x')]),
  },
  { code: 'HAS_CHILDREN', how: 'compact of a parent', setup: async () => (await disk('d'), await child('d', 'c'), ['compact', f('d')]) },
  {
    code: 'NEEDS_REPAIR',
    how: 'compact of a disk with a bad trailing footer',
    setup: async () => (await damageTrailingFooter(await disk('d')), ['compact', f('d')]),
  },
  { code: 'SAVED_STATE', how: 'compact of a disk in a saved state', setup: async () => (await setSavedState(await disk('d')), ['compact', f('d')]) },
  {
    code: 'BASE_WITH_SEVERAL_CHILDREN',
    how: 'delete of a base with two children',
    setup: async () => (await disk('d'), await child('d', 'c1'), await child('d', 'c2'), ['delete', f('d')]),
  },
  { code: 'NOT_A_SNAPSHOT', how: 'delete of a leaf', setup: async () => (await disk('d'), await child('d', 'c'), ['delete', f('c')]) },
  { code: 'NOT_DIFFERENCING', how: 'merge of a base', setup: async () => (await disk('d'), ['merge', f('d')]) },
  {
    code: 'PARENT_HAS_OTHER_CHILDREN',
    how: 'merge into a parent with another child',
    setup: async () => (await disk('d'), await child('d', 'c1'), await child('d', 'c2'), ['merge', f('c1')]),
  },
  {
    code: 'NEEDS_REPAIR',
    how: 'merge into a parent with a bad trailing footer',
    setup: async () => (await disk('d'), await child('d', 'c'), await damageTrailingFooter(f('d')), ['merge', f('c')]),
  },
  {
    code: 'SAVED_STATE',
    how: 'merge into a parent in a saved state',
    setup: async () => (await disk('d'), await child('d', 'c'), await setSavedState(f('d')), ['merge', f('c')]),
  },
  {
    code: 'CHAIN_CYCLE',
    how: 'reparent of a disk under its own child',
    setup: async () => (await disk('a'), await child('a', 'b'), await child('b', 'c'), ['reparent', f('b'), f('c'), '--ignore-id-mismatch']),
  },
  { code: 'NOT_DIFFERENCING', how: 'reparent of a base', setup: async () => (await disk('d'), await disk('e'), ['reparent', f('d'), f('e')]) },
  {
    code: 'PARENT_ID_MISMATCH',
    how: 'reparent under a disk that is not the parent',
    setup: async () => (await disk('d'), await child('d', 'c'), await disk('e'), ['reparent', f('c'), f('e')]),
  },
  {
    code: 'PARENT_SIZE_MISMATCH',
    how: 'reparent under a disk of another size',
    setup: async () => (await disk('d'), await child('d', 'c'), await disk('e', '16M'), ['reparent', f('c'), f('e'), '--ignore-id-mismatch']),
  },
  { code: 'SELF_PARENT', how: 'reparent of a disk under itself', setup: async () => (await disk('d'), await child('d', 'c'), ['reparent', f('c'), f('c')]) },
  {
    code: 'DIFFERENCING_DISK',
    how: 'resize of a differencing disk',
    setup: async () => (await disk('d'), await child('d', 'c'), ['resize', f('c'), '--size', '16M']),
  },
  { code: 'HAS_CHILDREN', how: 'resize of a parent', setup: async () => (await disk('d'), await child('d', 'c'), ['resize', f('d'), '--size', '16M']) },
  { code: 'SHRINK_NOT_SUPPORTED', how: 'resize to a smaller size', setup: async () => (await disk('d'), ['resize', f('d'), '--size', '4M']) },
  {
    code: 'SAVED_STATE',
    how: 'resize of a disk in a saved state',
    setup: async () => (await setSavedState(await disk('d')), ['resize', f('d'), '--size', '16M']),
  },
  {
    code: 'NEEDS_REPAIR',
    how: 'resize of a disk with a bad trailing footer',
    setup: async () => (await damageTrailingFooter(await disk('d')), ['resize', f('d'), '--size', '16M']),
  },
  {
    code: 'FIXED_EXTRA_DATA',
    how: 'resize of a fixed disk with bytes between its data and its footer',
    setup: async () => {
      await ok('create', f('x'), '--size', '1M', '--type', 'fixed');
      const footer = (await fsp.readFile(f('x'))).subarray(MiB);
      const fh = await fsp.open(f('x'), 'r+');
      await fh.write(Buffer.concat([Buffer.alloc(FOOTER_SIZE), footer]), 0, 2 * FOOTER_SIZE, MiB);
      await fh.close();
      return ['resize', f('x'), '--size', '2M'];
    },
  },
  {
    code: 'HAS_CHILDREN',
    how: 'revert of a snapshot',
    setup: async () => (await disk('d'), await child('d', 'c'), await child('c', 'g'), ['revert', f('c')]),
  },
  { code: 'NO_PARENT', how: 'revert of a base', setup: async () => (await disk('d'), ['revert', f('d')]) },
  { code: 'SAME_DISK', how: 'revert to itself', setup: async () => (await disk('d'), await child('d', 'c'), ['revert', f('c'), '--to', f('c')]) },
  {
    code: 'NOT_IN_TREE',
    how: 'revert to a disk of another tree',
    setup: async () => (await disk('d'), await child('d', 'c'), await disk('e'), await child('e', 'ec'), ['revert', f('c'), '--to', f('e')]),
  },
  {
    code: 'NOT_A_SNAPSHOT',
    how: 'revert to the current state of another branch',
    setup: async () => (await disk('d'), await child('d', 'c1'), await child('d', 'c2'), ['revert', f('c1'), '--to', f('c2')]),
  },
];

describe('every refusal comes before the first write', () => {
  for (const c of CASES) {
    it(`${c.code}: ${c.how}`, { timeout: 120_000 }, async () => {
      const argv = await c.setup();
      const before = folderState(tmp.dir);
      let dryCode: number | null = null;
      if (!c.noDryRun) {
        const dry = await cli(...argv, '--dry-run', '--json');
        const plan = JSON.parse(dry.out);
        expect(plan.refusals.map((r: { code: string }) => r.code)).toContain(c.code);
        expect(dry.code).toBe(1);
        dryCode = dry.code;
        expect(folderState(tmp.dir)).toEqual(before);
      }
      const run = await cli(...argv, '--json');
      expect(JSON.parse(run.out).error.code, run.err).toBe(c.code);
      expect(run.code).toBe(dryCode ?? 1);
      // Byte-identical, and no file added (temp, journal, lock) or removed.
      expect(folderState(tmp.dir)).toEqual(before);
    });
  }
});

describe('check reports a chain at or past the depth limit', () => {
  it('at the limit: a warning on the disk named (no snapshot can be taken)', { timeout: 120_000 }, async () => {
    const leaf = await chainOf(MAX_CHAIN_DEPTH);
    const r = await cli('check', leaf, '--deep', '--json');
    const reports = JSON.parse(r.out);
    expect(reports).toHaveLength(MAX_CHAIN_DEPTH);
    expect(reports[0].warnings.map((w: { code: string }) => w.code)).toContain('CHAIN_AT_DEPTH_LIMIT');
    expect(reports.every((x: { ok: boolean }) => x.ok)).toBe(true);
  });

  it('past it: an error, exit 1', { timeout: 120_000 }, async () => {
    const leaf = await chainOf(MAX_CHAIN_DEPTH + 1);
    const r = await cli('check', leaf, '--deep', '--json');
    expect(r.code).toBe(1);
    const reports = JSON.parse(r.out);
    expect(nodePath.basename(reports[0].path)).toBe(nodePath.basename(leaf));
    expect(reports[0].errors.map((e: { code: string }) => e.code)).toContain('CHAIN_TOO_DEEP');
  });
});

/**
 * NO_SPACE: the test folder is a small tmpfs (Linux, root) filled until less
 * is free than the operation may need, with room left for its locks. The plan
 * refuses before the first write, in the dry run and the run alike.
 */
describe.skipIf(process.platform !== 'linux')('NO_SPACE: refused before the first write on a nearly full file system', () => {
  const LEFT = 256 * 1024;
  const full = (how: string, setup: () => Promise<string[]>) =>
    it(`NO_SPACE: ${how}`, { timeout: 120_000 }, async (ctx) => {
      if (process.getuid?.() !== 0) ctx.skip('mounting a tmpfs needs root');
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', tmp.dir], { encoding: 'utf8' });
      if (m.status !== 0) ctx.skip(`cannot mount a tmpfs here: ${m.error?.message ?? m.stderr.trim()}`);
      try {
        const argv = await setup();
        const free = Number((await fsp.statfs(tmp.dir)).bavail) * Number((await fsp.statfs(tmp.dir)).bsize);
        await fsp.writeFile(tmp.file('filler'), Buffer.alloc(free - LEFT, 1));
        const before = folderState(tmp.dir);
        const dry = await cli(...argv, '--dry-run', '--json');
        expect(JSON.parse(dry.out).refusals.map((r: { code: string }) => r.code)).toContain('NO_SPACE');
        expect(dry.code).toBe(1);
        const run = await cli(...argv, '--json');
        expect(JSON.parse(run.out).error.code, run.err).toBe('NO_SPACE');
        expect(run.code).toBe(1);
        expect(folderState(tmp.dir)).toEqual(before);
      } finally {
        spawnSync('umount', [tmp.dir]);
      }
    });

  /** d ← c, c holding 2 MiB at 4 MiB (blocks d does not have). */
  const chainWithNewData = async (): Promise<void> => {
    await disk('d', '16M');
    await child('d', 'c');
    await fsp.writeFile(tmp.file('more.bin'), Buffer.alloc(2 * MiB, 0x33));
    await ok('write', f('c'), '--offset', String(4 * MiB), '--input', tmp.file('more.bin'));
  };
  full('merge of a child whose data the parent does not hold', async () => (await chainWithNewData(), ['merge', f('c')]));
  full('delete of a snapshot folded into its child', async () => (await chainWithNewData(), await child('c', 'g'), ['delete', f('c')]));
  full('flatten onto the full volume', async () => (await chainWithNewData(), ['flatten', f('c'), tmp.file('flat.vhd')]));
  full('compact (its temporary copy)', async () => (await chainWithNewData(), ['compact', f('c')]));
  full('resize of a fixed disk', async () => (await ok('create', f('x'), '--size', '4M', '--type', 'fixed'), ['resize', f('x'), '--size', '12M']));
});

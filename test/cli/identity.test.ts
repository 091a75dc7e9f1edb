// Safety by identity, typed as a user would (issue #13): children vhdsnap made
// in another folder are seen by every operation on their parent, locks hold
// whatever name a disk is reached by, a file with other hard links is never
// written, and every refusal leaves every byte as it was.
import { createHash } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { setLinker } from '../../core/io/file.js';
import { cli } from '../support/cli.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { readThrough } from '../support/tree.js';

const tmp = useTmpDir('vhdsnap-identity-');

/** Every file under the test folder (symlinks by their target), so a refusal can be shown to change no byte. */
function state(dir = tmp.dir): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = nodePath.join(d, n);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[p] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) walk(p);
      else out[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

let dataSeq = 0;
/** A data file of `n` random bytes to write with `--input`. */
function data(n: number, seed = 7): string {
  const p = tmp.file(`data-${dataSeq++}.bin`);
  writeFileSync(p, new Rng(seed).bytes(n));
  return p;
}

async function ok(...argv: string[]): Promise<string> {
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
  return r.out;
}

/** Words of each refusal's reason, for a refusal that is not the first of its command. */
const REASON: Record<string, string> = { HARD_LINKED: 'other hard link', HAS_CHILDREN: 'is the parent of' };

/** The command refuses with exit 1 and `code`, its dry run (where it has one) reports the same, and no byte changed. */
async function refuses(code: string, argv: string[], opts: { dryRun?: boolean } = {}): Promise<string> {
  const before = state();
  if (opts.dryRun !== false) {
    const dry = await cli(...argv, '--dry-run', '--json');
    expect(dry.code, `${argv.join(' ')} --dry-run: ${dry.err}`).toBe(1);
    const plan = JSON.parse(dry.out) as { refusals: { code: string }[] };
    expect(plan.refusals.map((r) => r.code)).toContain(code);
  }
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.out} ${r.err}`).toBe(1);
  // The line ends with the first refusal's code; every refusal's reason is in it.
  expect(r.err.includes(`[${code}]`) || r.err.includes(REASON[code] ?? `[${code}]`), r.err).toBe(true);
  expect(state()).toEqual(before);
  return r.err;
}

describe('children in another folder', () => {
  it('delete of a snapshot with a child in another folder keeps that child whole', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const [base, s, c1, c2] = ['A/base.vhd', 'A/s.vhd', 'A/c1.vhd', 'B/c2.vhd'].map((n) => tmp.file(n));
    await ok('create', base, '--size', '4M');
    await ok('write', base, '--offset', '0', '--input', data(300000, 1));
    await ok('snapshot', base, '--out', s);
    await ok('write', s, '--offset', '200000', '--input', data(300000, 2));
    await ok('snapshot', s, '--out', c1);
    await ok('snapshot', s, '--out', c2);
    await ok('write', c2, '--offset', '1000000', '--input', data(5000, 3));
    const views = { c1: await readThrough(c1), c2: await readThrough(c2) };
    // The plan names the child elsewhere by its full path.
    const dry = JSON.parse(await ok('delete', s, '--dry-run', '--json')) as { changes: { path: string }[] };
    expect(dry.changes.map((c) => c.path)).toContain(c2);
    await ok('delete', s);
    expect((await cli('check', c2)).code).toBe(0);
    expect((await readThrough(c1)).equals(views.c1)).toBe(true);
    expect((await readThrough(c2)).equals(views.c2)).toBe(true);
    // c2 is now a child of base, and base's writers see it.
    await refuses('HAS_CHILDREN', ['write', base, '--offset', '0', '--input', data(10)], { dryRun: false });
  });

  it('merge, write, resize and compact of a parent with a child in another folder refuse; the dry runs say the same', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const [base, s1, vm2] = ['A/base.vhd', 'A/s1.vhd', 'B/vm2.vhd'].map((n) => tmp.file(n));
    await ok('create', base, '--size', '4M');
    await ok('write', base, '--offset', '0', '--input', data(100000, 4));
    await ok('snapshot', base, '--out', s1);
    await ok('snapshot', base, '--out', vm2);
    await ok('write', s1, '--offset', '0', '--input', data(70000, 5));
    const view = await readThrough(vm2);
    const err = await refuses('PARENT_HAS_OTHER_CHILDREN', ['merge', s1]);
    expect(err).toContain(vm2);
    expect(await refuses('HAS_CHILDREN', ['write', base, '--offset', '0', '--input', data(10)], { dryRun: false })).toContain(vm2);
    await refuses('HAS_CHILDREN', ['resize', base, '--size', '8M']);
    await refuses('HAS_CHILDREN', ['compact', base]);
    await refuses('HAS_CHILDREN', ['revert', base]);
    expect((await readThrough(vm2)).equals(view)).toBe(true);
    // The plan of a change to a parent says what vhdsnap cannot see.
    const plan = JSON.parse((await cli('merge', s1, '--dry-run', '--json')).out) as { cautions?: string[] };
    expect(plan.cautions?.join(' ')).toMatch(/other programs cannot be found/);
    // tree of A alone lists the child in B under its parent, not base as a lone disk.
    const tree = JSON.parse(await ok('tree', tmp.file('A'), '--json')) as { roots: { path: string; children: { path: string }[] }[] };
    expect(tree.roots.map((r) => r.path)).toEqual([base]);
    expect(tree.roots[0].children.map((c) => c.path).sort()).toEqual([s1, vm2].sort());
  });

  it('a child made by revert --keep in another folder than its parent is seen by the parent', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const [base, vm] = ['A/base.vhd', 'B/vm.vhd'].map((n) => tmp.file(n));
    await ok('create', base, '--size', '4M');
    await ok('snapshot', base, '--out', vm);
    await ok('write', vm, '--offset', '4096', '--input', data(9000, 6));
    const kept = (JSON.parse(await ok('revert', vm, '--keep', '--json')) as { kept: string }).kept;
    expect(nodePath.dirname(kept)).toBe(tmp.file('B'));
    const view = await readThrough(kept);
    await refuses('HAS_CHILDREN', ['resize', base, '--size', '8M']);
    // The reverted disk is a child of base too; merging it would change what the kept state shows.
    await refuses('PARENT_HAS_OTHER_CHILDREN', ['merge', vm]);
    expect((await readThrough(kept)).equals(view)).toBe(true);
  });

  it('a stale record (the child removed, or its name now holding another disk) no longer counts', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const [base, vm] = ['A/base.vhd', 'B/vm.vhd'].map((n) => tmp.file(n));
    await ok('create', base, '--size', '4M');
    await ok('snapshot', base, '--out', vm);
    await refuses('HAS_CHILDREN', ['resize', base, '--size', '8M']);
    unlinkSync(vm);
    await ok('create', vm, '--size', '4M');
    await ok('resize', base, '--size', '8M');
    // An older sidecar (no children field) still reads: names survive.
    writeFileSync(tmp.file('A', '.vhdsnap.json'), JSON.stringify({ version: 1, disks: {} }));
    await ok('name', base, 'Base');
    expect(await ok('tree', tmp.file('A'))).toContain('Base');
  });
});

describe('two names of one disk', () => {
  const parallelWrites = async (a: string, b: string) => {
    const input = data(48 * 1024 * 1024, 9);
    return Promise.all([cli('write', a, '--offset', '0', '--input', input), cli('write', b, '--offset', '0', '--input', input)]);
  };

  for (const where of ['here', 'in another folder'] as const) {
    it(`two writes through a symlink ${where} and the real name: one is refused (LOCKED), the disk stays whole`, async () => {
      const d = tmp.file('d.vhd');
      await ok('create', d, '--size', '64M');
      mkdirSync(tmp.file('other'));
      const e = where === 'here' ? tmp.file('e.vhd') : tmp.file('other', 'e.vhd');
      symlinkSync(d, e);
      const runs = await parallelWrites(d, e);
      expect(runs.map((r) => r.code).sort()).toEqual([0, 1]);
      expect(runs.find((r) => r.code === 1)!.err).toContain('LOCKED');
      expect((await cli('check', d)).code).toBe(0);
    });
  }

  it('in a folder where locks cannot be created, two writes through two names still exclude each other', async () => {
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '64M');
    symlinkSync(d, tmp.file('e.vhd'));
    // A read-only folder holding a writable disk (root ignores chmod: the lock's link is failed with EACCES instead).
    const restore = setLinker(async (a, b) => {
      if (nodePath.dirname(b) === tmp.dir) throw Object.assign(new Error(`EACCES: permission denied, link '${a}' -> '${b}'`), { code: 'EACCES' });
      linkSync(a, b);
    });
    try {
      const runs = await parallelWrites(d, tmp.file('e.vhd'));
      expect(runs.map((r) => r.code).sort()).toEqual([0, 1]);
      expect(runs.find((r) => r.code === 1)!.err).toContain('LOCKED');
    } finally {
      restore();
    }
    expect((await cli('check', d)).code).toBe(0);
  });

  it('a disk with another hard link is never written: write, merge, resize, compact and delete refuse (HARD_LINKED)', async () => {
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '4M');
    await ok('write', d, '--offset', '0', '--input', data(100000, 10));
    linkSync(d, tmp.file('e.vhd'));
    const err = await refuses('HARD_LINKED', ['write', tmp.file('e.vhd'), '--offset', '0', '--input', data(10)], { dryRun: false });
    expect(err).toContain(d);
    await refuses('HARD_LINKED', ['write', d, '--offset', '0', '--input', data(10)], { dryRun: false });
    await refuses('HARD_LINKED', ['resize', d, '--size', '8M']);
    await refuses('HARD_LINKED', ['compact', d]);
    const child = tmp.file('child.vhd');
    await ok('snapshot', d, '--out', child);
    await ok('write', child, '--offset', '0', '--input', data(5000, 11));
    await refuses('HARD_LINKED', ['merge', child]);
    // A child with a second name: merging it away or relinking it changes what that name shows.
    await ok('snapshot', child, '--out', tmp.file('leaf.vhd'));
    linkSync(child, tmp.file('child-copy.vhd'));
    await refuses('HARD_LINKED', ['delete', child]);
  });

  it('backup made with ln, then a snapshot: the backup is the snapshot, it refuses writes, and tree shows it as a parent', async () => {
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '4M');
    await ok('write', d, '--offset', '0', '--input', data(100000, 12));
    const backup = tmp.file('backup.vhd');
    linkSync(d, backup);
    const view = await readThrough(d);
    const snap = (JSON.parse(await ok('snapshot', d, '--json')) as { snapshot: string }).snapshot;
    expect((await readThrough(d)).equals(view)).toBe(true);
    await refuses('HARD_LINKED', ['write', backup, '--offset', '0', '--input', data(10)], { dryRun: false });
    await refuses('HARD_LINKED', ['merge', d]);
    expect((await readThrough(d)).equals(view)).toBe(true);
    expect((await readThrough(snap)).equals(view)).toBe(true);
    const tree = JSON.parse(await ok('tree', tmp.dir, '--json')) as { roots: { path: string; type: string; children: { path: string }[] }[] };
    expect(tree.roots).toHaveLength(1);
    expect([backup, snap]).toContain(tree.roots[0].path);
    expect(tree.roots[0].children.map((c) => c.path)).toEqual([d]);
    expect(await ok('tree', tmp.dir)).not.toMatch(/backup\.vhd.*current/);
  });

  it('the same through a hard link in another folder, and a symlink there writes the current disk only', async () => {
    mkdirSync(tmp.file('B'));
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '4M');
    await ok('write', d, '--offset', '0', '--input', data(100000, 13));
    const far = tmp.file('B', 'backup.vhd');
    linkSync(d, far);
    symlinkSync(d, tmp.file('B', 'link.vhd'));
    const snap = (JSON.parse(await ok('snapshot', d, '--json')) as { snapshot: string }).snapshot;
    const view = await readThrough(snap);
    await refuses('HARD_LINKED', ['write', far, '--offset', '0', '--input', data(10)], { dryRun: false });
    // The symlink names d.vhd, which is now the empty child: writing through it leaves the snapshot as it was.
    await ok('write', tmp.file('B', 'link.vhd'), '--offset', '0', '--input', data(4096, 14));
    expect((await readThrough(snap)).equals(view)).toBe(true);
    expect((await readThrough(far)).equals(view)).toBe(true);
    expect((await readThrough(d)).subarray(0, 4096).equals(new Rng(14).bytes(4096))).toBe(true);
    expect(existsSync(snap)).toBe(true);
  });
});

describe('names vhdsnap itself changes', () => {
  it('a child elsewhere that was then snapshotted in place (its content now under the snapshot name) is still found', async () => {
    mkdirSync(tmp.file('A'));
    mkdirSync(tmp.file('B'));
    const [base, vm] = ['A/base.vhd', 'B/vm.vhd'].map((n) => tmp.file(n));
    await ok('create', base, '--size', '4M');
    await ok('snapshot', base, '--out', vm);
    await ok('write', vm, '--offset', '0', '--input', data(20000, 15));
    const snap = (JSON.parse(await ok('snapshot', vm, '--json')) as { snapshot: string }).snapshot;
    expect(nodePath.dirname(snap)).toBe(tmp.file('B'));
    expect(await refuses('HAS_CHILDREN', ['resize', base, '--size', '8M'])).toContain(snap);
  });

  it('snapshot in place through a symlink snapshots the file it leads to; the symlink then leads to the new child', async () => {
    mkdirSync(tmp.file('B'));
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '4M');
    await ok('write', d, '--offset', '0', '--input', data(20000, 16));
    const link = tmp.file('B', 'link.vhd');
    symlinkSync(d, link);
    const view = await readThrough(d);
    const r = JSON.parse(await ok('snapshot', link, '--json')) as { snapshot: string; active: string };
    expect(r.active).toBe(d);
    expect(nodePath.dirname(r.snapshot)).toBe(tmp.dir);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((await readThrough(link)).equals(view)).toBe(true);
    expect((await readThrough(r.snapshot)).equals(view)).toBe(true);
    await ok('write', link, '--offset', '0', '--input', data(100, 17));
    expect((await readThrough(r.snapshot)).equals(view)).toBe(true);
  });
});

describe('revert through a symlink', () => {
  it('reverts the file the symlink leads to; the symlink stays and leads to the new child', async () => {
    mkdirSync(tmp.file('B'));
    const [base, d] = [tmp.file('base.vhd'), tmp.file('d.vhd')];
    await ok('create', base, '--size', '4M');
    await ok('write', base, '--offset', '0', '--input', data(20000, 18));
    await ok('snapshot', base, '--out', d);
    await ok('write', d, '--offset', '0', '--input', data(20000, 19));
    const link = tmp.file('B', 'link.vhd');
    symlinkSync(d, link);
    const current = await readThrough(d);
    const r = JSON.parse(await ok('revert', link, '--keep', '--json')) as { active: string; kept: string };
    expect(r.active).toBe(d);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((await readThrough(link)).equals(await readThrough(base))).toBe(true);
    expect((await readThrough(r.kept)).equals(current)).toBe(true);
  });
});

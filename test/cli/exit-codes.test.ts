// Exit codes as a script sees them: 1 for a refusal or problems found, 2 for a
// usage error or unreadable input, and a dry run exits as its run would.
// Each refusal leaves every file byte-identical.
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { cli } from '../support/cli.js';
import { folderState } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const MiB = 1024 * 1024;
const tmp = useTmpDir('vhdsnap-cli-exit-');

/** `argv` refused with `code`: exit 1 in the dry run and the run, the code on stderr and in the --json document, nothing changed. */
async function expectRefused(argv: string[], code: string): Promise<void> {
  const before = folderState(tmp.dir);
  const what = `vhdsnap ${argv.join(' ')}`;
  const dry = await cli(...argv, '--dry-run', '--json');
  expect(dry.code, `${what} --dry-run: ${dry.err}`).toBe(1);
  expect(
    JSON.parse(dry.out).refusals.map((r: { code: string }) => r.code),
    what,
  ).toContain(code);
  const plain = await cli(...argv);
  expect(plain.code, `${what}: ${plain.err}`).toBe(1);
  expect(plain.err, what).toContain(`[${code}]`);
  const json = await cli(...argv, '--json');
  expect(json.code, what).toBe(1);
  expect(JSON.parse(json.out).error.code, what).toBe(code);
  expect(folderState(tmp.dir), what).toEqual(before);
}

describe('reparent: every safety refusal exits 1, as its dry run', () => {
  it('another id, another size, a cycle, itself, a disk without a parent', async () => {
    const a = tmp.file('a.vhd');
    const b = tmp.file('b.vhd');
    const c = tmp.file('c.vhd');
    await createDynamic(a, 8 * MiB);
    await createDifferencing(b, a);
    await createDifferencing(c, b);
    const other = tmp.file('other.vhd');
    await createDynamic(other, 8 * MiB);
    const big = tmp.file('big.vhd');
    await createDynamic(big, 16 * MiB);
    await expectRefused(['reparent', c, other], 'PARENT_ID_MISMATCH');
    await expectRefused(['reparent', c, big, '--ignore-id-mismatch'], 'PARENT_SIZE_MISMATCH');
    await expectRefused(['reparent', b, c, '--ignore-id-mismatch'], 'CHAIN_CYCLE');
    await expectRefused(['reparent', c, c], 'SELF_PARENT');
    await expectRefused(['reparent', a, other], 'NOT_DIFFERENCING');
  });

  it('a new parent that is not there is unreadable input: exit 2, dry run too', async () => {
    const a = tmp.file('a.vhd');
    const b = tmp.file('b.vhd');
    await createDynamic(a, 8 * MiB);
    await createDifferencing(b, a);
    const before = folderState(tmp.dir);
    for (const extra of [[], ['--dry-run']]) {
      const r = await cli('reparent', b, tmp.file('gone.vhd'), ...extra);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain('[NOT_FOUND]');
    }
    expect(folderState(tmp.dir)).toEqual(before);
  });
});

describe('tree: exit 1 when it lists orphans or unreadable files', () => {
  it('a clean folder 0; an orphan 1; an unreadable file 1; the forest is printed either way', async () => {
    const base = tmp.file('base.vhd');
    await createDynamic(base, 4 * MiB);
    await createDifferencing(tmp.file('child.vhd'), base);
    const clean = await cli('tree', tmp.dir, '--json');
    expect(clean.code, clean.err).toBe(0);
    expect(JSON.parse(clean.out).roots).toHaveLength(1);

    writeFileSync(tmp.file('junk.vhd'), Buffer.alloc(1024, 0x41));
    const unreadable = await cli('tree', tmp.dir, '--json');
    expect(unreadable.code).toBe(1);
    expect(JSON.parse(unreadable.out).unreadable.map((u: { path: string }) => u.path)).toEqual([tmp.file('junk.vhd')]);
    expect((await cli('tree', tmp.dir)).code).toBe(1);

    const orphanDir = tmp.file('o');
    mkdirSync(orphanDir);
    const lost = tmp.file('o', 'lost-parent.vhd');
    await createDynamic(lost, 4 * MiB);
    await createDifferencing(tmp.file('o', 'orphan.vhd'), lost);
    unlinkSync(lost);
    const orphan = await cli('tree', orphanDir, '--json');
    expect(orphan.code).toBe(1);
    expect(JSON.parse(orphan.out).orphans.map((o: { path: string }) => o.path)).toEqual([tmp.file('o', 'orphan.vhd')]);
  });
});

describe('usage errors exit 2', () => {
  it('a missing option, a bad value, an unknown command', async () => {
    expect((await cli('create', tmp.file('x.vhd'))).code).toBe(2);
    expect((await cli('create', tmp.file('x.vhd'), '--size', 'lots')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
  });
});

// Real permission errors, not simulated ones: the built CLI run as an
// unprivileged user (root, which these tests usually run as, ignores file
// modes). A disk that user may write, in a folder it may not: the child it
// would put elsewhere cannot be recorded (CANNOT_RECORD_CHILD), a snapshot in
// place needs the folder (NO_PERMISSION), both refused in the dry run and the
// run before any write; writing the disk in place works, its lock kept in the
// user's own lock folder.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDynamic } from '../../core/ops/create.js';
import { sha } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const BUNDLE = nodePath.resolve(import.meta.dirname, '../../dist/cli/vhdsnap.cjs');
const NOBODY = 65534;
const tmp = useTmpDir('vhdsnap-unprivileged-');

/** Every folder from / down to `dir` lets others through (a checkout under a private mktemp folder does not). */
function traversable(dir: string): boolean {
  for (let d = nodePath.resolve(dir); ; d = nodePath.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === nodePath.dirname(d)) return true;
  }
}

// The built CLI is copied next to each test's disks (the checkout itself may be private to root); the
// temp folder above them and node must be reachable by the unprivileged user.
const canDrop =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  spawnSync('setpriv', ['--version']).status === 0 &&
  traversable(os.tmpdir()) &&
  traversable(nodePath.dirname(process.execPath));

function asNobody(...argv: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, tmp.file('vhdsnap.cjs'), ...argv], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: tmp.file('nobody-tmp') },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!canDrop)('as an unprivileged user (real EACCES)', () => {
  async function setup() {
    // The test folder must be traversable; A is root's (read-only to nobody), B and the disk are nobody's.
    chmodSync(tmp.dir, 0o755);
    copyFileSync(BUNDLE, tmp.file('vhdsnap.cjs'));
    const A = tmp.file('A');
    const B = tmp.file('B');
    mkdirSync(A, { mode: 0o755 });
    mkdirSync(B);
    mkdirSync(tmp.file('nobody-tmp'));
    for (const p of [B, tmp.file('nobody-tmp')]) chownSync(p, NOBODY, NOBODY);
    const base = nodePath.join(A, 'base.vhd');
    await createDynamic(base, 4 * 2 ** 20);
    chownSync(base, NOBODY, NOBODY);
    const data = nodePath.join(B, 'data.bin');
    writeFileSync(data, Buffer.alloc(4096, 9));
    chownSync(data, NOBODY, NOBODY);
    return { A, B, base, data };
  }

  it('snapshot --out into another folder: CANNOT_RECORD_CHILD; snapshot in place: NO_PERMISSION — dry run and run alike, nothing written', async () => {
    const { A, B, base } = await setup();
    const before = { base: sha(base), A: readdirSync(A), B: readdirSync(B) };
    for (const [argv, code, exit] of [
      [['snapshot', base, '--out', nodePath.join(B, 'c.vhd')], 'CANNOT_RECORD_CHILD', 1],
      [['snapshot', base], 'NO_PERMISSION', 2],
    ] as const) {
      const dry = asNobody(...argv, '--dry-run', '--json');
      const run = asNobody(...argv, '--json');
      const codeOf = (out: string) => {
        const j = JSON.parse(out) as { error?: { code: string }; refusals?: { code: string }[] };
        return j.error?.code ?? j.refusals?.map((r) => r.code).join(',');
      };
      expect(codeOf(dry.out), dry.err).toBe(code);
      expect(codeOf(run.out), run.err).toBe(code);
      expect(run.code).toBe(exit);
      expect(dry.code).toBe(exit);
      expect({ base: sha(base), A: readdirSync(A), B: readdirSync(B) }).toEqual(before);
    }
  });

  it('write into the disk in place works: its lock goes to the user lock folder, nothing is left in the folder', async () => {
    const { A, base, data } = await setup();
    const before = sha(base);
    const r = asNobody('write', base, '--offset', '0', '--input', data);
    expect(r.code, r.err).toBe(0);
    expect(sha(base)).not.toBe(before);
    expect(readdirSync(A)).toEqual(['base.vhd']);
    // The user's lock folder was made (private) in the user's temp folder.
    expect(readdirSync(tmp.file('nobody-tmp'))).toEqual([`vhdsnap-locks-${NOBODY}`]);
  });

  it('merge whose grandchild sits in a folder the user cannot write: NO_PERMISSION from the plan, in the dry run and the run, nothing written', async () => {
    const { A, B, base, data } = await setup();
    chownSync(A, NOBODY, NOBODY);
    const s = nodePath.join(A, 's.vhd');
    const g = nodePath.join(B, 'g.vhd');
    expect(asNobody('snapshot', base, '--out', s).code).toBe(0);
    expect(asNobody('write', s, '--offset', '0', '--input', data).code).toBe(0);
    expect(asNobody('snapshot', s, '--out', g).code).toBe(0);
    chownSync(B, 0, 0);
    const state = () => [base, s, g].map(sha).concat(readdirSync(A).join(','), readdirSync(B).join(','));
    const before = state();
    for (const dry of [true, false]) {
      const r = asNobody('merge', s, ...(dry ? ['--dry-run'] : []), '--json');
      expect(r.code, r.err).toBe(2);
      expect((JSON.parse(r.out) as { error: { code: string; path?: string } }).error).toMatchObject({ code: 'NO_PERMISSION' });
      expect(state()).toEqual(before);
    }
  });
});

// create and import accept and refuse the same new disks (one validator,
// core/ops/create.ts validateNewDisk), each refusal saying why, before any
// file is made.
import { promises as fsp, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-cli-validation-');

/** A 1 MiB raw image to import. */
async function raw(): Promise<string> {
  const p = tmp.file('disk.raw');
  await fsp.writeFile(p, Buffer.alloc(1024 * 1024, 7));
  return p;
}

interface Case {
  name: string;
  /** The options after `create x.vhd` (with --size) and after `import disk.raw x.vhd` (without it). */
  create: string[];
  import: string[] | null;
  code: string;
  says: RegExp;
}

const CASES: Case[] = [
  {
    name: '--block-size with --type fixed',
    create: ['--size', '1M', '--type', 'fixed', '--block-size', '512K'],
    import: ['--type', 'fixed', '--block-size', '512K'],
    code: 'BAD_BLOCK_SIZE',
    says: /dynamic disks only/,
  },
  {
    name: 'a block size below 4 KiB (qemu-img misreads them)',
    create: ['--size', '1M', '--block-size', '2K'],
    import: ['--block-size', '2K'],
    code: 'BAD_BLOCK_SIZE',
    says: /qemu-img misreads disks with blocks smaller than 4 KiB/,
  },
  { name: 'a 512-byte block size', create: ['--size', '1M', '--block-size', '512'], import: ['--block-size', '512'], code: 'BAD_BLOCK_SIZE', says: /qemu-img/ },
  {
    name: 'a block size that is not a power of two',
    create: ['--size', '1M', '--block-size', '3M'],
    import: ['--block-size', '3M'],
    code: 'BAD_BLOCK_SIZE',
    says: /power of two/,
  },
  { name: '--size 9999T', create: ['--size', '9999T'], import: null, code: 'BAD_SIZE', says: /too large \(VHD maximum .*2040 GiB/ },
  {
    name: '--size 3T fixed (past the VHD maximum)',
    create: ['--size', '3T', '--type', 'fixed'],
    import: null,
    code: 'BAD_SIZE',
    says: /too large \(VHD maximum/,
  },
  { name: '--size 2041G dynamic', create: ['--size', '2041G'], import: null, code: 'BAD_SIZE', says: /too large \(VHD maximum/ },
];

describe('create and import refuse the same', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const r = await cli('create', tmp.file('x.vhd'), ...c.create, '--json');
      expect(r.code).toBe(2);
      expect(JSON.parse(r.out).error.code).toBe(c.code);
      expect(r.err).toMatch(c.says);
      if (c.import) {
        const i = await cli('import', await raw(), tmp.file('x.vhd'), ...c.import, '--json');
        expect(i.code).toBe(2);
        expect(JSON.parse(i.out).error.code).toBe(c.code);
        expect(i.err).toMatch(c.says);
      }
      // Nothing made, not even a temp.
      expect(readdirSync(tmp.dir).filter((n) => n !== 'disk.raw')).toEqual([]);
    });
  }

  it('the limits themselves are accepted: 4 KiB blocks, 2040 GiB dynamic and fixed', async () => {
    expect((await cli('create', tmp.file('a.vhd'), '--size', '1M', '--block-size', '4K')).code).toBe(0);
    expect((await cli('import', await raw(), tmp.file('b.vhd'), '--block-size', '4K')).code).toBe(0);
    expect((await cli('create', tmp.file('c.vhd'), '--size', '2040G')).code).toBe(0);
    expect((await cli('create', tmp.file('d.vhd'), '--size', '2040G', '--type', 'fixed')).code).toBe(0);
    // The fixed one is a sparse file: it can be snapshotted.
    expect((await cli('snapshot', tmp.file('d.vhd'), '--dry-run')).code).toBe(0);
  });
});

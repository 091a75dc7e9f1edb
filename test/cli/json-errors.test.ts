// With --json every outcome is on stdout: a failure prints one error document
// (code, message, path/field where known) besides the line on stderr, with the
// exit code of its kind (1 refused, 2 usage or unreadable input).
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { cli } from '../support/cli.js';
import { folderState } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-cli-json-');

describe('--json failures', () => {
  it('a missing disk: exit 2 and an error document naming the code', async () => {
    const r = await cli('merge', tmp.file('nope.vhd'), '--json');
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.out);
    expect(doc.error.code).toBe('NOT_FOUND');
    expect(doc.error.message).toContain('nope.vhd');
    expect(r.err).toContain('[NOT_FOUND]');
  });

  it('a refusal: exit 1, the refusal code on stdout, nothing written', async () => {
    const base = tmp.file('base.vhd');
    await createDynamic(base, 4 * 1024 * 1024);
    await createDifferencing(tmp.file('child.vhd'), base);
    const input = tmp.file('data.bin');
    await fsp.writeFile(input, Buffer.alloc(4096, 1));
    const before = folderState(tmp.dir);
    const r = await cli('write', base, '--offset', '0', '--input', input, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ error: { code: 'HAS_CHILDREN' } });
    expect(folderState(tmp.dir)).toEqual(before);
  });

  it('a usage error: exit 2 and USAGE on stdout; without --json stdout stays empty', async () => {
    const r = await cli('resize', tmp.file('x.vhd'), '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error.code).toBe('USAGE');
    const plain = await cli('resize', tmp.file('x.vhd'));
    expect(plain.code).toBe(2);
    expect(plain.out).toBe('');
  });
});

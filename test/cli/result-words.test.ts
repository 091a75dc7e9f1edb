// What the CLI says after a run, for every command whose result is a size:
// one sentence, the size in binary units with its exact byte count beside it
// (a script reads that, or --json, which keeps the bare numbers).
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { cli } from '../support/cli.js';

const MiB = 2 ** 20;

async function ok(...argv: string[]) {
  const r = await cli(...argv);
  expect(r.code, `${argv.join(' ')}: ${r.err}`).toBe(0);
  return r;
}

describe('CLI results in words', () => {
  const tmp = useTmpDir('vhdsnap-cli-words-');

  it('create, import, export, write and flatten each print one sentence with human units and the exact bytes', async () => {
    const d = tmp.file('d.vhd');
    expect((await ok('create', d, '--size', '8M')).out).toBe(`Created ${d}: a dynamic disk of 8 MiB (8388608 bytes).\n`);
    const f = tmp.file('f.vhd');
    expect((await ok('create', f, '--size', '1536K', '--type', 'fixed')).out).toBe(`Created ${f}: a fixed disk of 1.5 MiB (1572864 bytes).\n`);

    const input = tmp.file('in.bin');
    await fsp.writeFile(input, new Rng(1).bytes(3000));
    expect((await ok('write', d, '--offset', String(3 * MiB), '--input', input)).out).toBe(
      `Wrote 2.93 KiB (3000 bytes) into ${d}, 3 MiB (3145728 bytes) from its start.\n`,
    );
    expect((await ok('write', d, '--offset', '512', '--input', input)).out).toBe(`Wrote 2.93 KiB (3000 bytes) into ${d}, 512 B from its start.\n`);

    const raw = tmp.file('d.raw');
    expect((await ok('export', d, raw)).out).toBe(`Exported ${d} to ${raw}: a raw image of 8 MiB (8388608 bytes).\n`);
    const back = tmp.file('back.vhd');
    // The default block is 2 MiB: the writes at 512 and at 3 MiB touch blocks 0 and 1.
    expect((await ok('import', raw, back)).out).toBe(`Imported ${raw} into ${back}: a dynamic disk of 8 MiB (8388608 bytes), 2 blocks stored.\n`);
    const flat = tmp.file('flat.vhd');
    expect((await ok('flatten', d, flat, '--format', 'fixed')).out).toBe(
      `Flattened ${d} into ${flat}: a standalone fixed VHD disk of 8 MiB (8388608 bytes).\n`,
    );
  });

  it('no result line of these commands is a bare byte count', async () => {
    const d = tmp.file('d.vhd');
    const input = tmp.file('in.bin');
    await fsp.writeFile(input, Buffer.alloc(4096, 7));
    const outs = [
      (await ok('create', d, '--size', '4M')).out,
      (await ok('write', d, '--offset', '0', '--input', input)).out,
      (await ok('resize', d, '--size', '6M')).out,
      (await ok('compact', d)).out,
      (await ok('export', d, tmp.file('d.raw'))).out,
    ];
    for (const out of outs) {
      // Every "N bytes" stands in parentheses after the same size in units; each line is a sentence.
      expect(out.replace(/ \(\d+ bytes\)/g, ''), out).not.toMatch(/\d+ bytes/);
      expect(out, out).toMatch(/^[A-Z/].*\.\n$/);
    }
  });

  it('--json keeps the bare numbers for scripts', async () => {
    const d = tmp.file('d.vhd');
    await ok('create', d, '--size', '4M');
    const r = JSON.parse((await ok('resize', d, '--size', '6M', '--json')).out) as unknown;
    expect(r).toEqual({ path: d, oldSize: 4 * MiB, newSize: 6 * MiB });
  });
});

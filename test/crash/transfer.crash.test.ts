// create, import and export killed at random I/O steps. Each writes one new
// file under a temp name and links it into place: after recovery the output is
// absent or complete, the temp is gone, and the inputs never change. The
// expected content is independent of the code under test: the raw input's
// bytes (import), zeros (create), the source as read before (export).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { Rng } from '../support/model.js';
import { crashSuite, type FolderState } from './harness.js';
import { KiB, MiB, SIZE, treeSetup } from './scenarios.js';

/** Adds a plain file to the starting folder. */
const withRaw = (name: string, bytes: (n: number) => Buffer) => async (dir: string) => {
  await fsp.writeFile(`${dir}/${name}`, bytes(SIZE));
};

/** export's output is no disk: when it exists, it must hold exactly what the source read before. */
async function exportComplete(dir: string, state: FolderState): Promise<void> {
  const out = await fsp.readFile(`${dir}/out.raw`).catch(() => null);
  if (out === null) return;
  const hash = createHash('sha256').update(out).digest('hex').slice(0, 16);
  if (hash !== state.get('d2.vhd')!.hash) throw new Error(`out.raw exists but does not hold the content of d2.vhd (${out.length} bytes)`);
}

crashSuite('import', [
  {
    name: 'import (raw → dynamic, 64 KiB blocks)',
    setup: treeSetup({ parents: [null], seed: 1101, then: withRaw('data.raw', (n) => Buffer.concat([new Rng(1102).bytes(n / 2), Buffer.alloc(n / 2)])) }),
    request: (dir) => ({ cli: ['import', `${dir}/data.raw`, `${dir}/new.vhd`, '--block-size', `${64 * KiB}`] }),
    after: { 'new.vhd': { raw: 'data.raw' } },
  },
  {
    name: 'import (raw → fixed)',
    setup: treeSetup({ parents: [null], seed: 1103, then: withRaw('data.raw', (n) => new Rng(1104).bytes(n)) }),
    request: (dir) => ({ cli: ['import', `${dir}/data.raw`, `${dir}/new.vhd`, '--type', 'fixed'] }),
    after: { 'new.vhd': { raw: 'data.raw' } },
  },
]);

crashSuite('export', [
  {
    name: 'export (3-disk chain → raw)',
    setup: treeSetup({ parents: [null, 0, 1], seed: 1201, blockSize: 64 * KiB, junk: [1] }),
    request: (dir) => ({ cli: ['export', `${dir}/d2.vhd`, `${dir}/out.raw`] }),
    after: {},
    outputs: ['out.raw'],
    verify: exportComplete,
  },
]);

crashSuite('create', [
  {
    name: 'create (dynamic)',
    setup: treeSetup({ parents: [null], seed: 1301, then: withRaw('zero.raw', () => Buffer.alloc(3 * MiB)) }),
    request: (dir) => ({ cli: ['create', `${dir}/new.vhd`, '--size', '3M', '--block-size', '512K'] }),
    after: { 'new.vhd': { raw: 'zero.raw' } },
  },
  {
    name: 'create (fixed)',
    setup: treeSetup({ parents: [null], seed: 1302, then: withRaw('zero.raw', () => Buffer.alloc(3 * MiB)) }),
    request: (dir) => ({ cli: ['create', `${dir}/new.vhd`, '--size', '3M', '--type', 'fixed'] }),
    after: { 'new.vhd': { raw: 'zero.raw' } },
  },
]);

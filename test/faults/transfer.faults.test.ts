// Every I/O step of import (to VHD and to VHDX), export and a plain write failed in turn. Import
// and export write under a temporary name: the output is complete or absent,
// the input untouched. A write has no journal: each byte of the disk reads as
// before or as written, the other disks are unchanged, and the file stays
// valid (check --deep clean). See sweep.ts.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { openDisk, openWritableVhdxDisk } from '../../core/disk/chain.js';

import { makeAvhdxOverBase } from '../support/vhdx-build.js';
import { VhdxFile } from '../../core/disk/vhdx-file.js';
import { exportRaw, importRaw } from '../../core/ops/transfer.js';
import { treeSetup, KiB } from '../crash/scenarios.js';
import type { FolderState } from '../crash/harness.js';
import { Rng } from '../support/model.js';
import { readThrough } from '../support/tree.js';
import { expectSweepClean, sweep, type FaultCase } from './sweep.js';

const MiB = 1024 * KiB;
const SIZE = 1 * MiB + 3 * 512;
const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

function unchanged(before: FolderState, state: FolderState): void {
  for (const [n, s] of before) {
    const t = state.get(n);
    if (!t || t.hash !== s.hash || t.parent !== s.parent) throw new Error(`${n} changed`);
  }
}

/** Fills in `before` during setup; the checks compare against it. */
function importCase(): FaultCase {
  let raw: Buffer;
  return {
    name: 'import (raw → dynamic)',
    setup: async (dir) => {
      const rng = new Rng(31);
      raw = Buffer.alloc(SIZE - 100); // not a sector multiple: padded on import
      for (let i = 0; i < 6; i++) rng.bytes(20 * KiB).copy(raw, rng.int(raw.length - 20 * KiB));
      writeFileSync(`${dir}/in.raw`, raw);
    },
    run: (dir) => importRaw(`${dir}/in.raw`, `${dir}/out.vhd`, { blockSize: 64 * KiB }),
    after: {},
    mixed: async (dir, state, done) => {
      if (!readFileSync(`${dir}/in.raw`).equals(raw)) throw new Error('the input changed');
      if ([...state.keys()].some((n) => n !== 'out.vhd')) throw new Error(`unexpected disks: ${[...state.keys()].join(', ')}`);
      if (done && !existsSync(`${dir}/out.vhd`)) throw new Error('import reported success without out.vhd');
      if (existsSync(`${dir}/out.vhd`)) {
        const got = await readThrough(`${dir}/out.vhd`);
        if (!got.subarray(0, raw.length).equals(raw) || got.subarray(raw.length).some((x) => x !== 0))
          throw new Error('out.vhd exists but is not the raw image');
      }
    },
  };
}

/** The same import to a dynamic VHDX (1 MiB blocks): the output is complete or absent. */
function importVhdxCase(): FaultCase {
  let raw: Buffer;
  return {
    name: 'import (raw → dynamic VHDX)',
    setup: async (dir) => {
      const rng = new Rng(34);
      raw = Buffer.alloc(SIZE - 100);
      for (let i = 0; i < 6; i++) rng.bytes(20 * KiB).copy(raw, rng.int(raw.length - 20 * KiB));
      writeFileSync(`${dir}/in.raw`, raw);
    },
    run: (dir) => importRaw(`${dir}/in.raw`, `${dir}/out.vhdx`, { blockSize: MiB }),
    after: {},
    mixed: async (dir, _state, done) => {
      if (!readFileSync(`${dir}/in.raw`).equals(raw)) throw new Error('the input changed');
      if (done && !existsSync(`${dir}/out.vhdx`)) throw new Error('import reported success without out.vhdx');
      if (existsSync(`${dir}/out.vhdx`)) {
        const f = await VhdxFile.open(`${dir}/out.vhdx`);
        try {
          const got = await f.read(0, f.virtualSize);
          if (!got.subarray(0, raw.length).equals(raw) || got.subarray(raw.length).some((x) => x !== 0))
            throw new Error('out.vhdx exists but is not the raw image');
        } finally {
          await f.close();
        }
      }
    },
  };
}

function exportCase(): FaultCase {
  let content: Buffer;
  return {
    name: 'export (3-disk chain → raw)',
    setup: async (dir) => {
      await treeSetup({ parents: [null, 0, 1], seed: 32, blockSize: 64 * KiB, size: SIZE, writesPerLayer: 5 })(dir);
      content = await readThrough(`${dir}/d2.vhd`);
    },
    run: (dir) => exportRaw(`${dir}/d2.vhd`, `${dir}/out.raw`),
    after: {},
    mixed: async (dir, state, done) => {
      if (state.get('d2.vhd')?.hash !== hash(content)) throw new Error('the source changed');
      if (done && !existsSync(`${dir}/out.raw`)) throw new Error('export reported success without out.raw');
      if (existsSync(`${dir}/out.raw`) && !readFileSync(`${dir}/out.raw`).equals(content)) throw new Error('out.raw exists but is not the disk content');
    },
  };
}

/** A write through a differencing disk: existing blocks and new ones, unaligned ends. */
function writeCase(): FaultCase {
  let before: Buffer;
  let after: Buffer;
  let beforeState: FolderState;
  const offset = 60 * KiB + 7;
  const data = new Rng(33).bytes(200 * KiB);
  return {
    name: 'write (differencing leaf, existing and new blocks)',
    setup: async (dir) => {
      await treeSetup({ parents: [null, 0, 1], seed: 33, blockSize: 64 * KiB, size: SIZE, writesPerLayer: 4 })(dir);
      before = await readThrough(`${dir}/d2.vhd`);
      after = Buffer.from(before);
      data.copy(after, offset);
      beforeState = new Map();
      for (const n of ['d0.vhd', 'd1.vhd']) beforeState.set(n, { hash: hash(await readThrough(`${dir}/${n}`)), parent: n === 'd1.vhd' ? 'd0.vhd' : null });
    },
    run: async (dir) => {
      const d = await openDisk(`${dir}/d2.vhd`, { writable: true });
      try {
        await d.write(offset, data);
      } finally {
        await d.close();
      }
    },
    after: {},
    mixed: async (dir, state, done) => {
      unchanged(beforeState, state);
      const got = await readThrough(`${dir}/d2.vhd`);
      if (done && !got.equals(after)) throw new Error('the write reported success but the disk does not show it');
      for (let i = 0; i < got.length; i++) {
        if (got[i] !== before[i] && got[i] !== after[i]) throw new Error(`byte ${i} of d2.vhd is neither the old nor the written value`);
      }
      if (state.get('d2.vhd')?.parent !== 'd1.vhd') throw new Error('d2.vhd lost its parent');
    },
  };
}

/** A write into an AVHDX child: a partially present block and new ones, through the VHDX log. */
function writeVhdxCase(): FaultCase {
  let before: Buffer;
  let after: Buffer;
  let parentHash: string;
  const offset = 3 * MiB + 4096 + 100;
  const data = new Rng(36).bytes(MiB + 300);
  return {
    name: 'write (AVHDX child, partially present and new blocks)',
    setup: async (dir) => {
      const rng = new Rng(35);
      await makeAvhdxOverBase(dir, rng);
      before = await readThrough(`${dir}/child.avhdx`);
      after = Buffer.from(before);
      data.copy(after, offset);
      parentHash = hash(await readThrough(`${dir}/base.vhdx`));
    },
    run: async (dir) => {
      const d = await openWritableVhdxDisk(`${dir}/child.avhdx`);
      try {
        await d.write(offset, data);
      } finally {
        await d.close();
      }
    },
    after: {},
    mixed: async (dir, _state, done) => {
      if (hash(await readThrough(`${dir}/base.vhdx`)) !== parentHash) throw new Error('base.vhdx changed');
      const got = await readThrough(`${dir}/child.avhdx`);
      if (done && !got.equals(after)) throw new Error('the write reported success but the disk does not show it');
      // Data lands in new space or clear sectors before the metadata names it: all before or all after.
      if (!got.equals(before) && !got.equals(after)) throw new Error('child.avhdx reads as neither before nor after');
    },
  };
}

describe('I/O failures during import, export and write', () => {
  for (const make of [importCase, importVhdxCase, exportCase, writeCase, writeVhdxCase]) {
    const c = make();
    it(`${c.name}: every I/O step failed in turn`, { timeout: 300_000 }, async () => {
      expectSweepClean(c.name, await sweep(c), 5);
    });
  }
});

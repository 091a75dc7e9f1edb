// Repair killed at random I/O steps: afterwards the file is byte for byte
// either the damaged original or the fully repaired one, never a mix.
import { promises as fsp, readFileSync } from 'node:fs';
import { encodeHeader, HEADER_OFFSETS, HEADER_SIZE, readHeaderCopy } from '../../core/format/vhdx/header.js';
import { REGION_TABLE_OFFSETS, REGION_TABLE_SIZE } from '../../core/format/vhdx/region.js';
import { Rng } from '../support/model.js';
import { makeVhdx } from '../support/vhdx-build.js';
import { crashSuite } from './harness.js';
import { treeSetup } from './scenarios.js';

type Damage = 'trailing' | 'copy';

/** Damages `disk`'s footer(s) and keeps both the pristine and the damaged bytes beside it. */
function damageFooter(disk: string, how: Damage) {
  return async (dir: string) => {
    const p = `${dir}/${disk}`;
    const pristine = await fsp.readFile(p);
    const damaged = Buffer.from(pristine);
    const trailing = damaged.length - 512;
    // Byte 100 is in the reserved area: only the checksum notices.
    damaged[how === 'trailing' ? trailing + 100 : 100] ^= 0x5a;
    await fsp.writeFile(`${dir}/pristine.bin`, pristine);
    await fsp.writeFile(`${dir}/damaged.bin`, damaged);
    await fsp.writeFile(p, damaged);
  };
}

function verifyWhole(disk: string) {
  return async (dir: string) => {
    const now = readFileSync(`${dir}/${disk}`);
    if (!now.equals(readFileSync(`${dir}/pristine.bin`)) && !now.equals(readFileSync(`${dir}/damaged.bin`))) {
      throw new Error(`${disk} is neither the damaged original nor the repaired file`);
    }
  };
}

const TOLERATE = ['FOOTER_CHECKSUM', 'FOOTER_COPY_INVALID', 'FOOTER_COPY_MISMATCH', 'FOOTER_FROM_COPY'];

/**
 * d.vhdx with header1 and region table 2 damaged; beside it the damaged bytes
 * and the repaired ones, made here with the codecs: header1 is header2 with
 * the next sequence number, table 2 a copy of table 1.
 */
async function damagedVhdx(dir: string): Promise<void> {
  const p = `${dir}/d.vhdx`;
  await makeVhdx(p, { kind: 'dynamic', virtualSize: 4 * 1024 * 1024, writes: [{ offset: 8192, data: new Rng(815).bytes(300000) }] });
  const damaged = await fsp.readFile(p);
  const h2 = readHeaderCopy(damaged.subarray(HEADER_OFFSETS[1], HEADER_OFFSETS[1] + HEADER_SIZE), 2).header;
  damaged[HEADER_OFFSETS[0] + 40] ^= 0x5a;
  damaged.write('XXXX', REGION_TABLE_OFFSETS[1]);
  const repaired = Buffer.from(damaged);
  repaired.set(encodeHeader({ ...h2, sequenceNumber: h2.sequenceNumber + 1n }), HEADER_OFFSETS[0]);
  repaired.set(damaged.subarray(REGION_TABLE_OFFSETS[0], REGION_TABLE_OFFSETS[0] + REGION_TABLE_SIZE), REGION_TABLE_OFFSETS[1]);
  await fsp.writeFile(`${dir}/pristine.bin`, repaired);
  await fsp.writeFile(`${dir}/damaged.bin`, damaged);
  await fsp.writeFile(p, damaged);
}

crashSuite('repair', [
  {
    name: 'repair (trailing footer restored from its copy)',
    setup: treeSetup({ parents: [null], seed: 811, writesPerLayer: 6, then: damageFooter('d0.vhd', 'trailing') }),
    request: (dir) => ({ op: 'repair', disk: `${dir}/d0.vhd` }),
    after: {},
    tolerateCheck: TOLERATE,
    verify: verifyWhole('d0.vhd'),
  },
  {
    name: 'repair (footer copy at 0 restored from the trailing footer)',
    setup: treeSetup({ parents: [null], seed: 812, writesPerLayer: 6, then: damageFooter('d0.vhd', 'copy') }),
    request: (dir) => ({ op: 'repair', disk: `${dir}/d0.vhd` }),
    after: {},
    tolerateCheck: TOLERATE,
    verify: verifyWhole('d0.vhd'),
  },
  {
    name: 'repair (differencing child, footer copy at 0)',
    setup: treeSetup({ parents: [null, 0], seed: 813, writesPerLayer: 6, then: damageFooter('d1.vhd', 'copy') }),
    request: (dir) => ({ op: 'repair', disk: `${dir}/d1.vhd` }),
    after: {},
    tolerateCheck: TOLERATE,
    verify: verifyWhole('d1.vhd'),
  },
  {
    name: 'repair (differencing child, trailing footer)',
    setup: treeSetup({ parents: [null, 0], seed: 814, writesPerLayer: 6, then: damageFooter('d1.vhd', 'trailing') }),
    request: (dir) => ({ op: 'repair', disk: `${dir}/d1.vhd` }),
    after: {},
    tolerateCheck: TOLERATE,
    verify: verifyWhole('d1.vhd'),
  },
  {
    name: 'repair (VHDX header and region table from their copies)',
    setup: damagedVhdx,
    request: (dir) => ({ op: 'repair', disk: `${dir}/d.vhdx` }),
    after: {},
    tolerateCheck: ['VHDX_HEADER_CHECKSUM', 'VHDX_REGION_TABLE_COPY'],
    verify: verifyWhole('d.vhdx'),
  },
]);

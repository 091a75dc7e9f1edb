// Repair killed at random I/O steps: afterwards the file is byte for byte
// either the damaged original or the fully repaired one, never a mix.
import { promises as fsp, readFileSync } from 'node:fs';
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
]);

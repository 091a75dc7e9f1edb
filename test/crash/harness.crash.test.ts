// The harness must be able to fail: `vhdsnap write` is not journaled, so a
// kill while it overwrites existing blocks in place leaves a disk that is
// neither the before nor the after state. The harness has to report that.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importRaw } from '../../core/ops/transfer.js';
import { Rng } from '../support/model.js';
import { removeTmpDir } from '../support/tmp.js';
import { bundleChild, listingMismatch, runCrashCase, summaryLine, type Bundle, type CrashCase } from './harness.js';
import { KiB, SIZE, treeSetup } from './scenarios.js';

const torn: CrashCase = {
  name: 'unjournaled write (negative control)',
  // d0 has blocks allocated here and there; the write covers the whole disk, so
  // existing blocks are overwritten in place one write call at a time.
  setup: treeSetup({
    parents: [null],
    seed: 901,
    blockSize: 16 * KiB,
    writesPerLayer: 40,
    then: async (dir) => {
      await writeFile(`${dir}/data.raw`, new Rng(902).bytes(SIZE));
      await importRaw(`${dir}/data.raw`, `${dir}/ref.vhd`, { blockSize: 16 * KiB });
    },
  }),
  request: (dir) => ({ cli: ['write', `${dir}/d0.vhd`, '--offset', '0', '--input', `${dir}/data.raw`] }),
  after: { 'd0.vhd': { content: 'ref.vhd' } },
  runs: 12,
};

describe('crash harness', () => {
  let bundle: Bundle;
  beforeAll(async () => {
    bundle = await bundleChild();
  });
  afterAll(() => {
    if (bundle) removeTmpDir(bundle.dir);
  });

  it('reports torn content when the operation is not crash-safe', async () => {
    const seed = 12345;
    const stats = await runCrashCase(bundle, torn, seed);
    console.log(summaryLine(torn.name, stats, seed));
    // The clean run reached exactly the expected state (else runCrashCase throws), and kills were exercised.
    expect(stats.killPoints).toBe(12);
    const neither = stats.failures.filter((f) => /d0\.vhd reads as neither before nor after/.test(f));
    expect(neither.length).toBeGreaterThan(0);
    expect(stats.verified + stats.failures.length).toBe(12);
  });

  it('the folder listing after recover must be exactly the before or the after files; a leftover is named', () => {
    const before = ['d0.vhd', 'd1.vhd'];
    const after = ['.vhdsnap.json', 'd0.vhd', 'd1.vhd', 'flat.vhd'];
    expect(listingMismatch(before, before, after)).toBeNull();
    expect(listingMismatch(after, before, after)).toBeNull();
    // The sidecar is written last: the after files without it pass, the before files with it do not.
    expect(listingMismatch(['d0.vhd', 'd1.vhd', 'flat.vhd'], before, after)).toBeNull();
    expect(listingMismatch(['.vhdsnap.json', 'd0.vhd', 'd1.vhd'], before, ['d0.vhd', 'd1.vhd', 'flat.vhd'])).toMatch(/left behind: \.vhdsnap\.json/);
    expect(listingMismatch([...before, '.flat.vhd.77-0a0b0c0d.tmp'], before, after)).toMatch(/left behind: \.flat\.vhd\.77-0a0b0c0d\.tmp$/);
    expect(listingMismatch([...before, '.vhdsnap-lock-d1.vhd.lock'], before, after)).toMatch(/left behind: \.vhdsnap-lock-d1\.vhd\.lock$/);
    // Half of each (a file missing that both states have) fails too.
    expect(listingMismatch(['d0.vhd', 'flat.vhd'], before, after)).not.toBeNull();
  });
});

// Ctrl-C / SIGTERM in the CLI: a merge interrupted by SIGINT mid-copy rolls
// back and exits 130 saying so (the built CLI, a real signal); `recover
// --rollback` and the wording of `recover --dry-run`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { journalPath } from '../../core/journal.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { expectBefore, takeBefore } from '../support/before.js';
import { cli } from '../support/cli.js';
import { interruptAtFirstReport } from '../support/interrupt.js';
import { Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';
import { buildTree } from '../support/tree.js';

const MiB = 1024 * 1024;
const ROOT = nodePath.resolve(__dirname, '../..');
const BIN = nodePath.join(ROOT, 'bin', 'vhdsnap.cjs');
const built = existsSync(nodePath.join(ROOT, 'dist', 'cli', 'vhdsnap.cjs'));

/** A sparse parent with a little data and a child storing 160 MiB: a merge long enough to be caught mid-copy. */
async function bigMerge(dir: string): Promise<{ parent: string; child: string }> {
  const rng = new Rng(1401);
  const parent = nodePath.join(dir, 'base.vhd');
  const child = nodePath.join(dir, 'child.vhd');
  await createDynamic(parent, 512 * MiB);
  let d = await openDisk(parent, { writable: true, sync: false });
  await d.write(3 * MiB + 17 * 512, rng.bytes(5 * MiB));
  // More than the child stores, where it stores nothing: merging the child copies less than folding the base into it.
  await d.write(200 * MiB, rng.bytes(176 * MiB));
  await d.close();
  await createDifferencing(child, parent);
  d = await openDisk(child, { writable: true, sync: false });
  for (let at = 0; at < 160 * MiB; at += 8 * MiB) await d.write(at + 512, rng.bytes(8 * MiB - 1024));
  await d.close();
  return { parent, child };
}

describe.skipIf(!built)('Ctrl-C in the CLI (built CLI)', () => {
  const tmp = useTmpDir();

  it('SIGINT mid-merge: rolled back, "cancelled: … as before" on stderr, exit 130, no journal', async () => {
    const { parent, child } = await bigMerge(tmp.dir);
    const before = await takeBefore(tmp.dir);
    const size0 = statSync(parent).size;
    const p = spawn(process.execPath, [BIN, 'merge', child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
    // Mid-copy for sure: the parent has grown and the journal is still in its copy phase.
    const deadline = Date.now() + 30_000;
    let caught = false;
    while (Date.now() < deadline && p.exitCode === null) {
      if (statSync(parent).size > size0 + 16 * MiB) {
        p.kill('SIGSTOP');
        const j = JSON.parse(readFileSync(journalPath(parent), 'utf8')) as { phase: string };
        caught = j.phase === 'copy';
        p.kill('SIGINT');
        // A second signal while rolling back is ignored (with a message), never cuts the rollback short
        // (SIGTERM: a second SIGINT sent while stopped would merge with the first).
        p.kill('SIGTERM');
        p.kill('SIGCONT');
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(caught, 'the merge was caught mid-copy').toBe(true);
    const code = await exited;
    expect(code, err).toBe(130);
    expect(err).toMatch(/cancelled: .* as before/);
    expect(err).toMatch(/still rolling back/);
    await expectBefore(tmp.dir, before, 2 * MiB + 512);
  }, 120_000);
});

describe('vhdsnap recover --rollback', () => {
  const tmp = useTmpDir();

  it('--dry-run says what it would do, with and without --rollback; --rollback then gives the before state', async () => {
    // A copy long enough for several checkpoints, cut short at the first (still copying).
    const { paths } = await buildTree(tmp.dir, 72, { parents: [null, 0, 1], size: 24 * MiB, blockSize: 512 * 1024, writesPerLayer: 4 });
    const d = await openDisk(paths[1], { writable: true, sync: false });
    for (let at = 0; at + 2 * MiB < 24 * MiB; at += 2 * MiB) await d.write(at + 333, Buffer.alloc(2 * MiB - 700, at % 251));
    await d.close();
    const before = await takeBefore(tmp.dir);
    await interruptAtFirstReport({ op: 'merge', disk: paths[1] });
    const dry = await cli('recover', tmp.dir, '--dry-run');
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain('would finish merge of d1.vhd, d0.vhd');
    const dryBack = await cli('recover', '--rollback', tmp.dir, '--dry-run');
    expect(dryBack.out).toContain('would roll back merge of d1.vhd, d0.vhd');
    const r = await cli('recover', '--rollback', tmp.dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/merge: discarded — rolled back the merge of .*d1\.vhd into .*d0\.vhd/);
    await expectBefore(tmp.dir, before, 512 * 1024 + 512);
  });

  it('--rollback of a job past its point of no return finishes it and says so', async () => {
    const { model, paths } = await buildTree(tmp.dir, 73, { parents: [null, 0, 1], size: 2 * MiB, blockSize: 4096, writesPerLayer: 20 });
    // One batch: the first report is the last checkpoint, which moves the journal past the copy.
    await interruptAtFirstReport({ op: 'merge', disk: paths[1] });
    expect((await cli('recover', '--rollback', tmp.dir, '--dry-run')).out).toContain(
      'cannot roll back: past the point of no return, would finish merge of d1.vhd, d0.vhd',
    );
    const r = await cli('recover', '--rollback', tmp.dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/merge: completed — cannot roll back: past the point of no return, finished instead/);
    const { readThrough } = await import('../support/tree.js');
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    expect(existsSync(paths[1])).toBe(false);
  });
});

// `vhdsnap recover`: --dry-run lists interrupted work without touching it;
// the real run finishes it and exits 0.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, type Io } from '../../core/cli/main.js';
import { CancelledError } from '../../core/errors.js';
import { merge } from '../../core/ops/merge.js';
import { buildTree, readThrough } from '../support/tree.js';
import { useTmpDir } from '../support/tmp.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: false };
  return { code: await runCli(argv, io), out, err };
}

const folderHash = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((n) => `${n}:${createHash('sha256').update(readFileSync(`${dir}/${n}`)).digest('hex')}`);

describe('vhdsnap recover', () => {
  const tmp = useTmpDir();

  it('--dry-run lists an interrupted merge and changes nothing; recover then finishes it', async () => {
    const { model, paths } = await buildTree(tmp.dir, 71, { parents: [null, 0, 1], size: 2 * 1024 * 1024, blockSize: 4096, writesPerLayer: 20 });
    const ac = new AbortController();
    ac.abort();
    await expect(merge(paths[1], { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    const before = folderHash(tmp.dir);
    const dry = await cli('recover', tmp.dir, '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    expect(JSON.parse(dry.out)).toEqual([expect.objectContaining({ op: 'merge', phase: 'copy', busy: false })]);
    expect(folderHash(tmp.dir)).toEqual(before);

    const r = await cli('recover', tmp.dir, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual([expect.objectContaining({ op: 'merge', action: 'completed' })]);
    expect((await readThrough(paths[2])).equals(model.view(2))).toBe(true);
    expect((await cli('recover', tmp.dir, '--dry-run')).out).toBe('nothing to recover\n');
  });
});

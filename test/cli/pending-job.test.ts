// Interrupted work is the person's (#14): an operation that meets a journal in
// its folder refuses with PENDING_JOB, the same in the dry run, naming the job
// and the command that resumes it; `recover` resumes it; then the work goes on.
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findJournals, writeJournal } from '../../core/journal.js';
import { merge } from '../../core/ops/merge.js';
import { openDisk } from '../../core/disk/chain.js';
import { createDynamic } from '../../core/ops/create.js';
import { snapshot } from '../../core/ops/snapshot.js';
import { cli } from '../support/cli.js';
import { folderState } from '../support/compare.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-cli-pending-');

describe('an interrupted job in the folder', () => {
  it('refuses snapshot, merge and write there (dry run alike, exit 1), until recover resumes it', async () => {
    const d = tmp.file('d.vhd');
    await createDynamic(d, 4 * 1024 * 1024);
    await createDynamic(tmp.file('e.vhd'), 4 * 1024 * 1024);
    const child = (await snapshot(d, { out: tmp.file('c.vhd') })).active;
    // A merge of e2.vhd into e.vhd cut short, then its writer gone (as a kill -9 leaves it).
    const e = tmp.file('e.vhd');
    await snapshot(e, { out: tmp.file('e2.vhd') });
    const e2 = await openDisk(tmp.file('e2.vhd'), { writable: true });
    await e2.write(0, Buffer.alloc(256 * 1024, 3));
    await e2.close();
    // merge itself, cut short as a crash would (a cancel rolls back and leaves nothing; the runner would run the merge of e2.vhd, the active disk, as the delete of e.vhd).
    await expect(
      merge(tmp.file('e2.vhd'), {
        onProgress: () => {
          throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const [jpath] = await findJournals(tmp.dir);
    const j = JSON.parse(await fsp.readFile(jpath, 'utf8'));
    await writeJournal(jpath, { ...j, pid: 999999999 });
    const input = tmp.file('data.bin');
    await fsp.writeFile(input, Buffer.alloc(4096, 7));
    const before = folderState(tmp.dir);
    for (const args of [
      ['snapshot', d],
      ['merge', child],
      ['write', child, '--offset', '0', '--input', input],
    ]) {
      for (const dry of [['--dry-run'], []]) {
        if (args[0] === 'write' && dry.length) continue; // write has no dry run
        const r = await cli(...args, ...dry, '--json');
        expect(r.code, `${args.join(' ')} ${dry.join(' ')}`).toBe(1);
        const text = r.out + r.err;
        expect(text, args[0]).toContain('PENDING_JOB');
        expect(text, args[0]).toMatch(/interrupted merge \(e2\.vhd, e\.vhd; started .*; at its \w+ step\).*vhdsnap recover/);
        expect(folderState(tmp.dir)).toEqual(before);
      }
    }
    const rec = await cli('recover', tmp.dir, '--json');
    expect(JSON.parse(rec.out).recoveries).toMatchObject([{ op: 'merge', action: 'completed' }]);
    const after = await cli('snapshot', child);
    expect(after.code, after.err).toBe(0);
  });
});

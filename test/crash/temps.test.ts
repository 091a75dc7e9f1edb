// recover's clean-up of temp files left by a killed writer: removed when the
// writer is gone, kept while it (or this process) may still be writing, and
// never touched while another live process owns a journal in the folder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JOURNAL_PREFIX } from '../../core/journal.js';
import { SIDECAR_NAME } from '../../core/library/sidecar.js';
import { recover } from '../../core/ops/recover.js';
import { useTmpDir } from '../support/tmp.js';

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function journalJson(pid: number): string {
  return JSON.stringify({ version: 1, op: 'merge', phase: 'copy', pid, startedAt: new Date().toISOString() });
}

describe('recover removes stale temp files', () => {
  const tmp = useTmpDir();

  it('removes temps of dead writers and keeps live or unrelated ones', async () => {
    const dead = deadPid();
    const files = {
      deadOutput: tmp.file(`.flat.vhd.${dead}-0a1b2c3d.tmp`),
      ownOutput: tmp.file(`.flat.vhd.${process.pid}-0a1b2c3d.tmp`),
      deadJournalTemp: tmp.file(`${JOURNAL_PREFIX}d1.vhd.json.0a1b2c3d.tmp`),
      emptyJournalTemp: tmp.file(`${JOURNAL_PREFIX}d2.vhd.json.1a1b2c3d.tmp`),
      ownJournalTemp: tmp.file(`${JOURNAL_PREFIX}d3.vhd.json.2a1b2c3d.tmp`),
      sidecarTemp: tmp.file(`${SIDECAR_NAME}.3a1b2c3d.tmp`),
      unrelated: tmp.file('.notes.tmp'),
    };
    writeFileSync(files.deadOutput, 'x');
    writeFileSync(files.ownOutput, 'x');
    writeFileSync(files.deadJournalTemp, journalJson(dead));
    writeFileSync(files.emptyJournalTemp, '');
    writeFileSync(files.ownJournalTemp, journalJson(process.pid));
    writeFileSync(files.sidecarTemp, '{"version":1,');
    writeFileSync(files.unrelated, 'keep me');

    expect(await recover(tmp.dir)).toEqual([]);
    expect(existsSync(files.deadOutput)).toBe(false);
    expect(existsSync(files.deadJournalTemp)).toBe(false);
    expect(existsSync(files.emptyJournalTemp)).toBe(false);
    expect(existsSync(files.sidecarTemp)).toBe(false);
    expect(existsSync(files.ownOutput)).toBe(true);
    expect(existsSync(files.ownJournalTemp)).toBe(true);
    expect(existsSync(files.unrelated)).toBe(true);
  });

  it('touches no temp while another live process owns a journal here', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const dead = deadPid();
      writeFileSync(tmp.file(`${JOURNAL_PREFIX}d1.vhd.json`), journalJson(sleeper.pid!));
      const temp = tmp.file(`.flat.vhd.${dead}-0a1b2c3d.tmp`);
      writeFileSync(temp, 'x');
      const r = await recover(tmp.dir);
      expect(r.map((x) => x.action)).toEqual(['busy']);
      expect(existsSync(temp)).toBe(true);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});

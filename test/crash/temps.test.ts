// recover's clean-up of temp files left by a killed writer: removed when the
// writer is gone (journal or not), kept while it (or a job of this process)
// may still be writing, and kept while a journal in the folder names it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOURNAL_PREFIX } from '../../core/journal.js';
import { SIDECAR_NAME } from '../../core/library/sidecar.js';
import { recover, recoverFolder } from '../../core/ops/recover.js';
import { useTmpDir } from '../support/tmp.js';

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function journalJson(pid: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: 1, op: 'merge', phase: 'copy', pid, startedAt: new Date().toISOString(), ...fields });
}

/** Sets a file's times to before this process started (as if a previous process with our pid wrote it). */
function backdate(p: string): void {
  const t = (Date.now() - process.uptime() * 1000 - 60_000) / 1000;
  utimesSync(p, t, t);
}

describe('recover removes stale temp files', () => {
  const tmp = useTmpDir();

  it('removes temps of dead writers, reports each with its size, and keeps live or unrelated ones', async () => {
    const dead = deadPid();
    const files = {
      deadOutput: tmp.file(`.flat.vhd.${dead}-0a1b2c3d.tmp`),
      deadCompact: tmp.file(`.d.vhd.${dead}-0a1b2c3d.compact.tmp`),
      deadJournalTemp: tmp.file(`${JOURNAL_PREFIX}d0.vhd.json.${dead}-0a1b2c3d.tmp`),
      deadSidecarTemp: tmp.file(`${SIDECAR_NAME}.${dead}-0a1b2c3d.tmp`),
      // Our own pid, but written before this process started: a previous process with the same pid (a container).
      reusedPid: tmp.file(`.export.raw.${process.pid}-0a1b2c3d.tmp`),
      ownOutput: tmp.file(`.flat.vhd.${process.pid}-1a1b2c3d.tmp`),
      // Names older versions made.
      oldJournalTemp: tmp.file(`${JOURNAL_PREFIX}d1.vhd.json.0a1b2c3d.tmp`),
      oldEmptyJournalTemp: tmp.file(`${JOURNAL_PREFIX}d2.vhd.json.1a1b2c3d.tmp`),
      oldOwnJournalTemp: tmp.file(`${JOURNAL_PREFIX}d3.vhd.json.2a1b2c3d.tmp`),
      oldSidecarTemp: tmp.file(`${SIDECAR_NAME}.3a1b2c3d.tmp`),
      oldSnapshotTemp: tmp.file('.d.vhd.snapshot.tmp'),
      unrelated: tmp.file('.notes.tmp'),
    };
    writeFileSync(files.deadOutput, 'x'.repeat(1000));
    writeFileSync(files.deadCompact, 'x'.repeat(20));
    writeFileSync(files.deadJournalTemp, journalJson(dead));
    writeFileSync(files.deadSidecarTemp, '{');
    writeFileSync(files.reusedPid, 'xyz');
    backdate(files.reusedPid);
    writeFileSync(files.ownOutput, 'x');
    writeFileSync(files.oldJournalTemp, journalJson(dead));
    writeFileSync(files.oldEmptyJournalTemp, '');
    writeFileSync(files.oldOwnJournalTemp, journalJson(process.pid));
    writeFileSync(files.oldSidecarTemp, '{"version":1,');
    writeFileSync(files.oldSnapshotTemp, 'x');
    writeFileSync(files.unrelated, 'keep me');
    const gone = [
      'deadOutput',
      'deadCompact',
      'deadJournalTemp',
      'deadSidecarTemp',
      'reusedPid',
      'oldJournalTemp',
      'oldEmptyJournalTemp',
      'oldSidecarTemp',
      'oldSnapshotTemp',
    ] as const;

    const dry = await recoverFolder(tmp.dir, { dryRun: true });
    expect(dry.removed.map((x) => nodePath.basename(x.path)).sort()).toEqual(gone.map((k) => nodePath.basename(files[k])).sort());
    expect(dry.kept.map((x) => nodePath.basename(x.path)).sort()).toEqual([files.oldOwnJournalTemp, files.ownOutput].map((p) => nodePath.basename(p)).sort());
    expect(dry.bytesFreed).toBe(gone.reduce((n, k) => n + statSync(files[k]).size, 0));
    for (const p of Object.values(files)) expect(existsSync(p), `${p} removed by the dry run`).toBe(true);

    const r = await recover(tmp.dir);
    expect(r.every((x) => x.action === 'removed' && x.op === 'temp')).toBe(true);
    expect(r.find((x) => x.journal === files.deadOutput)?.bytes).toBe(1000);
    expect(r.reduce((n, x) => n + (x.bytes ?? 0), 0)).toBe(dry.bytesFreed);
    for (const k of gone) expect(existsSync(files[k]), k).toBe(false);
    expect(existsSync(files.ownOutput)).toBe(true);
    expect(existsSync(files.oldOwnJournalTemp)).toBe(true);
    expect(existsSync(files.unrelated)).toBe(true);
  });

  it('with a live process at work here: removes dead writers’ temps, keeps the temp its journal names and old pid-less temps', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200)); // the sleeper has started before its journal is written
      const dead = deadPid();
      const named = tmp.file(`.d1.vhd.${dead}-0a1b2c3d.revert.tmp`); // a recovery by the sleeper may be finishing it
      writeFileSync(tmp.file(`${JOURNAL_PREFIX}d1.vhd.json`), journalJson(sleeper.pid!, { tmp: named }));
      writeFileSync(named, 'x');
      const temp = tmp.file(`.flat.vhd.${dead}-0a1b2c3d.tmp`);
      writeFileSync(temp, 'x');
      const oldTemp = tmp.file('.d2.vhd.revert.tmp');
      writeFileSync(oldTemp, 'x');
      const livesTemp = tmp.file(`.other.vhd.${sleeper.pid}-0a1b2c3d.tmp`);
      writeFileSync(livesTemp, 'x');
      const r = await recover(tmp.dir);
      expect(r.map((x) => [x.action, nodePath.basename(x.journal)])).toEqual([
        ['busy', `${JOURNAL_PREFIX}d1.vhd.json`],
        ['removed', nodePath.basename(temp)],
      ]);
      expect(existsSync(temp)).toBe(false);
      expect(existsSync(named)).toBe(true);
      expect(existsSync(oldTemp)).toBe(true);
      expect(existsSync(livesTemp)).toBe(true);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});

// Interop of log replay with QEMU. QEMU logs every BAT update: it sets a new
// log GUID in the headers, writes the entry, then writes the BAT in place and
// clears the GUID. blkdebug fails that in-place BAT write (once), so qemu-io
// leaves a file whose log still holds the entry — deterministically, no kill
// timing involved. QEMU replays such a file when it opens it read-write
// (`qemu-img check -r all`); our replay, applied in memory to the same bytes,
// must give the same file and the same disk.
import { execFile, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { crc32cWithZeroField } from '../../core/format/vhdx/crc32c.js';
import { replayLog, type LogRegion } from '../../core/format/vhdx/log-replay.js';
import { applyWrites } from '../../core/format/vhdx/log-writer.js';
import { useTmpDir } from '../support/tmp.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const hasTool = (t: string) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0;
const HAVE_QEMU = hasTool('qemu-img') && hasTool('qemu-io');
if (!HAVE_QEMU) console.log('VHDX log interop skipped: qemu-img or qemu-io is not on PATH');

const HEADERS = [64 * 1024, 128 * 1024];
const REGION_TABLE = 192 * 1024;
/** The BAT region's GUID 2DC27766-F623-4200-9D64-115E9BFD4A08 as stored (first three fields little-endian). */
const BAT_GUID = Buffer.from('6677c22d23f600429d64115e9bfd4a08', 'hex');

interface Header {
  at: number;
  sequence: bigint;
  logGuid: Buffer;
  logLength: number;
  logOffset: number;
}

/**
 * The current header, parsed test-locally: 0 "head" · 4 checksum · 8 sequence number (u64)
 * · 48 log GUID (16) · 64 log version (u16) · 66 version (u16) · 68 log length · 72 log offset (u64).
 */
function currentHeader(file: Buffer): Header {
  const valid = HEADERS.flatMap((at) => {
    const h = file.subarray(at, at + 4096);
    if (h.toString('latin1', 0, 4) !== 'head' || crc32cWithZeroField(h, 4) !== h.readUInt32LE(4)) return [];
    return [
      { at, sequence: h.readBigUInt64LE(8), logGuid: Buffer.from(h.subarray(48, 64)), logLength: h.readUInt32LE(68), logOffset: Number(h.readBigUInt64LE(72)) },
    ];
  });
  expect(valid.length).toBeGreaterThan(0);
  return valid.reduce((a, b) => (b.sequence > a.sequence ? b : a));
}

/** The BAT's file offset from the region table: 0 "regi" · 4 checksum · 8 entry count · 16 entries (guid 16, offset u64, length, required). */
function batOffset(file: Buffer): number {
  const t = file.subarray(REGION_TABLE, REGION_TABLE + 64 * 1024);
  expect(t.toString('latin1', 0, 4)).toBe('regi');
  for (let i = 0; i < t.readUInt32LE(8); i++) {
    const e = t.subarray(16 + 32 * i, 48 + 32 * i);
    if (e.subarray(0, 16).equals(BAT_GUID)) return Number(e.readBigUInt64LE(16));
  }
  throw new Error('no BAT region');
}

/** Both headers with a zero log GUID (checksum redone): the file as a replayed, log-cleared VHDX. */
function clearLogGuid(file: Buffer): void {
  for (const at of HEADERS) {
    const h = file.subarray(at, at + 4096);
    h.fill(0, 48, 64);
    h.writeUInt32LE(crc32cWithZeroField(h, 4), 4);
  }
}

function firstDiff(a: Buffer, b: Buffer, skip: [number, number][] = []): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const s = skip.find(([lo, hi]) => i >= lo && i < hi);
    if (s) {
      i = s[1] - 1;
      continue;
    }
    if (a[i] !== b[i]) return `first difference at ${i}: ${a[i]} vs ${b[i]}`;
  }
  return 'identical';
}

async function ourReplay(file: Buffer): Promise<{ replayed: Buffer; writes: number; findings: string[] }> {
  const h = currentHeader(file);
  const region: LogRegion = { offset: h.logOffset, length: h.logLength, guid: h.logGuid, fileSize: file.length };
  const r = await replayLog(async (o, n) => file.subarray(o, o + n), region);
  const replayed = Buffer.alloc(Math.max(file.length, r.lastFileOffset));
  file.copy(replayed);
  await applyWrites(replayed, r.writes);
  return { replayed, writes: r.writes.length, findings: r.findings.map((f) => f.code) };
}

describe.skipIf(!HAVE_QEMU)('VHDX log replay against QEMU', () => {
  const tmp = useTmpDir('vhdsnap-vhdx-log-');

  /** A fresh VHDX whose next write of `length` bytes at `at` fails on the file sector `failSector` (once). */
  async function failedWrite(name: string, opts: string, at: number, length: number, failAt: (file: Buffer, h: Header) => number): Promise<string> {
    const f = tmp.file(`${name}.vhdx`);
    await run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', opts, f, '64M']);
    const fresh = await fsp.readFile(f);
    const conf = tmp.file(`${name}.conf`);
    const sector = failAt(fresh, currentHeader(fresh)) / 512;
    await fsp.writeFile(conf, `[inject-error]\nevent = "pwritev"\niotype = "write"\nerrno = "5"\nsector = "${sector}"\nonce = "on"\n`);
    const res = spawnSync('qemu-io', ['-f', 'vhdx', '-c', `write -P 0xab ${at} ${length}`, `blkdebug:${conf}:${f}`], { encoding: 'utf8' });
    expect(res.stdout + res.stderr).toMatch(/Input\/output error/);
    return f;
  }

  async function raw(vhdx: string): Promise<Buffer> {
    const out = `${vhdx}.raw`;
    await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, out]);
    return fsp.readFile(out);
  }

  for (const [opts, at] of [
    ['block_size=1M,log_size=1M', 5 * MiB + 4096],
    ['block_size=8M,log_size=4M', 17 * MiB],
    ['log_size=2M', 0],
  ] as const) {
    it(`replays the BAT update QEMU left in its log (${opts}) as QEMU does`, async () => {
      const f = await failedWrite(opts.replace(/[=,]/g, '-'), opts, at, 64 * 1024, (file) => batOffset(file));
      const left = await fsp.readFile(f);
      const h = currentHeader(left);
      expect(h.logGuid.equals(Buffer.alloc(16))).toBe(false);
      expect(left.toString('latin1', h.logOffset, h.logOffset + 4)).toBe('loge');

      const ours = await ourReplay(left);
      expect(ours.writes).toBeGreaterThan(0);
      expect(ours.findings).toEqual([]);

      // QEMU's replay, on a copy.
      const theirs = tmp.file('theirs.vhdx');
      await fsp.copyFile(f, theirs);
      await run('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', theirs]);
      const replayedByQemu = await fsp.readFile(theirs);
      expect(currentHeader(replayedByQemu).logGuid.equals(Buffer.alloc(16))).toBe(true);
      // Byte for byte the same file, but for the headers (QEMU renews their GUIDs and sequence numbers).
      expect(firstDiff(ours.replayed, replayedByQemu, [[HEADERS[0], REGION_TABLE]])).toBe('identical');

      // And the same disk: ours with the log cleared, read by QEMU, against QEMU's own replay.
      const mine = tmp.file('mine.vhdx');
      clearLogGuid(ours.replayed);
      await fsp.writeFile(mine, ours.replayed);
      const [a, b] = await Promise.all([raw(mine), raw(theirs)]);
      expect(firstDiff(a, b)).toBe('identical');
      // The write QEMU logged is visible only through the replayed BAT.
      expect(a.subarray(at, at + 64 * 1024).every((x) => x === 0xab)).toBe(true);
    });
  }

  it('replays nothing when the entry itself never reached the log, as QEMU does', async () => {
    const f = await failedWrite('torn', 'block_size=1M,log_size=1M', 3 * MiB, 4096, (_file, h) => h.logOffset);
    const left = await fsp.readFile(f);
    expect(currentHeader(left).logGuid.equals(Buffer.alloc(16))).toBe(false);
    const ours = await ourReplay(left);
    expect(ours.writes).toBe(0);
    expect(ours.findings).toEqual(['VHDX_LOG_NO_SEQUENCE']);
    // QEMU opens it read-only (no valid sequence) and shows the write lost, as we do.
    const before = await raw(f);
    const mine = tmp.file('mine.vhdx');
    clearLogGuid(ours.replayed);
    await fsp.writeFile(mine, ours.replayed);
    expect(firstDiff(await raw(mine), before)).toBe('identical');
    expect(before.subarray(3 * MiB, 3 * MiB + 4096).every((x) => x === 0)).toBe(true);
  });

  it('ignores an entry torn after its header sector, as QEMU does', async () => {
    const f = await failedWrite('torn2', 'block_size=1M,log_size=1M', 3 * MiB, 4096, (_file, h) => h.logOffset + 4096);
    const left = await fsp.readFile(f);
    const h = currentHeader(left);
    expect(left.toString('latin1', h.logOffset, h.logOffset + 4)).toBe('loge');
    const ours = await ourReplay(left);
    expect(ours.writes).toBe(0);
    const theirs = tmp.file('theirs.vhdx');
    await fsp.copyFile(f, theirs);
    await run('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', theirs]);
    const mine = tmp.file('mine.vhdx');
    clearLogGuid(ours.replayed);
    await fsp.writeFile(mine, ours.replayed);
    expect(firstDiff(await raw(mine), await raw(theirs))).toBe('identical');
  });
});

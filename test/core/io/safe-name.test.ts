// Generated file names stay valid on Windows and within 255 bytes, whatever
// the disk was called: hostile stems through safeFileName, and the snapshot
// and kept-state names made from such disks (created for real on this ext4).
import { copyFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isReservedDeviceName, MAX_NAME_BYTES, safeExtension, safeFileName, truncateUtf8 } from '../../../core/io/safe-name.js';
import { createDynamic } from '../../../core/ops/create.js';
import { revert } from '../../../core/ops/revert.js';
import { snapshot, snapshotName } from '../../../core/ops/snapshot.js';
import { useTmpDir } from '../../support/tmp.js';

const tmp = useTmpDir('vhdsnap-safename-');

/** Independent statement of the rules (Microsoft's "Naming Files, Paths, and Namespaces"). */
function windowsProblems(name: string): string[] {
  const out: string[] = [];
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if ('<>:"/\\|?*'.includes(ch)) out.push(`forbidden ${JSON.stringify(ch)}`);
    if (c < 32) out.push(`control U+${c.toString(16).padStart(4, '0')}`);
  }
  if (name.endsWith('.') || name.endsWith(' ')) out.push('ends in a dot or space');
  const dev = ['CON', 'PRN', 'AUX', 'NUL', ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`COM${n}`, `LPT${n}`])];
  if (dev.includes(name.split('.')[0].trimEnd().toUpperCase())) out.push('device name');
  if (Buffer.byteLength(name) > 255) out.push(`${Buffer.byteLength(name)} bytes`);
  if (name.length === 0) out.push('empty');
  return out;
}

const STAMP = '-snap-20260102-030405.vhd';
const HOSTILE = [
  'disk',
  'a<b>c:d"e/f\\g|h?i*j',
  'tab\there\nnew\u0000nul\u001fus\u007fdel',
  'CON',
  'con',
  'Nul',
  'COM1',
  'lpt9',
  'COM\u00b9',
  'aux.tar',
  'PRN ',
  'trailing dot.',
  'trailing space ',
  '...',
  '   ',
  '',
  ':::',
  'x'.repeat(300),
  'é'.repeat(200),
  '😀'.repeat(100),
  `${'a'.repeat(229)}😀😀`,
  'snap\u0301', // combining accent: NFC folds it
];

describe('safeFileName', () => {
  for (const stem of HOSTILE) {
    it(`makes a valid name from ${JSON.stringify(stem.length > 40 ? `${stem.slice(0, 40)}…(${stem.length})` : stem)}`, () => {
      for (const suffix of [STAMP, '', '.vhd', '-1.vhd']) {
        const name = safeFileName(stem, suffix);
        expect(windowsProblems(name), `${JSON.stringify(name)} from ${JSON.stringify(stem)} + ${JSON.stringify(suffix)}`).toEqual([]);
        expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
        // The fixed part (the stamp that makes names unique) is never cut.
        if (suffix) expect(name.endsWith(suffix)).toBe(true);
        // No lone surrogate from cutting an emoji in half.
        expect(name).toBe(Buffer.from(name, 'utf8').toString('utf8'));
      }
    });
  }

  it('keeps ordinary names as they are', () => {
    expect(safeFileName('my disk (2)', STAMP)).toBe(`my disk (2)${STAMP}`);
    expect(safeFileName('Ünïcødé-名前', '.vhd')).toBe('Ünïcødé-名前.vhd');
    expect(safeFileName('console', '.vhd')).toBe('console.vhd');
    expect(safeFileName('COM10', '.vhd')).toBe('COM10.vhd');
  });

  it('names a device with a prefix, not by dropping characters', () => {
    expect(safeFileName('CON', '')).toBe('_CON');
    expect(safeFileName('nul', '.vhd')).toBe('_nul.vhd');
    expect(safeFileName('aux', '.tar.gz')).toBe('_aux.tar.gz');
  });

  it('recognises device names with any extension and case', () => {
    for (const n of ['CON', 'con.txt', 'Com3.vhd', 'LPT1.a.b', 'nul ', 'PRN .vhd']) expect(isReservedDeviceName(n), n).toBe(true);
    for (const n of ['CONX', 'icon', 'COM0', 'LPT', 'nul-snap.vhd', '_CON']) expect(isReservedDeviceName(n), n).toBe(false);
  });

  it('truncates UTF-8 on character boundaries', () => {
    expect(truncateUtf8('aé😀b', 1)).toBe('a');
    expect(truncateUtf8('aé😀b', 2)).toBe('a');
    expect(truncateUtf8('aé😀b', 3)).toBe('aé');
    expect(truncateUtf8('aé😀b', 6)).toBe('aé');
    expect(truncateUtf8('aé😀b', 7)).toBe('aé😀');
  });

  it('keeps a plain extension, replaces an odd one', () => {
    expect(safeExtension('.VHD')).toBe('.VHD');
    expect(safeExtension('.avhd')).toBe('.avhd');
    expect(safeExtension('.')).toBe('.vhd');
    expect(safeExtension('. ')).toBe('.vhd');
    expect(safeExtension('')).toBe('.vhd');
    expect(safeExtension('.v:d')).toBe('.vhd');
  });
});

describe('generated names from disks with hostile names', () => {
  // Names Linux allows but Windows refuses, and names at the 255-byte limit.
  // (Journal and lock names add a prefix to the disk's name, so the operations run on names short enough for those.)
  const disks = ['a:b|c?.vhd', 'CON.vhd', 'nul', 'ends in dot..vhd', `${'é'.repeat(100)}.vhd`, 'tab\tin.vhd', 'lpt1 .vhd'];
  const now = new Date(2026, 0, 2, 3, 4, 5);

  for (const disk of disks) {
    it(`snapshot and revert --keep of ${JSON.stringify(disk.length > 40 ? `${disk.slice(0, 30)}…` : disk)} make valid names`, async () => {
      const p = tmp.file(disk);
      await createDynamic(p, 4 * 1024 * 1024, { blockSize: 512 * 1024 });
      const planned = path.basename(await snapshotName(p, now));
      expect(windowsProblems(planned), planned).toEqual([]);
      const r = await snapshot(p, { now });
      expect(path.basename(r.snapshot)).toBe(planned);
      expect(existsSync(r.snapshot)).toBe(true);
      const kept = await revert(p, { keep: true, now });
      expect(kept.kept).not.toBeNull();
      expect(windowsProblems(path.basename(kept.kept!)), kept.kept!).toEqual([]);
      expect(existsSync(kept.kept!)).toBe(true);
    });
  }

  for (const disk of [`${'d'.repeat(251)}.vhd`, `${'é'.repeat(125)}.vhd`, `${'😀'.repeat(62)}.vhd`]) {
    it(`the snapshot name of a disk named at the 255-byte limit (${disk.slice(0, 2)}…) fits in 255 bytes and keeps its stamp`, async () => {
      const p = tmp.file(disk);
      await createDynamic(p, 4 * 1024 * 1024, { blockSize: 512 * 1024 });
      const name = path.basename(await snapshotName(p, now));
      expect(windowsProblems(name), name).toEqual([]);
      expect(name.endsWith('-snap-20260102-030405.vhd')).toBe(true);
    });
  }

  it('numbers a taken name without growing past 255 bytes', async () => {
    const disk = tmp.file(`${'n'.repeat(251)}.vhd`);
    await createDynamic(disk, 4 * 1024 * 1024, { blockSize: 512 * 1024 });
    const first = await snapshotName(disk, now);
    copyFileSync(disk, first);
    const second = await snapshotName(disk, now);
    expect(second).not.toBe(first);
    expect(path.basename(second).endsWith('-snap-20260102-030405-2.vhd')).toBe(true);
    expect(windowsProblems(path.basename(second))).toEqual([]);
  });
});

// Opening single files: footer fallback, legacy footers, hostile fields.
import { openSync, writeSync, closeSync, readFileSync, writeFileSync, statSync, truncateSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { FormatError, RefusedError, VhdError } from '../../core/errors.js';
import { checksum, putU32 } from '../../core/format/bytes.js';
import { createDynamic, createFixed } from '../../core/ops/create.js';
import { useTmpDir } from '../support/tmp.js';

function patch(path: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

/** Sets a u32 in the dynamic header (at 512) and fixes its checksum, so only that field is wrong. */
function patchHeaderU32(path: string, field: number, value: number): void {
  const buf = readFileSync(path);
  const h = buf.subarray(512, 1536);
  putU32(h, field, value);
  putU32(h, 36, checksum(h, 36));
  writeFileSync(path, buf);
}

describe('VhdFile.open', () => {
  const tmp = useTmpDir();

  it('falls back to the footer copy when the trailing footer is damaged, reports it, and refuses writes', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    const size = statSync(p).size;
    patch(p, size - 512, Buffer.from('garbage!'));
    const f = await VhdFile.open(p);
    expect(f.footerSource).toBe('copy');
    expect(f.notes.map((n) => n.code)).toContain('FOOTER_FROM_COPY');
    await f.close();
    const disk = await openDisk(p, { writable: true });
    await expect(disk.write(0, Buffer.alloc(512, 1))).rejects.toBeInstanceOf(RefusedError);
    await disk.close();
  });

  it('reads a fixed disk with the old 511-byte footer', async () => {
    const p = tmp.file('f.vhd');
    await createFixed(p, 1 << 20);
    patch(p, 4096, Buffer.alloc(512, 0x5a));
    const raw = readFileSync(p);
    expect(raw[raw.length - 1]).toBe(0); // the byte old writers did not write is reserved (zero)
    truncateSync(p, raw.length - 1);
    const disk = await openDisk(p);
    expect(disk.top.notes.map((n) => n.code)).toContain('FOOTER_LEGACY_511');
    expect((await disk.read(4096, 512)).every((b) => b === 0x5a)).toBe(true);
    await disk.close();
  });

  it('rejects a non-VHD file with a typed error naming the field', async () => {
    const p = tmp.file('x.vhd');
    writeFileSync(p, Buffer.alloc(4096, 0x41));
    const err = await VhdFile.open(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as VhdError).code).toBe('FOOTER_COOKIE');
    expect((err as VhdError).field).toBe('cookie');
  });

  it('rejects a tiny file', async () => {
    const p = tmp.file('tiny.vhd');
    writeFileSync(p, Buffer.alloc(100));
    await expect(VhdFile.open(p)).rejects.toMatchObject({ code: 'FILE_TOO_SMALL' });
  });

  it('does not allocate from a crafted entry count or block size', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    patchHeaderU32(p, 28, 0xffffffff); // max table entries: the BAT would not fit the file
    await expect(VhdFile.open(p)).rejects.toMatchObject({ code: 'HEADER_TABLE_OFFSET', field: 'tableOffset' });
    const q = tmp.file('e.vhd');
    await createDynamic(q, 4 << 20);
    patchHeaderU32(q, 32, 0x80000000); // 2 GiB blocks
    await expect(VhdFile.open(q)).rejects.toMatchObject({ code: 'HEADER_BLOCK_SIZE', field: 'blockSize' });
  });

  it('raises a typed error, not garbage, when a BAT entry points past the end', async () => {
    const p = tmp.file('d.vhd');
    await createDynamic(p, 4 << 20);
    const w = await openDisk(p, { writable: true, sync: false });
    await w.write(0, Buffer.alloc(4096, 3));
    await w.close();
    const bat = Buffer.alloc(4);
    bat.writeUInt32BE(0x00ffffff);
    patch(p, 1536, bat);
    const disk = await openDisk(p);
    await expect(disk.read(0, 4096)).rejects.toMatchObject({ code: 'BAT_ENTRY_PAST_EOF', field: 'bat[0]' });
    await disk.close();
  });
});

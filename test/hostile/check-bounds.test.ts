// `check --deep` on crafted files stays bounded: work by the blocks that can
// really be there, memory by a fixed chunk, whatever the header claims.
// (Found by the fuzzer: a BAT aiming tens of thousands of entries at the same
// few bytes took seconds; a 256 MiB block size allocated a 256 MiB buffer.)
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nodeOpener, setFileOpener } from '../../core/io/file.js';
import { checkStructure } from '../../core/ops/check.js';
import { createDynamic } from '../../core/ops/create.js';
import { useTmpDir } from '../support/tmp.js';
import { KiB, MiB, scribble } from './helpers.js';

const tmp = useTmpDir('vhdsnap-bounds-');
afterEach(() => vi.restoreAllMocks());

function fixHeaderChecksum(b: Buffer, at: number): void {
  let s = 0;
  for (let i = 0; i < 1024; i++) if (i < 36 || i >= 40) s += b[at + i];
  b.writeUInt32BE(~s >>> 0, at + 36);
}

/** Inserts `bytes` zeros before the trailing footer (room for crafted blocks). */
function grow(b: Buffer, bytes: number): Buffer<ArrayBufferLike> {
  return Buffer.concat([b.subarray(0, b.length - 512), Buffer.alloc(bytes), b.subarray(b.length - 512)]);
}

describe('check --deep bounds', () => {
  it('65536 BAT entries aimed at the same block: overlaps reported, not each one read', async () => {
    const p = tmp.file('overlap.vhd');
    await createDynamic(p, 256 * MiB, { blockSize: 4 * KiB });
    let b: Buffer<ArrayBufferLike> = readFileSync(p);
    const footerAt = b.length - 512;
    const headerAt = Number(b.readBigUInt64BE(footerAt + 16));
    const tableAt = Number(b.readBigUInt64BE(headerAt + 16));
    const entries = b.readUInt32BE(headerAt + 28);
    expect(entries).toBe(65536);
    b = grow(b, 64 * KiB);
    const target = footerAt / 512; // the grown area, where the footer was
    for (let i = 0; i < entries; i++) b.writeUInt32BE(target + (i % 4), tableAt + 4 * i);
    writeFileSync(p, b);

    let reads = 0;
    const restore = setFileOpener(async (path, mode) => {
      const f = await nodeOpener(path, mode);
      return {
        ...f,
        path: f.path,
        writable: f.writable,
        read: (buf, pos) => (reads++, f.read(buf, pos)),
        size: () => f.size(),
        close: () => f.close(),
      } as typeof f;
    });
    try {
      const t0 = Date.now();
      const r = await checkStructure(p, { deep: true });
      expect(r.findings.errors.map((e) => e.code)).toContain('BAT_BLOCKS_OVERLAP');
      expect(reads, 'file reads for one deep check').toBeLessThan(100);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      restore();
    }
  });

  it('a 256 MiB block size in a small file never sizes a buffer', async () => {
    const p = tmp.file('bigblock.vhd');
    await createDynamic(p, 2 * MiB, { blockSize: 2 * MiB });
    await scribble(p, 3, 4);
    let b: Buffer<ArrayBufferLike> = readFileSync(p);
    const headerAt = Number(b.readBigUInt64BE(b.length - 512 + 16));
    b.writeUInt32BE(1 << 28, headerAt + 32); // the one block now claims 256 MiB (bitmap 64 KiB)
    // Clear bits over the written data: the deep scan reads those runs (2 MiB, in pieces).
    const tableAt = Number(b.readBigUInt64BE(headerAt + 16));
    const block = b.readUInt32BE(tableAt) * 512;
    b.fill(0, block, block + 512);
    fixHeaderChecksum(b, headerAt);
    b = grow(b, 64 * KiB);
    writeFileSync(p, b);

    let largest = 0;
    for (const fn of ['alloc', 'allocUnsafe'] as const) {
      const orig = Buffer[fn].bind(Buffer);
      vi.spyOn(Buffer, fn).mockImplementation(((size: number, ...rest: never[]) => {
        largest = Math.max(largest, size);
        return (orig as (s: number, ...r: never[]) => Buffer)(size, ...rest);
      }) as never);
    }
    const r = await checkStructure(p, { deep: true });
    expect(r.usable).toBe(true);
    // The garbage "bitmap" leaves clear bits over written data: found, within a bounded buffer.
    expect(r.findings.warnings.map((e) => e.code)).toContain('DATA_UNDER_CLEAR_BITS');
    expect(largest).toBeLessThanOrEqual(2 * MiB);
  });
});

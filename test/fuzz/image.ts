// A fuzz file kept as its non-zero 64 KiB chunks. VHDX files are mostly
// 1 MiB-aligned holes (header section, log, regions, blocks), so whole seed
// chains stay a few hundred KiB in a worker's memory and cases are written
// sparse. Clones share chunks; a chunk is copied on its first write.
import { closeSync, ftruncateSync, openSync, promises as fsp, writeSync } from 'node:fs';

const CHUNK = 64 * 1024;
const ZERO = Buffer.alloc(CHUNK);

export class SparseImage {
  private constructor(
    /** Bytes in the file; past the last chunk it reads as zeros (a hole). */
    public size: number,
    private readonly chunks: Map<number, Buffer>,
    /** Chunks this image may write in place (the rest are shared with its source). */
    private readonly owned: Set<number>,
  ) {}

  static empty(size = 0): SparseImage {
    return new SparseImage(size, new Map(), new Set());
  }

  /** Reads a file chunk by chunk, keeping only the chunks that are not all zero. */
  static async load(path: string): Promise<SparseImage> {
    const fh = await fsp.open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const img = SparseImage.empty(size);
      const buf = Buffer.alloc(CHUNK);
      for (let k = 0; k * CHUNK < size; k++) {
        buf.fill(0);
        await fh.read(buf, 0, CHUNK, k * CHUNK);
        if (!buf.equals(ZERO)) {
          img.chunks.set(k, Buffer.from(buf));
          img.owned.add(k);
        }
      }
      return img;
    } finally {
      await fh.close();
    }
  }

  clone(): SparseImage {
    return new SparseImage(this.size, new Map(this.chunks), new Set());
  }

  /** Bytes held in memory. */
  get resident(): number {
    return this.chunks.size * CHUNK;
  }

  /** `length` bytes at `at` (a copy); past the end they read as zeros. */
  read(at: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let pos = at; pos < at + length;) {
      const k = Math.floor(pos / CHUNK);
      const inChunk = pos - k * CHUNK;
      const n = Math.min(CHUNK - inChunk, at + length - pos);
      const c = this.chunks.get(k);
      if (c && pos < this.size) c.copy(out, pos - at, inChunk, inChunk + Math.min(n, this.size - pos));
      pos += n;
    }
    return out;
  }

  /** Writes `data` at `at`; what would fall past the end is dropped (a mutation never grows a file by accident). */
  write(at: number, data: Uint8Array): void {
    const end = Math.min(at + data.length, this.size);
    for (let pos = Math.max(0, at); pos < end;) {
      const k = Math.floor(pos / CHUNK);
      const inChunk = pos - k * CHUNK;
      const n = Math.min(CHUNK - inChunk, end - pos);
      this.own(k).set(data.subarray(pos - at, pos - at + n), inChunk);
      pos += n;
    }
  }

  fill(at: number, length: number, value = 0): void {
    this.write(at, Buffer.alloc(Math.max(0, Math.min(length, this.size - at)), value));
  }

  /** Cuts or extends (with a hole) the file to `size` bytes. */
  truncate(size: number): void {
    const last = Math.ceil(size / CHUNK);
    for (const k of [...this.chunks.keys()]) if (k >= last) this.chunks.delete(k);
    if (size % CHUNK !== 0 && size < this.size && this.chunks.has(last - 1)) this.own(last - 1).fill(0, size % CHUNK);
    this.size = size;
  }

  append(data: Uint8Array): void {
    const at = this.size;
    this.size += data.length;
    this.write(at, data);
  }

  u16(at: number): number {
    return this.read(at, 2).readUInt16LE(0);
  }
  u32(at: number): number {
    return this.read(at, 4).readUInt32LE(0);
  }
  u64(at: number): bigint {
    return this.read(at, 8).readBigUInt64LE(0);
  }
  setU16(at: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.write(at, b);
  }
  setU32(at: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.write(at, b);
  }
  setU64(at: number, v: bigint | number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
    this.write(at, b);
  }

  /**
   * Writes the image to `path`: runs of adjacent chunks, then the size, so
   * holes stay holes. Synchronous: a worker writes thousands of cases, one at
   * a time, and a promise per chunk cost more than the case's checks.
   */
  writeTo(path: string): void {
    const fd = openSync(path, 'w');
    try {
      const ks = [...this.chunks.keys()].filter((k) => k * CHUNK < this.size).sort((a, b) => a - b);
      for (let i = 0; i < ks.length;) {
        let j = i + 1;
        while (j < ks.length && ks[j] === ks[j - 1] + 1) j++;
        const at = ks[i] * CHUNK;
        const run = j - i === 1 ? this.chunks.get(ks[i])! : Buffer.concat(ks.slice(i, j).map((k) => this.chunks.get(k)!));
        writeSync(fd, run, 0, Math.min(run.length, this.size - at), at);
        i = j;
      }
      ftruncateSync(fd, this.size);
    } finally {
      closeSync(fd);
    }
  }

  private own(k: number): Buffer {
    let c = this.chunks.get(k);
    if (!c || !this.owned.has(k)) {
      c = c ? Buffer.from(c) : Buffer.alloc(CHUNK);
      this.chunks.set(k, c);
      this.owned.add(k);
    }
    return c;
  }
}

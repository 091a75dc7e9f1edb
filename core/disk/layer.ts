// What a chain (core/disk/chain.ts) needs of each file in it, whatever its
// format: a VHD file (vhd-file.ts) is one as it is; a VHDX file through
// vhdx-layer.ts. Sectors here are always 512 bytes and bitmaps in VHD bit
// order (most significant bit first), so one resolver serves both formats.
import type { Finding } from '../errors.js';

export interface ChainLayer {
  readonly path: string;
  readonly format: 'vhd' | 'vhdx';
  /**
   * How the chain reads it: 'fixed' stores every sector at readOwn(0, sector);
   * 'dynamic' reads unallocated blocks as zeros; 'differencing' reads them,
   * and clear bitmap bits, from the layer below.
   */
  readonly type: 'fixed' | 'dynamic' | 'differencing';
  readonly virtualSize: number;
  /** virtualSize / 512. */
  readonly totalSectors: number;
  readonly sectorsPerBlock: number;
  readonly blockCount: number;
  /** The id its children link to (VHD unique id; VHDX data write GUID). */
  readonly uuid: string;
  /** What opening it noticed without refusing it. */
  readonly notes: Finding[];
  /** Non-null when block `b` defines its sectors here (by its bitmap); null when unallocated. */
  blockOffset(b: number): number | null;
  /** Block `b`'s sector bits, one per 512-byte sector, most significant bit first. */
  readBitmap(b: number): Promise<Uint8Array>;
  /** `count` sectors of block `b` from `sectorInBlock`, into out[outOffset..]. */
  readOwn(block: number, sectorInBlock: number, count: number, out: Uint8Array, outOffset: number): Promise<void>;
  close(): Promise<void>;
}

/** A chain's top opened for writing: whole `writeUnit`-byte sectors (512 when absent) from 512-byte sector `sector`. */
export interface WritableLayer extends ChainLayer {
  readonly writeUnit?: number;
  writeSectors(sector: number, data: Uint8Array): Promise<void>;
}

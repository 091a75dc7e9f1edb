// A VHDX file as one layer of a chain (layer.ts): 512-byte sectors and VHD
// bit order whatever its logical sector size, so the chain resolver reads
// VHDX chains as it reads VHD ones. Block states map as MS-VHDX says: fully
// and partially present blocks are stored here; in a differencing file zero,
// unmapped and undefined blocks define their sectors as zeros (they shadow
// the parent; see VhdxFile.readOwn) and not-present ones defer to it.
import { UsageError } from '../errors.js';
import { SECTOR } from '../format/bytes.js';
import { PayloadState } from '../format/vhdx/bat.js';
import type { ChainLayer } from './layer.js';
import { VhdxFile, type VhdxFileOptions } from './vhdx-file.js';
import { VhdxWriter } from './vhdx-writer.js';

export class VhdxLayer implements ChainLayer {
  readonly format = 'vhdx' as const;
  /** A fixed VHDX is a BAT like any other (its blocks may even be in the zero state): the chain reads it block by block. */
  readonly type: 'dynamic' | 'differencing';
  readonly sectorsPerBlock: number;
  private full: Uint8Array | null = null;

  constructor(
    readonly file: VhdxFile,
    private readonly writer: VhdxWriter | null = null,
  ) {
    this.type = file.hasParent ? 'differencing' : 'dynamic';
    this.sectorsPerBlock = file.blockSize / SECTOR;
  }

  static async open(path: string, opts: VhdxFileOptions = {}): Promise<VhdxLayer> {
    return new VhdxLayer(await VhdxFile.open(path, opts));
  }

  /** The top of a chain being written (vhdx-writer.ts): its log replayed into it first. */
  static async openWritable(path: string): Promise<VhdxLayer> {
    const w = await VhdxWriter.open(path);
    return new VhdxLayer(w.file, w);
  }

  /** Writes are whole logical sectors: Disk.write completes partial ones from the chain. */
  get writeUnit(): number {
    return this.file.logicalSectorSize;
  }

  /** Writes whole logical sectors from 512-byte sector `sector`. */
  async writeSectors(sector: number, data: Uint8Array): Promise<void> {
    if (!this.writer) throw new UsageError('READ_ONLY', `${this.path} was opened read-only`);
    await this.writer.write(sector * SECTOR, data);
  }

  get path(): string {
    return this.file.path;
  }
  get virtualSize(): number {
    return this.file.virtualSize;
  }
  get totalSectors(): number {
    return this.file.virtualSize / SECTOR;
  }
  get blockCount(): number {
    return this.file.blockCount;
  }
  get uuid(): string {
    return this.file.dataWriteGuid;
  }
  get notes() {
    return this.file.notes;
  }

  private stored(state: number): boolean {
    return state === PayloadState.FullyPresent || state === PayloadState.PartiallyPresent;
  }

  blockOffset(b: number): number | null {
    if (b >= this.file.blockCount) return null;
    const e = this.file.blockEntry(b);
    if (this.stored(e.state)) return e.offset;
    // Defined here as zeros: non-null, so the chain asks this layer (readOwn fills zeros).
    if (this.type === 'differencing' && e.state !== PayloadState.NotPresent) return 0;
    return null;
  }

  async readBitmap(b: number): Promise<Uint8Array> {
    if (this.file.blockState(b) !== PayloadState.PartiallyPresent) return this.allSet();
    const bits = await this.file.blockBitmap(b);
    // One VHDX bit (least significant first) per logical sector → one VHD bit (most significant first) per 512 bytes.
    const per = this.file.logicalSectorSize / SECTOR;
    const out = new Uint8Array(this.sectorsPerBlock / 8);
    const logical = this.sectorsPerBlock / per;
    for (let s = 0; s < logical; s++) {
      if (((bits[s >>> 3] >>> (s & 7)) & 1) === 0) continue;
      for (let k = s * per; k < (s + 1) * per; k++) out[k >>> 3] |= 0x80 >>> (k & 7);
    }
    return out;
  }

  private allSet(): Uint8Array {
    this.full ??= new Uint8Array(this.sectorsPerBlock / 8).fill(0xff);
    return this.full;
  }

  async readOwn(block: number, sectorInBlock: number, count: number, out: Uint8Array, outOffset: number): Promise<void> {
    const dest = out.subarray(outOffset, outOffset + count * SECTOR);
    if (!this.stored(this.file.blockState(block))) {
      dest.fill(0);
      return;
    }
    await this.file.readStored(block, sectorInBlock * SECTOR, dest);
  }

  close(): Promise<void> {
    return this.writer ? this.writer.close() : this.file.close();
  }
}

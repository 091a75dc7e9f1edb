// A blktap-made disk for tests: blktap (tapdisk) adds a batmap after the BAT
// and marks its files with creator "tap", version 1.2.
import { promises as fsp, readFileSync } from 'node:fs';
import { BATMAP_VERSION, batmapChecksum, encodeBatmapHeader } from '../../core/format/batmap.js';
import { decodeFooter, encodeFooter } from '../../core/format/footer.js';

/** Turns an empty dynamic disk made by createDynamic into a blktap one with a (zero) batmap after the BAT. */
export async function makeTap(p: string): Promise<void> {
  const b = readFileSync(p);
  const dataStart = b.length - 512;
  const entries = b.readUInt32BE(512 + 28);
  const mapBytes = Math.ceil(Math.ceil(entries / 8) / 512) * 512;
  const map = new Uint8Array(mapBytes);
  const bh = encodeBatmapHeader({
    cookie: 'tdbatmap',
    offset: BigInt(dataStart + 512),
    sizeSectors: mapBytes / 512,
    version: BATMAP_VERSION,
    checksum: batmapChecksum(map),
  });
  const footer = decodeFooter(b.subarray(dataStart));
  footer.creatorApp = 'tap\0';
  footer.creatorVersion = 0x00010002;
  const nf = encodeFooter(footer);
  const fh = await fsp.open(p, 'r+');
  try {
    await fh.write(bh, 0, 512, dataStart);
    await fh.write(map, 0, mapBytes, dataStart + 512);
    await fh.write(nf, 0, 512, dataStart + 512 + mapBytes);
    await fh.write(nf, 0, 512, 0);
  } finally {
    await fh.close();
  }
}

// CRC-32C (Castagnoli), the checksum of every VHDX header, region table, log
// entry and metadata-free structure. Reflected polynomial 0x82F63B78, initial
// value and final xor 0xFFFFFFFF. Slicing by 8 so a 1 MiB log entry costs
// about a millisecond, not ten.
const POLY = 0x82f63b78;

const TABLES: Uint32Array[] = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0][i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s][i] = (t[0][t[s - 1][i] & 0xff] ^ (t[s - 1][i] >>> 8)) >>> 0;
  }
  return t;
})();

/** Continues a CRC-32C over `bytes` (pass the previous result to chain pieces). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = ~previous >>> 0;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    c =
      t7[lo & 0xff] ^
      t6[(lo >>> 8) & 0xff] ^
      t5[(lo >>> 16) & 0xff] ^
      t4[lo >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * The checksum of a structure whose own 4-byte checksum field sits at
 * `fieldOffset`: computed as if that field were zero, as MS-VHDX specifies.
 */
export function crc32cWithZeroField(bytes: Uint8Array, fieldOffset: number): number {
  const head = crc32c(bytes.subarray(0, fieldOffset));
  const zeroed = crc32c(new Uint8Array(4), head);
  return crc32c(bytes.subarray(fieldOffset + 4), zeroed);
}

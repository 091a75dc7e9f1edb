// The CRC-32C of any run of whole log sectors from one pass over the log.
// Replay has to checksum every candidate entry; a hostile log can make the
// candidates overlap (each claiming most of the log), which summed directly
// would cost the log length squared. Instead the log is summed once into
// per-sector prefix CRCs, and the CRC of a range is derived from two prefixes
// with the CRC "combine" identity: crc(A‖B) = crc(A)·x^(8|B|) mod P ⊕ crc(B).
import { crc32c } from './crc32c.js';
import { LOG_CHECKSUM_OFFSET, LOG_SECTOR } from './log-entry.js';

const POLY = 0x82f63b78;
/** x^0 in the reflected representation CRC-32C registers use. */
const ONE = 0x80000000;

/** a·b mod P, both reflected polynomials. */
function mulMod(a: number, b: number): number {
  let p = 0;
  for (let m = ONE; m !== 0; m >>>= 1) {
    if (a & m) p ^= b;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod P for k = 0..63: squarings, so x^(8n) costs one product per set bit of n. */
const X_POW2: number[] = (() => {
  const t = [ONE >>> 1]; // x^1
  for (let k = 1; k < 64; k++) t.push(mulMod(t[k - 1], t[k - 1]));
  return t;
})();

/** crc·x^(8·bytes) mod P: what a CRC becomes when `bytes` more bytes follow it. */
export function shiftCrc(crc: number, bytes: number): number {
  let p = ONE;
  let n = bytes;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) p = mulMod(X_POW2[k], p);
  return mulMod(p, crc);
}

/** crc32c(A‖B) from crc32c(A), crc32c(B) and |B|. */
export function combineCrc(crcA: number, crcB: number, lengthB: number): number {
  return (shiftCrc(crcA, lengthB) ^ crcB) >>> 0;
}

/** Prefix CRCs of a log region: the CRC of any sector-aligned range, circular, in O(log n). */
export class LogChecksums {
  private readonly prefix: Uint32Array;
  constructor(private readonly log: Uint8Array) {
    const n = log.length / LOG_SECTOR;
    this.prefix = new Uint32Array(n + 1);
    for (let k = 0; k < n; k++) this.prefix[k + 1] = crc32c(log.subarray(k * LOG_SECTOR, (k + 1) * LOG_SECTOR), this.prefix[k]);
  }

  /** crc32c of log[a, b), a ≤ b, both sector-aligned. */
  range(a: number, b: number): number {
    const pa = this.prefix[a / LOG_SECTOR];
    const pb = this.prefix[b / LOG_SECTOR];
    return (pb ^ shiftCrc(pa, b - a)) >>> 0;
  }

  /**
   * The checksum an entry of `length` bytes at `start` should carry: its
   * bytes circularly from `start`, with the checksum field read as zero.
   */
  entry(start: number, length: number): number {
    const end = start + length;
    const L = this.log.length;
    const whole = end <= L ? this.range(start, end) : combineCrc(this.range(start, L), this.range(0, end - L), end - L);
    // Zeroing the field changes the CRC by the field's own linear part, carried past the rest of the entry.
    const at = start + LOG_CHECKSUM_OFFSET;
    const field = this.log.subarray(at, at + 4);
    const fieldPart = (crc32c(field) ^ crc32c(new Uint8Array(4))) >>> 0;
    return (whole ^ shiftCrc(fieldPart, length - LOG_CHECKSUM_OFFSET - 4)) >>> 0;
  }
}

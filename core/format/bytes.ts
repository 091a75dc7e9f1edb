// Big-endian field access and the small value codecs shared by the on-disk
// structures: checksum, UUID, VHD timestamps, fixed-width ASCII.

export const SECTOR = 512;
/** Seconds between the Unix epoch and the VHD epoch (2000-01-01T00:00:00Z). */
export const VHD_EPOCH_OFFSET = 946684800;

export function u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3];
}

export function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

export function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

export function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** u64 as bigint: callers range-check before converting to a number. */
export function u64(b: Uint8Array, off: number): bigint {
  return (BigInt(u32(b, off)) << 32n) | BigInt(u32(b, off + 4));
}

export function putU64(b: Uint8Array, off: number, v: bigint | number): void {
  const big = BigInt(v);
  putU32(b, off, Number((big >> 32n) & 0xffffffffn));
  putU32(b, off + 4, Number(big & 0xffffffffn));
}

export const U64_MAX = 0xffffffffffffffffn;

/** One's complement of the byte sum, with the 4-byte checksum field read as zero. */
export function checksum(b: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum += b[i];
  }
  return ~sum >>> 0;
}

/** Checksum of a whole byte map (blktap batmap): no field to skip. */
export function byteSumComplement(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) sum += b[i];
  return ~sum >>> 0;
}

/** UUIDs are printed in stored byte order (as libvhdi does) and compared as raw bytes. */
export function uuidToString(id: Uint8Array): string {
  const h = Buffer.from(id.subarray(0, 16)).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function uuidFromString(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${s}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function newUuid(): Uint8Array {
  // Web Crypto: loaded on first use, so commands that create no disk never pay for it.
  const id = globalThis.crypto.getRandomValues(new Uint8Array(16));
  id[6] = (id[6] & 0x0f) | 0x40; // version 4
  id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant
  return id;
}

export function uuidEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isZeroUuid(a: Uint8Array): boolean {
  return a.every((x) => x === 0);
}

export function vhdTimeToDate(t: number): Date {
  return new Date((t + VHD_EPOCH_OFFSET) * 1000);
}

/** Seconds since the VHD epoch, clamped into u32 (dates before 2000 become 0). */
export function dateToVhdTime(d: Date | number): number {
  const ms = typeof d === 'number' ? d : d.getTime();
  const s = Math.floor(ms / 1000) - VHD_EPOCH_OFFSET;
  return Math.min(Math.max(s, 0), 0xffffffff);
}

export function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[off + i]);
  return s;
}

export function putAscii(b: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) b[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

/** Word-wise zero test: much faster than a per-byte loop on block-sized buffers. */
export function isAllZero(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  // Uint32 view, not BigUint64: BigInt reads allocate and are far slower.
  if (b.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const v = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let w = 0; w < words; w++) if (v[w] !== 0) return false;
    i = words * 4;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * A copy of b[start, end) as a plain Uint8Array. Not `b.slice`: on a Buffer
 * (what file reads return) slice is a view, so decoded fields would alias
 * and change with the caller's read buffer.
 */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

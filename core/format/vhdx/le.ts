// Little-endian field access and UTF-16LE strings: every VHDX integer is
// little-endian (VHD's are big-endian, see ../bytes.ts).
import { FormatError } from '../../errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export function u16le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

export function u32le(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** u64 as bigint: callers range-check before converting to a number. */
export function u64le(b: Uint8Array, off: number): bigint {
  return (BigInt(u32le(b, off + 4)) << 32n) | BigInt(u32le(b, off));
}

export function putU16le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

export function putU32le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

export function putU64le(b: Uint8Array, off: number, v: bigint | number): void {
  const big = BigInt.asUintN(64, BigInt(v));
  putU32le(b, off, Number(big & 0xffffffffn));
  putU32le(b, off + 4, Number(big >> 32n));
}

/** UTF-16LE code units up to the first NUL (or the end); unpaired surrogates are kept as they are. */
export function decodeUtf16le(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = b[i] | (b[i + 1] << 8);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** UTF-16LE of `s`, no terminator; `size` pads with zeros (and cuts at a code unit). */
export function encodeUtf16le(s: string, size = s.length * 2): Uint8Array {
  const out = new Uint8Array(size);
  const n = Math.min(s.length, Math.floor(size / 2));
  for (let i = 0; i < n; i++) putU16le(out, 2 * i, s.charCodeAt(i));
  return out;
}

/** Throws the typed error a decoder gives for a buffer shorter than its structure. */
export function needBytes(b: Uint8Array, n: number, field: string): void {
  if (b.length < n) throw new FormatError('VHDX_TRUNCATED', `${field} needs ${n} bytes, got ${b.length}`, { field });
}

/** A u64 field as a number, or null when it is beyond 2^53 (no offset or size in a real file is). */
export function safeNumber(v: bigint): number | null {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// GUIDs as MS-VHDX stores them (16 bytes, the "mixed-endian" Windows form):
//   0 Data1 (u32 LE) · 4 Data2 (u16 LE) · 6 Data3 (u16 LE) · 8 Data4 (8 bytes as written)
// Text is the usual 8-4-4-4-12 hex form of those fields, so the first three
// groups read byte-reversed against the stored bytes.
import { FormatError } from '../../errors.js';

export const GUID_SIZE = 16;
/** Byte order of the text form's 16 bytes in storage. */
const TEXT_ORDER = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

/** Lowercase text, no braces: "2dc27766-f623-4200-9d64-115e9bfd4a08". */
export function guidToString(b: Uint8Array, off = 0): string {
  if (b.length < off + GUID_SIZE) throw new FormatError('VHDX_TRUNCATED', `a GUID needs ${GUID_SIZE} bytes`, { field: 'guid' });
  const h = TEXT_ORDER.map((i) => b[off + i].toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parses the text form, with or without braces, any case; null when it is not one. */
export function parseGuid(text: string): Uint8Array | null {
  const m = /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/.exec(text);
  if (!m || text.startsWith('{') !== text.endsWith('}')) return null;
  const hex = m.slice(1).join('');
  const out = new Uint8Array(GUID_SIZE);
  TEXT_ORDER.forEach((at, i) => (out[at] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)));
  return out;
}

/** As parseGuid, for constants and callers that checked the text already. */
export function guidFromString(text: string): Uint8Array {
  const g = parseGuid(text);
  if (!g) throw new Error(`not a GUID: ${text}`);
  return g;
}

/** The braced lowercase form the VHDX parent locator stores: "{83ed0ec3-…}". */
export function guidToBraced(b: Uint8Array, off = 0): string {
  return `{${guidToString(b, off)}}`;
}

export function guidEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < GUID_SIZE || b.length < GUID_SIZE) return false;
  for (let i = 0; i < GUID_SIZE; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isZeroGuid(b: Uint8Array): boolean {
  for (let i = 0; i < GUID_SIZE; i++) if (b[i] !== 0) return false;
  return true;
}

export const ZERO_GUID = new Uint8Array(GUID_SIZE);

/** A random (version 4) GUID. */
export function newGuid(): Uint8Array {
  const g = globalThis.crypto.getRandomValues(new Uint8Array(GUID_SIZE));
  // Data3's high nibble is the version; in storage that is byte 7.
  g[7] = (g[7] & 0x0f) | 0x40;
  g[8] = (g[8] & 0x3f) | 0x80;
  return g;
}

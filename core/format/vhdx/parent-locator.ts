// Parent locator metadata item (variable size). Layout:
//   0 locator type GUID (16) · 16 reserved (u16) · 18 key-value count (u16)
//  20 entries, 12 bytes each:
//      0 key offset (u32) · 4 value offset (u32) · 8 key length (u16) · 10 value length (u16)
// Offsets are from the start of the item; keys and values are UTF-16LE with
// no terminator. The VHDX locator type's keys: parent_linkage (the parent's
// data write GUID, braced), parent_linkage2, relative_path, volume_path,
// absolute_win32_path.
import { FormatError, UsageError, type Finding } from '../../errors.js';
import { copyBytes } from '../bytes.js';
import { GUID_SIZE, guidEqual, guidFromString, guidToString, parseGuid } from './guid.js';
import { putU16le, putU32le, u16le, u32le } from './le.js';

export const VHDX_LOCATOR_TYPE = guidFromString('b04aefb7-d19e-4a81-b789-25b8e9445913');
export const LOCATOR_HEADER_SIZE = 20;
const ENTRY_SIZE = 12;
/** The keys MS-VHDX defines, in the order a parent is looked for (the linkage keys first). */
export const LOCATOR_KEYS = ['parent_linkage', 'parent_linkage2', 'relative_path', 'volume_path', 'absolute_win32_path'] as const;
export const PATH_KEYS = ['relative_path', 'volume_path', 'absolute_win32_path'] as const;

export interface LocatorPair {
  key: string;
  value: string;
}

export interface ParentLocator {
  locatorType: Uint8Array;
  reserved: number;
  /** In stored order (MS-VHDX gives them none). */
  entries: LocatorPair[];
}

const F = 'metadata.parentLocator';

function utf16(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i += 2) s += String.fromCharCode(b[at + i] | (b[at + i + 1] << 8));
  return s;
}

/** Decodes the item's bytes; throws FormatError naming the entry when a key or value lies outside the item. */
export function decodeParentLocator(b: Uint8Array): ParentLocator {
  if (b.length < LOCATOR_HEADER_SIZE) {
    throw new FormatError('VHDX_LOCATOR_TRUNCATED', `parent locator is ${b.length} bytes, shorter than its ${LOCATOR_HEADER_SIZE}-byte header`, { field: F });
  }
  const count = u16le(b, 18);
  const tableEnd = LOCATOR_HEADER_SIZE + count * ENTRY_SIZE;
  if (tableEnd > b.length) {
    throw new FormatError('VHDX_LOCATOR_COUNT', `parent locator lists ${count} entries, more than its ${b.length} bytes hold`, { field: `${F}.keyValueCount` });
  }
  const entries: LocatorPair[] = [];
  for (let i = 0; i < count; i++) {
    const at = LOCATOR_HEADER_SIZE + i * ENTRY_SIZE;
    const ko = u32le(b, at);
    const vo = u32le(b, at + 4);
    const kl = u16le(b, at + 8);
    const vl = u16le(b, at + 10);
    const part = (what: 'key' | 'value', off: number, len: number) => {
      // Both must lie past the entry table and inside the item, as whole code units.
      if (len === 0 || len % 2 !== 0 || off < tableEnd || off + len > b.length) {
        throw new FormatError(
          'VHDX_LOCATOR_ENTRY',
          `parent locator entry ${i}: ${what} at ${off} (+${len}) is not a non-empty UTF-16 string inside the item (${tableEnd}..${b.length})`,
          {
            field: `${F}.entries[${i}].${what}Offset`,
          },
        );
      }
      return utf16(b, off, len);
    };
    entries.push({ key: part('key', ko, kl), value: part('value', vo, vl) });
  }
  return { locatorType: copyBytes(b, 0, GUID_SIZE), reserved: u16le(b, 16), entries };
}

/** The item's bytes: header, entry table, then each key and value in order. */
export function encodeParentLocator(l: ParentLocator): Uint8Array {
  const tableEnd = LOCATOR_HEADER_SIZE + l.entries.length * ENTRY_SIZE;
  const size = tableEnd + l.entries.reduce((n, e) => n + 2 * (e.key.length + e.value.length), 0);
  const b = new Uint8Array(size);
  b.set(l.locatorType.subarray(0, GUID_SIZE), 0);
  putU16le(b, 16, l.reserved);
  putU16le(b, 18, l.entries.length);
  let at = tableEnd;
  const put = (s: string) => {
    if (2 * s.length > 0xffff)
      throw new UsageError('VHDX_LOCATOR_TOO_LONG', `parent locator string of ${s.length} characters exceeds the 32767 a u16 length allows`);
    for (let i = 0; i < s.length; i++) putU16le(b, at + 2 * i, s.charCodeAt(i));
    const start = at;
    at += 2 * s.length;
    return start;
  };
  l.entries.forEach((e, i) => {
    const row = LOCATOR_HEADER_SIZE + i * ENTRY_SIZE;
    putU32le(b, row, put(e.key));
    putU32le(b, row + 4, put(e.value));
    putU16le(b, row + 8, 2 * e.key.length);
    putU16le(b, row + 10, 2 * e.value.length);
  });
  return b;
}

/** A VHDX-type locator holding `pairs` (in the given order). */
export function vhdxLocator(pairs: Partial<Record<(typeof LOCATOR_KEYS)[number], string>>): ParentLocator {
  const entries = LOCATOR_KEYS.filter((k) => pairs[k] !== undefined).map((k) => ({ key: k, value: pairs[k]! }));
  return { locatorType: new Uint8Array(VHDX_LOCATOR_TYPE), reserved: 0, entries };
}

export function locatorValue(l: ParentLocator, key: string): string | undefined {
  return l.entries.find((e) => e.key === key)?.value;
}

/**
 * What a reader needs of a locator: keys unique, no NUL inside a string, and
 * for the VHDX type a parent_linkage GUID and at least one path. An unknown
 * locator type is a warning: the file reads, but its parent cannot be found.
 */
export function validateParentLocator(l: ParentLocator): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  l.entries.forEach((e, i) => {
    if (l.entries.findIndex((o) => o.key === e.key) !== i)
      errors.push({ code: 'VHDX_LOCATOR_DUPLICATE', field: `${F}.entries[${i}].keyOffset`, message: `parent locator key "${e.key}" appears twice` });
    if (e.key.includes('\0') || e.value.includes('\0'))
      errors.push({ code: 'VHDX_LOCATOR_NUL', field: `${F}.entries[${i}]`, message: `parent locator entry ${i} has a NUL inside its key or value` });
  });
  if (!guidEqual(l.locatorType, VHDX_LOCATOR_TYPE)) {
    warnings.push({
      code: 'VHDX_LOCATOR_TYPE',
      field: `${F}.locatorType`,
      message: `parent locator type {${guidToString(l.locatorType)}} is not the VHDX type: the parent cannot be located`,
    });
    return { errors, warnings };
  }
  const linkage = locatorValue(l, 'parent_linkage');
  if (linkage === undefined) errors.push({ code: 'VHDX_LOCATOR_LINKAGE', field: `${F}.parent_linkage`, message: 'parent locator has no parent_linkage' });
  else if (!parseGuid(linkage))
    errors.push({ code: 'VHDX_LOCATOR_LINKAGE', field: `${F}.parent_linkage`, message: `parent_linkage "${linkage}" is not a GUID` });
  const linkage2 = locatorValue(l, 'parent_linkage2');
  if (linkage2 !== undefined && !parseGuid(linkage2))
    warnings.push({ code: 'VHDX_LOCATOR_LINKAGE', field: `${F}.parent_linkage2`, message: `parent_linkage2 "${linkage2}" is not a GUID` });
  if (!PATH_KEYS.some((k) => locatorValue(l, k) !== undefined)) {
    errors.push({ code: 'VHDX_LOCATOR_PATH', field: `${F}.entries`, message: 'parent locator has none of relative_path, volume_path, absolute_win32_path' });
  }
  return { errors, warnings };
}

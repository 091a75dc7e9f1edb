// Parent locator entries (24 bytes each, 8 of them at header offset 576):
//   0 platform code (4) · 4 data space · 8 data length · 12 reserved · 16 data offset (u64)
// plus the codecs of their payloads (W2ru/W2ku UTF-16LE, MacX UTF-8 URL, Wi2r/Wi2k ASCII).
import { type Finding } from '../errors.js';
import { ascii, putAscii, putU32, putU64, u32, u64 } from './bytes.js';

export const LOCATOR_ENTRY_SIZE = 24;
export const LOCATOR_COUNT = 8;

export type LocatorCode = 'W2ru' | 'W2ku' | 'MacX' | 'Mac ' | 'Wi2r' | 'Wi2k';
export const KNOWN_CODES: readonly string[] = ['W2ru', 'W2ku', 'MacX', 'Mac ', 'Wi2r', 'Wi2k'];

export interface LocatorEntry {
  /** Four ASCII characters, or '\0\0\0\0' for an empty slot. */
  code: string;
  dataSpace: number;
  dataLength: number;
  reserved: number;
  dataOffset: bigint;
}

export const EMPTY_CODE = '\0\0\0\0';

export function emptyLocator(): LocatorEntry {
  return { code: EMPTY_CODE, dataSpace: 0, dataLength: 0, reserved: 0, dataOffset: 0n };
}

export function isEmptyLocator(l: LocatorEntry): boolean {
  return l.code === EMPTY_CODE;
}

export function decodeLocator(b: Uint8Array, off: number): LocatorEntry {
  return {
    code: ascii(b, off, 4),
    dataSpace: u32(b, off + 4),
    dataLength: u32(b, off + 8),
    reserved: u32(b, off + 12),
    dataOffset: u64(b, off + 16),
  };
}

export function encodeLocator(l: LocatorEntry, b: Uint8Array, off: number): void {
  putAscii(b, off, 4, l.code);
  putU32(b, off + 4, l.dataSpace);
  putU32(b, off + 8, l.dataLength);
  putU32(b, off + 12, l.reserved);
  putU64(b, off + 16, l.dataOffset);
}

/**
 * Bytes reserved for the payload. The spec says sectors but Windows, Hyper-V,
 * VirtualBox and blktap store bytes: below 512 it is sectors, a multiple of 512
 * is bytes, anything else is invalid (null).
 */
export function locatorSpaceBytes(l: LocatorEntry): number | null {
  if (l.dataSpace < 512) return l.dataSpace * 512;
  if (l.dataSpace % 512 === 0) return l.dataSpace;
  return null;
}

/** Structural findings for one entry, against the file size (payload must be inside the file). */
export function validateLocator(l: LocatorEntry, index: number, fileSize: number): Finding[] {
  if (isEmptyLocator(l)) return [];
  const f = `locators[${index}]`;
  const out: Finding[] = [];
  if (!KNOWN_CODES.includes(l.code)) {
    out.push({ code: 'LOCATOR_CODE', field: `${f}.code`, message: `parent locator ${index} has unknown platform code ${JSON.stringify(l.code)}` });
    return out;
  }
  const space = locatorSpaceBytes(l);
  if (space === null) {
    out.push({
      code: 'LOCATOR_DATA_SPACE',
      field: `${f}.dataSpace`,
      message: `parent locator ${index} (${l.code}) data space ${l.dataSpace} is neither sectors (<512) nor a multiple of 512 bytes`,
    });
  } else if (l.dataLength > space) {
    out.push({
      code: 'LOCATOR_DATA_LENGTH',
      field: `${f}.dataLength`,
      message: `parent locator ${index} (${l.code}) data length ${l.dataLength} exceeds its space ${space}`,
    });
  }
  if (l.dataOffset % 512n !== 0n) {
    out.push({
      code: 'LOCATOR_DATA_OFFSET',
      field: `${f}.dataOffset`,
      message: `parent locator ${index} (${l.code}) data offset ${l.dataOffset} is not sector aligned`,
    });
  }
  if (l.dataOffset + BigInt(l.dataLength) > BigInt(fileSize) || l.dataOffset < 512n) {
    out.push({
      code: 'LOCATOR_OUT_OF_FILE',
      field: `${f}.dataOffset`,
      message: `parent locator ${index} (${l.code}) payload at ${l.dataOffset} (+${l.dataLength}) is outside the file (${fileSize} bytes)`,
    });
  }
  return out;
}

/** Decodes a payload to a path or URL string; null when the bytes are not valid for the code. */
export function decodeLocatorPayload(code: string, data: Uint8Array): string | null {
  switch (code) {
    case 'W2ru':
    case 'W2ku': {
      if (data.length % 2 !== 0) return null;
      let s = '';
      for (let i = 0; i + 1 < data.length; i += 2) {
        const c = data[i] | (data[i + 1] << 8);
        if (c === 0) break; // tolerate a terminating NUL some writers add
        s += String.fromCharCode(c);
      }
      return isWellFormedUtf16(s) ? s : null;
    }
    case 'MacX': {
      const end = data.indexOf(0);
      const bytes = end >= 0 ? data.subarray(0, end) : data;
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        return null;
      }
    }
    case 'Wi2r':
    case 'Wi2k': {
      let s = '';
      for (const c of data) {
        if (c === 0) break;
        if (c > 0x7e) return null;
        s += String.fromCharCode(c);
      }
      return s;
    }
    default:
      return null; // 'Mac ' is an opaque alias record
  }
}

export function encodeLocatorPayload(code: 'W2ru' | 'W2ku' | 'MacX', text: string): Uint8Array {
  if (code === 'MacX') return new TextEncoder().encode(text);
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

function isWellFormedUtf16(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

// File type identifier, at offset 0 (a 64 KiB slot; only the first 520 bytes mean anything):
//   0 signature "vhdxfile" (8) · 8 creator (512, UTF-16LE, NUL padded) · 520 reserved
import { type Finding } from '../../errors.js';
import { shownTag } from '../../printable.js';
import { ascii, putAscii } from '../bytes.js';
import { decodeUtf16le, encodeUtf16le, needBytes } from './le.js';

export const IDENTIFIER_OFFSET = 0;
/** The bytes the identifier uses; its slot is 64 KiB. */
export const IDENTIFIER_SIZE = 520;
export const IDENTIFIER_SIGNATURE = 'vhdxfile';
const CREATOR_BYTES = 512;

export interface FileIdentifier {
  signature: string;
  /** Who created the file ("QEMU v7.2.22", "Microsoft Windows 10.0.19045.0"). */
  creator: string;
}

export function decodeIdentifier(b: Uint8Array): FileIdentifier {
  needBytes(b, IDENTIFIER_SIZE, 'identifier');
  return { signature: ascii(b, 0, 8), creator: decodeUtf16le(b.subarray(8, 8 + CREATOR_BYTES)) };
}

export function encodeIdentifier(id: FileIdentifier): Uint8Array {
  const b = new Uint8Array(IDENTIFIER_SIZE);
  putAscii(b, 0, 8, id.signature);
  // One code unit is kept for the terminating NUL.
  b.set(encodeUtf16le(id.creator.slice(0, CREATOR_BYTES / 2 - 1), CREATOR_BYTES), 8);
  return b;
}

/** Quick test of the first 8 bytes: is this a VHDX file at all? */
export function hasVhdxSignature(b: Uint8Array): boolean {
  return b.length >= 8 && ascii(b, 0, 8) === IDENTIFIER_SIGNATURE;
}

export function validateIdentifier(id: FileIdentifier): Finding[] {
  if (id.signature === IDENTIFIER_SIGNATURE) return [];
  return [
    {
      code: 'VHDX_SIGNATURE',
      field: 'identifier.signature',
      message: `file type signature is ${shownTag(id.signature)}, expected "vhdxfile" (not a VHDX file?)`,
    },
  ];
}

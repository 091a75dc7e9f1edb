// Which format a file is, from its first bytes: VHDX files start with the
// 'vhdxfile' identifier; anything else is left to the VHD reader to judge.
import { openFile } from '../io/file.js';

const VHDX_SIGNATURE = Buffer.from('vhdxfile', 'latin1');

export async function diskFormat(path: string): Promise<'vhd' | 'vhdx'> {
  const f = await openFile(path, 'r', { blocking: true });
  try {
    const head = Buffer.alloc(8);
    const n = await f.read(head, 0);
    return n === 8 && head.equals(VHDX_SIGNATURE) ? 'vhdx' : 'vhd';
  } finally {
    await f.close();
  }
}

/** True when these bytes begin a VHDX file. */
export function isVhdxStart(head: Uint8Array): boolean {
  return head.length >= 8 && VHDX_SIGNATURE.equals(head.subarray(0, 8));
}

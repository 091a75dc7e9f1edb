// Damage on purpose: flips the bits of one byte of a file in place.
import { promises as fsp } from 'node:fs';

/** Inverts the byte at `at` of `file` (so it is certainly different). */
export async function flipByte(file: string, at: number): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

// Shared set-up for the hostile-input tests: small chains written through the
// core, locators rewritten to point anywhere, and fingerprints of files that
// must never change.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomWrites } from '../support/tree.js';
import { decodeHeader, encodeHeader } from '../../core/format/header.js';
import { emptyLocator, encodeLocatorPayload } from '../../core/format/locator.js';
import { createDifferencing, createDynamic } from '../../core/ops/create.js';
import { Rng } from '../support/model.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const SIZE = 2 * MiB;

export async function scribble(path: string, seed: number, writes = 6): Promise<void> {
  await randomWrites(path, new Rng(seed), writes, 40 * KiB);
}

/** Dynamic `base` with data, differencing `child` of it with more. */
export async function chain(base: string, child: string, seed = 1): Promise<void> {
  await createDynamic(base, SIZE, { blockSize: 256 * KiB });
  await scribble(base, seed);
  await createDifferencing(child, base);
  await scribble(child, seed + 1);
}

export interface Fingerprint {
  sha: string;
  size: number;
  mtimeMs: number;
}

export function fingerprint(p: string): Fingerprint {
  const st = statSync(p);
  return { sha: createHash('sha256').update(readFileSync(p)).digest('hex'), size: st.size, mtimeMs: st.mtimeMs };
}

/**
 * Rewrites a differencing file's W2ru, W2ku and MacX locators (payloads
 * appended after the data, footer moved to the end) and its parent name;
 * the parent id is left as it is.
 */
export function pointLocators(child: string, texts: { W2ru: string; W2ku: string; MacX: string }, parentName: string): void {
  const buf = readFileSync(child);
  const footerAt = buf.length - 512;
  const footer = Buffer.from(buf.subarray(footerAt));
  const headerAt = Number(footer.readBigUInt64BE(16));
  const h = decodeHeader(buf.subarray(headerAt, headerAt + 1024));
  h.locators = h.locators.map(() => emptyLocator());
  const regions: Buffer[] = [];
  let at = footerAt;
  (['W2ru', 'W2ku', 'MacX'] as const).forEach((code, i) => {
    const data = Buffer.from(encodeLocatorPayload(code, texts[code]));
    const space = Math.max(512, Math.ceil(data.length / 512) * 512);
    h.locators[i] = { code, dataSpace: space, dataLength: data.length, reserved: 0, dataOffset: BigInt(at) };
    const padded = Buffer.alloc(space);
    data.copy(padded);
    regions.push(padded);
    at += space;
  });
  h.parentName = parentName;
  const out = Buffer.concat([buf.subarray(0, footerAt), ...regions, footer]);
  Buffer.from(encodeHeader(h)).copy(out, headerAt);
  writeFileSync(child, out);
}

/** The id in a VHD's trailing footer, as the core formats it. */
export function footerUuid(p: string): string {
  const b = readFileSync(p);
  const h = b.subarray(b.length - 512 + 68, b.length - 512 + 84).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

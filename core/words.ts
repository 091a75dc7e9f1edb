// How plans say things to people, in the CLI and the app alike: sizes in
// binary units ("2.5 GiB"), disks by their snapshot name where they have one
// ("‘Before upgrade’ (d1.vhd)"), each summary one sentence.
import * as nodePath from 'node:path';
import { displayNameOf } from './library/active.js';
import { printable } from './printable.js';

// Sizes have one home, shared with the page: core/size.ts.
export { sizeText } from './size.js';

/** A disk as a plan names it: its snapshot name and file ("‘Before upgrade’ (d1.vhd)"), or its file alone. */
export async function diskText(path: string, uuid: string | null): Promise<string> {
  const file = printable(nodePath.basename(path));
  if (uuid === null) return file;
  const name = await displayNameOf(path, uuid).catch(() => null);
  return name && name !== nodePath.basename(path) ? `‘${printable(name)}’ (${file})` : file;
}

/** A plan's summary as a sentence: capital first letter, one full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?…]$/.test(t) ? '' : '.'}`;
}

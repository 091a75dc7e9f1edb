// The hard-link guard: a file with other names (nlink > 1) is one file under
// several names, so writing it through one name changes what every other name
// shows — a "backup" made with `ln`, or a snapshot reached through a second
// name, would silently follow. Writing operations refuse such a file in their
// plan (so a dry run shows it), before any write. Only the operations that
// replace a name with a new file (snapshot in place, revert) leave the old
// file's content as it is, and say so in their descriptor (`replaces`).
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { fileIdentityOrNull, identityKey } from './io/identity.js';
import type { Plan } from './job.js';

/** RefusedError code: the file has other hard links, which writing it would change too. */
export const HARD_LINKED = 'HARD_LINKED';

/** A folder holding more entries than this is not searched for the other names (bounded work): the count is given instead. */
const MAX_NAMES_SCANNED = 10000;

/** Other names of the file `path` found in its folder and its real folder (cheap to look for; links elsewhere are only counted). */
async function otherNames(path: string, dev: bigint, ino: bigint): Promise<string[]> {
  const abs = nodePath.resolve(path);
  const real = await fsp.realpath(abs).catch(() => abs);
  const out: string[] = [];
  for (const dir of new Set([nodePath.dirname(abs), nodePath.dirname(real)])) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    if (names.length > MAX_NAMES_SCANNED) continue;
    for (const n of names) {
      const p = nodePath.join(dir, n);
      if (p === abs || p === real) continue;
      const st = await fsp.lstat(p, { bigint: true }).catch(() => null);
      if (st && st.isFile() && st.dev === dev && st.ino === ino) out.push(p);
    }
  }
  return out;
}

/** A HARD_LINKED refusal for each of `paths` (one per file) that has other hard links. Paths that do not exist are skipped. */
export async function hardLinkRefusals(paths: string[]): Promise<Plan['refusals']> {
  const out: Plan['refusals'] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    const id = await fileIdentityOrNull(p);
    const st = id ? await fsp.stat(p).catch(() => null) : null;
    if (!id || !st || !st.isFile() || st.nlink <= 1) continue;
    const key = identityKey(id, p);
    if (seen.has(key)) continue;
    seen.add(key);
    const names = await otherNames(p, id.dev, id.ino);
    const others = st.nlink - 1;
    const listed =
      names.length > 0
        ? `: ${names.join(', ')}${others > names.length ? ` and ${others - names.length} more elsewhere` : ''}`
        : ` (${others} other name${others > 1 ? 's' : ''}, elsewhere)`;
    out.push({
      code: HARD_LINKED,
      message: `${p} has ${others} other hard link${others > 1 ? 's' : ''}${listed}; changing it would change what ${others > 1 ? 'they show' : 'that name shows'} too. Remove the other names, or copy the file and work on the copy.`,
    });
  }
  return out;
}

// libvhdi (Debian's python3-libvhdi) as an oracle: reads each file of a chain
// through pyvhdi, linked with set_parent (test/interop/read_pyvhdi.py), and
// gives the sha256 of every disk as libvhdi sees it. libvhdi misreads
// children whose writes are not 4 KiB-aligned: compare aligned data only.
import { execFile, spawnSync } from 'node:child_process';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PYTHON = '/usr/bin/python3';
const SCRIPT = nodePath.join(nodePath.dirname(fileURLToPath(import.meta.url)), '..', 'interop', 'read_pyvhdi.py');
const MiB = 1024 * 1024;

export const HAVE_PYVHDI = spawnSync(PYTHON, ['-c', 'import pyvhdi'], { stdio: 'ignore' }).status === 0;
export const PYVHDI_MISSING = `${PYTHON} -c 'import pyvhdi' fails`;

/** The sha256 of each disk of the chain `files` (base first) as libvhdi reads it, in block-sized reads. */
export async function pyvhdiShas(files: string[], blockSize = MiB): Promise<string[]> {
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, String(blockSize), ...files], { maxBuffer: 1 << 20 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { sha256: string }).sha256);
}

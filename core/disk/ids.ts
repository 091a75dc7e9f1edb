// A disk file's own id and the id it links its parent by, whatever its
// format: VHD unique id and parent unique id; VHDX data write GUID and
// parent_linkage (what Hyper-V links a child by). The operations that swap
// files under a name (snapshot, revert, switch) check these, never names.
import * as nodePath from 'node:path';
import { RefusedError } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { pathExists, removeFile, syncDir } from '../io/file.js';
import { diskFormat } from './sniff.js';
import { VhdFile } from './vhd-file.js';
import { VhdxFile } from './vhdx-file.js';
import { vhdxParentId } from './vhdx-parent.js';

export interface DiskIds {
  uuid: string;
  /** For a differencing file; null for a base or a malformed link. */
  parentId: string | null;
  /** A VHDX file's virtual disk id (page 83 data), which writes keep (labels find a VHDX by it); null for a VHD. */
  virtualDiskId: string | null;
}

export async function diskIds(path: string): Promise<DiskIds> {
  if ((await diskFormat(path)) === 'vhdx') {
    const x = await VhdxFile.open(path);
    try {
      return { uuid: x.dataWriteGuid, parentId: x.hasParent ? vhdxParentId(x) : null, virtualDiskId: x.diskId };
    } finally {
      await x.close();
    }
  }
  const v = await VhdFile.open(path);
  try {
    return {
      uuid: v.uuid,
      parentId: v.type === 'differencing' && v.header !== null ? uuidToString(v.header.parentUniqueId) : null,
      virtualDiskId: null,
    };
  } finally {
    await v.close();
  }
}

/** The file's id, or null when it is missing or no disk. */
export async function diskIdOrNull(path: string): Promise<string | null> {
  return diskIds(path).then(
    (ids) => ids.uuid,
    () => null,
  );
}

/**
 * Removes the disk file at `path` if it still holds the disk `id` (already
 * gone: nothing to do). Another disk put at that path since is refused. A
 * read that fails is reported, never taken for "no disk there".
 * `what` says whose removal it is ("this merge removes").
 */
export async function removeDiskWithId(path: string, id: string, what: string): Promise<void> {
  const found = (await pathExists(path)) ? (await diskIds(path)).uuid : null;
  if (found !== null && found !== id)
    throw new RefusedError('CHANGED', `${path} is no longer the disk ${what} (its id is ${found}); the journal is left for a person`, { path });
  await removeFile(path, { missingOk: true });
  await syncDir(nodePath.dirname(path));
}

// Relinking a differencing VHDX in place: its parent locator is rewritten to
// name another parent file (parent_linkage: that file's data write GUID;
// relative_path and absolute_win32_path: where it is), through the file's own
// log (core/disk/vhdx-writer.ts replaceMetadata): one log entry of the
// metadata pages that change, so a kill at any instant leaves a file that
// reads, here or in Hyper-V or QEMU, with the old locator or the new one.
// The child's content is not written and its data write GUID is kept: its own
// children's parent_linkage stays true.
import * as nodePath from 'node:path';
import { FormatError, RefusedError } from '../errors.js';
import { PARENT_LOCATOR_ITEM } from '../format/vhdx/items.js';
import { replaceSystemItem } from '../format/vhdx/metadata.js';
import { encodeParentLocator } from '../format/vhdx/parent-locator.js';
import { withOwnerWrite } from '../io/file.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { vhdxParentId } from '../disk/vhdx-parent.js';
import { VhdxWriter } from '../disk/vhdx-writer.js';
import { recordChild } from '../library/sidecar.js';
import { vhdxLocatorTo } from './create.js';

/**
 * Points `childPath` at `parentPath`. A parent whose data write GUID is not
 * the one the child links is refused unless `ignoreIdMismatch` (a warning is
 * returned then) or the child links one of `expectedParents` (a merge moves a
 * grandchild from the disk it removes to the merged one, which has a new id;
 * run again, the relink finds the child already linked and writes nothing).
 * A child in another folder than the parent is recorded beside the parent
 * first (core/library/sidecar.ts), as for VHD.
 */
export async function relinkVhdx(
  childPath: string,
  parentPath: string,
  opts: { ignoreIdMismatch?: boolean; expectedParents?: string[] } = {},
): Promise<{ warnings: string[] }> {
  const parent = await VhdxFile.open(parentPath);
  const parentId = parent.header.dataWriteGuid;
  await parent.close();
  const warnings: string[] = [];
  await withOwnerWrite(childPath, async () => {
    const w = await VhdxWriter.open(childPath);
    try {
      const f = w.file;
      if (!f.hasParent) throw new FormatError('NOT_DIFFERENCING', `${childPath} has no parent to relink`, { path: childPath });
      const expected = vhdxParentId(f);
      if (expected !== parent.dataWriteGuid && !(expected !== null && opts.expectedParents?.includes(expected))) {
        if (!opts.ignoreIdMismatch)
          throw new RefusedError(
            'PARENT_ID_MISMATCH',
            `${parentPath} has id ${parent.dataWriteGuid} but ${nodePath.basename(childPath)} expects ${expected ?? '(none)'}; it is not this disk's parent. --ignore-id-mismatch overrides this at the risk of corrupt data.`,
            { path: childPath, field: 'parentLocator.parent_linkage' },
          );
        warnings.push(
          `id mismatch ignored: ${nodePath.basename(childPath)} expected parent ${expected ?? '(none)'}, linking it to ${parent.dataWriteGuid}. If that disk is not the one it was made from, its content is corrupt.`,
        );
      }
      await recordChild(parentPath, parent.dataWriteGuid, childPath, f.dataWriteGuid);
      const locator = encodeParentLocator(vhdxLocatorTo(childPath, parentPath, parentId));
      const region = replaceSystemItem(await f.readMetadataRegion(), PARENT_LOCATOR_ITEM, locator);
      if (!region)
        throw new FormatError('VHDX_METADATA_FULL', `${childPath}: its metadata region has no room for a parent locator of ${locator.length} bytes`, {
          field: 'metadata.parentLocator',
          path: childPath,
        });
      await w.replaceMetadata(region);
    } finally {
      await w.close();
    }
  });
  return { warnings };
}

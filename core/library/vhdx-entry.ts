// A VHDX file as one disk of a scanned folder: the same DiskEntry a VHD
// gives (scan.ts), from what VHDX records — its data write GUID is the id
// children link to, parent_linkage names the parent's, and since VHDX keeps
// no creation time the file's modification time stands in.
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { PayloadState } from '../format/vhdx/bat.js';
import { locatorValue } from '../format/vhdx/parent-locator.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { vhdxParentCandidates, vhdxParentId } from '../disk/vhdx-parent.js';
import { fileKeyOrNull } from '../io/identity.js';
import type { DiskEntry } from '../shapes.js';

export function describeVhdx(f: VhdxFile, st: { size: number; mtime: Date }): DiskEntry {
  let stored = 0;
  for (let b = 0; b < f.blockCount; b++) {
    const s = f.blockState(b);
    if (s === PayloadState.FullyPresent || s === PayloadState.PartiallyPresent) stored++;
  }
  const l = f.parentLocator;
  return {
    path: f.path,
    format: 'vhdx',
    uuid: f.dataWriteGuid,
    type: f.type,
    virtualSize: f.virtualSize,
    fileSize: st.size,
    blockSize: f.blockSize,
    allocatedBlocks: stored,
    timestamp: st.mtime.toISOString(),
    creatorApp: f.creator,
    parentUuid: f.hasParent ? (vhdxParentId(f) ?? '') : null,
    parentName: f.hasParent && l ? (locatorValue(l, 'relative_path') ?? locatorValue(l, 'absolute_win32_path') ?? '') : null,
    name: null,
    description: null,
  };
}

/** What the folder scan needs of a VHDX file: its key, entry and where its parent may be. */
export async function scanVhdx(p: string): Promise<{ key: string; entry: DiskEntry; candidates?: { path: string }[]; diskId: string | null }> {
  const f = await VhdxFile.open(p, { blocking: true });
  try {
    const st = await fsp.stat(p);
    const key = (await fileKeyOrNull(p)) ?? `path:${nodePath.resolve(p)}`;
    return { key, entry: describeVhdx(f, st), candidates: f.hasParent ? vhdxParentCandidates(f) : undefined, diskId: f.diskId };
  } finally {
    await f.close();
  }
}

/**
 * What a VHDX file stores itself, per payload block (0 nothing, 1 some
 * sectors, 2 all) and in bytes: the details pane's map and the Cost column.
 * Zero, unmapped and undefined blocks store nothing, even where they hide a parent.
 */
export async function vhdxAllocation(path: string): Promise<{ blocks: Uint8Array; storedBytes: number }> {
  const f = await VhdxFile.open(path);
  try {
    const blocks = new Uint8Array(f.blockCount);
    let bytes = 0;
    for (let b = 0; b < f.blockCount; b++) {
      const s = f.blockState(b);
      if (s === PayloadState.FullyPresent) {
        blocks[b] = 2;
        bytes += f.bytesInBlock(b);
      } else if (s === PayloadState.PartiallyPresent) {
        const bits = await f.blockBitmap(b);
        const sectors = f.bytesInBlock(b) / f.logicalSectorSize;
        let set = 0;
        for (let i = 0; i < sectors; i++) set += (bits[i >>> 3] >>> (i & 7)) & 1;
        blocks[b] = set === 0 ? 0 : set === sectors ? 2 : 1;
        bytes += set * f.logicalSectorSize;
      }
    }
    return { blocks, storedBytes: bytes };
  } finally {
    await f.close();
  }
}

// What `vhdsnap info` reports about one file and its chain.
import * as nodePath from 'node:path';
import { ChainError, VhdError, type Finding } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { openDisk } from '../disk/chain.js';
import { readLocators } from '../disk/parent.js';
import { VhdFile } from '../disk/vhd-file.js';
import { describeFile } from '../library/scan.js';
import { getLabel } from '../library/sidecar.js';
import type { DiskInfo } from '../shapes.js';

export type { DiskInfo };

export async function getInfo(path: string, opts: { parentPath?: string } = {}): Promise<DiskInfo> {
  const f = await VhdFile.open(path);
  try {
    const label = await getLabel(path, f.uuid);
    const d = describeFile(f, label);
    let parent: DiskInfo['parent'] = null;
    let chain = [nodePath.resolve(f.path)];
    let chainError: DiskInfo['chainError'] = null;
    const warnings: Finding[] = [...f.notes];
    if (f.type === 'differencing') {
      const h = f.header!;
      parent = {
        uuid: uuidToString(h.parentUniqueId),
        name: h.parentName,
        path: null,
        timestamp: new Date((h.parentTimestamp + 946684800) * 1000).toISOString(),
        locators: await readLocators(f),
      };
      try {
        const disk = await openDisk(path, { parentPath: opts.parentPath });
        chain = disk.layers.map((l) => nodePath.resolve(l.path));
        parent.path = chain[1] ?? null;
        warnings.push(...disk.warnings.filter((w) => !f.notes.some((n) => n.code === w.code)));
        await disk.close();
      } catch (err) {
        if (!(err instanceof ChainError || err instanceof VhdError)) throw err;
        chainError = { code: err.code, message: err.message };
      }
    }
    const v = f.footer.creatorVersion;
    return {
      path: nodePath.resolve(path),
      type: d.type,
      virtualSize: d.virtualSize,
      blockSize: d.blockSize,
      uuid: d.uuid,
      timestamp: d.timestamp,
      creatorApp: d.creatorApp,
      creatorVersion: `${v >>> 16}.${v & 0xffff}`,
      creatorHostOs: f.footer.creatorHostOs.replace(/\0/g, '').trim(),
      fileSize: d.fileSize,
      allocatedBlocks: d.allocatedBlocks,
      totalBlocks: f.bat ? f.bat.length : null,
      name: d.name,
      description: d.description,
      parent,
      chain,
      chainError,
      warnings,
    };
  } finally {
    await f.close();
  }
}

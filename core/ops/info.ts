// What `vhdsnap info` reports about one file and its chain.
import * as nodePath from 'node:path';
import { ChainError, VhdError, type Finding } from '../errors.js';
import { uuidToString } from '../format/bytes.js';
import { openDisk, openReadableDisk, type Disk } from '../disk/chain.js';
import type { ChainLayer } from '../disk/layer.js';
import { diskFormat } from '../disk/sniff.js';
import { describeVhdx } from '../library/vhdx-entry.js';
import { guidToString } from '../format/vhdx/guid.js';
import { VhdxFile } from '../disk/vhdx-file.js';
import { promises as fsp } from 'node:fs';
import { readLocators } from '../disk/parent.js';
import { VhdFile } from '../disk/vhd-file.js';
import { describeFile } from '../library/scan.js';
import { getLabel } from '../library/sidecar.js';
import type { DiskInfo } from '../shapes.js';

export type { DiskInfo };

export async function getInfo(path: string, opts: { parentPath?: string } = {}): Promise<DiskInfo> {
  if ((await diskFormat(path)) === 'vhdx') return getVhdxInfo(path, opts);
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
      ({ chain, chainError } = await chainOf(() => openDisk(path, { parentPath: opts.parentPath }), chain, f.notes, warnings));
      parent.path = chain[1] ?? null;
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

/** `info` of a VHDX file: the same shape, with what VHDX adds (sector sizes, GUIDs, header, log) under `vhdx`. */
async function getVhdxInfo(path: string, opts: { parentPath?: string }): Promise<DiskInfo> {
  const f = await VhdxFile.open(path);
  try {
    const st = await fsp.stat(path);
    const label = await getLabel(path, f.dataWriteGuid, f.diskId);
    const entry = describeVhdx(f, st);
    const warnings: Finding[] = [...f.notes];
    let chain = [nodePath.resolve(path)];
    let chainError: DiskInfo['chainError'] = null;
    let parent: DiskInfo['parent'] = null;
    if (f.hasParent) {
      const l = f.parentLocator;
      const linkage = f.parentLinkage ?? '';
      parent = {
        uuid: linkage.replace(/[{}]/g, '').toLowerCase(),
        name: entry.parentName ?? '',
        path: null,
        // VHDX records no link time.
        timestamp: '',
        locators: (l?.entries ?? []).filter((e) => !e.key.startsWith('parent_linkage')).map((e) => ({ platform: e.key, path: e.value })),
      };
      ({ chain, chainError } = await chainOf(() => openReadableDisk(path, { parentPath: opts.parentPath }), chain, f.notes, warnings));
      parent.path = chain[1] ?? null;
    }
    return {
      path: nodePath.resolve(path),
      format: 'vhdx',
      type: f.type,
      virtualSize: f.virtualSize,
      blockSize: f.blockSize,
      uuid: f.dataWriteGuid,
      // VHDX keeps no creation time: the file's modification time stands in.
      timestamp: st.mtime.toISOString(),
      creatorApp: f.creator,
      creatorVersion: '',
      creatorHostOs: '',
      fileSize: st.size,
      allocatedBlocks: entry.allocatedBlocks,
      totalBlocks: f.blockCount,
      name: label?.name ?? null,
      description: label?.description ?? null,
      parent,
      chain,
      chainError,
      warnings,
      vhdx: {
        logicalSectorSize: f.logicalSectorSize,
        physicalSectorSize: f.physicalSectorSize,
        diskId: f.diskId,
        fileWriteGuid: guidToString(f.header.fileWriteGuid),
        header: { copy: f.headerIndex, sequence: f.header.sequenceNumber.toString() },
        logEntriesReplayed: f.logEntriesReplayed,
      },
    };
  } finally {
    await f.close();
  }
}

/**
 * The chain of a differencing disk as `open` resolves it, its warnings added
 * (those the file's own notes already say left out); when it cannot be
 * resolved, why, and `broken` (just the file) as the chain.
 */
async function chainOf(
  open: () => Promise<Disk<ChainLayer>>,
  broken: string[],
  notes: Finding[],
  warnings: Finding[],
): Promise<{ chain: string[]; chainError: DiskInfo['chainError'] }> {
  try {
    const disk = await open();
    const chain = disk.layers.map((l) => nodePath.resolve(l.path));
    warnings.push(...disk.warnings.filter((w) => !notes.some((n) => n.code === w.code)));
    await disk.close();
    return { chain, chainError: null };
  } catch (err) {
    if (!(err instanceof ChainError || err instanceof VhdError)) throw err;
    return { chain: broken, chainError: { code: err.code, message: err.message } };
  }
}

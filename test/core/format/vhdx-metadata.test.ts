import { describe, expect, it } from 'vitest';
import { guidFromString, guidToString, newGuid } from '../../../core/format/vhdx/guid.js';
import {
  decodeFileParameters,
  decodePage83,
  decodeSectorSize,
  decodeVirtualDiskSize,
  encodeFileParameters,
  encodePage83,
  encodeSectorSize,
  encodeVirtualDiskSize,
  FILE_PARAMETERS_ITEM,
  hasParentFlag,
  leaveBlocksAllocatedFlag,
  LOGICAL_SECTOR_SIZE_ITEM,
  PAGE83_ITEM,
  PARENT_LOCATOR_ITEM,
  validateFileParameters,
  validateSectorSize,
  validateVirtualDiskSize,
  VIRTUAL_DISK_SIZE_ITEM,
} from '../../../core/format/vhdx/items.js';
import {
  decodeMetadataTable,
  encodeMetadataTable,
  findSystemItem,
  IS_REQUIRED,
  IS_USER,
  IS_VIRTUAL_DISK,
  METADATA_TABLE_SIZE,
  newMetadataTable,
  replaceSystemItem,
  validateMetadataTable,
  type MetadataEntry,
} from '../../../core/format/vhdx/metadata.js';
import {
  decodeParentLocator,
  encodeParentLocator,
  locatorValue,
  validateParentLocator,
  VHDX_LOCATOR_TYPE,
  vhdxLocator,
} from '../../../core/format/vhdx/parent-locator.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The metadata table qemu-img writes (see its 5 items), with Buffer writers. */
function qemuTable(): Buffer {
  const b = Buffer.alloc(METADATA_TABLE_SIZE);
  b.write('metadata', 0, 'latin1');
  const items: [string, number, number, number][] = [
    ['3767a1ca36fa434db3b633f0aa44e76b', 65536, 8, 4],
    ['2442a52f1bcd7648b2115dbed83bf4b8', 65544, 8, 6],
    ['ab12cabee6b2234593efc309e000c746', 65552, 16, 6],
    ['1dbf41816fa90947ba47f233a8faab5f', 65568, 4, 6],
    ['c748a3cd5d4471449cc9e9885251c556', 65572, 4, 6],
  ];
  b.writeUInt16LE(items.length, 10);
  items.forEach(([g, off, len, flags], i) => {
    Buffer.from(g, 'hex').copy(b, 32 + 32 * i);
    b.writeUInt32LE(off, 32 + 32 * i + 16);
    b.writeUInt32LE(len, 32 + 32 * i + 20);
    b.writeUInt32LE(flags, 32 + 32 * i + 24);
  });
  return b;
}

const item = (id: Uint8Array, offset: number, length: number, flags = IS_REQUIRED): MetadataEntry => ({ itemId: id, offset, length, flags, reserved: 0 });
const found = (r: { errors: { code: string; field?: string }[] }) => r.errors.map((e) => `${e.code}@${e.field}`);

describe('VHDX metadata table', () => {
  it('decodes the table qemu-img writes: known item GUIDs, offsets, flags; re-encodes byte for byte', () => {
    const raw = qemuTable();
    const t = decodeMetadataTable(raw);
    expect(t.entryCount).toBe(5);
    expect(findSystemItem(t, FILE_PARAMETERS_ITEM)).toMatchObject({ offset: 65536, length: 8, flags: IS_REQUIRED });
    expect(findSystemItem(t, VIRTUAL_DISK_SIZE_ITEM)).toMatchObject({ offset: 65544, flags: IS_REQUIRED | IS_VIRTUAL_DISK });
    expect(findSystemItem(t, PAGE83_ITEM)?.length).toBe(16);
    expect(findSystemItem(t, LOGICAL_SECTOR_SIZE_ITEM)?.offset).toBe(65568);
    expect(Buffer.from(encodeMetadataTable(t)).equals(raw)).toBe(true);
    expect(validateMetadataTable(t, { regionLength: MiB })).toEqual({ errors: [], warnings: [] });
  });

  it('finds bad signature, out-of-region and overlapping items, duplicates and unknown required items', () => {
    const fp = item(FILE_PARAMETERS_ITEM, 64 * KiB, 8);
    const vs = item(VIRTUAL_DISK_SIZE_ITEM, 64 * KiB + 8, 8);
    const v = (entries: MetadataEntry[], regionLength = MiB) => found(validateMetadataTable(newMetadataTable(entries), { regionLength }));
    expect(v([fp, vs])).toEqual([]);
    expect(found(validateMetadataTable({ ...newMetadataTable([fp]), signature: 'metadatX' }, { regionLength: MiB }))).toEqual([
      'VHDX_METADATA_SIGNATURE@metadata.signature',
    ]);
    expect(v([fp, { ...vs, offset: 100 }])).toEqual(['VHDX_METADATA_ITEM_OFFSET@metadata.entries[1].offset']);
    expect(v([fp, { ...vs, offset: MiB - 4 }])).toEqual(['VHDX_METADATA_ITEM_OFFSET@metadata.entries[1].offset']);
    expect(v([fp, { ...vs, offset: 0xffffffff }])).toEqual(['VHDX_METADATA_ITEM_OFFSET@metadata.entries[1].offset']);
    expect(v([fp, { ...vs, length: MiB + 1 }], 4 * MiB)).toEqual(['VHDX_METADATA_ITEM_LENGTH@metadata.entries[1].length']);
    expect(v([fp, { ...vs, offset: 64 * KiB + 4 }])).toEqual(['VHDX_METADATA_OVERLAP@metadata.entries[1].offset']);
    expect(v([fp, { ...vs, length: 0, offset: 70000 }])).toEqual(['VHDX_METADATA_ITEM_OFFSET@metadata.entries[1].offset']);
    expect(v([fp, { ...fp, offset: 70000 }])).toEqual(['VHDX_METADATA_DUPLICATE@metadata.entries[1].itemId']);
    // The same GUID as a user item is another item.
    expect(v([fp, { ...fp, offset: 70000, flags: IS_USER }])).toEqual([]);
    const unknown = guidFromString('01234567-89ab-cdef-0123-456789abcdef');
    expect(v([fp, item(unknown, 70000, 4)])).toEqual(['VHDX_METADATA_UNKNOWN_REQUIRED@metadata.entries[1].itemId']);
    expect(v([fp, item(unknown, 70000, 4, 0)])).toEqual([]);
    expect(v([fp, item(unknown, 70000, 4, IS_USER | IS_REQUIRED)])).toEqual(['VHDX_METADATA_UNKNOWN_REQUIRED@metadata.entries[1].itemId']);
  });

  it('a crafted entry count decodes at most 2047 entries and is an error', () => {
    const raw = qemuTable();
    raw.writeUInt16LE(0xffff, 10);
    const t = decodeMetadataTable(raw);
    expect(t.entries.length).toBe(2047);
    expect(found(validateMetadataTable(t, { regionLength: MiB }))).toEqual(['VHDX_METADATA_COUNT@metadata.entryCount']);
    expect(() => decodeMetadataTable(new Uint8Array(1000))).toThrow(expect.objectContaining({ code: 'VHDX_TRUNCATED' }));
  });
});

describe('VHDX metadata items', () => {
  it('file parameters: block size and the two flags', () => {
    const raw = Buffer.from('0000100003000000', 'hex');
    const p = decodeFileParameters(raw);
    expect(p).toEqual({ blockSize: MiB, flags: 3 });
    expect(hasParentFlag(p) && leaveBlocksAllocatedFlag(p)).toBe(true);
    expect(Buffer.from(encodeFileParameters(p)).equals(raw)).toBe(true);
    expect(validateFileParameters(p).errors).toEqual([]);
    for (const bad of [0, 512 * KiB, 3 * MiB, 512 * MiB, 0xffffffff]) {
      expect(found(validateFileParameters({ blockSize: bad, flags: 0 }))).toEqual(['VHDX_BLOCK_SIZE@metadata.fileParameters.blockSize']);
    }
    expect(validateFileParameters({ blockSize: 256 * MiB, flags: 0x10 }).warnings).toMatchObject([{ code: 'VHDX_FILE_PARAMETERS_FLAGS' }]);
  });

  it('virtual disk size, page 83 data and sector sizes round-trip and validate', () => {
    const size = 10n * BigInt(MiB);
    expect(Buffer.from(encodeVirtualDiskSize(size)).toString('hex')).toBe('0000a00000000000');
    expect(decodeVirtualDiskSize(encodeVirtualDiskSize(size))).toBe(size);
    expect(validateVirtualDiskSize(size, 4096)).toEqual([]);
    expect(validateVirtualDiskSize(0n, 512)).toMatchObject([{ code: 'VHDX_VIRTUAL_SIZE', field: 'metadata.virtualDiskSize' }]);
    expect(validateVirtualDiskSize(64n * 1024n ** 4n + 512n, 512)).toMatchObject([{ code: 'VHDX_VIRTUAL_SIZE' }]);
    expect(validateVirtualDiskSize(64n * 1024n ** 4n, 512)).toEqual([]);
    expect(validateVirtualDiskSize(size + 512n, 4096)).toMatchObject([{ code: 'VHDX_VIRTUAL_SIZE' }]);
    const id = newGuid();
    expect(guidToString(decodePage83(encodePage83(id)))).toBe(guidToString(id));
    expect(decodeSectorSize(Buffer.from('00100000', 'hex'), 'logicalSectorSize')).toBe(4096);
    expect(decodeSectorSize(encodeSectorSize(512), 'physicalSectorSize')).toBe(512);
    expect(validateSectorSize(4096, 'logicalSectorSize')).toEqual([]);
    expect(validateSectorSize(1024, 'logicalSectorSize')).toMatchObject([{ code: 'VHDX_LOGICAL_SECTOR_SIZE', field: 'metadata.logicalSectorSize' }]);
    expect(validateSectorSize(0, 'physicalSectorSize')).toMatchObject([{ code: 'VHDX_PHYSICAL_SECTOR_SIZE', field: 'metadata.physicalSectorSize' }]);
    expect(() => decodeVirtualDiskSize(new Uint8Array(7))).toThrow(expect.objectContaining({ code: 'VHDX_TRUNCATED', field: 'metadata.virtualDiskSize' }));
  });
});

/** A VHDX parent locator built with Buffer writers: header, entry table, then strings. */
function rawLocator(pairs: [string, string][]): Buffer {
  const table = 20 + 12 * pairs.length;
  const strings = pairs.flatMap(([k, v]) => [Buffer.from(k, 'utf16le'), Buffer.from(v, 'utf16le')]);
  const b = Buffer.alloc(table + strings.reduce((n, s) => n + s.length, 0));
  Buffer.from(VHDX_LOCATOR_TYPE).copy(b, 0);
  b.writeUInt16LE(pairs.length, 18);
  let at = table;
  pairs.forEach((_, i) => {
    const [k, v] = [strings[2 * i], strings[2 * i + 1]];
    b.writeUInt32LE(at, 20 + 12 * i);
    k.copy(b, at);
    at += k.length;
    b.writeUInt32LE(at, 20 + 12 * i + 4);
    v.copy(b, at);
    at += v.length;
    b.writeUInt16LE(k.length, 20 + 12 * i + 8);
    b.writeUInt16LE(v.length, 20 + 12 * i + 10);
  });
  return b;
}

describe('VHDX parent locator', () => {
  const pairs: [string, string][] = [
    ['parent_linkage', '{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}'],
    ['relative_path', '..\\base ✓.vhdx'],
    ['absolute_win32_path', '\\\\?\\D:\\vms\\base ✓.vhdx'],
  ];

  it('decodes keys and values as UTF-16LE and re-encodes byte for byte', () => {
    const raw = rawLocator(pairs);
    const l = decodeParentLocator(raw);
    expect(l.entries).toEqual(pairs.map(([key, value]) => ({ key, value })));
    expect(locatorValue(l, 'relative_path')).toBe('..\\base ✓.vhdx');
    expect(Buffer.from(encodeParentLocator(l)).equals(raw)).toBe(true);
    expect(validateParentLocator(l)).toEqual({ errors: [], warnings: [] });
    const built = vhdxLocator({ parent_linkage: pairs[0][1], relative_path: pairs[1][1], absolute_win32_path: pairs[2][1] });
    expect(Buffer.from(encodeParentLocator(built)).equals(raw)).toBe(true);
  });

  it('hostile entries: out of the item, odd lengths, over the table, a crafted count', () => {
    const raw = rawLocator(pairs);
    const bad = (mutate: (b: Buffer) => void, code: string, field: string) => {
      const b = Buffer.from(raw);
      mutate(b);
      expect(() => decodeParentLocator(b)).toThrow(expect.objectContaining({ code, field }));
    };
    bad((b) => b.writeUInt32LE(raw.length - 2, 20 + 12), 'VHDX_LOCATOR_ENTRY', 'metadata.parentLocator.entries[1].keyOffset');
    bad((b) => b.writeUInt32LE(0xfffffff0, 20 + 4), 'VHDX_LOCATOR_ENTRY', 'metadata.parentLocator.entries[0].valueOffset');
    bad((b) => b.writeUInt16LE(3, 20 + 8), 'VHDX_LOCATOR_ENTRY', 'metadata.parentLocator.entries[0].keyOffset');
    bad((b) => b.writeUInt16LE(0, 20 + 24 + 10), 'VHDX_LOCATOR_ENTRY', 'metadata.parentLocator.entries[2].valueOffset');
    bad((b) => b.writeUInt32LE(4, 20), 'VHDX_LOCATOR_ENTRY', 'metadata.parentLocator.entries[0].keyOffset');
    bad((b) => b.writeUInt16LE(0xffff, 18), 'VHDX_LOCATOR_COUNT', 'metadata.parentLocator.keyValueCount');
    expect(() => decodeParentLocator(new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'VHDX_LOCATOR_TRUNCATED' }));
  });

  it('validates linkage, paths, duplicates and the locator type', () => {
    const v = (p: [string, string][]) => found(validateParentLocator(decodeParentLocator(rawLocator(p))));
    expect(v(pairs.slice(1))).toEqual(['VHDX_LOCATOR_LINKAGE@metadata.parentLocator.parent_linkage']);
    expect(v([['parent_linkage', 'nope'], pairs[1]])).toEqual(['VHDX_LOCATOR_LINKAGE@metadata.parentLocator.parent_linkage']);
    expect(v([pairs[0]])).toEqual(['VHDX_LOCATOR_PATH@metadata.parentLocator.entries']);
    expect(v([...pairs, pairs[1]])).toEqual(['VHDX_LOCATOR_DUPLICATE@metadata.parentLocator.entries[3].keyOffset']);
    expect(v([pairs[0], ['volume_path', 'a\0b']])).toEqual(['VHDX_LOCATOR_NUL@metadata.parentLocator.entries[1]']);
    const other = { ...decodeParentLocator(rawLocator(pairs)), locatorType: newGuid() };
    const r = validateParentLocator(other);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toMatchObject([{ code: 'VHDX_LOCATOR_TYPE', field: 'metadata.parentLocator.locatorType' }]);
  });
});

describe('replaceSystemItem (a relink rewrites the parent locator item)', () => {
  const MiB = 1024 * 1024;
  const ITEM_A = guidFromString('11111111-2222-3333-4444-555555555555');
  /** A 1 MiB region: item A (100 bytes of 0xaa) at 64 KiB, the parent locator (200 of 0xbb) after it, 7 bytes of junk past both. */
  function region(): Uint8Array {
    const r = new Uint8Array(MiB);
    const entries: MetadataEntry[] = [
      { itemId: ITEM_A, offset: 65536, length: 100, flags: 0, reserved: 0 },
      { itemId: PARENT_LOCATOR_ITEM, offset: 65636, length: 200, flags: IS_REQUIRED, reserved: 0 },
    ];
    r.set(encodeMetadataTable(newMetadataTable(entries)), 0);
    r.fill(0xaa, 65536, 65636);
    r.fill(0xbb, 65636, 65836);
    r.fill(0xcc, 70000, 70007);
    return r;
  }
  const entry = (r: Uint8Array) => findSystemItem(decodeMetadataTable(r), PARENT_LOCATOR_ITEM)!;

  it('writes bytes that fit in the item’s own place, zeroing the rest of the old bytes; nothing else changes', () => {
    const before = region();
    const out = replaceSystemItem(before, PARENT_LOCATOR_ITEM, new Uint8Array(150).fill(0xdd))!;
    expect(entry(out)).toMatchObject({ offset: 65636, length: 150, flags: IS_REQUIRED });
    expect(out.subarray(65636, 65786).every((b) => b === 0xdd)).toBe(true);
    expect(out.subarray(65786, 65836).every((b) => b === 0)).toBe(true);
    // Past the table, only the item's 200 bytes differ; item A and the junk are as they were.
    const changed = [...out.keys()].filter((i) => i >= METADATA_TABLE_SIZE && out[i] !== before[i]);
    expect(changed[0]).toBe(65636);
    expect(changed.at(-1)).toBeLessThan(65836);
    expect(validateMetadataTable(decodeMetadataTable(out), { regionLength: MiB }).errors.map((e) => e.message)).toEqual([]);
    expect(before.subarray(65636, 65836).every((b) => b === 0xbb)).toBe(true); // the input is not changed
  });

  it('moves bytes that do not fit before the next item past the last item, and gives up where the region has no room', () => {
    const r = region();
    // Item A is grown to end where the locator starts; the locator is then moved before it to have no room in place.
    const t = decodeMetadataTable(r);
    t.entries[0] = { ...t.entries[0], offset: 65836, length: 100 };
    t.entries[1] = { ...t.entries[1], offset: 65536, length: 200 };
    r.set(encodeMetadataTable(t), 0);
    const out = replaceSystemItem(r, PARENT_LOCATOR_ITEM, new Uint8Array(400).fill(0xee))!;
    expect(entry(out)).toMatchObject({ offset: 65936, length: 400 });
    expect(out.subarray(65536, 65736).every((b) => b === 0)).toBe(true);
    expect(out.subarray(65936, 66336).every((b) => b === 0xee)).toBe(true);
    expect(validateMetadataTable(decodeMetadataTable(out), { regionLength: MiB }).errors.map((e) => e.message)).toEqual([]);
    expect(replaceSystemItem(r, PARENT_LOCATOR_ITEM, new Uint8Array(MiB - 65936 + 1))).toBeNull();
    expect(replaceSystemItem(r, newGuid(), new Uint8Array(10))).toBeNull();
  });
});

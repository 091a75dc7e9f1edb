// Parent resolution: moved chains, explicit parents, hostile locators (a
// locator must never link a file that is not the recorded parent, and must
// never cause a file it names to be written), and a chain made by Windows.
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { readLocators, resolveParent } from '../../core/disk/parent.js';
import { VhdFile } from '../../core/disk/vhd-file.js';
import { ChainError } from '../../core/errors.js';
import { encodeBat, BAT_UNUSED } from '../../core/format/bat.js';
import { DiskType, encodeFooter } from '../../core/format/footer.js';
import { decodeHeader, encodeHeader } from '../../core/format/header.js';
import { encodeLocatorPayload, locatorSpaceBytes } from '../../core/format/locator.js';
import { createDifferencing, createDynamic, layoutDynamic, linkHeaderToParent } from '../../core/ops/create.js';
import { getInfo } from '../../core/ops/info.js';
import { DiskModel, Rng } from '../support/model.js';
import { useTmpDir } from '../support/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 2 * MiB;
const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures');

/** base.vhd with some data, child.vhd on top with more; returns the model views. */
async function makeChain(dir: string, names = { base: 'base.vhd', child: 'child.vhd' }) {
  const base = path.join(dir, names.base);
  const child = path.join(dir, names.child);
  const model = new DiskModel(SIZE);
  const L0 = model.addBase();
  const rng = new Rng(42);
  await createDynamic(base, SIZE, { blockSize: 512 * KiB });
  let d = await openDisk(base, { writable: true, sync: false });
  for (const [off, len] of [
    [0, 4096],
    [700 * KiB + 3, 2000],
  ]) {
    const b = rng.bytes(len);
    await d.write(off, b);
    model.write(L0, off, b);
  }
  await d.close();
  await createDifferencing(child, base);
  const L1 = model.addChild(L0);
  d = await openDisk(child, { writable: true, sync: false });
  const b = rng.bytes(3000);
  await d.write(1500 * KiB, b);
  model.write(L1, 1500 * KiB, b);
  await d.close();
  return { base, child, model, L0, L1, rng };
}

async function readAll(p: string, opts: { parentPath?: string } = {}): Promise<Buffer> {
  const d = await openDisk(p, opts);
  try {
    return await d.read(0, d.virtualSize);
  } finally {
    await d.close();
  }
}

async function expectChainError(p: Promise<unknown>, codes: string[]): Promise<ChainError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a ChainError').toBeInstanceOf(ChainError);
  expect(codes).toContain((err as ChainError).code);
  return err as ChainError;
}

/** The child's header (file offset 512), its locators and where each sits. */
function readHeader(file: string) {
  const buf = readFileSync(file);
  return decodeHeader(buf.subarray(512, 512 + 1024));
}

/** The payload a locator of `code` would carry for `target` (a local path) as seen from `childDir`. */
function payloadFor(code: string, target: string, childDir: string, raw?: string): Uint8Array {
  switch (code) {
    case 'W2ru': {
      const rel = raw ?? '.\\' + path.relative(childDir, target).split(path.sep).join('\\');
      return encodeLocatorPayload('W2ru', rel);
    }
    case 'W2ku':
      return encodeLocatorPayload('W2ku', raw ?? target.split(path.sep).join('\\'));
    case 'MacX':
      return encodeLocatorPayload('MacX', raw ?? 'file://' + encodeURI(target.split(path.sep).join('/')));
    default:
      throw new Error(`no payload for ${code}`);
  }
}

/**
 * Rewrites every W2ru/W2ku/MacX payload of `child` in place (at its data
 * offset, within its data space) to name `target`, updating the data length
 * and the header checksum. `raw` overrides the stored text for all codes.
 */
async function patchLocators(child: string, target: string, raw?: Partial<Record<'W2ru' | 'W2ku' | 'MacX', string>>): Promise<void> {
  const h = readHeader(child);
  const fh = await fsp.open(child, 'r+');
  try {
    let patched = 0;
    for (const l of h.locators) {
      if (!['W2ru', 'W2ku', 'MacX'].includes(l.code)) continue;
      const space = locatorSpaceBytes(l)!;
      const data = payloadFor(l.code, target, path.dirname(child), raw?.[l.code as 'W2ru']);
      if (data.length > space) throw new Error(`test setup: ${l.code} payload of ${data.length} bytes exceeds space ${space}`);
      const padded = Buffer.alloc(space);
      padded.set(data);
      await fh.write(padded, 0, space, Number(l.dataOffset));
      l.dataLength = data.length;
      patched++;
    }
    expect(patched).toBe(3);
    await fh.write(Buffer.from(encodeHeader(h)), 0, 1024, 512);
  } finally {
    await fh.close();
  }
}

/** Builds an empty differencing child of `parent` whose three locators carry `texts` verbatim (any length). */
async function childWithLocators(file: string, parent: string, texts: Record<'W2ru' | 'W2ku' | 'MacX', string>): Promise<void> {
  const p = await VhdFile.open(parent);
  try {
    const layout = layoutDynamic(DiskType.Differencing, p.virtualSize, p.blockSize, [
      { code: 'W2ru', data: encodeLocatorPayload('W2ru', texts.W2ru) },
      { code: 'W2ku', data: encodeLocatorPayload('W2ku', texts.W2ku) },
      { code: 'MacX', data: encodeLocatorPayload('MacX', texts.MacX) },
    ]);
    await linkHeaderToParent(layout.header, p);
    const footer = encodeFooter(layout.footer);
    const buf = Buffer.alloc(layout.dataStart + 512);
    buf.set(footer, 0);
    buf.set(encodeHeader(layout.header), 512);
    buf.set(encodeBat(new Uint32Array(layout.header.maxTableEntries).fill(BAT_UNUSED)), Number(layout.header.tableOffset));
    for (const pl of layout.payloads) buf.set(pl.data, pl.at);
    buf.set(footer, layout.dataStart);
    await fsp.writeFile(file, buf);
  } finally {
    await p.close();
  }
}

interface Fingerprint {
  mtimeMs: number;
  size: number;
  hash: string;
}

function fingerprint(p: string): Fingerprint {
  const st = statSync(p);
  return { mtimeMs: st.mtimeMs, size: st.size, hash: createHash('sha256').update(readFileSync(p)).digest('hex') };
}

describe('moved chains', () => {
  const tmp = useTmpDir('vhdsnap-parent-');

  it('a chain copied to another folder resolves through W2ru relative to the child', async () => {
    const a = path.join(tmp.dir, 'a');
    const b = path.join(tmp.dir, 'b');
    await fsp.mkdir(a);
    await fsp.mkdir(b);
    const { base, child, model, L1 } = await makeChain(a);
    await fsp.copyFile(base, path.join(b, 'base.vhd'));
    await fsp.copyFile(child, path.join(b, 'child.vhd'));
    await fsp.rm(a, { recursive: true }); // the absolute W2ku / MacX now name nothing

    const f = await VhdFile.open(path.join(b, 'child.vhd'));
    try {
      const r = await resolveParent(f);
      expect(r.source).toBe('W2ru');
      expect(path.resolve(r.file.path)).toBe(path.join(b, 'base.vhd'));
      await r.file.close();
    } finally {
      await f.close();
    }
    expect(Buffer.compare(await readAll(path.join(b, 'child.vhd')), model.view(L1))).toBe(0);
  });

  it('a renamed parent elsewhere is found only through parentPath; without it PARENT_NOT_FOUND', async () => {
    const a = path.join(tmp.dir, 'a');
    const elsewhere = path.join(tmp.dir, 'elsewhere');
    await fsp.mkdir(a);
    await fsp.mkdir(elsewhere);
    const { base, child, model, L1 } = await makeChain(a);
    const renamed = path.join(elsewhere, 'renamed-parent.vhd');
    await fsp.copyFile(base, renamed);
    await fsp.unlink(base);

    const err = await expectChainError(openDisk(child), ['PARENT_NOT_FOUND']);
    expect(err.message).toMatch(/base\.vhd/);
    // Each place tried, in words (not the locator codes W2ru/W2ku).
    expect(err.message).toMatch(/the relative path .*base\.vhd: no such file/);
    expect(err.message).not.toMatch(/W2ru|W2ku/);

    expect(Buffer.compare(await readAll(child, { parentPath: renamed }), model.view(L1))).toBe(0);
    const d = await openDisk(child, { parentPath: renamed });
    expect(d.layers.map((l) => path.resolve(l.path))).toEqual([path.resolve(child), renamed]);
    await d.close();
    const info = await getInfo(child, { parentPath: renamed });
    expect(info.parent?.path).toBe(renamed);
    expect(info.chainError).toBeNull();
  });

  it('parentPath naming a VHD with another id is refused (PARENT_ID_MISMATCH)', async () => {
    const { child } = await makeChain(tmp.dir);
    const stranger = tmp.file('stranger.vhd');
    await createDynamic(stranger, SIZE, { blockSize: 512 * KiB });
    await fsp.rename(tmp.file('base.vhd'), tmp.file('moved-away.vhd'));
    await expectChainError(openDisk(child, { parentPath: stranger }), ['PARENT_ID_MISMATCH']);
  });
});

type Hostile = {
  label: string;
  setup: (dir: string, child: string) => Promise<{ target: string; raw?: Partial<Record<'W2ru' | 'W2ku' | 'MacX', string>>; watch: string[] }>;
};

const HOSTILE: Hostile[] = [
  {
    label: 'another VHD with a different id',
    setup: async (dir) => {
      const other = path.join(dir, 'other.vhd');
      await createDynamic(other, SIZE, { blockSize: 512 * KiB });
      return { target: other, watch: [other] };
    },
  },
  {
    label: 'a file that is not a VHD',
    setup: async (dir) => {
      const notes = path.join(dir, 'notes.txt');
      await fsp.writeFile(notes, Buffer.alloc(SIZE + 512, 0x41));
      return { target: notes, watch: [notes] };
    },
  },
  {
    label: 'a directory',
    setup: async (dir) => {
      const sub = path.join(dir, 'subdir');
      await fsp.mkdir(sub);
      return { target: sub, watch: [] };
    },
  },
  {
    label: '/dev/zero',
    setup: async () => ({ target: '/dev/zero', watch: [] }),
  },
  {
    label: 'a very long path (fills the payload space)',
    setup: async (dir, child) => {
      const space = locatorSpaceBytes(readHeader(child).locators.find((l) => l.code === 'W2ru')!)!;
      const long = 'x'.repeat(space / 2 - 2) + '.v';
      return {
        target: path.join(dir, 'unused'),
        raw: { W2ru: long.slice(0, space / 2), W2ku: '\\' + long.slice(1, space / 2), MacX: 'file:///' + 'y'.repeat(space - 8) },
        watch: [],
      };
    },
  },
  {
    label: 'a ..\\..\\.. path climbing out of the folder',
    setup: async (dir) => {
      // The child sits three levels below `dir`; the victim is a VHD up there.
      const victim = path.join(dir, 'victim.vhd');
      await createDynamic(victim, SIZE, { blockSize: 512 * KiB });
      return {
        target: victim,
        raw: {
          W2ru: '..\\..\\..\\victim.vhd',
          W2ku: '..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd',
          MacX: 'file:///../../../../../../dev/zero',
        },
        watch: [victim],
      };
    },
  },
];

describe('hostile locators', () => {
  const tmp = useTmpDir('vhdsnap-parent-');

  for (const h of HOSTILE) {
    for (const parentBeside of [true, false]) {
      it(`${h.label}: ${parentBeside ? 'the real parent beside the child is still found by name' : 'no parent by name → an error, never the impostor'}`, async () => {
        const deep = path.join(tmp.dir, 'l1', 'l2', 'l3');
        await fsp.mkdir(deep, { recursive: true });
        const { base, child, model, L1, rng } = await makeChain(deep);
        const { target, raw, watch } = await h.setup(tmp.dir, child);
        await patchLocators(child, target, raw);
        const cf = await VhdFile.open(child);
        const locs = await readLocators(cf);
        await cf.close();
        expect(locs.map((l) => l.platform).sort()).toEqual(['MacX', 'W2ku', 'W2ru']);

        const baseId = (await getInfo(base)).uuid;
        let aside: string | null = null;
        if (!parentBeside) {
          aside = path.join(tmp.dir, 'parked.vhd');
          await fsp.rename(base, aside);
        }
        const before = new Map(watch.concat(parentBeside ? [base] : [aside!]).map((p) => [p, fingerprint(p)]));

        if (parentBeside) {
          const f = await VhdFile.open(child);
          const r = await resolveParent(f);
          expect(r.source).toBe('name');
          expect(path.resolve(r.file.path)).toBe(path.resolve(base));
          expect(r.file.uuid).toBe(baseId);
          await r.file.close();
          await f.close();
          // Write through the child, then read the whole view back.
          const d = await openDisk(child, { writable: true, sync: false });
          expect(d.layers).toHaveLength(2);
          expect(d.layers[1].uuid).toBe(baseId);
          const b = rng.bytes(5000);
          await d.write(100 * KiB, b);
          model.write(L1, 100 * KiB, b);
          await d.close();
          expect(Buffer.compare(await readAll(child), model.view(L1))).toBe(0);
        } else {
          const err = await expectChainError(openDisk(child, { writable: true, sync: false }), ['PARENT_ID_MISMATCH', 'PARENT_NOT_FOUND']);
          if (h.label.startsWith('another VHD')) expect(err.code).toBe('PARENT_ID_MISMATCH');
          // The impostor was considered and rejected, not silently skipped.
          if (!h.label.startsWith('a very long')) expect(err.message).toContain(target);
          // The top alone still opens for writing (no chain), and writing into it must not touch the impostors.
          const top = await VhdFile.open(child, { writable: true, sync: false });
          await top.close();
          const info = await getInfo(child);
          expect(info.chainError).not.toBeNull();
          expect(info.parent?.path).toBeNull();
          // With the right explicit parent everything is whole again.
          expect(Buffer.compare(await readAll(child, { parentPath: aside! }), model.view(L1))).toBe(0);
        }
        for (const [p, fp] of before) expect(fingerprint(p), `${p} must be untouched`).toEqual(fp);
      });
    }
  }

  it('a path longer than any locator space (built child) is not accepted, the parent is found by name', async () => {
    const { base } = await makeChain(tmp.dir);
    const child = tmp.file('long-child.vhd');
    const long = 'a\\'.repeat(3000) + 'base.vhd';
    await childWithLocators(child, base, { W2ru: long, W2ku: 'C:\\' + long, MacX: 'file:///' + long.replace(/\\/g, '/') });
    const d = await openDisk(child);
    expect(d.layers.map((l) => path.resolve(l.path))).toEqual([path.resolve(child), path.resolve(base)]);
    await d.close();
    await fsp.rename(base, tmp.file('parked.vhd'));
    await expectChainError(openDisk(child), ['PARENT_NOT_FOUND']);
  });

  it('a locator whose data length runs past the file is ignored, not read', async () => {
    const { base, child } = await makeChain(tmp.dir);
    const h = readHeader(child);
    for (const l of h.locators) if (l.code !== '\0\0\0\0') l.dataLength = 0x7fffffff;
    const fh = await fsp.open(child, 'r+');
    await fh.write(Buffer.from(encodeHeader(h)), 0, 1024, 512);
    await fh.close();
    const f = await VhdFile.open(child);
    const locs = await readLocators(f);
    expect(locs).toHaveLength(3);
    for (const l of locs) expect(l.path).toBeNull();
    await f.close();
    const d = await openDisk(child); // found by name
    expect(path.resolve(d.layers[1].path)).toBe(path.resolve(base));
    await d.close();
  });
});

describe('a chain made by Windows (dfvfs fixture)', () => {
  const diff = path.join(FIXTURES, 'dfvfs', 'ntfs-differential.vhd');
  const present = existsSync(diff);
  if (!present) console.warn(`skipping the Windows fixture chain: ${diff} is missing`);

  it.skipIf(!present)('ntfs-differential.vhd resolves its parent and reads through the chain', async () => {
    const before = fingerprint(diff);
    const d = await openDisk(diff);
    try {
      expect(d.layers).toHaveLength(2);
      expect(d.layers[0].type).toBe('differencing');
      expect(path.basename(d.layers[1].path)).toBe('ntfs-parent.vhd');
      expect(d.layers[1].uuid).toBe(d.layers[0].header ? (await getInfo(diff)).parent?.uuid : null);
      const all = await d.read(0, d.virtualSize);
      expect(all.length).toBe(d.virtualSize);
    } finally {
      await d.close();
    }
    const info = await getInfo(diff);
    expect(info.chain.map((p) => path.basename(p))).toEqual(['ntfs-differential.vhd', 'ntfs-parent.vhd']);
    expect(info.parent?.locators.length).toBeGreaterThan(0);
    expect(fingerprint(diff)).toEqual(before);
  });
});

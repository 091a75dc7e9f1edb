// Hostile locators against the operations: a child whose locators (and
// parent name) point at unrelated things — another VHD with a different id,
// a non-VHD file, a folder, /dev/zero, a named pipe, a very long path, `..`
// climbing out of its folder, the child itself — is never linked to them.
// Every operation run through runOperation on such a child is refused with a
// typed error or leaves those files byte-for-byte and mtime unchanged; scan,
// check and info report the broken link. The real parent (moved aside) is
// watched too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, promises as fsp, renameSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDisk } from '../../core/disk/chain.js';
import { VhdError } from '../../core/errors.js';
import { LOCK_PREFIX } from '../../core/lock.js';
import { getInfo } from '../../core/ops/info.js';
import { checkPaths } from '../../core/ops/check.js';
import { recover } from '../../core/ops/recover.js';
import { createDynamic } from '../../core/ops/create.js';
import { scanLibrary } from '../../core/library/scan.js';
import { runOperation, type OperationRequest } from '../../core/operations.js';
import { useTmpDir } from '../support/tmp.js';
import { chain, fingerprint, pointLocators, scribble, SIZE, type Fingerprint } from './helpers.js';

const tmp = useTmpDir('vhdsnap-hostile-');

interface Hostile {
  label: string;
  /** Creates the target under `root` (the child lives in root/sub); returns locator texts, parent name and files to watch. */
  make(
    root: string,
  ): Promise<{ texts: { W2ru: string; W2ku: string; MacX: string }; parentName: string; watch: string[]; reparentTo?: string; codes: string[] }>;
}

const MISMATCH = ['PARENT_ID_MISMATCH'];
const NOT_FOUND = ['PARENT_NOT_FOUND', 'PARENT_ID_MISMATCH'];

const HOSTILE: Hostile[] = [
  {
    label: 'another VHD with a different id (beside the child)',
    make: async (root) => {
      const p = nodePath.join(root, 'sub', 'decoy.vhd');
      await createDynamic(p, SIZE, { blockSize: 256 * KiB });
      await scribble(p, 99);
      return { texts: { W2ru: '.\\decoy.vhd', W2ku: p, MacX: `file://${p}` }, parentName: 'decoy.vhd', watch: [p], reparentTo: p, codes: MISMATCH };
    },
  },
  {
    label: '`..` climbing to a VHD with a different id',
    make: async (root) => {
      const p = nodePath.join(root, 'decoy.vhd');
      await createDynamic(p, SIZE, { blockSize: 256 * KiB });
      await scribble(p, 98);
      return {
        texts: { W2ru: '.\\..\\decoy.vhd', W2ku: '..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd', MacX: 'file:///etc/passwd' },
        parentName: '..',
        watch: [p],
        reparentTo: p,
        codes: MISMATCH,
      };
    },
  },
  {
    label: 'a file that is not a VHD',
    make: async (root) => {
      const p = nodePath.join(root, 'sub', 'notes.vhd');
      writeFileSync(p, 'not a disk\n'.repeat(500));
      return { texts: { W2ru: '.\\notes.vhd', W2ku: p, MacX: `file://${p}` }, parentName: 'notes.vhd', watch: [p], reparentTo: p, codes: NOT_FOUND };
    },
  },
  {
    label: 'a folder',
    make: async (root) => {
      const p = nodePath.join(root, 'sub', 'folder.vhd');
      mkdirSync(p);
      writeFileSync(nodePath.join(p, 'inside'), 'x');
      return {
        texts: { W2ru: '.\\folder.vhd', W2ku: p, MacX: `file://${p}` },
        parentName: 'folder.vhd',
        watch: [nodePath.join(p, 'inside')],
        reparentTo: p,
        codes: NOT_FOUND,
      };
    },
  },
  {
    label: 'a device (/dev/zero)',
    make: async () => ({
      texts: { W2ru: '.\\..\\..\\..\\..\\..\\..\\..\\..\\..\\dev\\zero', W2ku: '/dev/zero', MacX: 'file:///dev/zero' },
      parentName: 'zero',
      watch: [],
      reparentTo: '/dev/zero',
      codes: NOT_FOUND,
    }),
  },
  {
    label: 'a named pipe',
    make: async (root) => {
      const p = nodePath.join(root, 'sub', 'pipe.vhd');
      expect(spawnSync('mkfifo', [p]).status).toBe(0);
      return { texts: { W2ru: '.\\pipe.vhd', W2ku: p, MacX: `file://${p}` }, parentName: 'pipe.vhd', watch: [], reparentTo: p, codes: NOT_FOUND };
    },
  },
  {
    label: 'a very long path',
    make: async () => {
      const long = `/${'deep/'.repeat(900)}base.vhd`;
      return {
        texts: { W2ru: `.\\${'x\\'.repeat(1500)}base.vhd`, W2ku: long, MacX: `file://${long}` },
        parentName: 'n'.repeat(255),
        watch: [],
        codes: NOT_FOUND,
      };
    },
  },
  {
    label: 'the child itself',
    make: async (root) => {
      const p = nodePath.join(root, 'sub', 'child.vhd');
      return { texts: { W2ru: '.\\child.vhd', W2ku: p, MacX: `file://${p}` }, parentName: 'child.vhd', watch: [], codes: NOT_FOUND };
    },
  },
];

const KiB = 1024;

function ops(child: string, h: { reparentTo?: string }, root: string): OperationRequest[] {
  const list: OperationRequest[] = [
    { op: 'merge', disk: child },
    { op: 'delete', disk: child },
    { op: 'snapshot', disk: child },
    { op: 'snapshot', disk: child, out: nodePath.join(root, 'sub', 'branch.vhd') },
    { op: 'flatten', disk: child, out: nodePath.join(root, 'flat.vhd'), format: 'dynamic' },
    { op: 'revert', disk: child },
  ];
  if (h.reparentTo) list.push({ op: 'reparent', disk: child, parent: h.reparentTo });
  return list;
}

describe('hostile locators never link, and no operation writes what they name', () => {
  for (const h of HOSTILE) {
    it(h.label, { timeout: 60_000 }, async () => {
      const root = tmp.dir;
      const sub = nodePath.join(root, 'sub');
      mkdirSync(sub);
      const child = nodePath.join(sub, 'child.vhd');
      const base = nodePath.join(sub, 'base.vhd');
      await chain(base, child);
      // The real parent moves where no locator or name finds it.
      const aside = nodePath.join(root, 'aside');
      mkdirSync(aside);
      renameSync(base, nodePath.join(aside, 'base.vhd'));
      const t = await h.make(root);
      pointLocators(child, t.texts, t.parentName);

      const watched = [...t.watch, nodePath.join(aside, 'base.vhd'), ...(existsSync('/etc/passwd') ? ['/etc/passwd'] : [])];
      const before = new Map<string, Fingerprint>(watched.map((p) => [p, fingerprint(p)]));
      const childBefore = fingerprint(child);

      // Reading: never linked.
      const err = await openDisk(child).then(
        async (d) => {
          const layers = d.layers.map((l) => l.path);
          await d.close();
          return new Error(`opened with chain ${layers.join(' <- ')}`);
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(VhdError);
      expect(t.codes).toContain((err as VhdError).code);
      const info = await getInfo(child);
      expect(info.parent?.path).toBeNull();
      expect(t.codes).toContain(info.chainError?.code);
      const [report] = await checkPaths([child]);
      expect(report.ok).toBe(false);
      expect(report.errors.map((e) => e.code).some((c) => t.codes.includes(c))).toBe(true);
      const forest = await scanLibrary([sub]);
      expect(forest.orphans.map((o) => nodePath.basename(o.path))).toContain('child.vhd');
      const linked = JSON.stringify(forest.roots).includes('child.vhd');
      expect(linked, 'the child hangs under some root').toBe(false);

      // Writing: every operation refuses with a typed error (or leaves the targets alone).
      const outcomes: string[] = [];
      for (const req of ops(child, t, root)) {
        const r = await runOperation(req).then(
          () => 'ok',
          (e: unknown) => (e instanceof VhdError ? e.code : `UNTYPED ${(e as Error).message}`),
        );
        outcomes.push(`${req.op}${'out' in req && req.out ? '(out)' : ''}: ${r}`);
        expect(r, `${req.op} on a child with hostile locators`).not.toBe('ok');
        expect(r).not.toMatch(/^UNTYPED/);
      }
      for (const [p, fp] of before) expect(fingerprint(p), `${p} changed (${outcomes.join('; ')})`).toEqual(fp);
      expect(fingerprint(child).sha, 'the child itself was modified').toBe(childBefore.sha);
      // Nothing half-done is left: no journal, no lock, no temp.
      expect(await recover(sub)).toEqual([]);
      const left = (await fsp.readdir(sub)).filter((n) => n.startsWith('.') || n.startsWith(LOCK_PREFIX));
      expect(left).toEqual([]);
      expect(existsSync(nodePath.join(sub, 'branch.vhd'))).toBe(false);
      expect(existsSync(nodePath.join(root, 'flat.vhd'))).toBe(false);
    });
  }
});

describe('named pipes and devices among the disks', () => {
  it('tree, info and check never block on a FIFO named *.vhd; a FIFO or device is NOT_A_FILE', { timeout: 20_000 }, async () => {
    const pipe = tmp.file('pipe.vhd');
    expect(spawnSync('mkfifo', [pipe]).status).toBe(0);
    await createDynamic(tmp.file('ok.vhd'), SIZE);
    const forest = await scanLibrary([tmp.dir]);
    expect(forest.roots.map((r) => nodePath.basename(r.path))).toEqual(['ok.vhd']);
    expect(forest.unreadable.map((u) => [nodePath.basename(u.path), u.code])).toEqual([['pipe.vhd', 'NOT_A_FILE']]);
    for (const p of [pipe, '/dev/zero', tmp.dir]) {
      const e = await getInfo(p).catch((x: unknown) => x);
      expect(e, p).toBeInstanceOf(VhdError);
      expect((e as VhdError).code, p).toBe('NOT_A_FILE');
    }
    const [report] = await checkPaths([pipe]);
    expect(report.errors.map((x) => x.code)).toEqual(['NOT_A_FILE']);
  });
});

// Packaging, offline: electron-builder runs for real (linux, --dir) against a
// stub Electron distribution whose "binary" carries a fuse wire, so the test
// sees the archive it builds, the unpacked job worker, and the fuses it flips.
// The declared installer targets (nsis, dmg, AppImage, deb) need downloads
// and their host OS, so they are checked in the config instead.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultWorkerPath } from '../../server/jobs';
import { useTmpDir } from '../support/tmp';

const root = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): any };
const config = yaml.load(readFileSync(path.join(root, 'build/electron-builder.yml'), 'utf8'));
const tmp = useTmpDir('vhdsnap-pack-');

// @electron/fuses' layout: sentinel, wire version (1), wire length, one byte per fuse ('0'/'1').
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const FUSES = [
  'runAsNode',
  'enableCookieEncryption',
  'enableNodeOptionsEnvironmentVariable',
  'enableNodeCliInspectArguments',
  'enableEmbeddedAsarIntegrityValidation',
  'onlyLoadAppFromAsar',
  'loadBrowserProcessSpecificV8Snapshot',
  'grantFileProtocolExtraPrivileges',
];
// Electron's shipped defaults, the opposite of what we want for the first six.
const STOCK = '10110001';

function readFuses(file: string): string {
  const bin = readFileSync(file);
  const at = bin.indexOf(SENTINEL) + SENTINEL.length;
  expect(at).toBeGreaterThan(SENTINEL.length - 1);
  expect(bin[at]).toBe(1);
  return bin.subarray(at + 2, at + 2 + bin[at + 1]).toString('latin1');
}

/** File names inside an asar archive (its header is a length-prefixed JSON tree). */
function asarFiles(file: string): string[] {
  const buf = readFileSync(file);
  const len = buf.readUInt32LE(12);
  const header = JSON.parse(buf.subarray(16, 16 + len).toString('utf8')) as { files: Record<string, any> };
  const out: string[] = [];
  const walk = (node: { files?: Record<string, any> }, prefix: string) => {
    for (const [name, child] of Object.entries(node.files ?? {})) {
      const p = prefix ? `${prefix}/${name}` : name;
      if (child.files) walk(child, p);
      else out.push(p);
    }
  };
  walk(header, '');
  return out.sort();
}

describe('electron-builder config', () => {
  it('declares the installers for each OS', () => {
    expect(config.win.target).toBe('nsis');
    expect(config.mac.target).toBe('dmg');
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.linux.maintainer).toMatch(/<.+@.+>/); // deb refuses to build without one
  });

  it('turns on the hardening fuses', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
  });

  it('references icons that exist: PNGs of 16…512 px for Linux, an .ico and an .icns holding them', () => {
    const png = (buf: Buffer) => {
      expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
    };
    const dir = path.join(root, config.linux.icon);
    for (const size of [16, 32, 48, 64, 128, 256, 512]) expect(png(readFileSync(path.join(dir, `${size}x${size}.png`)))).toEqual({ width: size, height: size });
    // .ico: reserved 0, type 1, a count, then one 16-byte entry per image (0 standing for 256), each pointing at a PNG.
    const ico = readFileSync(path.join(root, config.win.icon));
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1]);
    const sizes: number[] = [];
    for (let i = 0; i < ico.readUInt16LE(4); i++) {
      const e = 6 + 16 * i;
      const at = ico.readUInt32LE(e + 12);
      const { width } = png(ico.subarray(at, at + ico.readUInt32LE(e + 8)));
      expect(width).toBe(ico[e] || 256);
      sizes.push(width);
    }
    expect(sizes).toEqual(expect.arrayContaining([16, 32, 48, 256]));
    // .icns: "icns", its length, then typed chunks; each here a PNG of its type's size.
    const icns = readFileSync(path.join(root, config.mac.icon));
    expect(icns.subarray(0, 4).toString('latin1')).toBe('icns');
    expect(icns.readUInt32BE(4)).toBe(icns.length);
    const chunks: Record<string, number> = {};
    for (let at = 8; at < icns.length; at += icns.readUInt32BE(at + 4)) chunks[icns.subarray(at, at + 4).toString('latin1')] = png(icns.subarray(at + 8)).width;
    expect(chunks).toEqual({ icp4: 16, icp5: 32, icp6: 64, ic07: 128, ic08: 256, ic09: 512 });
  });

  it('finds the job worker outside the archive when packaged', () => {
    expect(defaultWorkerPath('/opt/app/resources/app.asar/dist/electron')).toBe('/opt/app/resources/app.asar.unpacked/dist/electron/job-worker.cjs');
    expect(defaultWorkerPath('/x/dist/electron')).toBe('/x/dist/electron/job-worker.cjs');
    expect(defaultWorkerPath('/x/dist/cli')).toBe('/x/dist/electron/job-worker.cjs');
  });

  it('packages the built app for linux (--dir) with the fuses flipped', () => {
    for (const f of ['dist/electron/main.cjs', 'dist/electron/preload.cjs', 'dist/electron/job-worker.cjs', 'dist/renderer/index.html']) {
      expect(existsSync(path.join(root, f)), `${f} missing: run npm run build`).toBe(true);
    }
    const stub = tmp.file('electron-dist');
    mkdirSync(stub);
    const electronBin = path.join(stub, 'electron');
    writeFileSync(
      electronBin,
      Buffer.concat([Buffer.from('#!/bin/sh\necho stub electron\nexit 0\n'), Buffer.from(SENTINEL), Buffer.from([1, STOCK.length]), Buffer.from(STOCK)]),
    );
    chmodSync(electronBin, 0o755);
    const version = (require(path.join(root, 'node_modules/electron/package.json')) as { version: string }).version;
    writeFileSync(path.join(stub, 'version'), version);
    const out = tmp.file('release');

    const r = spawnSync(
      process.execPath,
      [
        path.join(root, 'node_modules/electron-builder/cli.js'),
        '--linux',
        'dir',
        '--config',
        'build/electron-builder.yml',
        `-c.electronDist=${stub}`,
        `-c.directories.output=${out}`,
        '--publish',
        'never',
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 180_000 },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);

    const unpacked = path.join(out, 'linux-unpacked');
    const exe = path.join(unpacked, 'vhd-snapshot-manager');
    expect(existsSync(exe)).toBe(true);
    const fuses = readFuses(exe);
    const want: Record<string, boolean> = config.electronFuses;
    FUSES.forEach((name, i) => {
      const expected = name in want ? (want[name] ? '1' : '0') : STOCK[i];
      expect(`${name}=${fuses[i]}`).toBe(`${name}=${expected}`);
    });

    const files = asarFiles(path.join(unpacked, 'resources', 'app.asar'));
    for (const f of [
      'package.json',
      'dist/electron/main.cjs',
      'dist/electron/preload.cjs',
      'dist/renderer/index.html',
      'dist/cli/vhdsnap.cjs',
      'dist/cli/vhdsnap-serve.cjs',
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => /^(core|server|electron|renderer|test|node_modules)\//.test(f))).toEqual([]); // only the bundles
    expect(existsSync(path.join(unpacked, 'resources', 'app.asar.unpacked', 'dist', 'electron', 'job-worker.cjs'))).toBe(true);
  });
});

// bin/vhdsnap.cjs runs the bundle through a V8 code cache kept in the user's
// cache folder: written once (0600 in a 0700 folder), then used as it is; a
// damaged one is rejected and rewritten; an unsafe folder or the opt-out
// leaves it alone. Whatever the cache does, the module sees what require
// would give it and the output is the same.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTmpDir } from '../support/tmp.js';

const ROOT = nodePath.resolve(__dirname, '../..');
const BIN = nodePath.join(ROOT, 'bin', 'vhdsnap.cjs');
const BUNDLE = nodePath.join(ROOT, 'dist', 'cli', 'vhdsnap.cjs');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The debug lines of the cache (VHDSNAP_CODE_CACHE_DEBUG=1), without the path. */
  cache: string[];
}

function launch(bin: string, args: string[], cacheHome: string, env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: cacheHome, VHDSNAP_CODE_CACHE_DEBUG: '1', VHDSNAP_NO_CODE_CACHE: '', ...env },
  });
  const lines = r.stderr.split('\n');
  const cache = lines.filter((l) => l.startsWith('vhdsnap code cache: ')).map((l) => l.slice('vhdsnap code cache: '.length).split(' ')[0]);
  const stderr = lines.filter((l) => !l.startsWith('vhdsnap code cache: ')).join('\n');
  return { status: r.status, stdout: r.stdout, stderr, cache };
}

const cacheFiles = (cacheHome: string) => {
  const dir = nodePath.join(cacheHome, 'vhdsnap');
  return existsSync(dir) ? readdirSync(dir).map((f) => nodePath.join(dir, f)) : [];
};
const mode = (p: string) => statSync(p).mode & 0o777;

describe.skipIf(!existsSync(BUNDLE))('the code cache of bin/vhdsnap.cjs (built CLI)', () => {
  const tmp = useTmpDir();

  it('is written once with private modes, then used unchanged; the output is the same as without it', () => {
    const home = tmp.file('cache');
    const plain = launch(BIN, ['--help'], home, { VHDSNAP_NO_CODE_CACHE: '1' });
    expect(plain.status).toBe(0);
    expect(plain.stdout).toContain('vhdsnap info <file>');

    const first = launch(BIN, ['--help'], home);
    expect(first.cache).toEqual(['miss', 'written']);
    expect(first).toMatchObject({ status: 0, stdout: plain.stdout, stderr: plain.stderr });
    const files = cacheFiles(home);
    expect(files).toHaveLength(1);
    const [file] = files;
    // Keyed by Node, architecture and the bundle's size: another Node or a new build never reads it.
    const name = nodePath.basename(file);
    expect(name).toContain(`-${process.version}-${process.arch}-`);
    expect(name).toContain(`-${statSync(BUNDLE).size}-`);
    expect(mode(nodePath.join(home, 'vhdsnap'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    const written = readFileSync(file);
    const mtime = statSync(file).mtimeMs;

    const second = launch(BIN, ['--help'], home);
    expect(second.cache).toEqual(['hit']);
    expect(second).toMatchObject({ status: 0, stdout: plain.stdout, stderr: plain.stderr });
    expect(statSync(file).mtimeMs).toBe(mtime);
    expect(readFileSync(file).equals(written)).toBe(true);
  });

  it('gives the same output and exit code with and without the cache, for a success and a failure', () => {
    const home = tmp.file('cache');
    const disk = tmp.file('d.vhd');
    expect(launch(BIN, ['create', disk, '--size', '8M'], home, { VHDSNAP_NO_CODE_CACHE: '1' }).status).toBe(0);
    for (const args of [
      ['info', disk, '--json'],
      ['info', tmp.file('missing.vhd')],
    ]) {
      const plain = launch(BIN, args, home, { VHDSNAP_NO_CODE_CACHE: '1' });
      const miss = launch(BIN, args, home);
      const hit = launch(BIN, args, home);
      expect(hit.cache).toEqual(['hit']);
      for (const r of [miss, hit])
        expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: plain.status, stdout: plain.stdout, stderr: plain.stderr });
    }
    expect(JSON.parse(launch(BIN, ['info', disk, '--json'], home).stdout)).toMatchObject({ virtualSize: 8 * 1024 * 1024 });
    expect(launch(BIN, ['info', tmp.file('missing.vhd')], home).status).toBe(2);
  });

  it('rejects a damaged cache file (same length, changed bytes) and writes a good one', () => {
    const home = tmp.file('cache');
    const plain = launch(BIN, ['--help'], home, { VHDSNAP_NO_CODE_CACHE: '1' });
    launch(BIN, ['--help'], home);
    const [file] = cacheFiles(home);
    const good = readFileSync(file);
    // Damage the V8 data past its header: V8 alone would accept the header and crash on the payload.
    const bad = Buffer.from(good);
    for (let i = 200; i < bad.length; i += 997) bad[i] ^= 0x5a;
    writeFileSync(file, bad);

    const damaged = launch(BIN, ['--help'], home);
    expect(damaged.cache).toEqual(['rejected', 'written']);
    expect(damaged).toMatchObject({ status: 0, stdout: plain.stdout, stderr: plain.stderr });
    expect(readFileSync(file).equals(bad)).toBe(false);
    expect(launch(BIN, ['--help'], home).cache).toEqual(['hit']);

    writeFileSync(file, 'not a cache');
    const garbage = launch(BIN, ['--help'], home);
    expect(garbage.cache).toEqual(['rejected', 'written']);
    expect(garbage.stdout).toBe(plain.stdout);
    expect(launch(BIN, ['--help'], home).cache).toEqual(['hit']);
  });

  it('writes nothing with VHDSNAP_NO_CODE_CACHE=1', () => {
    const home = tmp.file('cache');
    const r = launch(BIN, ['--help'], home, { VHDSNAP_NO_CODE_CACHE: '1' });
    expect(r.status).toBe(0);
    expect(r.cache).toEqual(['off']);
    expect(existsSync(home)).toBe(false);
  });

  it('leaves a cache folder others may write alone', () => {
    const home = tmp.file('cache');
    mkdirSync(nodePath.join(home, 'vhdsnap'), { recursive: true });
    chmodSync(nodePath.join(home, 'vhdsnap'), 0o777);
    const r = launch(BIN, ['--help'], home);
    expect(r.status).toBe(0);
    expect(r.cache).toEqual(['off']);
    expect(r.stdout).toContain('vhdsnap info <file>');
    expect(cacheFiles(home)).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)("leaves another user's cache folder alone", () => {
    const home = tmp.file('cache');
    mkdirSync(nodePath.join(home, 'vhdsnap'), { recursive: true, mode: 0o700 });
    chownSync(nodePath.join(home, 'vhdsnap'), 65534, 65534);
    const r = launch(BIN, ['--help'], home);
    expect(r.status).toBe(0);
    expect(r.cache).toEqual(['off']);
    expect(cacheFiles(home)).toEqual([]);
  });
});

describe('the module run through the code cache sees what require gives it', () => {
  const tmp = useTmpDir();

  /** A copy of the launcher over a stand-in bundle that reports its CommonJS surroundings. */
  function standIn(): string {
    const bin = tmp.file('app', 'bin', 'vhdsnap.cjs');
    const cli = tmp.file('app', 'dist', 'cli');
    mkdirSync(nodePath.dirname(bin), { recursive: true });
    mkdirSync(cli, { recursive: true });
    copyFileSync(BIN, bin);
    writeFileSync(nodePath.join(cli, 'sibling.cjs'), 'module.exports = { parentId: module.parent && module.parent.id };\n');
    writeFileSync(
      nodePath.join(cli, 'vhdsnap.cjs'),
      [
        "'use strict';",
        'exports.early = 1;',
        "const sibling = require('./sibling.cjs');",
        'const facts = {',
        '  __filename, __dirname, id: module.id, filename: module.filename, loaded: module.loaded,',
        '  thisIsExports: this === exports, exportsIsModuleExports: exports === module.exports,',
        '  cached: require.cache[__filename] === module, mainIsLauncher: require.main === module.parent,',
        "  parent: module.parent && module.parent.filename, resolved: require.resolve('./sibling.cjs'),",
        '  sibling, inChildren: module.children.some((c) => c.exports === sibling), paths: module.paths,',
        "  builtin: typeof require('node:path').join, extensions: Object.keys(require.extensions),",
        "  stackLine: /vhdsnap\\.cjs:(\\d+)/.exec(new Error('here').stack)[1],",
        '};',
        'process.stdout.write(JSON.stringify(facts));',
        "if (process.argv[2] === 'throw') throw new Error('from the bundle');",
        '',
      ].join('\n'),
    );
    return bin;
  }

  it('the same __filename, __dirname, module, exports, require and stack lines, cached or not', () => {
    const bin = standIn();
    const home = tmp.file('cache');
    const plain = launch(bin, [], home, { VHDSNAP_NO_CODE_CACHE: '1' });
    expect(plain.status).toBe(0);
    const facts = JSON.parse(plain.stdout);
    const bundle = tmp.file('app', 'dist', 'cli', 'vhdsnap.cjs');
    expect(facts).toMatchObject({ __filename: bundle, __dirname: nodePath.dirname(bundle), id: bundle, thisIsExports: true, cached: true });
    expect(facts.stackLine).toBe('11');

    const miss = launch(bin, [], home);
    const hit = launch(bin, [], home);
    expect(miss.cache).toEqual(['miss', 'written']);
    expect(hit.cache).toEqual(['hit']);
    expect(JSON.parse(miss.stdout)).toEqual(facts);
    expect(JSON.parse(hit.stdout)).toEqual(facts);
  });

  it('an error thrown by the bundle ends the process as under require (no second run of the bundle)', () => {
    const bin = standIn();
    const home = tmp.file('cache');
    const plain = launch(bin, ['throw'], home, { VHDSNAP_NO_CODE_CACHE: '1' });
    launch(bin, ['throw'], home);
    const hit = launch(bin, ['throw'], home);
    expect(hit.cache).toEqual(['hit']);
    expect(plain.status).toBe(1);
    for (const r of [plain, hit]) {
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('Error: from the bundle');
      expect(r.stderr).toMatch(/vhdsnap\.cjs:14/);
      // Printed once: the launcher did not fall back to running the bundle a second time.
      expect(r.stdout.split('"__filename"').length).toBe(2);
    }
  });
});

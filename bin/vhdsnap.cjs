#!/usr/bin/env node
// Launcher for the bundled CLI (built by `npm run build` into dist/cli/).
//
// Compiling the ~0.5 MB bundle is a sizeable part of every start-up, so the
// bundle is run as a vm.Script with a V8 code cache kept in the user's own
// cache folder (never a shared temp dir). The cache file is named after the
// Node version, the CPU architecture, the bundle's path, size and mtime: a new
// build or another Node never reads a stale one (V8 itself rejects a cache of
// another V8 or other flags). Anything amiss on the cache path falls back to a
// plain require. VHDSNAP_NO_CODE_CACHE=1 turns it off; VHDSNAP_CODE_CACHE_DEBUG=1
// says on stderr what the cache did.
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const bundle = path.join(__dirname, '..', 'dist', 'cli', 'vhdsnap.cjs');
if (!fs.existsSync(bundle)) {
  process.stderr.write('vhdsnap: not built yet — run `npm run build`\n');
  process.exit(2);
}

const debug = process.env.VHDSNAP_CODE_CACHE_DEBUG === '1' ? (s) => process.stderr.write(`vhdsnap code cache: ${s}\n`) : () => {};

/** The per-user cache root of this platform, or null when there is none to trust. */
function userCacheRoot() {
  const os = require('node:os');
  if (process.platform === 'win32') return process.env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches');
  // XDG: a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = process.env.XDG_CACHE_HOME;
  return xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
}

/** <root>/vhdsnap, created 0700; null when it is not a real folder of this user that only they can write. */
function cacheDir() {
  const dir = path.join(userCacheRoot(), 'vhdsnap');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) return null;
  // Another user's folder (or one others may write) could hand us code to run.
  if (typeof process.getuid === 'function' && (st.uid !== process.getuid() || (st.mode & 0o022) !== 0)) return null;
  return dir;
}

/** FNV-1a of the bundle's path: two installs of one build (same size and mtime) keep apart caches. */
function pathHash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// The cache file: the SHA-256 of the V8 data (32 bytes), then the data.
const DIGEST = 32;
// The bundle loads node:crypto at start-up anyway: requiring it here costs nothing more.
const digest = (data) => require('node:crypto').createHash('sha256').update(data).digest();

/**
 * Compiles the bundle with its code cache; null when the cache path fails in
 * any way (the caller then requires the bundle). Nothing of the bundle has run yet.
 */
function compileCached(file) {
  const vm = require('node:vm');
  const st = fs.statSync(file, { bigint: true });
  const dir = cacheDir();
  if (!dir) {
    debug('off (cache folder not private to this user)');
    return null;
  }
  const stem = `bundle-${process.version}-${process.arch}-`;
  const name = `${stem}${pathHash(fs.realpathSync(file))}-${st.size}-${st.mtimeNs}.v8cache`;
  const cacheFile = path.join(dir, name);
  let cachedData;
  let stored = null;
  try {
    stored = fs.readFileSync(cacheFile);
  } catch {
    // absent: made at exit
  }
  // V8 (Node 20) checks a cache's header but not its payload's checksum: a damaged payload
  // would abort the process on every run, so the file carries its own digest.
  if (stored) cachedData = stored.length > DIGEST && digest(stored.subarray(DIGEST)).equals(stored.subarray(0, DIGEST)) ? stored.subarray(DIGEST) : null;
  const source = fs.readFileSync(file, 'utf8');
  // The wrapper Node's CommonJS loader puts around a module, on the source's first line (stack lines stay right).
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
    filename: file,
    cachedData: cachedData ?? undefined,
  });
  const used = cachedData != null && !script.cachedDataRejected;
  debug(`${used ? 'hit' : stored ? 'rejected' : 'miss'} ${cacheFile}`);
  if (!used) process.on('exit', () => writeCache(script, dir, stem, name));
  return script;
}

/** Writes the cache (temp file + rename, 0600) and drops this Node's caches of older builds; errors are ignored. */
function writeCache(script, dir, stem, name) {
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  try {
    // Made at exit, the cache also holds the functions this run compiled, not only the top level.
    const data = script.createCachedData();
    fs.writeFileSync(tmp, Buffer.concat([digest(data), data]), { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, path.join(dir, name));
    debug(`written ${path.join(dir, name)}`);
    for (const f of fs.readdirSync(dir)) if (f !== name && f.startsWith(stem) && f.endsWith('.v8cache')) fs.rmSync(path.join(dir, f), { force: true });
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** Runs the compiled bundle as require would: a Module in require.cache, its own require, __filename, __dirname. */
function runAsModule(script, file) {
  const Module = require('node:module');
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  require.cache[file] = m;
  const own = Module.createRequire(file);
  const req = (id) => m.require(id);
  req.resolve = own.resolve;
  req.main = require.main;
  req.cache = require.cache;
  req.extensions = require.extensions;
  script.runInThisContext().call(m.exports, m.exports, req, m, file, path.dirname(file));
  m.loaded = true;
}

let script = null;
if (process.env.VHDSNAP_NO_CODE_CACHE === '1') debug('off (VHDSNAP_NO_CODE_CACHE=1)');
else {
  try {
    script = compileCached(bundle);
  } catch (err) {
    debug(`off (${err && err.message})`);
  }
}
// Errors of the bundle itself are not caught: they end the process as under require.
if (script) runAsModule(script, bundle);
else require(bundle);

// Checks what `npm run build` must leave behind (npm test builds first).
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const at = (p: string) => path.join(root, p);

describe('build skeleton', () => {
  it.each(['dist/electron/main.cjs', 'dist/electron/preload.cjs', 'dist/electron/job-worker.cjs', 'dist/renderer/index.html'])('%s exists', (file) => {
    expect(existsSync(at(file)), `${file} missing: run npm run build`).toBe(true);
  });

  it('renderer output has the CSP and no inline script or style', () => {
    const html = readFileSync(at('dist/renderer/index.html'), 'utf8');
    expect(html).toContain("script-src 'self'");
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\.\//); // relative, for file:// loading
      expect(body.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle="/);
  });

  it('the preload stays sandbox-compatible: one file requiring only electron, with the bridge builder bundled in', () => {
    const preload = readFileSync(at('dist/electron/preload.cjs'), 'utf8');
    expect([...new Set([...preload.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]))]).toEqual(['electron']);
    expect(preload).toContain('library:open-folder'); // the channel list, from server/api.ts
    expect(preload).not.toContain('ZodError');
  });

  it('the page bundle carries the channel list but neither zod nor Node', () => {
    const dir = at('dist/renderer/assets');
    const js = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(path.join(dir, f), 'utf8'))
      .join('\n');
    expect(js).toContain('library:open-folder');
    expect(js).not.toContain('ZodError');
    expect(js).not.toMatch(/\brequire\(|from\s*["']node:/);
  });

  it('bin/vhdsnap.cjs is an executable node script', () => {
    const bin = at('bin/vhdsnap.cjs');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    if (process.platform !== 'win32') {
      expect(statSync(bin).mode & 0o111).not.toBe(0);
      expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
    }
  });
});

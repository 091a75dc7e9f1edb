// Checks what `npm run build` must leave behind (npm test builds first).
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const at = (p: string) => path.join(root, p);

describe('build skeleton', () => {
  it.each(['dist/electron/main.cjs', 'dist/electron/preload.cjs', 'dist/electron/job-worker.cjs', 'dist/renderer/index.html'])(
    '%s exists',
    (file) => {
      expect(existsSync(at(file)), `${file} missing: run npm run build`).toBe(true);
    },
  );

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

  it('bin/vhdsnap.cjs is an executable node script', () => {
    const bin = at('bin/vhdsnap.cjs');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    if (process.platform !== 'win32') {
      expect(statSync(bin).mode & 0o111).not.toBe(0);
      expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
    }
  });
});

// The folders are the layers (README, Architecture): core/ knows nothing of
// the app, server/ nothing of Electron, and the page reaches server/ only for
// the contract's types, its channel list and the bridge builder. Checked on
// every import and export-from specifier, static or dynamic.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|vue)$/.test(e.name)) out.push(rel);
  }
  return out;
}

/** Each specifier a file imports, as written and (when relative) as a path from the repository root. */
function importsOf(file: string): { spec: string; target: string }[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const re = /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;
  const out: { spec: string; target: string }[] = [];
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const target = spec.startsWith('.')
      ? path
          .relative(root, path.resolve(root, path.dirname(file), spec))
          .split(path.sep)
          .join('/')
      : spec;
    out.push({ spec, target });
  }
  return out;
}

const offending = (dir: string, bad: (target: string) => boolean) =>
  sources(dir).flatMap((f) =>
    importsOf(f)
      .filter((i) => bad(i.target))
      .map((i) => `${f}: ${i.spec}`),
  );

describe('layering', () => {
  it('finds the imports it checks (the scan itself works)', () => {
    expect(importsOf('electron/main.ts').map((i) => i.target)).toEqual(expect.arrayContaining(['electron', 'server/handlers.js', 'electron/register.js']));
    expect(importsOf('core/cli/main.ts').map((i) => i.target)).toContain('#serve');
  });

  it('core/ imports nothing from server/, electron/ or the renderer', () => {
    expect(offending('core', (t) => /^(server|electron|renderer)\//.test(t) || t === 'electron')).toEqual([]);
  });

  it('server/ imports neither Electron nor electron/', () => {
    expect(offending('server', (t) => t === 'electron' || t.startsWith('electron/') || t.startsWith('renderer/'))).toEqual([]);
  });

  it('the page imports no Node, and from server/ only the contract and the bridge builder', () => {
    const allowed = new Set(['server/api', 'server/bridge']);
    expect(
      offending(
        'renderer/src',
        (t) => t.startsWith('node:') || t === 'electron' || t.startsWith('electron/') || (t.startsWith('server/') && !allowed.has(t.replace(/\.js$/, ''))),
      ),
    ).toEqual([]);
  });

  it('what the page imports from core/ loads no Node, nor anything that does (core/size.ts, core/printable.ts)', () => {
    const fromPage = new Set(
      sources('renderer/src')
        .flatMap(importsOf)
        .map((i) => i.target)
        .filter((t) => t.startsWith('core/')),
    );
    expect(fromPage.size).toBeGreaterThan(0);
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (target: string) => {
      const file = `${target.replace(/\.js$/, '')}.ts`;
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of importsOf(file)) {
        if (i.target.startsWith('node:') || !i.spec.startsWith('.')) bad.push(`${file}: ${i.spec}`);
        else visit(i.target);
      }
    };
    fromPage.forEach(visit);
    expect([...seen]).toContain('core/size.ts');
    expect(bad).toEqual([]);
  });

  it('what the page and the sandboxed preload bundle from server/ loads nothing at run time but the channel list', () => {
    const runtime = (f: string) =>
      [...readFileSync(path.join(root, f), 'utf8').matchAll(/^import\s+(?!type\b)[^;]*?from\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    expect(runtime('server/api.ts')).toEqual([]);
    expect(runtime('server/bridge.ts')).toEqual(['./api.js']);
  });
});

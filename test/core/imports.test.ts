// core/ keeps its shape: no import cycle inside it, and nothing imported from
// the app around it (electron/, renderer/, a server or host folder, UI
// packages). Cycles count runtime imports only: `import type` and
// `export type … from` are erased by the compiler and cannot make one module
// see another half-initialised. The layering check counts type imports too:
// core must not even name the app's types.
import { writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCycles, listTsFiles, parseImports, type Graph, type ImportEdge } from '../support/import-graph.js';
import { useTmpDir } from '../support/tmp.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const coreDir = path.join(root, 'core');
const rel = (p: string) => path.relative(root, p).split(path.sep).join('/');

/**
 * Import edges allowed to close a cycle while one is being removed (empty: the
 * ops ↔ recovery cycle went with the registry, issue #12). The test fails on an
 * entry that no longer closes a cycle, so the list cannot go stale.
 */
const KNOWN_CYCLES_TO_REMOVE: readonly (readonly [from: string, to: string])[] = [];

/** Imports from core to outside it allowed while one is being removed (empty since serve moved to server/). Same rule. */
const KNOWN_OUTSIDE_IMPORTS_TO_REMOVE: readonly (readonly [from: string, to: string])[] = [];

/** Packages of the app's shell, never of the library. */
const FORBIDDEN_PACKAGES = ['electron', 'vue', 'pinia', 'vite', '@vue/test-utils', '@vitejs/plugin-vue'];

const files = listTsFiles(coreDir);
const imports = new Map<string, ImportEdge[]>(files.map((f) => [rel(f), parseImports(f)]));

/** Runtime edges between core files, minus the allow-listed ones. */
function coreGraph(allowed: readonly (readonly [string, string])[]): Graph {
  const skip = new Set(allowed.map(([a, b]) => `${a} ${b}`));
  const g = new Map<string, string[]>();
  for (const [from, edges] of imports) {
    const to = edges.filter((e) => !e.typeOnly && e.resolved !== null && e.resolved.startsWith(coreDir + path.sep)).map((e) => rel(e.resolved!));
    g.set(
      from,
      to.filter((t) => !skip.has(`${from} ${t}`)),
    );
  }
  return g;
}

const show = (cycles: ReturnType<typeof findCycles>) => cycles.map((c) => `${c.path.join(' -> ')}\n    (component: ${c.members.join(', ')})`).join('\n');

describe('findCycles (the detector itself)', () => {
  const graph = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges));

  it('finds nothing in an acyclic graph (a diamond and a tail)', () => {
    expect(findCycles(graph({ a: ['b', 'c'], b: ['d'], c: ['d'], d: ['e'], e: [] }))).toEqual([]);
  });

  it('finds a three-node cycle and gives its path', () => {
    const cycles = findCycles(graph({ a: ['b'], b: ['c'], c: ['a', 'd'], d: [] }));
    expect(cycles).toEqual([{ path: ['a', 'b', 'c', 'a'], members: ['a', 'b', 'c'] }]);
  });

  it('finds a module importing itself, and two separate cycles separately', () => {
    expect(findCycles(graph({ a: ['a'] }))).toEqual([{ path: ['a', 'a'], members: ['a'] }]);
    const two = findCycles(graph({ a: ['b'], b: ['a'], c: ['d'], d: ['e'], e: ['c'], f: ['a', 'c'] }));
    expect(two.map((c) => c.members)).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
  });

  it('gives a path made of real edges, inside one component, on random graphs', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const n = 2 + rand(12);
      const g = new Map<string, string[]>();
      for (let i = 0; i < n; i++) g.set(`m${i}`, []);
      for (let k = rand(2 * n); k > 0; k--) g.get(`m${rand(n)}`)!.push(`m${rand(n)}`);
      const cycles = findCycles(g);
      for (const c of cycles) {
        expect(c.path[0]).toBe(c.path[c.path.length - 1]);
        for (let i = 0; i + 1 < c.path.length; i++) {
          expect(g.get(c.path[i])).toContain(c.path[i + 1]);
          expect(c.members).toContain(c.path[i]);
        }
      }
      // Independent check: a graph has a cycle exactly when repeatedly removing nodes without incoming edges cannot empty it (Kahn).
      const indeg = new Map([...g.keys()].map((k) => [k, 0]));
      for (const outs of g.values()) for (const w of outs) indeg.set(w, indeg.get(w)! + 1);
      const ready = [...indeg].filter(([, d]) => d === 0).map(([k]) => k);
      let removed = 0;
      while (ready.length > 0) {
        const k = ready.pop()!;
        removed++;
        for (const w of g.get(k)!) {
          indeg.set(w, indeg.get(w)! - 1);
          if (indeg.get(w) === 0) ready.push(w);
        }
      }
      expect(cycles.length > 0, `round ${round}`).toBe(removed < n);
    }
  });

  it('copes with a 50,000-module chain closed into one cycle (no recursion)', () => {
    const g = new Map<string, string[]>();
    const N = 50_000;
    for (let i = 0; i < N; i++) g.set(`m${i}`, [`m${(i + 1) % N}`]);
    const [c, ...rest] = findCycles(g);
    expect(rest).toEqual([]);
    expect(c.members).toHaveLength(N);
    expect(c.path).toHaveLength(N + 1);
  });
});

describe('parseImports', () => {
  const tmp = useTmpDir('vhdsnap-imports-');

  it('reads static imports and re-exports, tells type-only ones apart, and resolves .js to .ts', () => {
    mkdirSync(tmp.file('sub'));
    for (const f of ['b.ts', 'c.ts', 'd.ts', 'e.ts', 'f.ts', 'sub/index.ts']) writeFileSync(tmp.file(f), 'export const x = 1;\n');
    const a = tmp.file('a.ts');
    const text = [
      "import { x } from './b.js';",
      "import type { T } from './c.js';",
      "import { type U } from './d.js';", // stays as `import {} from` under verbatimModuleSyntax
      "export { y } from './e';",
      "export type { V } from './f.js';",
      "import './sub';",
      "import * as fs from 'node:fs';",
      "// import { z } from './commented-out.js';",
      'const s = "import { w } from \'./in-a-string.js\'";',
      "const lazy = () => import('./lazy.js');",
    ].join('\n');
    const edges = parseImports(a, text);
    expect(edges.map((e) => [e.specifier, e.resolved && path.relative(tmp.dir, e.resolved), e.typeOnly])).toEqual([
      ['./b.js', 'b.ts', false],
      ['./c.js', 'c.ts', true],
      ['./d.js', 'd.ts', false],
      ['./e', 'e.ts', false],
      ['./f.js', 'f.ts', true],
      ['./sub', path.join('sub', 'index.ts'), false],
      ['node:fs', null, false],
    ]);
  });
});

describe('core/ import graph', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(imports.get('core/ops/check.ts')!.length).toBeGreaterThan(5);
  });

  it('resolves every relative import (an unresolved one would hide an edge)', () => {
    const unresolved = [...imports].flatMap(([from, edges]) =>
      edges.filter((e) => e.specifier.startsWith('.') && e.resolved === null).map((e) => `${from}: ${e.specifier}`),
    );
    expect(unresolved).toEqual([]);
  });

  it('has no import cycle (besides KNOWN_CYCLES_TO_REMOVE)', () => {
    const cycles = findCycles(coreGraph(KNOWN_CYCLES_TO_REMOVE));
    expect(cycles, `import cycles in core/:\n${show(cycles)}`).toEqual([]);
  });

  it('every KNOWN_CYCLES_TO_REMOVE entry still closes a cycle (else delete it from the list)', () => {
    const g = coreGraph([]);
    const components = findCycles(g).map((c) => new Set(c.members));
    const stale = KNOWN_CYCLES_TO_REMOVE.filter(([from, to]) => !g.get(from)?.includes(to) || !components.some((m) => m.has(from) && m.has(to)));
    expect(stale, 'these allow-listed imports are gone or no longer part of a cycle: remove them from KNOWN_CYCLES_TO_REMOVE').toEqual([]);
  });

  it('imports nothing from outside core/ (besides KNOWN_OUTSIDE_IMPORTS_TO_REMOVE), type imports included', () => {
    const allowed = new Set(KNOWN_OUTSIDE_IMPORTS_TO_REMOVE.map(([a, b]) => `${a} ${b}`));
    const outside: string[] = [];
    const present = new Set<string>();
    for (const [from, edges] of imports) {
      for (const e of edges) {
        if (e.resolved === null || e.resolved.startsWith(coreDir + path.sep)) continue;
        const key = `${from} ${rel(e.resolved)}`;
        present.add(key);
        if (!allowed.has(key)) outside.push(`${from} -> ${rel(e.resolved)}`);
      }
    }
    expect(outside, 'core/ must not import the app around it').toEqual([]);
    const gone = [...allowed].filter((k) => !present.has(k));
    expect(gone, 'these allow-listed imports no longer exist: remove them from KNOWN_OUTSIDE_IMPORTS_TO_REMOVE').toEqual([]);
  });

  it('imports no package of the app shell (Electron, Vue, Pinia, Vite)', () => {
    const forbidden = (s: string) => FORBIDDEN_PACKAGES.some((p) => s === p || s.startsWith(`${p}/`));
    const bad = [...imports].flatMap(([from, edges]) => edges.filter((e) => forbidden(e.specifier)).map((e) => `${from}: ${e.specifier}`));
    expect(bad).toEqual([]);
  });
});

// The static import graph of a source tree, and the cycles in it. Parsed with
// the TypeScript compiler (already a dependency), so comments, strings and
// multi-line import lists cannot fool it the way a regular expression could.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** The specifier as written: './recover.js', 'node:fs', '../../electron/serve.js'. */
  specifier: string;
  /** Absolute .ts path for a relative specifier that resolves; null for packages and built-ins. */
  resolved: string | null;
  /**
   * `import type …` / `export type … from`: erased when compiled, so it cannot
   * take part in a module-initialisation cycle. An inline `import { type A }`
   * is not type-only (with verbatimModuleSyntax the import statement stays).
   */
  typeOnly: boolean;
}

/** Static `import … from`, side-effect `import '…'` and `export … from` of one file (dynamic import() is not followed). */
export function parseImports(file: string, text = readFileSync(file, 'utf8')): ImportEdge[] {
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: ImportEdge[] = [];
  for (const st of src.statements) {
    let spec: ts.Expression | undefined;
    let typeOnly = false;
    if (ts.isImportDeclaration(st)) {
      spec = st.moduleSpecifier;
      typeOnly = st.importClause?.isTypeOnly ?? false;
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
      spec = st.moduleSpecifier;
      typeOnly = st.isTypeOnly;
    }
    if (!spec || !ts.isStringLiteral(spec)) continue;
    out.push({ specifier: spec.text, resolved: resolveRelative(file, spec.text), typeOnly });
  }
  return out;
}

/** './x.js' → x.ts, './x' → x.ts or x/index.ts (the bundler resolution the project uses). */
function resolveRelative(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [base.replace(/\.(c|m)?js$/, '.$1ts'), base, `${base}.ts`, path.join(base, 'index.ts')];
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) return c;
    } catch {
      // not this candidate
    }
  }
  return null;
}

/** Every .ts file under dir (declaration files excluded), sorted. */
export function listTsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

export type Graph = ReadonlyMap<string, readonly string[]>;

export interface Cycle {
  /** One concrete cycle: a → b → … → a. */
  path: string[];
  /** Every node of its strongly connected component (other cycles may run through them). */
  members: string[];
}

/**
 * The cycles of a directed graph: one per strongly connected component with
 * more than one node (or a node importing itself), with a concrete path that
 * starts and ends at the same node. Tarjan's algorithm, iterative so a deep
 * chain cannot overflow the stack.
 */
export function findCycles(graph: Graph): Cycle[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const nodes = new Set<string>([...graph.keys(), ...[...graph.values()].flat()]);
  const succ = (n: string) => graph.get(n) ?? [];

  for (const root of [...nodes].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const out = succ(top.node);
      if (top.i < out.length) {
        const w = out[top.i++];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.node);
        if (comp.length > 1 || succ(top.node).includes(top.node)) components.push(comp.sort());
      }
    }
  }
  return components.map((members) => ({ path: cyclePath(graph, members), members })).sort((a, b) => a.members[0].localeCompare(b.members[0]));
}

/** A shortest path from the component's first node back to itself, staying inside the component (breadth first). */
function cyclePath(graph: Graph, comp: string[]): string[] {
  const inside = new Set(comp);
  const start = comp[0];
  const prev = new Map<string, string>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const n = queue[q];
    for (const w of graph.get(n) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const back: string[] = [];
        for (let c = n; c !== start; c = prev.get(c)!) back.push(c);
        return [start, ...back.reverse(), start];
      }
      if (!prev.has(w)) {
        prev.set(w, n);
        queue.push(w);
      }
    }
  }
  return [start, start]; // unreachable for a strongly connected component
}

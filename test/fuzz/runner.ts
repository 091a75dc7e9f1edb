// Drives fuzz workers (worker.ts) in child processes: one per core, each with
// a capped V8 heap, a watchdog that kills a worker whose case makes no
// progress (a hang), and a restart after the hung case.
import { spawn } from 'node:child_process';
import * as nodePath from 'node:path';
import { bundleEntries } from '../support/bundle.js';

export interface CaseResult {
  i: number;
  ms: number;
  ops: Record<string, string>;
  bad: string[];
  maxAlloc: number;
  rss: number;
  set: string;
  mutations: string[];
}

export interface CorpusRun {
  results: Map<number, CaseResult>;
  hangs: number[];
  fatal: string[];
}

export function bundle(entries: Record<string, string>): Promise<string> {
  return bundleEntries(entries, 'vhdsnap-fuzz-bundle-');
}

export const HEAP_MB = 192;

/**
 * Runs the given case indices on `workers` processes. A worker silent for
 * `hangMs` while on a case is killed; that case is recorded as a hang and the
 * worker restarts after it.
 */
export async function runCorpus(
  worker: string,
  seedsDir: string,
  workDir: string,
  seed: number,
  indices: number[],
  opts: { workers?: number; hangMs?: number; corpus?: 'vhd' | 'vhdx' } = {},
): Promise<CorpusRun> {
  const n = Math.max(1, opts.workers ?? 2);
  const hangMs = opts.hangMs ?? 15_000;
  const out: CorpusRun = { results: new Map(), hangs: [], fatal: [] };
  const lanes = Array.from({ length: n }, (_, k) => indices.filter((_, j) => j % n === k));
  await Promise.all(
    lanes.map(async (lane, k) => {
      let todo = lane;
      while (todo.length > 0) {
        const stuck = await runWorker(worker, [seedsDir, nodePath.join(workDir, `w${k}`), String(seed), todo.join(','), opts.corpus ?? 'vhd'], hangMs, out);
        if (stuck === null) break;
        out.hangs.push(stuck);
        todo = todo.slice(todo.indexOf(stuck) + 1);
      }
    }),
  );
  return out;
}

/** Resolves with the index of the case it hung on, or null when the list finished. */
function runWorker(worker: string, args: string[], hangMs: number, out: CorpusRun): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, worker, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // glibc gives each libuv pool thread its own malloc arena and keeps their freed buffers resident:
      // 30 MiB of RSS that no case holds. Two arenas keep the RSS bound about what the code allocates.
      env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    });
    let current: number | null = null;
    let buf = '';
    let stderr = '';
    let timer = setTimeout(onHang, hangMs);
    function onHang(): void {
      child.kill('SIGKILL');
    }
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        clearTimeout(timer);
        timer = setTimeout(onHang, hangMs);
        const m = JSON.parse(line) as Partial<CaseResult> & { start?: number; fatal?: string };
        if (m.fatal) out.fatal.push(m.fatal);
        else if (m.start !== undefined) current = m.start;
        else {
          out.results.set(m.i!, m as CaseResult);
          current = null;
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (current !== null) {
        if (signal !== 'SIGKILL') out.fatal.push(`worker died (${code ?? signal}) on case ${current}: ${stderr.slice(-2000)}`);
        resolve(current);
      } else {
        if (code !== 0) out.fatal.push(`worker exited ${code ?? signal}: ${stderr.slice(-2000)}`);
        resolve(null);
      }
    });
  });
}

/** Counts of outcomes per step, most frequent first (for the summary line). */
export function tally(results: Iterable<CaseResult>): Record<string, Record<string, number>> {
  const t: Record<string, Record<string, number>> = {};
  for (const r of results) {
    for (const [op, o] of Object.entries(r.ops)) {
      const k = o.startsWith('findings:') ? 'findings' : o;
      t[op] ??= {};
      t[op][k] = (t[op][k] ?? 0) + 1;
    }
  }
  return t;
}

// A small, strict command-line parser: unknown flags are usage errors rather
// than silently ignored (a typo must not turn a dry run into a real one).
import { UsageError } from '../errors.js';

export interface FlagSpec {
  /** Flags taking a value. */
  values?: string[];
  /** Boolean flags. */
  bools?: string[];
}

export interface ParsedArgs {
  positional: string[];
  values: Map<string, string>;
  bools: Set<string>;
}

export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const values = new Map<string, string>();
  const bools = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (spec.bools?.includes(name)) {
      if (eq >= 0) throw new UsageError('USAGE', `--${name} takes no value`);
      bools.add(name);
    } else if (spec.values?.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError('USAGE', `--${name} needs a value`);
      values.set(name, v);
    } else {
      throw new UsageError('USAGE', `unknown option --${name}`);
    }
  }
  return { positional, values, bools };
}

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
};

/**
 * Parses "64M", "1.5G", "4096", "2TiB" (binary multiples) into bytes. With
 * `limit`, a size past it (even one too large to count exactly) is refused
 * as "too large (…)" with the limit's reason.
 */
export function parseSize(text: string, what: string, limit?: { bytes: number; reason: string }): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toUpperCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError('USAGE', `${what} "${text}" is not a size like 512, 64M, 10G or 2T`);
  const bytes = Number(m[1]) * unit;
  if (limit && bytes > limit.bytes) throw new UsageError('BAD_SIZE', `${what} ${text} is ${limit.reason}`, { field: what.replace(/^--/, '') });
  if (bytes > Number.MAX_SAFE_INTEGER) throw new UsageError('USAGE', `${what} "${text}" is too large`);
  if (!Number.isSafeInteger(bytes)) throw new UsageError('USAGE', `${what} "${text}" is not a whole number of bytes`);
  return bytes;
}

export function parseOffset(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) {
    // Offsets accept units too (e.g. 1M), but never fractions of a byte.
    return parseSize(text, what);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError('USAGE', `${what} ${text} is too large`);
  return n;
}

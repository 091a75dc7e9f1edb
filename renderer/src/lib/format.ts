// Formatting for people: sizes, rates, durations, times, and errors in words.
import { sizeText } from '../../../core/size';

/** 1536 → "1.5 KiB" (core/size.ts, as the CLI and the plans say it); a missing size → "—". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return sizeText(n);
}

/** 10240 → "10,240": digits grouped in threes, the same on every machine (no locale). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const [int, frac] = String(Math.abs(n)).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${n < 0 ? '-' : ''}${grouped}${frac ? `.${frac}` : ''}`;
}

/** The exact size for a tooltip: "2,684,354,560 bytes". */
export function exactBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  return `${formatCount(n)} byte${n === 1 ? '' : 's'}`;
}

/** "1 block", "3 blocks", "10,240 blocks". */
export function countOf(n: number, word: string, plural = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : plural}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Seconds → "45 s", "3 min 20 s", "2 h 05 min"; null (unknown) → "—". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h} h ${String(m).padStart(2, '0')} min`;
}

const STEPS: [limit: number, unit: string, seconds: number][] = [
  [60, 'second', 1],
  [3600, 'minute', 60],
  [86400, 'hour', 3600],
  [86400 * 30, 'day', 86400],
  [86400 * 365, 'month', 86400 * 30],
  [Infinity, 'year', 86400 * 365],
];

/** An ISO time relative to `now`: "just now", "5 minutes ago", "in 2 days". */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'unknown time';
  const diff = Math.round((now - t) / 1000);
  const abs = Math.abs(diff);
  if (abs < 10) return 'just now';
  for (const [limit, unit, secs] of STEPS) {
    if (abs < limit) {
      const n = Math.floor(abs / secs);
      const words = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return diff >= 0 ? `${words} ago` : `in ${words}`;
    }
  }
  return 'unknown time';
}

/** ISO → "2026-11-24 17:49:05 UTC": unambiguous, independent of the machine's locale. */
export function absoluteTime(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** "40G", "512 MiB", "1.5T", "1048576" → bytes; null when it is not a size. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) return null;
  const bytes = Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()];
  return Number.isFinite(bytes) && bytes > 0 ? Math.round(bytes) : null;
}

/** What went wrong, in words: the {code, message} from main, never a stack trace. */
export function errorText(err: unknown): { code: string; message: string } {
  let code = 'ERROR';
  let message = 'Something went wrong.';
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown };
    if (typeof e.code === 'string' && e.code) code = e.code;
    if (typeof e.message === 'string' && e.message) message = e.message;
  } else if (typeof err === 'string' && err) {
    message = err;
  }
  // Electron prefixes rejected invoke() calls with the channel and the error class.
  message = message.replace(/^Error invoking remote method '[^']*': /, '').replace(/^(\w*Error): /, '');
  // Serialised errors sometimes carry their stack in the message: keep the words only.
  message = message
    .split('\n')
    .filter((line) => !/^\s*at\s/.test(line))
    .join('\n')
    .trim();
  return { code, message: message || 'Something went wrong.' };
}

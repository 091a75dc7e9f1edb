// What a running job is doing, in words: core reports a phase identifier
// ("merge", "check", "fold into d1.vhd") with done/total counts; people read
// "Copying 1.2 of 2.5 GiB". Check counts blocks, every other phase bytes.
import type { Progress } from '../../../server/api';
import { countOf, formatBytes, formatCount } from './format';

/** The verb each phase shows, and what its counts count. */
const PHASES: Record<string, { verb: string; unit: 'bytes' | 'blocks' }> = {
  merge: { verb: 'Copying', unit: 'bytes' },
  copy: { verb: 'Copying', unit: 'bytes' },
  check: { verb: 'Checking', unit: 'blocks' },
  compact: { verb: 'Compacting', unit: 'bytes' },
  resize: { verb: 'Growing', unit: 'bytes' },
  write: { verb: 'Writing', unit: 'bytes' },
  flatten: { verb: 'Writing', unit: 'bytes' },
  export: { verb: 'Exporting', unit: 'bytes' },
  import: { verb: 'Importing', unit: 'bytes' },
};

function phaseOf(phase: string): { verb: string; unit: 'bytes' | 'blocks'; what: string } {
  const fold = /^fold into (.+)$/.exec(phase);
  if (fold) return { verb: 'Folding', unit: 'bytes', what: ` into ${fold[1]}` };
  const known = PHASES[phase];
  return known ? { ...known, what: '' } : { verb: phase.charAt(0).toUpperCase() + phase.slice(1), unit: 'bytes', what: '' };
}

/** The counts of a report in its unit: "1.2 of 2.5 GiB", "300 of 10,240 blocks". */
export function amountText(p: Progress): string {
  if (phaseOf(p.phase).unit === 'blocks') return `${formatCount(p.done)} of ${countOf(p.total, 'block')}`;
  const total = formatBytes(p.total);
  const done = formatBytes(p.done);
  // One unit for both when they share it: "1.2 of 2.5 GiB", not "1.2 GiB of 2.5 GiB".
  const [dv, du] = done.split(' ');
  const [, tu] = total.split(' ');
  return du === tu ? `${dv} of ${total}` : `${done} of ${total}`;
}

/** The phase line: "Starting…", "Copying 1.2 of 2.5 GiB", "Checking 300 of 10,240 blocks", "Finishing…". */
export function phaseText(p: Progress | null): string {
  if (!p) return 'Starting…';
  if (p.finishing) return 'Finishing…';
  const { verb, what } = phaseOf(p.phase);
  if (p.total <= 0) return `${verb}${what}…`;
  return `${verb}${what}: ${amountText(p)}`.replace(/^(\w+): /, '$1 ');
}

/** Whether the counts are bytes (a rate in bytes per second makes sense). */
export function countsBytes(p: Progress): boolean {
  return phaseOf(p.phase).unit === 'bytes';
}

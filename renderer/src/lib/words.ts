// Jobs and their results in sentences, by snapshot name (the sidecar label,
// else the file name), sizes in human units with the exact bytes kept for a
// tooltip. One home for these words: JobProgress and ResultView show them.
import { formatWords } from '../../../core/output-format';
import { printable } from '../../../core/printable';
import type { JobOutcome, OperationArgs } from '../../../server/api';
import { countOf, exactBytes, formatBytes } from './format';

/** A piece of a sentence: text, and what hovering over it shows (exact bytes, the file behind a name). */
export interface Seg {
  text: string;
  title?: string;
}
export type Sentence = Seg[];

/** Path or file name → the name people know the disk by. */
export type NameOf = (pathOrFile: string) => string | null;

const base = (p: string) => p.split(/[\\/]/).pop() ?? p;

/** A disk as the sentences say it: ‘Before upgrade’ (its file in the tooltip), else its file name. */
export function diskWords(path: string, nameOf: NameOf): Seg {
  const file = printable(base(path));
  const name = nameOf(path);
  return name && name !== file ? { text: `‘${printable(name)}’`, title: file } : { text: file };
}

export function sizeWords(n: number): Seg {
  return { text: formatBytes(n), title: exactBytes(n) };
}

/** Builds a sentence from text and segments: s`${disk} grew to ${size}.` */
function s(strings: TemplateStringsArray, ...parts: (Seg | Seg[] | string)[]): Sentence {
  const out: Sentence = [];
  strings.forEach((t, i) => {
    if (t) out.push({ text: t });
    const p = parts[i];
    if (p !== undefined) out.push(...(typeof p === 'string' ? [{ text: p }] : Array.isArray(p) ? p : [p]));
  });
  return out;
}

const list = (segs: Seg[]): Seg[] => segs.flatMap((g, i) => (i === 0 ? [g] : [{ text: i === segs.length - 1 ? ' and ' : ', ' }, g]));

/** Plain text of a sentence (for tests and aria). */
export const sentenceText = (x: Sentence): string => x.map((g) => g.text).join('');

/** What a job is, as a noun phrase: "Merge of ‘Snap 2’ into its parent". */
export function jobPhrase(args: OperationArgs, nameOf: NameOf): string {
  const d = sentenceText([diskWords(args.disk.file, (f) => nameOf(f))]);
  switch (args.op) {
    case 'merge':
      return `Merge of ${d} into its parent`;
    case 'snapshot':
      return `Snapshot of ${d}`;
    case 'delete':
      return `Deletion of the snapshot ${d}`;
    case 'check':
      return `Check of ${d}`;
    case 'revert':
      return `Revert of ${d}`;
    case 'compact':
      return `Compaction of ${d}`;
    case 'resize':
      return `Growing ${d}`;
    case 'flatten':
      return `Flattening ${d} to a file`;
    case 'repair':
      return `Repair of ${d}`;
    case 'reparent':
      return `Reconnection of ${d}`;
    case 'switch':
      return `Switch to ${d}`;
    case 'set-active':
      return `Making ${d} the active disk`;
    case 'write':
      return `Writing an image into ${d}`;
    case 'name':
      return `Renaming ${d}`;
    default:
      return `${String((args as { op: string }).op)} of ${d}`;
  }
}

/** What a finished job did, sentence by sentence (check results are listed per file instead). */
export function outcomeSentences(o: JobOutcome, nameOf: NameOf): Sentence[] {
  const disk = (p: string) => diskWords(p, nameOf);
  switch (o.op) {
    case 'merge': {
      const r = o.result;
      const out = [s`The content of ${list(r.removed.map(disk))} is now part of ${disk(r.merged)}, and its file is gone.`];
      if (r.relinked.length)
        out.push(
          s`${list(r.relinked.map(disk))} now ${r.relinked.length === 1 ? 'points' : 'point'} at ${disk(r.merged)} as ${r.relinked.length === 1 ? 'its' : 'their'} parent.`,
        );
      return out;
    }
    case 'delete': {
      const r = o.result;
      if (r.strategy === 'remove') return [s`The saved state ${disk(r.removed)} no longer exists; no other disk changed.`];
      const changed = r.changed.length ? list(r.changed.map(disk)) : 'the disks below it';
      return [
        s`The snapshot ${disk(r.removed)} no longer exists.`,
        r.strategy === 'fold'
          ? s`Its data was folded into ${changed}, which show exactly what they showed before.`
          : s`It was merged into its only child ${changed}, which shows exactly what it showed before.`,
      ];
    }
    case 'snapshot': {
      const r = o.result;
      return [s`The snapshot ${disk(r.snapshot)} keeps the content as it was.`, s`${disk(r.active)} is now an empty child of it: new writes go there.`];
    }
    case 'revert': {
      const r = o.result;
      const out = [s`${disk(r.active)} now shows ${disk(r.snapshot)} again, as an empty child of it.`];
      if (r.kept) out.push(s`What it showed before is kept as the saved state ${disk(r.kept)}.`);
      else if (r.discarded) out.push(s`What it showed before was discarded.`);
      return out;
    }
    case 'switch': {
      const r = o.result;
      return [
        s`${disk(r.active)} now shows the saved state it was switched to.`,
        s`What it showed before is kept as ‘${printable(r.keptLabel)}’ (${printable(base(r.kept))}).`,
      ];
    }
    case 'set-active': {
      const r = o.result;
      return [
        r.previous
          ? s`${disk(r.active)} is now the active disk of its tree, instead of ${disk(r.previous)}.`
          : s`${disk(r.active)} was already the active disk of its tree.`,
      ];
    }
    case 'compact': {
      const r = o.result;
      const freed = r.bytesBefore - r.bytesAfter;
      return [
        s`${disk(r.path)} went from ${sizeWords(r.bytesBefore)} to ${sizeWords(r.bytesAfter)} (${countOf(r.blocksBefore, 'block')} to ${countOf(r.blocksAfter, 'block')}).`,
        freed > 0 ? s`${sizeWords(freed)} freed.` : s`Nothing could be freed: every stored block holds data.`,
      ];
    }
    case 'resize': {
      const r = o.result;
      return [
        r.oldSize === r.newSize
          ? s`${disk(r.path)} is already ${sizeWords(r.newSize)}.`
          : s`${disk(r.path)} grew from ${sizeWords(r.oldSize)} to ${sizeWords(r.newSize)}; the new space reads as zeros.`,
      ];
    }
    case 'flatten': {
      const r = o.result;
      const blocks = r.allocatedBlocks === null ? '' : `, ${countOf(r.allocatedBlocks, 'block')} stored`;
      return [
        s`Wrote ${disk(r.path)}: a standalone ${formatWords(r.format)}${r.format === 'raw' ? '' : ' disk'} of ${sizeWords(r.virtualSize)}${blocks}.`,
        ...r.warnings.map((w) => s`${w.message}`),
      ];
    }
    case 'repair': {
      const r = o.result;
      const out: Sentence[] = [];
      out.push(r.fixed.length ? s`Fixed: ${r.fixed.map((x) => x.message).join('; ')}.` : s`Nothing needed fixing.`);
      if (r.remaining.length) out.push(s`Still wrong: ${r.remaining.map((x) => x.message).join('; ')}.`);
      for (const n of r.notes) out.push(s`${n.message}`);
      return out;
    }
    case 'reparent': {
      const r = o.result;
      return [s`${disk(r.child)} now has ${disk(r.parent)} as its parent.`, ...r.warnings.map((w) => s`${w}`)];
    }
    case 'write': {
      const r = o.result;
      return [s`Wrote ${sizeWords(r.bytes)} into ${disk(r.path)} at ${sizeWords(r.offset)} from its start.`];
    }
    case 'name': {
      const r = o.result;
      return [r.name ? s`${printable(base(r.path))} is now called ‘${printable(r.name)}’.` : s`${printable(base(r.path))} no longer has a name.`];
    }
    case 'recover':
      return [s`${o.result.action === 'discarded' ? 'Rolled back' : o.result.action === 'completed' ? 'Finished' : 'Left as it is'}: ${o.result.detail}.`];
    default:
      return [];
  }
}

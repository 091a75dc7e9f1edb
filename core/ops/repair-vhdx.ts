// Repairing a VHDX from the second copies MS-VHDX keeps: a damaged header is
// rewritten from the intact one (with the next sequence number, so it is the
// current one and the two never tie), a damaged region table from the intact
// copy, and a second region table that differs from the first (the one every
// reader uses) made equal to it. Both headers or both region tables damaged,
// and every other problem (BAT, metadata, log), are left and reported: there
// is no copy to prove a fix. The writes go through repair's journal
// (core/ops/repair.ts), like a VHD footer's.
import { encodeHeader, HEADER_OFFSETS, HEADER_SIZE, pickCurrentHeader, readHeaderCopy } from '../format/vhdx/header.js';
import { decodeRegionTable, REGION_TABLE_OFFSETS, REGION_TABLE_SIZE, validateRegionTable } from '../format/vhdx/region.js';
import type { RandomAccessFile } from '../io/file.js';
import type { Diagnosis } from './repair.js';

async function readAt(f: RandomAccessFile, at: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  const n = await f.read(buf, at);
  return n === length ? buf : buf.fill(0, n);
}

const codes = (fs: { code: string }[]) => [...new Set(fs.map((x) => x.code))].join(', ');

export async function diagnoseVhdx(f: RandomAccessFile): Promise<Diagnosis> {
  const fileSize = await f.size();
  const d: Diagnosis = { writes: [], fixes: [], notes: [], sizeAfter: fileSize };
  const h = [readHeaderCopy(await readAt(f, HEADER_OFFSETS[0], HEADER_SIZE), 1), readHeaderCopy(await readAt(f, HEADER_OFFSETS[1], HEADER_SIZE), 2)];
  const pick = pickCurrentHeader(h[0], h[1]);
  if (!pick.current) {
    const code = pick.errors[0]?.code ?? 'VHDX_HEADER_SIGNATURE';
    d.notes.push({ code, message: 'neither header copy can be trusted, so neither can be rewritten from the other' });
  } else {
    const good = pick.current;
    const bad = h.find((c) => !c.intact);
    if (bad) {
      d.writes.push({
        at: HEADER_OFFSETS[bad.index - 1],
        data: encodeHeader({ ...good.header, sequenceNumber: good.header.sequenceNumber + 1n }),
        what: `header${bad.index} rewritten from header${good.index}`,
      });
      d.fixes.push({
        code: bad.problems[0].code,
        message: `header${bad.index} is damaged (${codes(bad.problems)}); rewritten from the intact header${good.index}`,
      });
    }
  }
  const raws = [await readAt(f, REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE), await readAt(f, REGION_TABLE_OFFSETS[1], REGION_TABLE_SIZE)];
  const checks = raws.map((raw, i) => validateRegionTable(decodeRegionTable(raw), raw, `regionTable${i + 1}`, { fileSize }));
  const ok = checks.map((c) => c.regions !== null);
  const same = raws[0].every((b, i) => b === raws[1][i]);
  if (!ok[0] && !ok[1]) {
    d.notes.push({
      code: checks[0].errors[0]?.code ?? 'VHDX_REGION_MISSING',
      message: 'neither region table copy is usable, so neither can be rewritten from the other',
    });
  } else if (!same) {
    // The first intact copy is the one readers use: the other is made equal to it.
    const from = ok[0] ? 0 : 1;
    const to = 1 - from;
    d.writes.push({ at: REGION_TABLE_OFFSETS[to], data: raws[from], what: `regionTable${to + 1} rewritten from regionTable${from + 1}` });
    // Under the codes check warns with, so the re-check can tell whether the fix took.
    d.fixes.push({
      code: to === 0 ? 'VHDX_REGION_TABLE_FROM_COPY' : 'VHDX_REGION_TABLE_COPY',
      message: ok[to]
        ? 'regionTable2 differs from regionTable1, which readers use; rewritten from it'
        : `regionTable${to + 1} is damaged (${codes(checks[to].errors)}); rewritten from the intact regionTable${from + 1}`,
    });
  }
  return d;
}

// Crash consistency of the log, against a plain model: a writer logs random
// metadata updates (data and zero ranges) through our encoder and placement,
// checkpoints now and then (applies the pending entries in place and frees the
// log), and "crashes" with the pending entries only partly applied and maybe a
// torn entry at the head. Replaying the log onto the crashed file must give
// exactly the model: every logged write applied, in order.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../core/errors.js';
import { replayLog, type LogWrite } from '../../../core/format/vhdx/log-replay.js';
import { applyWrites, encodeLogEntry, placeLogEntry } from '../../../core/format/vhdx/log-writer.js';
import { Rng } from '../../support/model.js';

const MiB = 1024 * 1024;
const S = 4096;
const LOG_AT = MiB;
const META_AT = 2 * MiB;
const FILE = 3 * MiB;

function randomWrites(rng: Rng): LogWrite[] {
  return Array.from({ length: rng.range(1, 5) }, () => {
    const sectors = rng.range(1, 3);
    const offset = META_AT + rng.int(MiB / S - 16) * S;
    if (rng.chance(0.3)) return { offset, length: rng.range(1, 16) * S, data: null };
    return { offset, length: sectors * S, data: rng.bytes(sectors * S) };
  });
}

function applyTo(b: Uint8Array, writes: LogWrite[]): void {
  for (const w of writes) {
    if (w.data) b.set(w.data, w.offset);
    else b.fill(0, w.offset, w.offset + w.length);
  }
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length ? 'identical' : `first difference at ${i}`;
}

async function run(seed: number): Promise<void> {
  const rng = new Rng(seed);
  const guid = rng.bytes(16);
  const logLength = rng.range(8, 64) * S;
  const file = new Uint8Array(FILE);
  file.set(rng.bytes(MiB), META_AT);
  const want = new Uint8Array(file);
  let head = rng.int(logLength / S) * S;
  let tail = head;
  let pending: LogWrite[][] = [];
  let seq = BigInt(rng.range(1, 1000));
  const checkpoint = () => {
    for (const ws of pending) applyTo(file, ws);
    pending = [];
    tail = head;
  };
  const put = (writes: { offset: number; data: Uint8Array }[], sectors = Infinity) => {
    let left = sectors * S;
    for (const w of writes) {
      const n = Math.min(w.data.length, left);
      file.set(w.data.subarray(0, n), LOG_AT + w.offset);
      left -= n;
    }
  };
  const entries = rng.range(1, 10);
  for (let i = 0; i < entries; i++) {
    const writes = randomWrites(rng);
    const entryFor = (t: number) => encodeLogEntry({ sequence: seq, tail: t, guid, flushedFileOffset: FILE, lastFileOffset: FILE, writes });
    let placed;
    try {
      placed = placeLogEntry(logLength, head, tail, entryFor(tail));
    } catch (e) {
      if (!(e instanceof UsageError) || e.code !== 'LOG_FULL') throw e;
      checkpoint();
      try {
        placed = placeLogEntry(logLength, head, tail, entryFor(tail));
      } catch (e2) {
        if (e2 instanceof UsageError && e2.code === 'LOG_FULL') continue; // too big for this log even when empty
        throw e2;
      }
    }
    put(placed.writes);
    head = placed.head;
    pending.push(writes);
    applyTo(want, writes);
    seq++;
    if (rng.chance(0.3)) checkpoint();
  }
  // The crash: pending entries partly in place, and perhaps a torn entry at the head.
  const partly = rng.int(pending.length + 1);
  for (const ws of pending.slice(0, partly)) applyTo(file, ws.slice(0, rng.int(ws.length + 1)));
  if (rng.chance(0.5)) {
    const writes = randomWrites(rng);
    const torn = encodeLogEntry({ sequence: seq, tail, guid, flushedFileOffset: FILE, lastFileOffset: FILE, writes });
    try {
      const p = placeLogEntry(logLength, head, tail, torn);
      put(p.writes, rng.int(torn.length / S)); // never the whole entry
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
    }
  }
  const r = await replayLog(async (o, n) => file.subarray(o, o + n), { offset: LOG_AT, length: logLength, guid, fileSize: FILE });
  await applyWrites(file, r.writes);
  expect(firstDiff(file.subarray(META_AT), want.subarray(META_AT)), `seed ${seed}`).toBe('identical');
  expect(
    r.findings.filter((f) => f.severity === 'error'),
    `seed ${seed}`,
  ).toEqual([]);
  // Replaying again onto the replayed file changes nothing.
  const again = await replayLog(async (o, n) => file.subarray(o, o + n), { offset: LOG_AT, length: logLength, guid, fileSize: FILE });
  await applyWrites(file, again.writes);
  expect(firstDiff(file.subarray(META_AT), want.subarray(META_AT)), `seed ${seed} (twice)`).toBe('identical');
}

describe('VHDX log replay against a plain model', () => {
  it('recovers every crash of 300 random logging runs', async () => {
    for (let seed = 1; seed <= 300; seed++) await run(seed);
  });
});

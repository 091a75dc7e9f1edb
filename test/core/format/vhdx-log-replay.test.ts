import { describe, expect, it } from 'vitest';
import { FormatError, UsageError, VhdError } from '../../../core/errors.js';
import { crc32cWithZeroField } from '../../../core/format/vhdx/crc32c.js';
import { encodeLogDataSector, decodeLogDataSector, decodeLogEntryHeader, descriptorSectors } from '../../../core/format/vhdx/log-entry.js';
import { MAX_LOG_LENGTH, replayLog, type LogReplay, type LogWrite } from '../../../core/format/vhdx/log-replay.js';
import { applyWrites, encodeLogEntry, placeLogEntry } from '../../../core/format/vhdx/log-writer.js';
import { Rng } from '../../support/model.js';

const MiB = 1024 * 1024;
const S = 4096;
const GUID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const OTHER_GUID = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);

/** A 4 MiB "file" whose log (at 1 MiB) our writer fills; metadata writes go to 2..4 MiB. */
class LogFile {
  readonly file: Uint8Array;
  readonly logOffset = MiB;
  head = 0;
  /** Log offset of each appended entry, by sequence number. */
  readonly at = new Map<bigint, number>();
  readonly entries = new Map<bigint, Uint8Array>();
  constructor(
    readonly logLength = 64 * 1024,
    size = 4 * MiB,
  ) {
    this.file = new Uint8Array(size);
  }

  /** Appends entry `sequence` at the head; `tail` defaults to the entry itself (nothing older needed). */
  append(sequence: bigint, writes: LogWrite[], opts: { tail?: number; guid?: Uint8Array; flushed?: number; last?: number } = {}): Uint8Array {
    const tail = opts.tail ?? this.head;
    const entry = encodeLogEntry({
      sequence,
      tail,
      guid: opts.guid ?? GUID,
      flushedFileOffset: opts.flushed ?? this.file.length,
      lastFileOffset: opts.last ?? this.file.length,
      writes,
    });
    // Placement only guards live entries; the tests pick heads themselves, so pass head as tail.
    const p = placeLogEntry(this.logLength, this.head, this.head, entry);
    for (const w of p.writes) this.file.set(w.data, this.logOffset + w.offset);
    this.at.set(sequence, p.at);
    this.entries.set(sequence, entry);
    this.head = p.head;
    return entry;
  }

  replay(guid = GUID, fileSize = this.file.length): Promise<LogReplay> {
    return replayLog(async (o, n) => this.file.subarray(o, o + n), { offset: this.logOffset, length: this.logLength, guid, fileSize });
  }

  /** Byte `i` of entry `seq`, circularly in the log. */
  logPos(seq: bigint, i: number): number {
    return this.logOffset + ((this.at.get(seq)! + i) % this.logLength);
  }
}

function dataWrite(rng: Rng, offset: number, sectors = 1): LogWrite {
  return { offset, length: sectors * S, data: rng.bytes(sectors * S) };
}

/** The plain model: every write applied, in order, to a copy. */
function model(base: Uint8Array, writes: LogWrite[]): Uint8Array {
  const m = new Uint8Array(base);
  for (const w of writes) {
    if (w.data) m.set(w.data, w.offset);
    else m.fill(0, w.offset, w.offset + w.length);
  }
  return m;
}

/** Byte equality with the first difference named (toEqual on megabytes is slow). */
function expectSame(a: Uint8Array, b: Uint8Array): void {
  expect(a.length).toBe(b.length);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect(i === a.length ? 'identical' : `first difference at ${i}: ${a[i]} vs ${b[i]}`).toBe('identical');
}

async function applied(f: LogFile, r: LogReplay): Promise<Uint8Array> {
  const out = new Uint8Array(f.file);
  await applyWrites(out, r.writes);
  return out;
}

describe('VHDX log replay', () => {
  it('has nothing to replay with a zero log GUID, and never reads', async () => {
    const r = await replayLog(
      () => {
        throw new Error('read');
      },
      { offset: MiB, length: MiB, guid: new Uint8Array(16), fileSize: 4 * MiB },
    );
    expect(r.writes).toEqual([]);
    expect(r.sequence).toBe(0n);
    expect(r.findings).toEqual([]);
  });

  it('finds no sequence in an all-zero or all-garbage log and says so', async () => {
    const f = new LogFile();
    const r = await f.replay();
    expect(r.writes).toEqual([]);
    expect(r.findings.map((x) => x.code)).toEqual(['VHDX_LOG_NO_SEQUENCE']);
    f.file.set(new Rng(5).bytes(f.logLength), f.logOffset);
    expect((await f.replay()).writes).toEqual([]);
  });

  it('replays several entries in order, data and zero descriptors, later writes winning', async () => {
    const rng = new Rng(1);
    const f = new LogFile();
    f.file.fill(0x77, 2 * MiB, 4 * MiB);
    const w1 = [dataWrite(rng, 2 * MiB, 2), { offset: 3 * MiB, length: 3 * S, data: null }];
    const w2 = [dataWrite(rng, 2 * MiB + S), dataWrite(rng, 3 * MiB + S)];
    const w3 = [{ offset: 2 * MiB, length: S, data: null }];
    f.append(7n, w1);
    f.append(8n, w2, { tail: 0 });
    f.append(9n, w3, { tail: 0 });
    const r = await f.replay();
    expect(r.sequence).toBe(9n);
    expect(r.entries).toBe(3);
    expect(r.tail).toBe(0);
    expect(r.head).toBe(f.head);
    // One write per logged sector, zero ranges kept whole.
    expect(r.writes.map((w) => [w.offset, w.length, w.data === null])).toEqual([
      [2 * MiB, S, false],
      [2 * MiB + S, S, false],
      [3 * MiB, 3 * S, true],
      [2 * MiB + S, S, false],
      [3 * MiB + S, S, false],
      [2 * MiB, S, true],
    ]);
    expectSame(await applied(f, r), model(f.file, [...w1, ...w2, ...w3]));
    expect(r.lastFileOffset).toBe(4 * MiB);
    expect(r.flushedFileOffset).toBe(4 * MiB);
    expect(r.findings).toEqual([]);
  });

  it('starts at the newest entry’s tail: older entries of the chain are already in place', async () => {
    const rng = new Rng(2);
    const f = new LogFile();
    const ws = [1, 2, 3, 4].map((i) => [dataWrite(rng, 2 * MiB + i * S)]);
    f.append(1n, ws[0]);
    f.append(2n, ws[1], { tail: 0 });
    const third = f.head;
    f.append(3n, ws[2], { tail: 0 });
    f.append(4n, ws[3], { tail: third });
    const r = await f.replay();
    expect(r.entries).toBe(2);
    expect(r.tail).toBe(third);
    expectSame(await applied(f, r), model(f.file, [...ws[2], ...ws[3]]));
  });

  it('does not count a chain whose newest entry’s tail is missing from it', async () => {
    const rng = new Rng(3);
    const f = new LogFile();
    f.head = 8 * S;
    f.append(5n, [dataWrite(rng, 2 * MiB)], { tail: 0 }); // its tail names an entry that is not there
    const r = await f.replay();
    expect(r.writes).toEqual([]);
  });

  it('chains only consecutive sequence numbers: a gap ends the sequence', async () => {
    const rng = new Rng(31);
    const f = new LogFile();
    const first = [dataWrite(rng, 2 * MiB)];
    f.append(5n, first);
    f.append(7n, [dataWrite(rng, 2 * MiB + S)], { tail: 0 }); // 6 is missing: 7's tail is outside its own chain
    const r = await f.replay();
    expect(r.sequence).toBe(5n);
    expect(r.entries).toBe(1);
    expectSame(await applied(f, r), model(f.file, first));
  });

  describe('a torn last entry: replay uses the sequence before it', () => {
    async function threeThenTorn(tear: (f: LogFile) => void): Promise<{ f: LogFile; r: LogReplay; good: LogWrite[] }> {
      const rng = new Rng(4);
      const f = new LogFile();
      const good = [dataWrite(rng, 2 * MiB), dataWrite(rng, 2 * MiB + S, 2), dataWrite(rng, 3 * MiB)];
      f.append(1n, [good[0]]);
      f.append(2n, [good[1]], { tail: 0 });
      f.append(3n, [good[2]], { tail: 0 });
      f.append(4n, [dataWrite(rng, 2 * MiB, 3)], { tail: 0 });
      tear(f);
      return { f, r: await f.replay(), good };
    }

    async function expectBefore(tear: (f: LogFile) => void, why: string): Promise<void> {
      const { f, r, good } = await threeThenTorn(tear);
      expect(r.sequence).toBe(3n);
      expect(r.entries).toBe(3);
      expectSame(await applied(f, r), model(f.file, good));
      expect(r.findings.map((x) => x.code)).toEqual(['VHDX_LOG_TORN_ENTRY']);
      expect(r.findings[0].message).toContain(why);
    }

    it('when only its first sectors reached the disk', async () => {
      await expectBefore((f) => f.file.fill(0, f.logPos(4n, 2 * S), f.logPos(4n, 4 * S)), 'VHDX_LOG_DATA_SIGNATURE');
    });

    it('when one of its bytes differs (bad checksum)', async () => {
      await expectBefore((f) => (f.file[f.logPos(4n, 2 * S + 100)] ^= 1), 'VHDX_LOG_CHECKSUM');
    });

    it('when a data sector carries another sequence number, even under a matching checksum', async () => {
      await expectBefore((f) => {
        const entry = f.entries.get(4n)!;
        const at = descriptorSectors(3) * S + S; // its second data sector
        const sector = decodeLogDataSector(entry, at);
        entry.set(encodeLogDataSector({ ...sector, sequenceLow: 5 }), at);
        new DataView(entry.buffer).setUint32(4, crc32cWithZeroField(entry, 4), true);
        for (let i = 0; i < entry.length; i++) f.file[f.logPos(4n, i)] = entry[i];
      }, 'VHDX_LOG_DATA_SEQUENCE');
    });
  });

  it('replays a wrapped log: entries crossing the end of the log region', async () => {
    const rng = new Rng(6);
    const f = new LogFile(16 * S);
    f.head = 11 * S;
    const w = [
      [dataWrite(rng, 2 * MiB, 2)],
      [dataWrite(rng, 3 * MiB, 3), { offset: 2 * MiB + 8 * S, length: 64 * S, data: null }],
      [dataWrite(rng, 2 * MiB + S)],
    ];
    f.append(20n, w[0]); // sectors 11..13
    f.append(21n, w[1], { tail: 11 * S }); // 14, 15, 0, 1: crosses the end
    f.append(22n, w[2], { tail: 11 * S }); // 2, 3
    expect(f.head).toBe(4 * S);
    const r = await f.replay();
    expect(r.sequence).toBe(22n);
    expect(r.entries).toBe(3);
    expect(r.tail).toBe(11 * S);
    expectSame(await applied(f, r), model(f.file, w.flat()));
  });

  it('replays an entry whose own header sits in the last sector and whose data wrap to the start', async () => {
    const rng = new Rng(7);
    const f = new LogFile(16 * S);
    f.head = 15 * S;
    const w = [dataWrite(rng, 2 * MiB, 4)];
    f.append(3n, w);
    const r = await f.replay();
    expect(r.entries).toBe(1);
    expectSame(await applied(f, r), model(f.file, w));
  });

  it('ignores stale entries of an older sequence and entries of another log GUID', async () => {
    const rng = new Rng(8);
    const f = new LogFile(32 * S);
    // An older session: 1..4 at the start, 4 the newest with tail 0.
    for (let s = 1n; s <= 4n; s++) f.append(s, [dataWrite(rng, 2 * MiB + Number(s) * S)], { tail: 0 });
    // Another log (a higher sequence, but not this file's log GUID) right after.
    f.append(90n, [dataWrite(rng, 3 * MiB)], { guid: OTHER_GUID });
    // The current session, starting fresh further on.
    f.head = 20 * S;
    const cur = [[dataWrite(rng, 2 * MiB + 10 * S)], [dataWrite(rng, 2 * MiB + 11 * S)]];
    f.append(10n, cur[0]);
    f.append(11n, cur[1], { tail: 20 * S });
    const r = await f.replay();
    expect(r.sequence).toBe(11n);
    expect(r.entries).toBe(2);
    expectSame(await applied(f, r), model(f.file, cur.flat()));
    // With the other GUID as the header's, only its entry counts.
    const other = await f.replay(OTHER_GUID);
    expect(other.sequence).toBe(90n);
    expect(other.entries).toBe(1);
  });

  it('is idempotent: applying the replay twice is applying it once, and the log replays the same again', async () => {
    const rng = new Rng(9);
    const f = new LogFile(16 * S);
    f.head = 12 * S;
    // Overlapping writes, so a wrong order or a partial re-apply would show.
    f.append(1n, [dataWrite(rng, 2 * MiB, 3)]);
    f.append(2n, [{ offset: 2 * MiB + S, length: S, data: null }, dataWrite(rng, 2 * MiB + 2 * S)], { tail: 12 * S });
    const r = await f.replay();
    const once = await applied(f, r);
    const twice = new Uint8Array(once);
    await applyWrites(twice, r.writes);
    expectSame(twice, once);
    const again = await replayLog(async (o, n) => once.subarray(o, o + n), { offset: f.logOffset, length: f.logLength, guid: GUID, fileSize: once.length });
    const thrice = new Uint8Array(once);
    await applyWrites(thrice, again.writes);
    expectSame(thrice, once);
    expect(again.writes.length).toBe(r.writes.length);
  });

  it('reports a file shorter than its log says was stable, and one that replay must extend', async () => {
    const f = new LogFile();
    f.append(1n, [dataWrite(new Rng(10), 2 * MiB)], { flushed: 5 * MiB, last: 6 * MiB });
    const r = await f.replay();
    expect(r.writes.length).toBe(1);
    expect(r.flushedFileOffset).toBe(5 * MiB);
    expect(r.lastFileOffset).toBe(6 * MiB);
    expect(r.findings.map((x) => [x.severity, x.code, x.field])).toEqual([
      ['error', 'VHDX_LOG_FILE_TRUNCATED', 'flushedFileOffset'],
      ['warning', 'VHDX_LOG_FILE_SHORT', 'lastFileOffset'],
    ]);
  });

  it('hands zero ranges over as lengths, never as buffers, and a writer gets them in bounded pieces', async () => {
    const f = new LogFile(16 * S, 2 * MiB);
    f.append(1n, [{ offset: 1024 * MiB, length: 512 * MiB, data: null }]);
    const r = await f.replay();
    expect(r.writes).toEqual([{ offset: 1024 * MiB, length: 512 * MiB, data: null }]);
    let bytes = 0;
    let biggest = 0;
    let next = 1024 * MiB;
    await applyWrites(
      {
        write(offset, data) {
          expect(offset).toBe(next);
          next += data.length;
          bytes += data.length;
          biggest = Math.max(biggest, data.length);
        },
      },
      [{ offset: 1024 * MiB, length: 4 * MiB, data: null }],
    );
    expect(bytes).toBe(4 * MiB);
    expect(biggest).toBeLessThanOrEqual(64 * 1024);
  });

  it('refuses a valid entry that writes into the log itself or the headers', async () => {
    const f = new LogFile();
    f.append(1n, [dataWrite(new Rng(11), MiB + 8 * S)]);
    await expect(f.replay()).rejects.toMatchObject({ code: 'VHDX_LOG_WRITES_LOG', field: 'fileOffset' });
    const g = new LogFile();
    g.append(1n, [dataWrite(new Rng(11), 64 * 1024)]);
    await expect(g.replay()).rejects.toMatchObject({ code: 'VHDX_LOG_WRITES_HEADERS' });
  });

  it('refuses a log it cannot hold or that ends past the file, before reading it', async () => {
    const never = () => Promise.reject(new Error('read'));
    await expect(replayLog(never, { offset: MiB, length: MAX_LOG_LENGTH + MiB, guid: GUID, fileSize: 8 * 1024 * MiB })).rejects.toMatchObject({
      code: 'VHDX_LOG_TOO_LARGE',
      field: 'logLength',
    });
    await expect(replayLog(never, { offset: MiB, length: MiB, guid: GUID, fileSize: MiB + 4096 })).rejects.toBeInstanceOf(FormatError);
    await expect(replayLog(never, { offset: MiB, length: 1000, guid: GUID, fileSize: 4 * MiB })).rejects.toMatchObject({ code: 'VHDX_LOG_LENGTH' });
    await expect(replayLog(never, { offset: MiB + 1, length: MiB, guid: GUID, fileSize: 4 * MiB })).rejects.toMatchObject({ code: 'VHDX_LOG_OFFSET' });
  });
});

describe('log entry placement', () => {
  it('wraps an entry past the end of the log into two writes', () => {
    const entry = new Uint8Array(3 * S).map((_, i) => i & 0xff);
    const p = placeLogEntry(8 * S, 6 * S, 6 * S, entry);
    expect(p.at).toBe(6 * S);
    expect(p.head).toBe(S);
    expect(p.writes.map((w) => [w.offset, w.data.length])).toEqual([
      [6 * S, 2 * S],
      [0, S],
    ]);
    expect(Buffer.concat(p.writes.map((w) => w.data))).toEqual(Buffer.from(entry));
  });

  it('never overwrites a live entry and keeps one sector free', () => {
    const two = new Uint8Array(2 * S);
    expect(placeLogEntry(8 * S, 2 * S, 5 * S, two).head).toBe(4 * S); // 3 free: 2 used, 1 stays open
    expect(() => placeLogEntry(8 * S, 2 * S, 4 * S, two)).toThrow(UsageError);
    expect(() => placeLogEntry(8 * S, 0, 0, new Uint8Array(8 * S))).toThrow(/LOG_FULL|free/);
    expect(placeLogEntry(8 * S, 0, 0, new Uint8Array(7 * S)).head).toBe(7 * S);
    expect(() => placeLogEntry(8 * S, 100, 100, two)).toThrow(UsageError);
  });

  it('refuses writes the log cannot carry', () => {
    const base = { sequence: 1n, tail: 0, guid: GUID, flushedFileOffset: 0, lastFileOffset: 0 };
    expect(() => encodeLogEntry({ ...base, writes: [{ offset: 100, length: S, data: new Uint8Array(S) }] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, writes: [{ offset: 0, length: 100, data: null }] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, writes: [{ offset: 0, length: S, data: new Uint8Array(10) }] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, sequence: 0n, writes: [] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, guid: new Uint8Array(16), writes: [] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, lastFileOffset: -1, writes: [] })).toThrow(UsageError);
    expect(() => encodeLogEntry({ ...base, flushedFileOffset: NaN, writes: [] })).toThrow(UsageError);
    const e = encodeLogEntry({ ...base, writes: [] });
    expect(decodeLogEntryHeader(e).entryLength).toBe(S);
  });
});

describe('log replay on mutated logs', () => {
  it('returns or throws a typed error on 2,000 random mutations, each quickly', async () => {
    const rng = new Rng(2024);
    const f = new LogFile(32 * S);
    f.head = 26 * S;
    f.append(40n, [dataWrite(rng, 2 * MiB, 2), { offset: 3 * MiB, length: 8 * S, data: null }]);
    f.append(41n, [dataWrite(rng, 2 * MiB + 4 * S, 3)], { tail: 26 * S });
    f.append(42n, [dataWrite(rng, 3 * MiB, 1)], { tail: 26 * S });
    f.append(
      43n,
      Array.from({ length: 130 }, (_, i) => ({ offset: 2 * MiB + i * 2 * S, length: S, data: null })),
      { tail: 26 * S },
    );
    const l = f.file.subarray(f.logOffset, f.logOffset + f.logLength);
    const pristine = new Uint8Array(l);
    let replayed = 0;
    let whole = 0;
    let shorter = 0;
    let typed = 0;
    let slowest = 0;
    for (let i = 0; i < 2000; i++) {
      l.set(pristine);
      const kind = rng.int(4);
      const n = rng.range(1, 8);
      for (let k = 0; k < n; k++) {
        if (kind === 0) l[rng.int(l.length)] ^= 1 << rng.int(8);
        else if (kind === 1) l[rng.int(l.length)] = rng.int(256);
        else if (kind === 2) l.copyWithin(rng.int(32) * S, rng.int(32) * S, rng.int(32) * S + S);
        else {
          // A header field set to a hostile value, checksum repaired, so the deeper checks run.
          const seq = rng.pick([40n, 41n, 42n, 43n]);
          const at = f.at.get(seq)!;
          const field = rng.pick([8, 12, 24, 48, 56, 64 + 8, 64 + 16]);
          new DataView(l.buffer, l.byteOffset).setUint32(at + field, rng.pick([0, 1, 4096, 0xffffffff, rng.u32(), 32 * S, 33 * S]), true);
          const len = Math.min(new DataView(l.buffer, l.byteOffset).getUint32(at + 8, true), l.length);
          if (len % S === 0 && len > 0) {
            const bytes = new Uint8Array(len);
            for (let p = 0; p < len; p++) bytes[p] = l[(at + p) % l.length];
            new DataView(l.buffer, l.byteOffset).setUint32(at + 4, crc32cWithZeroField(bytes, 4), true);
          }
        }
      }
      const t0 = performance.now();
      try {
        const r = await f.replay();
        replayed++;
        if (r.sequence === 43n && r.entries === 4) whole++;
        else shorter++;
        for (const w of r.writes) {
          expect(Number.isSafeInteger(w.offset) && Number.isSafeInteger(w.length)).toBe(true);
          if (w.data) expect(w.data.length).toBe(w.length);
        }
      } catch (e) {
        if (!(e instanceof VhdError)) throw e;
        typed++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    expect(replayed + typed).toBe(2000);
    // Both outcomes occur: mutations that miss every live byte, and damage that cuts the sequence short.
    expect(whole).toBeGreaterThan(0);
    expect(shorter).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(2000);
  });

  it('stays linear on a hostile log of overlapping entries that each claim most of it', async () => {
    // Every sector a header claiming the rest of a 64 MiB log, with valid descriptors but a bad checksum:
    // summed directly that is 16384 entries × 32 MiB on average; prefix CRCs make it one pass.
    const L = 64 * MiB;
    const n = L / S;
    const file = new Uint8Array(MiB + L);
    const log = file.subarray(MiB);
    const one = encodeLogEntry({
      sequence: 1n,
      tail: 0,
      guid: GUID,
      flushedFileOffset: 0,
      lastFileOffset: 0,
      writes: [{ offset: 2 * MiB, length: S, data: null }],
    });
    for (let k = 0; k < n; k++) {
      log.set(one.subarray(0, S), k * S);
      new DataView(log.buffer, log.byteOffset).setUint32(k * S + 8, (n - k) * S, true);
    }
    const t0 = performance.now();
    const r = await replayLog(async (o, len) => file.subarray(o, o + len), { offset: MiB, length: L, guid: GUID, fileSize: file.length });
    expect(r.writes).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

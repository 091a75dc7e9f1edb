// Writing a data file's bytes into a disk at an offset (through its chain: a
// differencing disk stores them itself; the parents are never touched).
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import * as z from 'zod/mini';
import { fromSystemError, UsageError } from '../errors.js';
import { openDisk, openReadableDisk, openWritableVhdxDisk } from '../disk/chain.js';
import { diskFormat } from '../disk/sniff.js';
import { ProgressReporter, throwIfCancelled, type JobContext, type Plan } from '../job.js';
import { findChildren } from '../library/scan.js';
import { defineOperation, diskPath } from '../operation.js';
import { offset } from '../journal.js';
import { sizeText, sizeWithBytes } from '../size.js';

/** Streamed in pieces of at most this: inputs may be far larger than memory. */
const WRITE_CHUNK = 8 * 1024 * 1024;

export interface WritePlan extends Plan {
  path: string;
  offset: number;
  bytes: number;
}

export interface WriteResult {
  path: string;
  offset: number;
  bytes: number;
}

export async function planWrite(disk: string, input: string, at: number): Promise<WritePlan> {
  const path = nodePath.resolve(disk);
  const st = await fsp.stat(input).catch((err: unknown) => {
    throw fromSystemError(err, input, 'cannot read', { field: 'input' });
  });
  if (!st.isFile()) throw new UsageError('NOT_A_FILE', `${input} is not a regular file`, { field: 'input' });
  const refusals: Plan['refusals'] = [];
  const children = await findChildren(path);
  if (children.length > 0) {
    refusals.push({
      code: 'HAS_CHILDREN',
      message: `${path} is the parent of ${children.join(', ')}; writing into it would change what they show. Write into the newest child instead.`,
    });
  }
  const d = await openReadableDisk(path);
  const size = d.virtualSize;
  await d.close();
  if (at + st.size > size)
    throw new UsageError('WRITE_PAST_END', `writing ${st.size} bytes at ${at} would pass the disk end (${size} bytes)`, { field: 'offset' });
  return {
    operation: 'write',
    summary: `write ${sizeText(st.size)} of ${nodePath.basename(input)} into ${nodePath.basename(path)}, ${sizeText(at)} from its start`,
    changes: [{ path, action: 'modify', detail: `${sizeText(st.size)} at offset ${at}` }],
    bytesToCopy: st.size,
    worstCaseGrowth: st.size,
    freeSpace: null,
    refusals,
    path,
    offset: at,
    bytes: st.size,
  };
}

/**
 * Cancel is honoured only before the first byte: a write half done could not
 * be taken back (there is no undo record of the bytes it replaces).
 */
async function writePlanned(input: string, plan: WritePlan, ctx: JobContext): Promise<WriteResult> {
  throwIfCancelled(ctx);
  // A VHDX's metadata changes go through its own log (core/disk/vhdx-writer.ts).
  const disk = (await diskFormat(plan.path)) === 'vhdx' ? await openWritableVhdxDisk(plan.path) : await openDisk(plan.path, { writable: true });
  const src = await fsp.open(input, 'r').catch(async (err: unknown) => {
    await disk.close();
    throw err;
  });
  try {
    const buf = Buffer.alloc(Math.min(WRITE_CHUNK, Math.max(plan.bytes, 1)));
    const progress = new ProgressReporter(ctx, 'write', plan.bytes);
    for (let done = 0; done < plan.bytes;) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, plan.bytes - done), done);
      if (bytesRead === 0) throw new UsageError('INPUT_CHANGED', `${input} shrank while being read`, { field: 'input' });
      await disk.write(plan.offset + done, buf.subarray(0, bytesRead));
      done += bytesRead;
      progress.update(done);
    }
  } finally {
    await Promise.all([disk.close(), src.close()]);
  }
  return { path: plan.path, offset: plan.offset, bytes: plan.bytes };
}

export const writeOperation = defineOperation({
  op: 'write',
  request: z.object({ disk: diskPath, input: diskPath, offset }),
  files: { disk: 'disk', input: 'input' },
  access: 'writes',
  // Writes into the disk file itself: a writable disk in a read-only folder can be written.
  writesInPlaceOnly: true,
  touched: (r) => [r.disk],
  plan: (r) => planWrite(r.disk, r.input, r.offset),
  run: (r, ctx) => writePlanned(r.input, ctx.plan, ctx),
  cli: {
    args: '<file>',
    about: 'Writes the bytes of a data file into the disk at an offset.',
    positional: ['disk'],
    options: {
      offset: { field: 'offset', kind: 'offset', value: '<bytes>', help: 'byte offset in the virtual disk where the data goes', required: true },
      input: { field: 'input', kind: 'text', value: '<data-file>', help: 'file whose bytes are written', required: true },
    },
    print: (r) => `Wrote ${sizeWithBytes(r.bytes)} into ${r.path}, ${sizeWithBytes(r.offset)} from its start.`,
  },
});

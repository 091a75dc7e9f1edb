// Child process for the lock tests (bundled by test/core/lock.test.ts).
//   node lock-holder.cjs hold <disk> <op>
//     takes the lock, prints "locked <pid>", holds it until stdin closes, releases, prints "released".
//   node lock-holder.cjs race <disk> <holdMs> <log>
//     retries until it holds the lock (20 s at most), appends "<pid> <start> <end>" (ms, sub-ms
//     precision, on the system-wide monotonic clock: comparable across processes, unlike the
//     wall clock, which may be stepped between two processes' starts) to <log> while holding it
//     for holdMs, then releases; prints "ok" or "gave up".
import { appendFileSync } from 'node:fs';
import { acquireLock } from '../../core/lock.js';
import { VhdError } from '../../core/errors.js';

const [mode, disk, a, b] = process.argv.slice(2);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  if (mode === 'hold') {
    const held = await acquireLock(disk, a ?? 'merge');
    process.stdout.write(`locked ${process.pid}\n`);
    process.stdin.resume();
    await new Promise((r) => process.stdin.on('end', r));
    await held.release();
    process.stdout.write('released\n');
    return;
  }
  const holdMs = Number(a);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const held = await acquireLock(disk, 'race');
      const start = now();
      await sleep(holdMs);
      const end = now();
      appendFileSync(b, `${process.pid} ${start} ${end}\n`);
      await held.release();
      process.stdout.write('ok\n');
      return;
    } catch (err) {
      if (!(err instanceof VhdError) || err.code !== 'LOCKED') throw err;
      await sleep(1 + Math.random() * 5);
    }
  }
  process.stdout.write('gave up\n');
}

main().catch((err: unknown) => {
  process.stdout.write(`error ${(err as Error).message}\n`);
  process.exitCode = 3;
});

// Runs under the Windows node.exe (bundled by lock-crash.test.ts): holds a
// disk busy until told to stop, so a second Wine process meets it.
//   holder.cjs lock <disk> <ready> <release>   takes the disk's vhdsnap lock
//   holder.cjs open <file> <ready> <release>   keeps the file open, as a VM would
// Writes <ready> once holding, waits for <release> to exist, lets go, exits.
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { acquireLock } from '../../core/lock.js';

const [mode, target, ready, release] = process.argv.slice(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  let let_go: () => Promise<void>;
  if (mode === 'lock') {
    const held = await acquireLock(target, 'merge');
    let_go = () => held.release();
  } else {
    const fd = openSync(target, 'r');
    let_go = async () => closeSync(fd);
  }
  writeFileSync(ready, String(process.pid));
  const deadline = Date.now() + 60_000;
  while (!existsSync(release) && Date.now() < deadline) await sleep(20);
  await let_go();
}

main().catch((err: unknown) => {
  process.stderr.write(`holder: ${(err as Error).message}\n`);
  process.exitCode = 3;
});

// Process entry of the bundled `vhdsnap` binary.
import './early.js';
import { runCli } from './main.js';

// Ctrl-C / SIGTERM: before a job starts (or for a command without one) the
// process ends as usual (130); during a job its signal aborts, the job rolls
// back and the command exits 130 once every disk is as before. A second
// signal meanwhile is ignored with a message: a rollback cut short would
// leave its journal for `recover`, not the before state the person asked for.
const ac = new AbortController();
let inJob = false;
const onSignal = (sig: NodeJS.Signals) => {
  if (!inJob) process.exit(130);
  if (!ac.signal.aborted) {
    process.stderr.write(`\nvhdsnap: ${sig}: cancelling — rolling back so that every disk is as before…\n`);
    ac.abort();
  } else
    process.stderr.write(`\nvhdsnap: still rolling back; it must finish for the disks to be as before (kill -9 leaves it to \`vhdsnap recover --rollback\`)\n`);
};
// `serve` closes itself on these signals (server/serve-command.ts); its jobs run in the app's workers.
if (process.argv[2] !== 'serve') {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

void runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stderr.isTTY),
  signal: ac.signal,
  jobStarted: () => {
    inJob = true;
  },
}).then((code) => {
  process.exitCode = code;
});

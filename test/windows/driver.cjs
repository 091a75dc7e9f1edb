// Runs under the Windows node.exe (test/support/wine.ts): one Wine start runs
// a list of vhdsnap invocations, each a separate child process as a user would
// run them. Usage: node.exe driver.cjs <calls.json> <results.json>
// calls.json: { cli: <path of dist/cli/vhdsnap.cjs>, calls: string[][], env?: {…} }:
// env is added to each child's (a child started from Windows keeps the TEMP it is given).
// Children get files for stdio: Node under Wine cannot use pipes.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const [input, output] = process.argv.slice(2);
const { cli, calls, env } = JSON.parse(fs.readFileSync(input, 'utf8'));
const scratch = path.dirname(output);
const results = [];
for (const [i, args] of calls.entries()) {
  const outPath = path.join(scratch, `out-${i}.txt`);
  const errPath = path.join(scratch, `err-${i}.txt`);
  const fds = [fs.openSync(outPath, 'w'), fs.openSync(errPath, 'w')];
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', fds[0], fds[1]], timeout: 120000, env: { ...process.env, ...env } });
  for (const fd of fds) fs.closeSync(fd);
  results.push({
    args,
    status: r.status,
    stdout: fs.readFileSync(outPath, 'utf8'),
    stderr: fs.readFileSync(errPath, 'utf8') + (r.error ? `driver: ${r.error.message}` : ''),
  });
}
fs.writeFileSync(output, JSON.stringify(results));

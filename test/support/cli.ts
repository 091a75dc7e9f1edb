// Runs the CLI in-process (core/cli/main.ts) and captures what it prints.
import { runCli, type Io } from '../../core/cli/main.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function cli(...argv: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: Io = { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: false };
  return { code: await runCli(argv, io), out, err };
}

// The usage text and every command's --help are generated from the CLI's
// command table, so they cannot drift from what the parser accepts: these
// checks read the same table the parser uses.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { help } from '../../core/cli/main.js';
import { operationNamed, operationNames } from '../../core/registry.js';
import { cli } from '../support/cli.js';
import { useTmpDir } from '../support/tmp.js';

const commands = help.commands();

describe('generated help', () => {
  it('the table has every command people use', () => {
    const names = commands.map((c) => c.name);
    for (const n of [
      'info',
      'check',
      'tree',
      'create',
      'snapshot',
      'write',
      'import',
      'export',
      'flatten',
      'merge',
      'delete',
      'reparent',
      'compact',
      'resize',
      'revert',
      'repair',
      'name',
      'recover',
      'serve',
    ]) {
      expect(names).toContain(n);
    }
  });

  it.each(commands)('vhdsnap $name --help: exit 0, its usage line and every option it accepts, each explained', async ({ name, options }) => {
    const r = await cli(name, '--help');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.startsWith(`usage: vhdsnap ${name} `) || r.out.startsWith(`usage: vhdsnap ${name}\n`)).toBe(true);
    for (const { flag, help: text } of options) {
      expect(text.length, `--${flag} of ${name} has no help text`).toBeGreaterThan(0);
      expect(r.out).toMatch(new RegExp(`\\n  --${flag}\\b.*  ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    }
    // -h is the same; and help wins over missing arguments.
    expect(await cli(name, '-h')).toEqual(r);
  });

  it('the top-level usage lists every command with every option', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const { name, options } of commands) {
      const line = r.out.split('\n').find((l) => l.startsWith(`  vhdsnap ${name} `) || l === `  vhdsnap ${name}`);
      expect(line, `no usage line for ${name}`).toBeDefined();
      for (const { flag } of options) expect(line).toMatch(new RegExp(`--${flag}\\b`));
    }
  });

  it('an option a command does not take is still a usage error (exit 2), and --help after -- is an argument', async () => {
    const bad = await cli('export', 'a.vhd', 'b.raw', '--deep');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--deep');
    const after = await cli('info', '--', '--help');
    expect(after.code).toBe(2);
    expect(after.out).toBe('');
  });
});

describe('commands from the descriptors', () => {
  const tmp = useTmpDir();

  it('every operation whose descriptor has a command is a command of that name, with --dry-run when it writes', () => {
    const withCli = operationNames.filter((op) => operationNamed(op).cli !== undefined);
    expect(withCli.length).toBeGreaterThan(8);
    for (const op of withCli) {
      const c = commands.find((x) => x.name === op);
      expect(c, op).toBeDefined();
      const flags = c!.options.map((o) => o.flag);
      expect(flags.includes('dry-run'), op).toBe(operationNamed(op).access === 'writes');
      for (const flag of Object.keys(operationNamed(op).cli!.options ?? {})) expect(flags, op).toContain(flag);
    }
  });

  it("the README's usage block is the generated usage, line for line", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    // The block under "## CLI": from its first usage line to the blank line that ends it.
    const lines = readme.split('\n');
    const start = lines.indexOf('    vhdsnap info <file> [--parent <path>] [--json]');
    expect(start).toBeGreaterThan(0);
    const end = lines.indexOf('', start);
    const documented = lines.slice(start, end).map((l) => l.trim());
    const generated = (await cli('--help')).out
      .split('\n')
      .filter((l) => l.startsWith('  vhdsnap '))
      .map((l) => l.trim());
    expect(documented).toEqual(generated);
  });

  it('write and name --dry-run show the plan and change nothing; an option value the schema refuses names the option', async () => {
    const disk = path.join(tmp.dir, 'd.vhd');
    const input = path.join(tmp.dir, 'in.bin');
    expect((await cli('create', disk, '--size', '4M')).code).toBe(0);
    writeFileSync(input, Buffer.alloc(4096, 7));
    const before = readFileSync(disk);
    const w = await cli('write', disk, '--offset', '4096', '--input', input, '--dry-run');
    expect(w.code).toBe(0);
    expect(w.out.length).toBeGreaterThan(0);
    const n = await cli('name', disk, 'Before upgrade', '--dry-run', '--json');
    expect(n.code).toBe(0);
    expect(JSON.parse(n.out).operation).toBe('name');
    expect(readFileSync(disk).equals(before)).toBe(true);
    expect(readdirSync(tmp.dir).sort()).toEqual(['d.vhd', 'in.bin']);
    const long = await cli('name', disk, 'x', '--description', 'y'.repeat(4001));
    expect(long.code).toBe(2);
    expect(long.err).toContain('--description');
    const bad = await cli('flatten', disk, path.join(tmp.dir, 'o.vhd'), '--format', 'qcow2');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--format must be one of dynamic, fixed, raw');
  });
});

// The usage text and every command's --help are generated from the CLI's
// command table, so they cannot drift from what the parser accepts: these
// checks read the same table the parser uses.
import { describe, expect, it } from 'vitest';
import { help } from '../../core/cli/main.js';
import { cli } from '../support/cli.js';

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

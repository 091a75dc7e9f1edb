// Names from file systems and disks shown as what they are (core/printable.ts):
// no terminal escape, bell, line break or bidirectional override acts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printable, printableLines, shownTag } from '../../core/printable.js';
import { cli } from '../support/cli.js';
import { useTmpDir } from '../support/tmp.js';

const tmp = useTmpDir('vhdsnap-printable-');

describe('printable', () => {
  it('escapes C0, DEL and C1 controls, bidi overrides and lone surrogates; keeps every other character', () => {
    expect(printable('a\x1b[2Jb\x07\n\t\x7f\x9b')).toBe('a\\x1b[2Jb\\x07\\x0a\\x09\\x7f\\x9b');
    expect(printable('evil\u202egpj.vhd')).toBe('evil\\u202egpj.vhd');
    expect(printable('x\ud800y')).toBe('x\\ud800y');
    const plain = 'Windows 10 — “before upgrade” 日本語 \u{1f600} é ñ';
    expect(printable(plain)).toBe(plain);
    expect(printableLines('one\x1b\ntwo')).toBe('one\\x1b\ntwo');
  });

  it('a tag read from a file: quoted when plain text, its bytes in hex otherwise', () => {
    expect(shownTag('cxsparse')).toBe('"cxsparse"');
    expect(shownTag('\x7fELF\x02\x01\x01\x00')).toBe('bytes 7f 45 4c 46 02 01 01 00');
  });

  it('vhdsnap tree: a file name with a terminal escape is printed escaped (the text output); --json keeps the real name, escaped as JSON', async () => {
    mkdirSync(tmp.file('d'));
    const evil = 'a\x1b[2Jb.vhd';
    writeFileSync(tmp.file('d', evil), 'not a disk');
    const text = await cli('tree', tmp.file('d'));
    expect(text.out).not.toContain('\x1b');
    expect(text.out).toContain('a\\x1b[2Jb.vhd');
    const json = await cli('tree', tmp.file('d'), '--json');
    expect(JSON.parse(json.out).unreadable[0].path).toBe(tmp.file('d', evil));
  });
});

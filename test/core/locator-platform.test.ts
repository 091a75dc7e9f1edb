// Locators written and read per platform (issue #16): on Windows W2ku holds
// the real absolute path (C:\…) and W2ru the .\-relative one, MacX is a
// well-formed file URL; a chain written on one OS opens on the other. Runs on
// Linux with path.win32 standing in for Windows; test/windows checks the same
// under the Windows Node.
import * as nodePath from 'node:path';
import { describe, expect, it } from 'vitest';
import { locatorToLocalPath } from '../../core/disk/parent.js';
import { decodeLocatorPayload } from '../../core/format/locator.js';
import { parentLocatorPayloads } from '../../core/ops/create.js';

function written(child: string, parent: string, p: nodePath.PlatformPath): Record<string, string | null> {
  return Object.fromEntries(parentLocatorPayloads(child, parent, p).map((l) => [l.code, decodeLocatorPayload(l.code, l.data)]));
}

describe('locators written on Windows', () => {
  it('W2ku is the real absolute path, W2ru starts with .\\, MacX is file:///C:/…', () => {
    const l = written('C:\\vms\\kids\\k.vhd', 'C:\\vms\\base\\b.vhd', nodePath.win32);
    expect(l).toEqual({ W2ru: '.\\..\\base\\b.vhd', W2ku: 'C:\\vms\\base\\b.vhd', MacX: 'file:///C:/vms/base/b.vhd' });
    expect(new URL(l.MacX!).pathname).toBe('/C:/vms/base/b.vhd');
    expect(written('C:\\vms\\k.vhd', 'C:\\vms\\b.vhd', nodePath.win32).W2ru).toBe('.\\b.vhd');
  });

  it('a parent on another drive gets no W2ru (there is no relative path to it)', () => {
    const l = written('C:\\vms\\k.vhd', 'D:\\base\\b.vhd', nodePath.win32);
    expect(Object.keys(l)).toEqual(['W2ku', 'MacX']);
    expect(l.W2ku).toBe('D:\\base\\b.vhd');
  });
});

describe('locators written on Linux', () => {
  it('W2ru is .\\-relative with backslashes, W2ku the path with backslashes, MacX file:///…', () => {
    expect(written('/vms/kids/k.vhd', '/vms/base/b #1.vhd', nodePath.posix)).toEqual({
      W2ru: '.\\..\\base\\b #1.vhd',
      W2ku: '\\vms\\base\\b #1.vhd',
      MacX: 'file:///vms/base/b%20%231.vhd',
    });
  });
});

describe('a chain from one OS opened on the other', () => {
  it('Windows locators read on Linux: W2ru resolves beside the child, a drive-letter W2ku names nothing', () => {
    const l = written('C:\\vms\\kids\\k.vhd', 'C:\\vms\\base\\b.vhd', nodePath.win32);
    expect(locatorToLocalPath('W2ru', l.W2ru!, '/mnt/usb/vms/kids', nodePath.posix)).toBe('/mnt/usb/vms/base/b.vhd');
    expect(locatorToLocalPath('W2ku', l.W2ku!, '/mnt/usb/vms/kids', nodePath.posix)).toBeNull();
  });

  it('Linux locators read on Windows: W2ru resolves beside the child, MacX is not used', () => {
    const l = written('/vms/kids/k.vhd', '/vms/base/b.vhd', nodePath.posix);
    expect(locatorToLocalPath('W2ru', l.W2ru!, 'E:\\copy\\kids', nodePath.win32)).toBe('E:\\copy\\base\\b.vhd');
    expect(locatorToLocalPath('MacX', l.MacX!, 'E:\\copy\\kids', nodePath.win32)).toBeNull();
  });
});

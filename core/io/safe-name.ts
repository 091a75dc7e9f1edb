// File names we generate (snapshot and kept-state names, numbered outputs)
// come from a disk's name or a user's text, and must be valid on every
// volume a disk may live on or be copied to: Windows (NTFS, FAT, SMB) refuses
// <>:"/\|?* and control characters, drops a trailing dot or space (so the
// file would get another name than the one recorded), and reserves device
// names (CON, NUL, COM1, ...) with any extension; every common file system
// limits a name to 255 bytes. One home for those rules.

/** Longest name component, in UTF-8 bytes (ext4, APFS; NTFS's 255 UTF-16 units are never fewer). */
export const MAX_NAME_BYTES = 255;

// Control characters are exactly what this rejects (no-control-regex guards against them by accident).
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[<>:"/\\|?*\u0000-\u001f\u007f]/g;
// COM¹²³ and LPT¹²³ (superscript digits) are reserved too.
const RESERVED = /^(con|prn|aux|nul|com[1-9\u00b9\u00b2\u00b3]|lpt[1-9\u00b9\u00b2\u00b3])$/i;

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

/** The longest prefix of `s` within `maxBytes` UTF-8 bytes, never splitting a character (surrogate pairs included). */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (utf8Length(s) <= maxBytes) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** True when Windows would take `name` (any extension, trailing spaces before it ignored) for a device. */
export function isReservedDeviceName(name: string): boolean {
  const first = name.split('.')[0].replace(/[ ]+$/, '');
  return RESERVED.test(first);
}

/**
 * `text` made usable as (part of) a file name: forbidden and control
 * characters become `_`, and runs of them collapse to one.
 */
function replaceForbidden(text: string): string {
  return text.normalize('NFC').replace(FORBIDDEN, '_').replace(/_{2,}/g, '_');
}

/**
 * A safe file name made of a free part (`stem`, from a disk name or user
 * text) and a fixed `suffix` (say `-snap-20260101-120000.vhd`): the stem is
 * cleaned and shortened so the whole stays within 255 bytes, the result
 * never ends in a dot or space, and never names a device (it gets a `_`).
 */
export function safeFileName(stem: string, suffix = '', fallback = 'disk'): string {
  const tail = replaceForbidden(suffix);
  const build = (prefix: string): string => {
    const room = Math.max(1, MAX_NAME_BYTES - utf8Length(tail) - utf8Length(prefix));
    // Without a suffix the stem's own end is the name's end; truncation may expose a dot there too.
    const fit = (x: string) => (tail === '' ? truncateUtf8(x, room).replace(/[. ]+$/, '') : truncateUtf8(x, room));
    let s = fit(replaceForbidden(stem).replace(/^ +/, ''));
    if (s === '') s = fit(fallback);
    return `${prefix}${s}${tail}`.replace(/[. ]+$/, '');
  };
  const name = build('');
  return isReservedDeviceName(name) ? build('_') : name;
}

/** An extension fit for a generated name: `.vhd`-like (a dot and 1–16 letters or digits), else `fallback`. */
export function safeExtension(ext: string, fallback = '.vhd'): string {
  return /^\.[A-Za-z0-9]{1,16}$/.test(ext) ? ext : fallback;
}

// Text from file systems and from disks (file names, names in headers,
// cookies of files that are no VHD), made safe to show: control characters
// (terminal escapes, bells, line breaks inside a name), bidirectional
// overrides that reorder what follows, and lone surrogates become visible
// escapes, so what a person reads is what is there and a name cannot rewrite
// the screen. Pure: the CLI and the page both use it.

/** `s` with every character that would not show as itself replaced by an escape (\x1b, \u202e). */
export function printable(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) out += `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + s[i + 1];
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else out += s[i];
  }
  return out;
}

/** Lines of text for a terminal: each line made printable, the line breaks kept. */
export function printableLines(s: string): string {
  return s.split('\n').map(printable).join('\n');
}

/** A fixed-size ASCII tag read from a file (a cookie): quoted where it is plain text, else its bytes in hex. */
export function shownTag(tag: string): string {
  return /^[\x20-\x7e]*$/.test(tag) ? JSON.stringify(tag) : `bytes ${[...tag].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, '0')).join(' ')}`;
}

// The kinds of file flatten, import and export write, and how people read
// them. No Node here: the page names formats with the same words.

/** VHD dynamic or fixed, raw, or VHDX dynamic (`vhdx`) or fixed (`vhdx-fixed`). */
export type OutputFormat = 'dynamic' | 'fixed' | 'raw' | 'vhdx' | 'vhdx-fixed';

export const OUTPUT_FORMATS = ['dynamic', 'fixed', 'raw', 'vhdx', 'vhdx-fixed'] as const satisfies readonly OutputFormat[];

const WORDS: Record<OutputFormat, string> = {
  dynamic: 'dynamic VHD',
  fixed: 'fixed VHD',
  raw: 'raw image',
  vhdx: 'dynamic VHDX',
  'vhdx-fixed': 'fixed VHDX',
};

/** "dynamic VHDX", "raw image": what a sentence calls a format. */
export function formatWords(f: OutputFormat): string {
  return WORDS[f];
}

export function isVhdxFormat(f: OutputFormat): f is 'vhdx' | 'vhdx-fixed' {
  return f === 'vhdx' || f === 'vhdx-fixed';
}

/** Does the path name a VHDX file (.vhdx, .avhdx)? Outputs so named are written as VHDX. */
export function isVhdxName(path: string): boolean {
  return /\.a?vhdx$/i.test(path);
}

/** Does the path name a VHD file (.vhd, .avhd)? */
export function isVhdName(path: string): boolean {
  return /\.a?vhd$/i.test(path);
}

/** The extension a new file of this format takes (without the dot). */
export function formatExtension(f: OutputFormat): string {
  return f === 'raw' ? 'raw' : isVhdxFormat(f) ? 'vhdx' : 'vhd';
}

// Which program made a disk, from the footer's creator fields: the four-letter
// application code, its version (major.minor) and the host OS code. Codes per
// the VHD spec and what the tools in ../shared/vhd-format.md write.

const APPS: Record<string, string> = {
  win: 'Windows (Hyper-V / Disk Management)',
  vpc: 'Virtual PC',
  vs: 'Virtual Server',
  d2v: 'Disk2vhd',
  qemu: 'QEMU',
  qem2: 'QEMU',
  vbox: 'VirtualBox',
  tap: 'Xen (blktap)',
  CTXS: 'Citrix XenConverter',
  wa: 'Microsoft Azure',
  xo: 'Xen Orchestra',
  vhds: 'vhdsnap',
};

const HOSTS: Record<string, string> = { Wi2k: 'Windows', Mac: 'macOS' };

/** The code as stored: trailing spaces and NULs dropped ("win ", "tap\0" → "win", "tap"). */
const code = (s: string | null | undefined) => (s ?? '').replace(/[\0\s]+$/g, '');

/** "Windows (Hyper-V / Disk Management) 10.0", "QEMU 5.3 on macOS", "unknown program ‘abcd’ 1.0". */
export function creatorText(app: string | null | undefined, version?: string | null, hostOs?: string | null): string {
  const c = code(app);
  const name = c === '' ? 'unknown program' : (APPS[c] ?? `unknown program ‘${c}’`);
  const host = code(hostOs);
  const hostName = host ? (HOSTS[host] ?? `host ‘${host}’`) : '';
  // Windows is where nearly every creator says it ran; only say the host where it tells something.
  const on = hostName && hostName !== 'Windows' ? ` on ${hostName}` : '';
  return `${name}${version ? ` ${version}` : ''}${on}`;
}

/** The raw fields, for a tooltip: creator "win " 10.0, host "Wi2k". */
export function creatorRaw(app: string | null | undefined, version?: string | null, hostOs?: string | null): string {
  return `creator “${app ?? ''}”${version ? ` ${version}` : ''}${hostOs ? `, host “${hostOs}”` : ''}`;
}

// Imported first by bin.ts, so that it runs before the rest of the CLI loads:
// the read-only commands whose in-use scan only warns (info, check) start
// reading /proc/locks now, and its wait on the kernel overlaps start-up.
import { prefetchLocks } from '../inuse.js';

const argv = process.argv.slice(2);
if ((argv[0] === 'info' || argv[0] === 'check') && !argv.includes('--help') && !argv.includes('-h')) prefetchLocks();

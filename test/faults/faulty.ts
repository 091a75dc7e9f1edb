// I/O fault injection at the file-handle layer (core/io/file.ts): every
// read, write, truncate and fsync on a file the core opens is one step; the
// step chosen fails the way the OS would report it (EIO, ENOSPC) or, for a
// write, lands short (a whole-sector prefix of the bytes is written, then ENOSPC).
import { nodeOpener, setFileOpener, type RandomAccessFile } from '../../core/io/file.js';
import { toIoError } from '../../core/errors.js';

export type FaultKind = 'EIO' | 'ENOSPC' | 'short';

export interface FaultPlan {
  /** 1-based step that fails; 0 = count only. */
  at: number;
  kind: FaultKind;
}

export interface FaultLog {
  steps: number;
  kinds: Record<string, number>;
  /** What the failing step was, once it fired. */
  fired: string | null;
  /** Handles from the opener not closed yet (with their paths): 0 once an operation has ended, however it ended. */
  open: Map<RandomAccessFile, string>;
}

function osError(code: 'EIO' | 'ENOSPC', syscall: string): NodeJS.ErrnoException {
  const msg = code === 'EIO' ? 'i/o error' : 'no space left on device';
  return Object.assign(new Error(`${code}: ${msg}, ${syscall}`), { code, syscall });
}

/** Installs the faulty opener; returns the log and a function that removes it. */
export function injectFaults(plan: FaultPlan): { log: FaultLog; remove: () => void } {
  const log: FaultLog = { steps: 0, kinds: {}, fired: null, open: new Map() };
  const step = (kind: string, path: string): boolean => {
    log.steps++;
    log.kinds[kind] = (log.kinds[kind] ?? 0) + 1;
    if (log.steps !== plan.at) return false;
    log.fired = `${kind} #${log.steps} on ${path}`;
    return true;
  };
  const remove = setFileOpener(async (path, mode) => {
    const f = await nodeOpener(path, mode);
    let closed = false;
    const wrapped: RandomAccessFile = {
      path: f.path,
      writable: f.writable,
      async read(buf, position) {
        if (step('read', path)) throw toIoError(osError('EIO', 'read'), path, 'cannot read');
        return f.read(buf, position);
      },
      async write(buf, position) {
        if (step('write', path)) {
          // Short writes land whole sectors (file systems and disks fail in blocks, never inside one).
          const prefix = Math.floor(buf.length / 2 / 512) * 512;
          if (plan.kind === 'short' && prefix > 0) {
            await f.write(buf.subarray(0, prefix), position);
            throw toIoError(osError('ENOSPC', 'write'), path, 'cannot write');
          }
          throw toIoError(osError(plan.kind === 'ENOSPC' ? 'ENOSPC' : 'EIO', 'write'), path, 'cannot write');
        }
        return f.write(buf, position);
      },
      size: () => f.size(),
      async truncate(length) {
        if (step('truncate', path)) throw toIoError(osError(plan.kind === 'EIO' ? 'EIO' : 'ENOSPC', 'ftruncate'), path, 'cannot truncate');
        return f.truncate(length);
      },
      async sync() {
        if (step('fsync', path)) throw toIoError(osError('EIO', 'fsync'), path, 'cannot fsync');
        return f.sync();
      },
      close: () => {
        if (!closed) log.open.delete(wrapped);
        closed = true;
        return f.close();
      },
    };
    log.open.set(wrapped, `${path} (${mode})`);
    return wrapped;
  });
  return { log, remove };
}

/** The fault for step n: the kinds rotate so every kind meets every part of an operation. */
export function kindFor(n: number): FaultKind {
  return (['EIO', 'ENOSPC', 'short'] as const)[n % 3];
}

// A RandomAccessFile as a plain object over node:fs, for fault-injecting
// openers in tests: unlike the core's class instances, it can be spread
// (`{ ...f, write: … }`) to override one method.
import { promises as fsp } from 'node:fs';
import type { OpenMode, RandomAccessFile } from '../../core/io/file.js';

export async function plainFile(path: string, mode: OpenMode): Promise<RandomAccessFile> {
  const fh = await fsp.open(path, mode);
  return {
    path,
    writable: mode !== 'r',
    read: async (buf, at) => {
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, at + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
    write: async (buf, at) => {
      await fh.write(buf, 0, buf.length, at);
    },
    size: async () => (await fh.stat()).size,
    truncate: (n) => fh.truncate(n),
    sync: () => fh.sync(),
    close: () => fh.close().catch(() => undefined),
  };
}

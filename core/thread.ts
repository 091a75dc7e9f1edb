// This thread's id (0 on the main thread), for journals and locks that must tell
// two threads of one process apart. Read on first use: loading node:worker_threads
// up front costs every CLI start ~2 ms, and most commands take no lock.
let id: number | undefined;

export function currentThreadId(): number {
  id ??= process.getBuiltinModule('node:worker_threads').threadId;
  return id;
}

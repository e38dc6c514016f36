// A cross-process lock on one machine: an exclusive-create file holding the holder's pid.
// A lock whose holder is dead (or which is older than staleMs) is broken; breaking is itself
// serialised by a second exclusive-create file, so two breakers cannot both remove the lock and
// a live holder's lock can never be removed by mistake. Pids are only meaningful in one pid
// namespace: don't share a lock file between hosts or containers.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';

export interface FileLockOptions {
  /** Give up waiting after this long. */
  waitMs: number;
  /** A lock older than this is stale even if its pid is alive (the pid was reused). */
  staleMs: number;
  /** What the lock protects, for error messages (e.g. "embedded PostgreSQL"). */
  what: string;
  log?: (msg: string) => void;
}

/**
 * Runs fn holding the lock. While another process holds it, whileWaiting (if given) is polled:
 * a non-null result is returned at once without taking the lock.
 */
export async function withFileLock<T>(
  lock: string,
  opts: FileLockOptions,
  fn: () => Promise<T>,
  whileWaiting?: () => Promise<T | null>,
): Promise<T> {
  const token = `${process.pid}\n${randomBytes(8).toString('hex')}\n${new Date().toISOString()}\n`;
  const deadline = Date.now() + opts.waitMs;
  let interval = 5;
  let announced = false;
  for (;;) {
    try {
      await fs.writeFile(lock, token, { flag: 'wx', mode: 0o644 });
      break;
    } catch (e) {
      if (code(e) !== 'EEXIST') throw new Error(`${opts.what}: cannot create the lock ${lock}: ${(e as Error).message}`);
    }
    const holder = await readLock(lock);
    if (holder && isStale(holder, opts.staleMs)) {
      await breakLock(lock, holder.content);
      continue;
    }
    if (whileWaiting) {
      const result = await whileWaiting();
      if (result !== null) return result;
    }
    if (!announced && holder?.pid) {
      opts.log?.(`waiting for process ${holder.pid}, which holds ${lock}`);
      announced = true;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${opts.what}: timed out after ${opts.waitMs / 1000} s waiting for the lock ${lock}` +
          (holder?.pid ? ` held by process ${holder.pid}` : ''),
      );
    }
    await new Promise((r) => setTimeout(r, interval));
    interval = Math.min(interval * 2, 100);
  }
  try {
    return await fn();
  } finally {
    const holder = await readLock(lock);
    if (holder?.content === token) await fs.rm(lock, { force: true });
  }
}

/** The process exists (EPERM: it exists but belongs to another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === 'EPERM';
  }
}

function isStale(holder: { pid: number; mtimeMs: number }, staleMs: number): boolean {
  const age = Date.now() - holder.mtimeMs;
  // pid 0: the file is empty, its creator is between create and write (or died right there).
  return holder.pid === 0 ? age > 10_000 : !alive(holder.pid) || age > staleMs;
}

async function readLock(file: string): Promise<{ pid: number; content: string; mtimeMs: number } | null> {
  try {
    const [content, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    const pid = Number(content.split('\n')[0]);
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : 0, content, mtimeMs: st.mtimeMs };
  } catch (e) {
    if (code(e) === 'ENOENT') return null;
    throw e;
  }
}

async function breakLock(lock: string, staleContent: string): Promise<void> {
  const breaker = `${lock}.break`;
  try {
    await fs.writeFile(breaker, String(process.pid), { flag: 'wx' });
  } catch (e) {
    if (code(e) !== 'EEXIST') throw e;
    // Someone else is breaking it (for microseconds); unless they died doing so.
    const st = await fs.stat(breaker).catch(() => null);
    if (st && Date.now() - st.mtimeMs > 10_000) await fs.rm(breaker, { force: true });
    await new Promise((r) => setTimeout(r, 5));
    return;
  }
  try {
    const now = await readLock(lock);
    if (now?.content === staleContent) await fs.rm(lock, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

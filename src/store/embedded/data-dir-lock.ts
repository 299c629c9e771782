/**
 * One daemon per data dir. Two writers on one database would each keep their
 * own in-memory index, so each would serve stale data and GC the other's
 * records: a second daemon must refuse to start.
 *
 * The lock is an exclusive SQLite lock on `<dir>/ctxd.lock`, held by an open
 * write transaction. SQLite's locks are POSIX advisory locks, so the OS drops
 * them when the process dies (kill -9 included) and a stale lock never blocks
 * a restart; SQLite also tracks them between connections of one process, so a
 * second open in the same process fails too. The holder's pid goes to
 * `<dir>/ctxd.pid`, only to name it in the refusal.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ensurePrivateFile } from './data-files.ts';

export const LOCK_FILE = 'ctxd.lock';
export const PID_FILE = 'ctxd.pid';

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  /** The holder's pid as its pid file says, or null when unreadable (it may be starting). */
  readonly pid: number | null;

  constructor(dir: string, pid: number | null, options?: { cause?: unknown }) {
    super(`data dir ${dir} is in use by another ctxd (pid ${pid ?? 'unknown'})`, options);
    this.pid = pid;
  }
}

function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Every lock this process holds. node:sqlite closes a connection when its
 * DatabaseSync is garbage-collected, which would drop the lock silently: a
 * caller that keeps no reference (a process that only holds the dir) must not
 * lose it to the next GC.
 */
const heldLocks = new Set<DataDirLock>();

export class DataDirLock {
  private db: DatabaseSync | null;
  private readonly pidPath: string;

  private constructor(db: DatabaseSync, pidPath: string) {
    this.db = db;
    this.pidPath = pidPath;
  }

  /** Takes the lock of `dir` (which must exist) or throws DataDirInUseError naming the holder. */
  static acquire(dir: string): DataDirLock {
    const lockPath = join(dir, LOCK_FILE);
    const pidPath = join(dir, PID_FILE);
    ensurePrivateFile(lockPath);
    const db = new DatabaseSync(lockPath);
    try {
      // busy_timeout 0: fail at once rather than wait for a holder that will not let go.
      db.exec('PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE');
    } catch (e) {
      db.close();
      if ((e as { errcode?: number }).errcode === 5 /* SQLITE_BUSY */) throw new DataDirInUseError(dir, readPid(pidPath), { cause: e });
      throw e;
    }
    try {
      ensurePrivateFile(pidPath);
      writeFileSync(pidPath, `${process.pid}\n`);
    } catch (e) {
      db.close();
      throw e;
    }
    const lock = new DataDirLock(db, pidPath);
    heldLocks.add(lock);
    return lock;
  }

  get held(): boolean {
    return this.db !== null;
  }

  /** Releases the lock; the pid file goes first, so no one reads our pid for a free dir. Idempotent. */
  release(): void {
    if (!this.db) return;
    if (readPid(this.pidPath) === process.pid) rmSync(this.pidPath, { force: true });
    this.db.close();
    this.db = null;
    heldLocks.delete(this);
  }
}

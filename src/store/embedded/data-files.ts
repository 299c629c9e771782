/**
 * Permissions of the data dir and its files. Contexts are tenants' private
 * data: the database, its -wal/-shm files, the lock and pid files are 0600,
 * and a data dir we create is 0700. SQLite creates -wal/-shm with the mode of
 * the database file, so creating that file 0600 ourselves, before SQLite
 * opens it, covers them.
 */
import { chmodSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, statSync } from 'node:fs';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Creates `dir` (and missing parents) 0700; an existing dir is left as it is (see `dataDirMode`). */
export function ensureDataDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

/** The permission bits of `dir`, or null if it does not exist: the daemon warns when group or others have any. */
export function dataDirMode(dir: string): number | null {
  try {
    return statSync(dir).mode & 0o777;
  } catch {
    return null;
  }
}

/** True when group or others have any access to `path`. */
export function tooOpen(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/**
 * Makes `path` exist with mode 0600, and tightens an existing looser file
 * (e.g. one an older version made 0644) together with its `companions`
 * (which SQLite made with that looser mode).
 *
 * An existing file is never opened here: closing any descriptor of a file
 * drops every POSIX lock this process holds on it, i.e. SQLite's locks of a
 * connection already open on it (the data-dir lock, the reader's WAL locks).
 */
export function ensurePrivateFile(path: string, companions: readonly string[] = []): void {
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, FILE_MODE));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  for (const p of [path, ...companions]) {
    try {
      if (tooOpen(statSync(p).mode)) chmodSync(p, FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** A SQLite database file and its WAL companions, private. */
export function ensurePrivateDb(path: string): void {
  ensurePrivateFile(path, [`${path}-wal`, `${path}-shm`]);
}

/** Makes a file's contents, or a directory's entries (a rename in it), durable. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

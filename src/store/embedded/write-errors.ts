/**
 * What a failed write means for the caller. Errors of the write itself (a
 * constraint, data SQLite or JSON cannot take) stay plain errors: retrying the
 * same write will not help. Errors of the storage underneath (a full disk, I/O,
 * a locked or damaged file) are StoreUnavailableError: nothing was applied, the
 * store reports itself unhealthy, and the same write may succeed later.
 */
import { StoreUnavailableError } from '../../domain/errors.ts';
import type { WriteFailure } from './write-ops.ts';

const SQLITE_FULL = 13;
/** Primary result codes of the storage, not of the write: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOLFS, NOTADB. */
const UNAVAILABLE = new Set([5, 6, 7, 8, 10, 11, 13, 14, 15, 22, 26]);

/** True when the storage, not the write, failed. */
export function isStorageFailure(f: WriteFailure): boolean {
  return f.errcode !== undefined && UNAVAILABLE.has(f.errcode & 0xff);
}

export function toWriteError(f: WriteFailure): Error {
  if (!isStorageFailure(f)) return new Error(f.message);
  const primary = f.errcode! & 0xff;
  const cause = Object.assign(new Error(f.message), { errcode: f.errcode });
  const reason = primary === SQLITE_FULL ? 'disk_full' : 'write_failed';
  return new StoreUnavailableError(reason, `the store cannot take writes (${reason}): ${f.message}`, { cause });
}

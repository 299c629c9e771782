/**
 * One group's transaction, run by the writer thread: each write in its own
 * savepoint, so a write that fails (a constraint, unserialisable data) fails
 * alone and the others commit.
 *
 * A write failing for the storage's sake (SQLITE_FULL, SQLITE_IOERR, ...)
 * fails every write after it too, unattempted; and when SQLite rolled back the
 * whole transaction for it (it does for SQLITE_FULL), the writes before it are
 * redone in a new transaction. Committed writes thus always form a prefix of
 * the group (less writes that failed alone): the committer stays FIFO, so a
 * request-journal entry never fails while a write submitted after it commits
 * in the same group.
 */
import type { SqliteFile } from './sqlite-file.ts';
import { isStorageFailure } from './write-errors.ts';
import { applyWrite, type WriteFailure, type WriteOp } from './write-ops.ts';

/** A redo can in principle lose its transaction again; after this many attempts the rest fails. */
const MAX_ATTEMPTS = 3;

export function describeFailure(e: unknown): WriteFailure {
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  return { message: e instanceof Error ? e.message : String(e), ...(typeof errcode === 'number' && { errcode }) };
}

export interface GroupResult {
  readonly failed: Array<WriteFailure | null>;
  readonly changes: number[];
}

/** Commits what it can of `writes`; throws when BEGIN or COMMIT itself fails (the caller rolls back: nothing committed). */
export function commitGroup(db: SqliteFile, writes: ReadonlyArray<readonly WriteOp[]>): GroupResult {
  const failed: Array<WriteFailure | null> = writes.map(() => null);
  const changes = writes.map(() => 0);
  let end = writes.length;
  let lost: WriteFailure | null = null;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    db.db.exec('BEGIN IMMEDIATE');
    let lostAt = -1;
    for (let i = 0; i < end; i++) {
      if (failed[i]) continue;
      db.db.exec('SAVEPOINT w');
      try {
        changes[i] = applyWrite(db, writes[i]!);
        db.db.exec('RELEASE w');
      } catch (e) {
        failed[i] = describeFailure(e);
        if (!db.db.isTransaction) {
          lostAt = i;
          break;
        }
        db.db.exec('ROLLBACK TO w');
        db.db.exec('RELEASE w');
        if (isStorageFailure(failed[i]!)) {
          notAttempted(failed, i + 1, end, failed[i]!);
          break;
        }
      }
    }
    if (lostAt < 0) {
      db.db.exec('COMMIT');
      return { failed, changes };
    }
    lost = failed[lostAt]!;
    notAttempted(failed, lostAt + 1, end, lost);
    end = lostAt;
  }
  // Every attempt lost its transaction: nothing is committed.
  for (let j = 0; j < end; j++) failed[j] ??= { ...lost!, message: `rolled back, the transaction kept failing: ${lost!.message}` };
  return { failed, changes };
}

function notAttempted(failed: Array<WriteFailure | null>, from: number, to: number, cause: WriteFailure): void {
  for (let j = from; j < to; j++) {
    failed[j] ??= { ...cause, message: `not attempted, an earlier write in its commit group failed: ${cause.message}` };
  }
}

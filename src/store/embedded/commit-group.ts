/**
 * One group's transaction, run by the writer thread: each write in its own
 * savepoint, so a write that fails (a constraint, unserialisable data) fails
 * alone and the others commit.
 *
 * A write failing for the storage's sake (SQLITE_FULL, SQLITE_IOERR, ...)
 * fails every write after it too, unattempted; and when SQLite rolled back the
 * whole transaction for it (it does for SQLITE_FULL), the writes before it are
 * redone in a new transaction. Committed writes thus always form a prefix of
 * the group in the order they are applied (less writes that failed alone):
 * data writes in submission order, then request-journal entries. So a journal
 * entry commits in the same transaction as the writes submitted after it, or
 * fails alone (a full disk) without taking a delete that frees space with it.
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

const isJournalOnly = (ops: readonly WriteOp[]) => ops.length > 0 && ops.every((op) => op.kind === 'request');

/**
 * Commits what it can of `writes`; throws when BEGIN or COMMIT itself fails (the caller rolls back: nothing committed).
 *
 * Request-journal entries are applied after the data writes of their group: on a full disk a
 * journal entry then fails alone, after the deletes that free space have committed, instead of
 * failing them. An entry still commits in the same transaction as the writes after it in the queue.
 */
export function commitGroup(db: SqliteFile, writes: ReadonlyArray<readonly WriteOp[]>): GroupResult {
  const failed: Array<WriteFailure | null> = writes.map(() => null);
  const changes = writes.map(() => 0);
  const order = [...writes.keys()].sort((a, b) => Number(isJournalOnly(writes[a]!)) - Number(isJournalOnly(writes[b]!)) || a - b);
  let end = order.length;
  let lost: WriteFailure | null = null;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    db.db.exec('BEGIN IMMEDIATE');
    let lostAt = -1;
    for (let n = 0; n < end; n++) {
      const i = order[n]!;
      if (failed[i]) continue;
      db.db.exec('SAVEPOINT w');
      try {
        changes[i] = applyWrite(db, writes[i]!);
        db.db.exec('RELEASE w');
      } catch (e) {
        failed[i] = describeFailure(e);
        if (!db.db.isTransaction) {
          lostAt = n;
          break;
        }
        db.db.exec('ROLLBACK TO w');
        db.db.exec('RELEASE w');
        if (isStorageFailure(failed[i]!)) {
          notAttempted(failed, order, n + 1, end, failed[i]!);
          break;
        }
      }
    }
    if (lostAt < 0) {
      db.db.exec('COMMIT');
      return { failed, changes };
    }
    lost = failed[order[lostAt]!]!;
    notAttempted(failed, order, lostAt + 1, end, lost);
    end = lostAt;
  }
  // Every attempt lost its transaction: nothing is committed.
  for (let n = 0; n < end; n++) failed[order[n]!] ??= { ...lost!, message: `rolled back, the transaction kept failing: ${lost!.message}` };
  return { failed, changes };
}

function notAttempted(failed: Array<WriteFailure | null>, order: readonly number[], from: number, to: number, cause: WriteFailure): void {
  for (let n = from; n < to; n++) {
    failed[order[n]!] ??= { ...cause, message: `not attempted, an earlier write in its commit group failed: ${cause.message}` };
  }
}

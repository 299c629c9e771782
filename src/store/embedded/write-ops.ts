/**
 * The writes of the embedded store as plain data, so they can cross to the
 * writer thread. `applyWrite` runs one write's ops on a SQLite connection.
 */
import type { ContextRecord, RecordPatch } from '../../domain/context.ts';
import type { DataKeys } from '../encryption/data-keys.ts';
import type { SqliteFile } from './sqlite-file.ts';

export type WriteOp =
  | { readonly kind: 'insert'; readonly record: ContextRecord }
  /** An import: written only over nothing or an older version of the same tenant (sqlite-file.ts importRecord). */
  | { readonly kind: 'import'; readonly record: ContextRecord }
  | { readonly kind: 'patch'; readonly tenant: string; readonly id: string; readonly patch: RecordPatch }
  | { readonly kind: 'delete'; readonly tenant: string; readonly id: string }
  /** Access counts to add, ids[i] by counts[i]: one op per flush, not an object per id (each crosses to the writer thread). */
  | { readonly kind: 'access'; readonly ids: readonly string[]; readonly counts: readonly number[] }
  | { readonly kind: 'request'; readonly kid: string; readonly id: string; readonly ts: number }
  | { readonly kind: 'prune_requests'; readonly before: number }
  | { readonly kind: 'forget_requests'; readonly kids: readonly string[]; readonly before: number }
  /** Needs `bytes` of free room and leaves nothing: the committer's health probe. */
  | { readonly kind: 'probe'; readonly bytes: number }
  /** Seals these rows with the active data key where they are not yet (`rekey`). */
  | { readonly kind: 'reseal'; readonly ids: readonly string[] }
  /** Stores term hashes computed at a load for rows in the clear that had none (SqliteFile.setTerms). */
  | { readonly kind: 'terms'; readonly items: ReadonlyArray<{ readonly id: string; readonly version: number; readonly terms: Uint32Array }> }
  /** Deletes those of these (quarantined) rows that do not open (`rekey` with drop_unreadable). */
  | { readonly kind: 'drop_unreadable'; readonly ids: readonly string[] }
  /** After its group commits: VACUUM if rows were re-sealed since the last one, then the WAL truncated (the end of a `rekey` pass). */
  | { readonly kind: 'compact' };

/** Whether the group asks for compaction after its commit. */
export function wantsCompaction(writes: ReadonlyArray<readonly WriteOp[]>): boolean {
  return writes.some((ops) => ops.some((op) => op.kind === 'compact'));
}

/** Runs one write; returns the rows an import wrote, a prune or forget deleted or a terms op filled (0 for every other op). */
export function applyWrite(db: SqliteFile, ops: readonly WriteOp[]): number {
  let changes = 0;
  for (const op of ops) {
    switch (op.kind) {
      case 'insert':
        db.insert(op.record);
        break;
      case 'import':
        changes += db.importRecord(op.record);
        break;
      case 'patch':
        db.patch(op.tenant, op.id, op.patch);
        break;
      case 'delete':
        db.delete(op.tenant, op.id);
        break;
      case 'access':
        if (op.ids.length > 0) db.addAccessCounts(op.ids, op.counts);
        break;
      case 'request':
        db.recordRequest(op.kid, op.id, op.ts);
        break;
      case 'prune_requests':
        changes += db.pruneRequests(op.before);
        break;
      case 'forget_requests':
        changes += db.forgetRequests(op.kids, op.before);
        break;
      case 'probe':
        db.probe(op.bytes);
        break;
      case 'reseal':
        changes += db.sealing.reseal(op.ids);
        break;
      case 'terms':
        changes += db.setTerms(op.items);
        break;
      case 'drop_unreadable':
        changes += db.sealing.dropUnreadable(op.ids);
        break;
      case 'compact':
        // Done by the writer once the group's transaction is over (writer.worker.ts).
        break;
    }
  }
  return changes;
}

/** Writes that only free space: they do not show that the database can grow (see group-commit.ts health). */
export function onlyFrees(ops: readonly WriteOp[]): boolean {
  return ops.every((op) => op.kind === 'delete' || op.kind === 'prune_requests' || op.kind === 'forget_requests');
}

/** Why one write (or a whole group) failed, as it crosses back from the writer thread. */
export interface WriteFailure {
  readonly message: string;
  /** SQLite's result code when SQLite raised it (extended codes included). */
  readonly errcode?: number;
}

/** Messages between the store and its writer thread. */
export type ToWriter =
  | { readonly type: 'commit'; readonly seq: number; readonly writes: ReadonlyArray<readonly WriteOp[]> }
  /** Data keys read again (`rekey`): groups posted after this message seal with its active key. */
  | { readonly type: 'keys'; readonly keys: DataKeys }
  | { readonly type: 'close' };

export type FromWriter =
  | { readonly type: 'ready' }
  /** Per write: null (committed) or why it failed; `changes` as `applyWrite` returned them. */
  | { readonly type: 'committed'; readonly seq: number; readonly failed: ReadonlyArray<WriteFailure | null>; readonly changes: readonly number[] }
  | { readonly type: 'aborted'; readonly seq: number; readonly error: WriteFailure }
  /** The writer could not read the last message (the in-flight group): none of it was applied. */
  | { readonly type: 'unreadable'; readonly error: string }
  | { readonly type: 'closed' };

/**
 * Term hashes as they cross to the writer thread: a view into a bigger buffer (a batch's hashes) would be cloned with
 * the whole of that buffer, once per message.
 */
export function ownTerms(terms: Uint32Array): Uint32Array {
  return terms.byteOffset === 0 && terms.byteLength === terms.buffer.byteLength ? terms : terms.slice();
}

/**
 * The writes of the embedded store as plain data, so they can cross to the
 * writer thread. `applyWrite` runs one write's ops on a SQLite connection.
 */
import type { ContextRecord, RecordPatch } from '../../domain/context.ts';
import type { SqliteFile } from './sqlite-file.ts';

export type WriteOp =
  | { readonly kind: 'insert'; readonly record: ContextRecord }
  | { readonly kind: 'patch'; readonly tenant: string; readonly id: string; readonly patch: RecordPatch }
  | { readonly kind: 'delete'; readonly tenant: string; readonly id: string }
  | { readonly kind: 'access'; readonly id: string; readonly n: number };

export function applyWrite(db: SqliteFile, ops: readonly WriteOp[]): void {
  for (const op of ops) {
    switch (op.kind) {
      case 'insert':
        db.insert(op.record);
        break;
      case 'patch':
        db.patch(op.tenant, op.id, op.patch);
        break;
      case 'delete':
        db.delete(op.tenant, op.id);
        break;
      case 'access':
        db.incrementAccess(op.id, op.n);
        break;
    }
  }
}

/** Messages between the store and its writer thread. */
export type ToWriter =
  | { readonly type: 'commit'; readonly seq: number; readonly writes: ReadonlyArray<readonly WriteOp[]> }
  | { readonly type: 'close' };

export type FromWriter =
  | { readonly type: 'ready' }
  | { readonly type: 'committed'; readonly seq: number; readonly failed: ReadonlyArray<string | null> }
  | { readonly type: 'aborted'; readonly seq: number; readonly error: string }
  | { readonly type: 'closed' };

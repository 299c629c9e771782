/**
 * Contexts decided but not yet committed, per scope. A store holds its scope's
 * lock only while it decides (dedup, spill) and submits its writes; it waits
 * for the commit outside the lock, so concurrent stores share a group commit
 * instead of queueing for one fsync each. Stores deciding meanwhile check
 * these records too: an identical text (after normalisation) in flight is the
 * same context. Near-duplicates in flight at the same moment are not compared
 * (a vector comparison against every pending record cost a store_batch a
 * fifth of its time); once committed, the search catches them.
 */
import type { ContextRecord } from '../domain/context.ts';

export interface PendingRecord {
  readonly record: ContextRecord;
  /** The text after NFKC, lower-casing and whitespace folding. */
  readonly normalized: string;
  /** Resolves when the record's write commits; rejects with why it did not (a store deduplicated into it fails too). */
  readonly committed: Promise<void>;
}

export class PendingWrites {
  private readonly byScope = new Map<string, Map<string, PendingRecord>>();

  add(scope: string, entries: readonly PendingRecord[]): void {
    if (entries.length === 0) return;
    let map = this.byScope.get(scope);
    if (!map) this.byScope.set(scope, (map = new Map()));
    for (const e of entries) map.set(e.normalized, e);
  }

  remove(scope: string, entries: readonly PendingRecord[]): void {
    const map = this.byScope.get(scope);
    if (!map) return;
    for (const e of entries) if (map.get(e.normalized) === e) map.delete(e.normalized);
    if (map.size === 0) this.byScope.delete(scope);
  }

  count(scope: string): number {
    return this.byScope.get(scope)?.size ?? 0;
  }

  /** The pending record with the same normalized text, if any. */
  find(scope: string, normalized: string): PendingRecord | undefined {
    return this.byScope.get(scope)?.get(normalized);
  }
}

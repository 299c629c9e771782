/**
 * Contexts decided but not yet committed, per scope. A store holds its scope's
 * lock only while it decides (dedup, spill) and submits its writes; it waits
 * for the commit outside the lock, so concurrent stores share a group commit
 * instead of queueing for one fsync each. Stores deciding meanwhile check
 * these records too, so two concurrent copies of a text still deduplicate.
 */
import type { ContextRecord } from '../domain/context.ts';

export interface PendingRecord {
  readonly record: ContextRecord;
  /** The text after NFKC, lower-casing and whitespace folding. */
  readonly normalized: string;
  /** Settles when the record's write commits (or fails). */
  readonly committed: Promise<void>;
}

export class PendingWrites {
  private readonly byScope = new Map<string, Set<PendingRecord>>();

  add(scope: string, entries: readonly PendingRecord[]): void {
    if (entries.length === 0) return;
    let set = this.byScope.get(scope);
    if (!set) this.byScope.set(scope, (set = new Set()));
    for (const e of entries) set.add(e);
  }

  remove(scope: string, entries: readonly PendingRecord[]): void {
    const set = this.byScope.get(scope);
    if (!set) return;
    for (const e of entries) set.delete(e);
    if (set.size === 0) this.byScope.delete(scope);
  }

  count(scope: string): number {
    return this.byScope.get(scope)?.size ?? 0;
  }

  /** A pending record with the same normalized text, or a vector at least `threshold` similar. */
  find(scope: string, vector: Float32Array, normalized: string, threshold: number): PendingRecord | undefined {
    const set = this.byScope.get(scope);
    if (!set) return undefined;
    for (const p of set) {
      if (p.normalized === normalized) return p;
      let dot = 0;
      const v = p.record.vector;
      for (let i = 0; i < v.length; i++) dot += v[i]! * vector[i]!;
      if (dot >= threshold) return p;
    }
    return undefined;
  }
}

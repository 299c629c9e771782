/**
 * Access counts of retrieved contexts. Counting is immediate (scores and
 * answers see it at once); persisting is batched every `flushMs`, so a stream
 * of retrieves does not cost an fsync each and repeated hits of a context add
 * up to one row write. A crash can lose at most the last `flushMs` of counts;
 * shutdown flushes them.
 */
import type { VectorStore } from '../store/vector-store.ts';

export class AccessCounter {
  private readonly store: VectorStore;
  private readonly flushMs: number;
  private readonly onError: (err: unknown) => void;
  private pending = new Map<string, Map<string, number>>();
  /** Batches being written: still counted until the store has them (its in-memory rows are updated on commit). */
  private readonly writing = new Set<Map<string, Map<string, number>>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(store: VectorStore, flushMs: number, onError: (err: unknown) => void) {
    this.store = store;
    this.flushMs = flushMs;
    this.onError = onError;
  }

  /** Counts recorded but not yet committed (queued, or in a write under way). */
  pendingFor(tenant: string, id: string): number {
    let n = this.pending.get(tenant)?.get(id) ?? 0;
    // Asked for every candidate of every retrieve: no iterator when no write is under way.
    if (this.writing.size > 0) for (const batch of this.writing) n += batch.get(tenant)?.get(id) ?? 0;
    return n;
  }

  record(tenant: string, ids: readonly string[]): void {
    const counts = this.pendingOf(tenant);
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  }

  /** The tenant's counts waiting for the next flush, which is scheduled if it is not yet. */
  private pendingOf(tenant: string): Map<string, number> {
    let counts = this.pending.get(tenant);
    if (!counts) this.pending.set(tenant, (counts = new Map()));
    this.timer ??= setTimeout(() => void this.flush().catch(this.onError), this.flushMs);
    return counts;
  }

  /**
   * Takes out the counts not yet written for these ids, so no flush writes them (an import takes them before it
   * writes records that carry the count their export saw, which included what was pending then); `giveBack` returns
   * those of ids the import did not write.
   */
  take(tenant: string, ids: readonly string[]): Map<string, number> {
    const taken = new Map<string, number>();
    const counts = this.pending.get(tenant);
    if (!counts) return taken;
    for (const id of ids) {
      const n = counts.get(id);
      if (n === undefined) continue;
      taken.set(id, n);
      counts.delete(id);
    }
    return taken;
  }

  giveBack(tenant: string, counts: ReadonlyMap<string, number>): void {
    if (counts.size === 0) return;
    const pending = this.pendingOf(tenant);
    for (const [id, n] of counts) pending.set(id, (pending.get(id) ?? 0) + n);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.size === 0) return;
    this.pending = new Map();
    this.writing.add(batch);
    try {
      const writes = [...batch].map(([tenant, counts]) =>
        // The embedded store resolves right after applying this tenant's counts to its rows, in the same turn, so no
        // request sees them twice: from then on the rows hold them, and other tenants' writes may commit later. (The
        // Qdrant store writes id by id, each visible as it lands, before the whole call settles.)
        this.store.incrementAccess(tenant, counts).finally(() => batch.delete(tenant)),
      );
      const failed = (await Promise.allSettled(writes)).find((w) => w.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      this.writing.delete(batch);
    }
  }
}

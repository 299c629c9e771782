/**
 * Dedup's nearest-neighbour look-ups (store-contexts.ts), gathered per scope
 * across concurrent requests and sent as one store call per turn of the event
 * loop. A single query scans a partition on one thread; many queries in one
 * call share the scan and use every core (usearch exactSearch over 16k rows of
 * 384 dimensions on this 2-core machine: 0.98 ms for one query alone, 0.35 ms
 * each in a call of 50).
 * The look-up runs before a request takes its scope's lock, so the lock is
 * held only to decide, not to search.
 *
 * Chunks of at most CHUNK queries per call, with a turn of the event loop
 * between them, keep a 1,000-text batch from holding the loop in one call.
 * The embedded store cuts each call further by what a query scans there
 * (memory-index.ts searchManySliced: ~65k rows per native call), since 64
 * queries over 16k rows are themselves ~0.1 s.
 */
import type { RecordFilter, SearchHit } from '../domain/context.ts';
import type { VectorStore } from '../store/vector-store.ts';

const CHUNK = 64;

interface Waiter {
  readonly vectors: readonly Float32Array[];
  readonly resolve: (hits: SearchHit[][]) => void;
  readonly reject: (e: unknown) => void;
}

interface Group {
  readonly tenant: string;
  /** The first request's filter: same level (and session) for the whole scope; its liveness time is this turn's. */
  readonly filter: RecordFilter;
  readonly waiters: Waiter[];
}

export class NearestBatcher {
  private readonly store: VectorStore;
  private groups = new Map<string, Group>();
  private scheduled = false;

  constructor(store: VectorStore) {
    this.store = store;
  }

  /** Each vector's nearest live neighbour in `scope` (at most one hit each). */
  nearest(scope: string, tenant: string, filter: RecordFilter, vectors: readonly Float32Array[]): Promise<SearchHit[][]> {
    if (vectors.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      let group = this.groups.get(scope);
      if (!group) this.groups.set(scope, (group = { tenant, filter, waiters: [] }));
      group.waiters.push({ vectors, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const groups = this.groups;
    this.groups = new Map();
    for (const group of groups.values()) void this.run(group);
  }

  private async run({ tenant, filter, waiters }: Group): Promise<void> {
    const vectors = waiters.flatMap((w) => w.vectors);
    const hits: SearchHit[][] = [];
    try {
      for (let at = 0; at < vectors.length; at += CHUNK) {
        if (at > 0) await new Promise((r) => setImmediate(r));
        hits.push(...(await this.store.searchMany(tenant, vectors.slice(at, at + CHUNK).map((vector) => ({ vector })), filter, 1)));
      }
    } catch (e) {
      for (const w of waiters) w.reject(e);
      return;
    }
    let from = 0;
    for (const w of waiters) {
      w.resolve(hits.slice(from, from + w.vectors.length));
      from += w.vectors.length;
    }
  }
}

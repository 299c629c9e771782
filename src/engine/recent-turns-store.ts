/**
 * The store as the engine sees it when recent L1 turns are kept
 * (recent-turns.ts): every call goes to the wrapped store; each write that
 * committed is then applied to the kept turns, so they never hold what this
 * process has deleted, moved out of L1 or replaced. A write that failed may
 * still have committed (a timeout): what it touched is dropped, since
 * dropping a kept turn is always safe and keeping a deleted one is not.
 */
import type { ContextRecord, RecordFilter, RecordPatch } from '../domain/context.ts';
import type { ImportWrite, VectorStore } from '../store/vector-store.ts';
import type { RecentTurns } from './recent-turns.ts';

export function withRecentTurns(store: VectorStore, turns: RecentTurns): VectorStore {
  const keep = (records: readonly ContextRecord[]): void => {
    for (const r of records) {
      if (r.level === 1) turns.put(r);
      else turns.drop(r.id);
    }
  };
  return {
    name: store.name,
    open: () => store.open(),
    close: () => store.close(),
    health: () => store.health(),
    async upsert(records: readonly ContextRecord[]) {
      await store.upsert(records);
      keep(records);
    },
    importRecords(records: readonly ContextRecord[]): Promise<ImportWrite[]> {
      // An imported record may replace a kept one; imports are not recent turns of this process.
      for (const r of records) turns.drop(r.id);
      return store.importRecords(records);
    },
    async patch(tenant: string, id: string, patch: RecordPatch) {
      try {
        const meta = await store.patch(tenant, id, patch);
        if (meta) turns.patched(tenant, id, patch);
        return meta;
      } catch (e) {
        turns.drop(id);
        throw e;
      }
    },
    incrementAccess: (tenant, counts) => store.incrementAccess(tenant, counts),
    locate: (ids) => store.locate(ids),
    vectors: (tenant, ids) => store.vectors(tenant, ids),
    get: (tenant, ids) => store.get(tenant, ids),
    delete(tenant: string, ids: readonly string[]) {
      for (const id of ids) turns.drop(id);
      return store.delete(tenant, ids);
    },
    deleteWhere(tenant: string, filter: RecordFilter) {
      // Which kept turns match is the store's business: drop the tenant's, they come back with its next stores.
      turns.dropTenant(tenant);
      return store.deleteWhere(tenant, filter);
    },
    search: (tenant, query, filter, k) => store.search(tenant, query, filter, k),
    searchMany: (tenant, queries, filter, k) => store.searchMany(tenant, queries, filter, k),
    find: (tenant, filter, limit, opts) => store.find(tenant, filter, limit, opts),
    scroll: (tenant, filter, after, limit) => store.scroll(tenant, filter, after, limit),
    count: (tenant, filter) => store.count(tenant, filter),
    stats: (tenant, now) => store.stats(tenant, now),
    tenants: () => store.tenants(),
    usage: (tenant) => store.usage(tenant),
  };
}

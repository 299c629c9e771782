/**
 * The Qdrant backend: one collection shared by every tenant (layout.ts), every
 * search, scroll, count, facet and write confined to its tenant by a filter
 * evaluated inside Qdrant (filter.ts) — deletes and patches included, never a
 * bare point id; reads by id (retrieve) check each point's tenant and cid
 * before using it — and every call through the store's breaker (call.ts).
 *
 * - Acknowledged = written: every write is sent with `wait: true`, and with
 *   `ordering: 'strong'` (through the shard's permanent leader), so the
 *   read-modify-write rules of conditional.ts see one order of writes.
 * - open() never hangs nor throws for an unreachable Qdrant (pods would
 *   crash-loop): it tries the setup once; on a dependency failure the store
 *   stays not ready (health says why) and every later op first retries the
 *   setup, failing fast with DependencyUnavailableError while the breaker is
 *   open. A configuration problem (space mismatch, a 4xx) makes open() throw.
 * - Ids: point-ids.ts. Lexical scoring: bm25.ts. Search: search.ts.
 * - upsert is conditioned on the tenant (update_filter): a point of the same
 *   id held by another tenant is left as it is.
 * - usage() is per-replica counters (usage.ts); stats' textBytes is from them.
 *   tenants() and stats' sessions are exact facets (facets.ts, paged by
 *   FACET_PAGE values); stats' per-level counts are exact counts.
 * - open() is bounded by the request timeout: the first failing request ends it.
 * - delete/deleteWhere read what they delete (for the count and the usage),
 *   then delete by (tenant, has_id, filter): a record deleted by someone else
 *   in between is still counted; one that stopped matching is not deleted.
 */
import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { LEVELS, type ContextDoc, type ContextMeta, type ContextRecord, type Level, type RecordFilter, type RecordPatch, type SearchHit, type SearchQuery } from '../../domain/context.ts';
import { DependencyUnavailableError } from '../../domain/errors.ts';
import type { VectorSpace } from '../../domain/vector-space.ts';
import type { Breaker } from '../../resilience/breaker.ts';
import type { ImportWrite, ScrollPage, StoreHealth, TenantStats, TenantUsage, VectorStore } from '../vector-store.ts';
import { QdrantCaller } from './call.ts';
import { createClient } from './client.ts';
import { ensureCollection } from './collection.ts';
import { importRecord, incrementAccess, patchRecord, type PointIo } from './conditional.ts';
import { facetAll } from './facets.ts';
import { recordFilter, tenantFilter } from './filter.ts';
import { denseVectorName, type LayoutOptions } from './layout.ts';
import { F, META_FIELDS, docFromPayload, metaFromPayload, textBytesOf, type Payload } from './payload.ts';
import { denseVectorOf, newStamp, pointOf } from './point.ts';
import { pointIdOf } from './point-ids.ts';
import { countRequest, cursorScrollRequest, deleteRequest, retrieveRequest, scrollPage, scrollRequest, setPayloadRequest, tenantCountRequest, upsertRequest } from './requests.ts';
import { searchBatch } from './search.ts';
import { UsageCounters } from './usage.ts';

export interface QdrantStoreOptions {
  readonly url: string;
  readonly apiKey: string | null;
  readonly collection: string;
  readonly space: VectorSpace;
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly shardNumber: number;
  readonly replicationFactor: number;
  readonly writeConsistencyFactor: number;
  readonly onDiskVectors: boolean;
  readonly onDiskPayload: boolean;
  readonly usageRefreshMs: number;
  readonly breaker: Breaker;
  readonly now?: () => number;
}

const DOC_FIELDS = [...META_FIELDS, F.text, F.textBytes];
/** Access counts written at once by one flush (incrementAccess); the pool's other connections serve requests meanwhile. */
const ACCESS_WRITES_IN_FLIGHT = 8;
/** Points read and deleted per step of deleteWhere; tenants' usage loaded at once on open. */
const DELETE_PAGE = 1000;
const USAGE_LOAD_CONCURRENCY = 8;

export class QdrantStore implements VectorStore {
  readonly name = 'qdrant';
  private readonly opts: QdrantStoreOptions;
  private readonly client: QdrantClient;
  private readonly caller: QdrantCaller;
  private readonly denseName: string;
  private readonly counters: UsageCounters;
  private readonly io: PointIo;
  private ready = false;
  private closed = false;
  private setup: Promise<void> | null = null;
  private lastError = 'not opened yet';

  constructor(opts: QdrantStoreOptions) {
    this.opts = opts;
    this.client = createClient(opts);
    this.caller = new QdrantCaller(opts.breaker, opts.apiKey, opts.timeoutMs);
    this.denseName = denseVectorName(opts.space);
    this.counters = new UsageCounters(opts.usageRefreshMs, opts.now ?? Date.now, (tenant) => this.loadUsage(tenant));
    this.io = {
      denseName: this.denseName,
      retrieve: async (id, fields, withVector) =>
        (await this.q('retrieve', false, (c, n) => c.retrieve(n, retrieveRequest([id], fields, withVector ? this.denseName : null, 'majority'))))[0] ?? null,
      upsert: (points, condition) => this.q('upsert', true, (c, n) => c.upsert(n, upsertRequest(points, condition))).then(() => {}),
      setPayload: (payload, filter) => this.q('set payload', true, (c, n) => c.setPayload(n, setPayloadRequest(payload, filter))).then(() => {}),
    };
  }

  private readonly facet = (req: Schemas['FacetRequest']): Promise<Schemas['FacetResponse']> => this.q('facet', false, (c, n) => c.facet(n, req));

  /** One client call through the breaker. */
  private q<T>(what: string, write: boolean, fn: (client: QdrantClient, collection: string) => Promise<T>): Promise<T> {
    return this.caller.run(what, () => fn(this.client, this.opts.collection), { write });
  }

  async open(): Promise<void> {
    this.closed = false;
    try {
      await this.whenReady();
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    this.lastError = 'closed';
    this.counters.close();
  }

  health(): StoreHealth {
    if (this.ready) return { ok: true, detail: `qdrant collection ${this.opts.collection}; breaker ${this.opts.breaker.state}` };
    return { ok: false, detail: this.closed ? 'closed' : `qdrant unreachable: ${this.lastError}` };
  }

  private whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closed) return Promise.reject(new DependencyUnavailableError('store', 1000, 'the qdrant store is closed'));
    this.setup ??= this.prepare().finally(() => (this.setup = null));
    return this.setup;
  }

  private async prepare(): Promise<void> {
    try {
      const { space, shardNumber, replicationFactor, writeConsistencyFactor, onDiskVectors, onDiskPayload } = this.opts;
      const layout: LayoutOptions = { space, shardNumber, replicationFactor, writeConsistencyFactor, onDiskVectors, onDiskPayload };
      await ensureCollection(this.client, this.caller, this.opts.collection, layout);
      const tenants = await this.tenantsNow();
      for (let i = 0; i < tenants.length; i += USAGE_LOAD_CONCURRENCY) await Promise.all(tenants.slice(i, i + USAGE_LOAD_CONCURRENCY).map((t) => this.counters.refresh(t)));
      this.ready = !this.closed;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  private async loadUsage(tenant: string): Promise<TenantUsage> {
    const [counted, sizes] = await Promise.all([
      this.q('count', false, (c, n) => c.count(n, tenantCountRequest(tenant))),
      facetAll(this.facet, F.textBytes, tenantFilter(tenant)),
    ]);
    let textBytes = 0;
    for (const [value, count] of sizes) textBytes += Number(value) * count;
    return { contexts: counted.count, textBytes };
  }

  /** Points of `ids` (deduplicated) held by `tenant`, with the given payload fields. */
  private async owned(tenant: string | null, ids: readonly string[], fields: readonly string[], withVector = false): Promise<Map<string, Schemas['Record']>> {
    const out = new Map<string, Schemas['Record']>();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return out;
    await this.whenReady();
    const points = await this.q('retrieve', false, (c, n) => c.retrieve(n, retrieveRequest(unique, [...new Set([F.tenant, F.cid, ...fields])], withVector ? this.denseName : null)));
    for (const p of points) {
      const payload = p.payload as Payload | undefined;
      const cid = payload?.[F.cid];
      // The cid check rules out a foreign-id hash collision.
      if (typeof cid === 'string' && pointIdOf(cid) === String(p.id) && (tenant === null || payload?.[F.tenant] === tenant)) out.set(cid, p);
    }
    return out;
  }

  async upsert(records: readonly ContextRecord[]): Promise<void> {
    await this.whenReady();
    const byTenant = new Map<string, ContextRecord[]>();
    for (const r of records) {
      const group = byTenant.get(r.tenant);
      if (group) group.push(r);
      else byTenant.set(r.tenant, [r]);
    }
    const held = await this.owned(null, records.map((r) => r.id), [F.textBytes]);
    for (const [tenant, group] of byTenant) {
      // The update filter leaves another tenant's point of the same id untouched; new ids are inserted.
      const points = group.map((r) => pointOf(r, this.denseName, newStamp()));
      await this.q('upsert', true, (c, n) => c.upsert(n, upsertRequest(points, { filter: tenantFilter(tenant) })));
      for (const r of group) {
        const before = held.get(r.id)?.payload as Payload | undefined;
        if (!before) this.counters.add(tenant, 1, Buffer.byteLength(r.text));
        else if (before[F.tenant] === tenant) this.counters.add(tenant, 0, Buffer.byteLength(r.text) - textBytesOf(before));
      }
    }
  }

  async importRecords(records: readonly ContextRecord[]): Promise<ImportWrite[]> {
    await this.whenReady();
    return Promise.all(
      records.map(async (r) => {
        const result = await importRecord(this.io, r);
        this.counters.add(r.tenant, result.contexts, result.textBytes);
        return result.outcome;
      }),
    );
  }

  async patch(tenant: string, id: string, patch: RecordPatch): Promise<ContextMeta | null> {
    await this.whenReady();
    const result = await patchRecord(this.io, tenant, id, patch);
    if (result) this.counters.add(tenant, 0, result.textBytes);
    return result?.meta ?? null;
  }

  async incrementAccess(tenant: string, counts: ReadonlyMap<string, number>): Promise<void> {
    await this.whenReady();
    // A few ids at a time (each is a read, a conditional write and a read-back): a flush carries thousands of ids,
    // and all at once would queue every retrieve's search behind them in the connection pool.
    const items = [...counts].filter(([, n]) => n !== 0);
    let next = 0;
    const lane = async () => {
      while (next < items.length) {
        const [id, n] = items[next++]!;
        await incrementAccess(this.io, tenant, id, n);
      }
    };
    await Promise.all(Array.from({ length: Math.min(ACCESS_WRITES_IN_FLIGHT, items.length) }, lane));
  }

  async locate(ids: readonly string[]): Promise<Map<string, { tenant: string; version: number }>> {
    const out = new Map<string, { tenant: string; version: number }>();
    for (const [id, p] of await this.owned(null, ids, [F.version])) {
      const payload = p.payload as Payload;
      out.set(id, { tenant: String(payload[F.tenant]), version: Number(payload[F.version]) });
    }
    return out;
  }

  async vectors(tenant: string, ids: readonly string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [id, p] of await this.owned(tenant, ids, [], true)) {
      const v = denseVectorOf(p, this.denseName);
      if (v) out.set(id, v);
    }
    return out;
  }

  async get(tenant: string, ids: readonly string[]): Promise<ContextDoc[]> {
    const found = await this.owned(tenant, ids, DOC_FIELDS);
    return ids.flatMap((id) => {
      const p = found.get(id);
      return p ? [docFromPayload(p.payload as Payload)] : [];
    });
  }

  async delete(tenant: string, ids: readonly string[]): Promise<number> {
    const found = await this.owned(tenant, ids, [F.textBytes]);
    if (found.size === 0) return 0;
    await this.deletePoints(tenant, [...found.values()], {});
    return found.size;
  }

  /** Deletes these points of the tenant that still match `filter`, and moves the usage counters. */
  private async deletePoints(tenant: string, points: readonly Schemas['Record'][], filter: RecordFilter): Promise<void> {
    await this.q('delete', true, (c, n) => c.delete(n, deleteRequest(tenant, points.map((p) => String(p.id)), filter)));
    this.counters.add(tenant, -points.length, -points.reduce((s, p) => s + textBytesOf(p.payload as Payload), 0));
  }

  async deleteWhere(tenant: string, filter: RecordFilter): Promise<number> {
    await this.whenReady();
    let deleted = 0;
    let offset: Schemas['ExtendedPointId'] | undefined;
    do {
      const page = await this.q('scroll', false, (c, n) => c.scroll(n, scrollRequest(tenant, filter, offset ?? null, DELETE_PAGE, [F.textBytes])));
      if (page.points.length > 0) await this.deletePoints(tenant, page.points, filter);
      deleted += page.points.length;
      offset = (page.next_page_offset ?? undefined) as Schemas['ExtendedPointId'] | undefined;
    } while (offset !== undefined);
    return deleted;
  }

  async search(tenant: string, query: SearchQuery, filter: RecordFilter, k: number): Promise<SearchHit[]> {
    return (await this.searchMany(tenant, [query], filter, k))[0]!;
  }

  async searchMany(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number): Promise<SearchHit[][]> {
    if (k <= 0 || queries.length === 0) return queries.map(() => []);
    await this.whenReady();
    const batch = (searches: Schemas['QueryRequest'][]) => this.q('query', false, (c, n) => c.queryBatch(n, { searches }));
    return searchBatch(tenant, queries, filter, k, this.denseName, this.counters.get(tenant).contexts, batch);
  }

  /** (No `background` lane: Qdrant scrolls in pages and holds nothing of the event loop's between them.) */
  async find(tenant: string, filter: RecordFilter, limit: number): Promise<ContextMeta[]> {
    if (limit <= 0) return [];
    await this.whenReady();
    const page = await this.q('scroll', false, (c, n) => c.scroll(n, scrollRequest(tenant, filter, null, limit)));
    return page.points.map((p) => metaFromPayload(p.payload as Payload));
  }

  async scroll(tenant: string, filter: RecordFilter, after: string | null, limit: number): Promise<ScrollPage> {
    if (limit <= 0) return { items: [], next: null };
    await this.whenReady();
    const page = await this.q('scroll', false, (c, n) => c.scroll(n, cursorScrollRequest(tenant, filter, after, limit)));
    return scrollPage(page.points.map((p) => metaFromPayload(p.payload as Payload)), page.next_page_offset, after, limit);
  }

  async count(tenant: string, filter: RecordFilter): Promise<number> {
    await this.whenReady();
    return (await this.q('count', false, (c, n) => c.count(n, countRequest(tenant, filter)))).count;
  }

  async stats(tenant: string, now: number): Promise<TenantStats> {
    await this.whenReady();
    const [counts, sessions] = await Promise.all([
      Promise.all(LEVELS.map((level) => this.count(tenant, { levels: [level], aliveAt: now }))),
      facetAll(this.facet, F.session, recordFilter(tenant, { levels: [1, 2], aliveAt: now })),
    ]);
    const perLevel = Object.fromEntries(LEVELS.map((l, i) => [l, counts[i]!])) as Record<Level, number>;
    return { perLevel, textBytes: this.counters.get(tenant).textBytes, sessions: sessions.size };
  }

  async tenants(): Promise<string[]> {
    await this.whenReady();
    return this.tenantsNow();
  }

  private async tenantsNow(): Promise<string[]> {
    const counts = await facetAll(this.facet, F.tenant);
    return [...counts.keys()].map(String);
  }

  usage(tenant: string): TenantUsage {
    return this.counters.get(tenant);
  }
}

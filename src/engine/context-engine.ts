/**
 * The hierarchical context engine: levels, TTLs, spill, dedup, retrieval under
 * a budget. It knows no sockets; the server's handlers call it with validated
 * input and a tenant, and map its results to the wire.
 */
import type { Config } from '../config/schema.ts';
import { MAX_METADATA_KEYS, tagsAndMetadataFit, type ContextDoc, type Level, type Metadata, type RecordFilter, type RecordPatch } from '../domain/context.ts';
import { InvalidRequestError, NotFoundError } from '../domain/errors.ts';
import type { VectorStore } from '../store/vector-store.ts';
import { expiryFor, scopeKey, type EngineDeps } from './engine-deps.ts';
import { KeyedLock } from './keyed-lock.ts';
import { NearestBatcher } from './nearest-batcher.ts';
import { PendingWrites } from './pending-writes.ts';
import { QuotaGuard } from './quota.ts';
import { AccessCounter } from './access-counter.ts';
import { RecentTurns } from './recent-turns.ts';
import { withRecentTurns } from './recent-turns-store.ts';
import { retrieve, type AnswerBound } from './retrieve.ts';
import { storeContexts } from './store-contexts.ts';
import { endSession, listSessions, type EndAction, type SessionPage } from './sessions.ts';
import { exportPage, importRecords, type ExportBound, type ExportInput, type ExportPage, type ImportRecord, type ImportResult } from './transfer.ts';
import type { TextAnalyzer } from './text/text-analyzer.ts';
import {
  DEFAULT_SESSION,
  type ContextFilterInput,
  type EngineStats,
  type ListInput,
  type ListResult,
  type RetrieveInput,
  type RetrieveResult,
  type StoreInput,
  type StoreResult,
  type UpdateInput,
} from './types.ts';

export interface EngineOptions {
  readonly store: VectorStore;
  readonly text: TextAnalyzer;
  readonly config: Pick<Config, 'engine' | 'retrieval' | 'quotas' | 'session'>;
  /** The relevance floor of the configured embedder. */
  readonly minRelevance: number;
  readonly now?: () => number;
  /** Memory for recent L1 turns kept for degraded retrieves (a remote store); 0 or absent: none. */
  readonly recentTurnsBytes?: number;
  readonly onBackgroundError?: (what: string, err: unknown) => void;
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('context', id);
}

export class ContextEngine {
  readonly deps: EngineDeps;

  constructor(opts: EngineOptions) {
    const onBackgroundError = opts.onBackgroundError ?? (() => {});
    const recent = opts.recentTurnsBytes ? new RecentTurns(opts.recentTurnsBytes, opts.config.engine.l1_max_items) : null;
    const store = recent ? withRecentTurns(opts.store, recent) : opts.store;
    this.deps = {
      store,
      recent,
      text: opts.text,
      config: opts.config,
      minRelevance: opts.minRelevance,
      quotas: new QuotaGuard(opts.config.quotas, (tenant) => store.usage(tenant)),
      counters: { dedupHits: 0, dedupKeyMismatches: 0, degradedRetrieves: 0 },
      locks: new KeyedLock(),
      nearest: new NearestBatcher(store),
      pending: new PendingWrites(),
      access: new AccessCounter(store, opts.config.engine.access_flush_ms, (e) => onBackgroundError('access count', e)),
      now: opts.now ?? Date.now,
      onBackgroundError,
    };
  }

  /** Writes pending access counts (before GC, and at shutdown). */
  flush(): Promise<void> {
    return this.deps.access.flush();
  }

  /** A stored doc with access counts not yet written added in. */
  private withPending(doc: ContextDoc): ContextDoc {
    const pending = this.deps.access.pendingFor(doc.tenant, doc.id);
    return pending === 0 ? doc : { ...doc, accessCount: doc.accessCount + pending };
  }

  store(tenant: string, items: readonly StoreInput[]): Promise<StoreResult[]> {
    return storeContexts(this.deps, tenant, items);
  }

  retrieve(tenant: string, input: RetrieveInput, bound?: AnswerBound): Promise<RetrieveResult> {
    return retrieve(this.deps, tenant, input, bound);
  }

  /** A live (unexpired) context of the tenant, or NOT_FOUND. */
  async get(tenant: string, id: string): Promise<ContextDoc> {
    const [record] = await this.deps.store.get(tenant, [id]);
    if (!record || (record.expiresAt !== null && record.expiresAt <= this.deps.now())) throw notFound(id);
    return this.withPending(record);
  }

  async update(tenant: string, id: string, input: UpdateInput): Promise<ContextDoc> {
    for (let attempt = 0; ; attempt++) {
      // The scope to lock is the context's own; a concurrent update may move it to another level before the lock is
      // ours, and is then locked again where it went (a turn later: a store whose reads disagree must not spin).
      if (attempt > 0) await new Promise((resolve) => setImmediate(resolve));
      const seen = await this.get(tenant, id);
      const updated = await this.deps.locks.run(scopeKey(tenant, seen.level, seen.session), async () => {
        // Read again under the lock: merging into a copy read before it would drop what an update committed meanwhile.
        const current = await this.get(tenant, id);
        return current.level === seen.level ? this.updateLocked(tenant, current, input) : null;
      });
      if (updated) return updated;
    }
  }

  /** `update` of `current`, under its scope's lock. */
  private async updateLocked(tenant: string, current: ContextDoc, input: UpdateInput): Promise<ContextDoc> {
    const id = current.id;
    const text = input.text !== undefined && input.text !== current.text ? input.text : undefined;
    // A longer text needs the room a store of it would (quotas, PROTOCOL.md §7.4), held until it has committed; an
    // update that adds nothing is never refused (a tenant over a quota lowered since may still change its contexts).
    const growth = text === undefined ? 0 : Buffer.byteLength(text) - Buffer.byteLength(current.text);
    const release = growth > 0 ? this.deps.quotas.reserve(tenant, 0, growth) : () => {};
    let level: Level;
    const now = this.deps.now();
    try {
      const patch = await this.updatePatch(current, input, text, now);
      level = patch.level ?? current.level;
      if (!(await this.deps.store.patch(tenant, id, patch))) throw notFound(id);
    } finally {
      release();
    }
    if (level === 1 && current.level !== 1) await this.spillSession(tenant, current.session, now);
    return this.get(tenant, id);
  }

  /** What `update` changes in `current` (`text` only when it differs). */
  private async updatePatch(current: ContextDoc, input: UpdateInput, text: string | undefined, now: number): Promise<RecordPatch> {
    const { config } = this.deps;
    const level = input.level ?? current.level;
    const patch: { -readonly [K in keyof RecordPatch]: RecordPatch[K] } = { ts: now };
    if (text !== undefined) {
      const [analysis] = await this.deps.text.analyze([text]);
      Object.assign(patch, { text, vector: analysis!.vector, tokens: analysis!.tokens, terms: analysis!.terms });
    }
    if (input.tags !== undefined) patch.tags = [...new Set(input.tags)];
    if (input.metadata !== undefined) {
      patch.metadata = mergeMetadata(current.metadata, input.metadata);
      if (!tagsAndMetadataFit(patch.tags ?? current.tags, patch.metadata, config.engine.max_metadata_bytes)) {
        throw new InvalidRequestError('body.metadata', `merged into the context's metadata it would exceed ${MAX_METADATA_KEYS} keys or max_metadata_bytes (${config.engine.max_metadata_bytes})`);
      }
    }
    if (input.level !== undefined) patch.level = input.level;
    if (input.ttl_s !== undefined || (input.level !== undefined && input.level !== current.level)) {
      // An explicit ttl_s wins; otherwise a level change takes the new level's default expiry.
      patch.expiresAt = expiryFor(level, input.ttl_s, now, config.engine.l2_ttl_s);
    }
    return patch;
  }

  /** Moves the oldest of a session's L1 to L2 until it fits l1_max_items (after an update into L1). */
  private async spillSession(tenant: string, session: string, now: number): Promise<void> {
    const { store, config } = this.deps;
    const l1 = await store.find(tenant, { levels: [1], session, aliveAt: now }, Number.MAX_SAFE_INTEGER);
    const overflow = l1.length - config.engine.l1_max_items;
    if (overflow <= 0) return;
    l1.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1));
    await Promise.all(l1.slice(0, overflow).map((m) => store.patch(tenant, m.id, { level: 2, expiresAt: now + config.engine.l2_ttl_s * 1000 })));
  }

  async delete(tenant: string, id: string): Promise<number> {
    await this.get(tenant, id);
    return this.deps.store.delete(tenant, [id]);
  }

  deleteWhere(tenant: string, input: ContextFilterInput & { level?: Level }): Promise<number> {
    return this.deps.store.deleteWhere(tenant, toFilter(input));
  }

  /** Empties a level: a session's L1 or L2 (the default session when none is named), or the tenant's L3. */
  clear(tenant: string, level: Level, session: string | undefined): Promise<number> {
    const filter: RecordFilter = level === 3 ? { levels: [3], ...(session !== undefined && { session }) } : { levels: [level], session: session ?? DEFAULT_SESSION };
    return this.deps.store.deleteWhere(tenant, filter);
  }

  async list(tenant: string, input: ListInput): Promise<ListResult> {
    const filter: RecordFilter = {
      ...(input.level !== undefined && { levels: [input.level] }),
      ...(input.session !== undefined && { session: input.session }),
      ...(input.agent !== undefined && { agent: input.agent }),
      aliveAt: this.deps.now(),
    };
    const page = await this.deps.store.scroll(tenant, filter, input.cursor ?? null, input.limit ?? 100);
    const records = await this.deps.store.get(tenant, page.items.map((m) => m.id));
    return { items: records.map((r) => this.withPending(r)), nextCursor: page.next };
  }

  /** A page of contexts as stored, for moving them elsewhere (transfer.ts). */
  export(tenant: string, input: ExportInput, bound?: ExportBound): Promise<ExportPage> {
    return exportPage(this.deps, tenant, input, bound);
  }

  /** Writes exported contexts back, idempotently by id (transfer.ts). */
  import(tenant: string, items: readonly ImportRecord[], vectorSpace: string | undefined): Promise<ImportResult> {
    return importRecords(this.deps, tenant, items, vectorSpace);
  }

  /** Ends a session's working memory: L1 to L2, or dropped (sessions.ts). */
  endSession(tenant: string, session: string, action: EndAction): Promise<{ moved: number; dropped: number }> {
    return endSession(this.deps, tenant, session, action);
  }

  /** Sessions with live L1 or L2 contexts, by name (sessions.ts). */
  listSessions(tenant: string, cursor: string | undefined, limit: number | undefined): Promise<SessionPage> {
    return listSessions(this.deps, tenant, cursor, limit);
  }

  /** Deletes every context of the tenant, whatever its level, session or expiry; resolves to how many. */
  purge(tenant: string): Promise<number> {
    return this.deps.store.deleteWhere(tenant, {});
  }

  async stats(tenant: string): Promise<EngineStats> {
    const s = await this.deps.store.stats(tenant, this.deps.now());
    return { perLevel: s.perLevel, textBytes: s.textBytes, sessions: s.sessions };
  }
}

function mergeMetadata(current: Metadata, changes: Metadata): Metadata {
  const out: Metadata = { ...current };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

export function toFilter(input: ContextFilterInput & { level?: Level }): RecordFilter {
  return {
    ...(input.level !== undefined && { levels: [input.level] }),
    ...(input.session !== undefined && { session: input.session }),
    ...(input.agent !== undefined && { agent: input.agent }),
    ...(input.tags_any !== undefined && { tagsAny: input.tags_any }),
    ...(input.where !== undefined && { where: input.where }),
  };
}

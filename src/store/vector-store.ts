/**
 * The storage contract every backend (embedded, Qdrant) implements, and that
 * the shared contract tests (test/contract/) check. A store knows records,
 * filters and vectors; it knows nothing of levels' policy (spill, TTL, GC,
 * promotion, budgets), which is the engine's.
 *
 * Every method is confined to one tenant. A promise that resolves after a
 * write means the write is committed (durable per the configured durability).
 */
import type { ContextDoc, ContextMeta, ContextRecord, Level, RecordFilter, RecordPatch, SearchHit, SearchQuery } from '../domain/context.ts';

export type ImportWrite = 'inserted' | 'replaced' | 'kept' | 'taken';

export interface ScrollPage {
  readonly items: ContextMeta[];
  /** Pass back as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface TenantStats {
  readonly perLevel: Record<Level, number>;
  /** Bytes of stored text. */
  readonly textBytes: number;
  /** Distinct sessions holding L1 or L2 records. */
  readonly sessions: number;
}

/** What a tenant holds now: every record still stored (expired ones awaiting GC included) and their text's bytes. */
export interface TenantUsage {
  readonly contexts: number;
  readonly textBytes: number;
}

export interface StoreHealth {
  readonly ok: boolean;
  readonly detail: string;
}

export interface VectorStore {
  readonly name: string;
  open(): Promise<void>;
  close(): Promise<void>;
  health(): StoreHealth;

  /** Inserts or replaces whole records. */
  upsert(records: readonly ContextRecord[]): Promise<void>;
  /**
   * Writes imported records, each only where its id is free or holds an older
   * version of the same tenant, decided at commit (so concurrent writers
   * cannot overwrite each other). Per record: inserted, replaced, kept (the
   * same or a newer version is stored) or taken (another tenant's id).
   */
  importRecords(records: readonly ContextRecord[]): Promise<ImportWrite[]>;
  /** Applies a patch to one record, bumping its version; null when it does not exist in the tenant. */
  patch(tenant: string, id: string, patch: RecordPatch): Promise<ContextMeta | null>;
  /** Adds `n` to the access count of each record that exists, for every (id, n). */
  incrementAccess(tenant: string, counts: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Where each id that exists lives, whatever its tenant (ids are unique
   * across tenants): import must not take over another tenant's id.
   */
  locate(ids: readonly string[]): Promise<Map<string, { readonly tenant: string; readonly version: number }>>;
  /** The stored vectors of the tenant's `ids` that exist (export). */
  vectors(tenant: string, ids: readonly string[]): Promise<Map<string, Float32Array>>;
  /** Records with their text, in the order of `ids`, skipping absent ones. */
  get(tenant: string, ids: readonly string[]): Promise<ContextDoc[]>;
  delete(tenant: string, ids: readonly string[]): Promise<number>;
  deleteWhere(tenant: string, filter: RecordFilter): Promise<number>;

  /** The k records most similar to `query.vector` among those matching `filter`, best first. */
  search(tenant: string, query: SearchQuery, filter: RecordFilter, k: number): Promise<SearchHit[]>;
  /** `search` for many queries at once (a batch's dedup checks), in query order. */
  searchMany(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number): Promise<SearchHit[][]>;
  /**
   * Up to `limit` records matching `filter`, in no particular order (GC's work lists, sessions). `background`: GC's
   * own read (one pass at a time), not queued behind the tenant's requests.
   */
  find(tenant: string, filter: RecordFilter, limit: number, opts?: { readonly background?: boolean }): Promise<ContextMeta[]>;
  /** Records matching `filter` in id order, after the `after` id. */
  scroll(tenant: string, filter: RecordFilter, after: string | null, limit: number): Promise<ScrollPage>;
  count(tenant: string, filter: RecordFilter): Promise<number>;
  /** Counts of records alive at `now` (expired ones awaiting GC are not counted). */
  stats(tenant: string, now: number): Promise<TenantStats>;
  /** Tenants that have any record (GC walks them). */
  tenants(): Promise<string[]>;
  /** A tenant's usage for quotas, in O(1) (called on every write): backends keep it as counters. */
  usage(tenant: string): TenantUsage;
}

/** One `rekey` step (PROTOCOL.md §7.15). */
export interface RekeyStep {
  readonly active_kid: string;
  /** Rows re-sealed by this step. */
  readonly resealed: number;
  /** Rows of this step's range that did not open (quarantined at load) and stay as they are. */
  readonly unreadable: number;
  /** Rows of this step's range that did not open and were deleted (asked for with dropUnreadable). */
  readonly dropped: number;
  /** Rows, in the whole store, not yet sealed with the active key. */
  readonly remaining: number;
  /** Cursor of the next step; null when this step reached the end. */
  readonly next: string | null;
  /** At the end of a pass: whether the file still waits to be rebuilt, and why the rebuild failed. */
  readonly compact: { readonly pending: boolean; readonly error: string | null };
}

/**
 * Per-tenant usage (records, text bytes) for quotas, answered synchronously
 * and in O(1) on every write. Qdrant has no counters, so each replica keeps
 * its own: loaded from Qdrant (exact count + a facet sum of text_bytes) when
 * the store opens and when a tenant is first asked for, refreshed in the
 * background once older than `refreshMs`, and moved by this replica's own
 * writes in between. Other replicas' writes show up only at the next refresh,
 * so a quota can be overshot by what other replicas wrote in one refresh
 * interval. Writes made while a load is in flight are added on top of what
 * it returns (they may be counted twice until the next refresh).
 */
import type { TenantUsage } from '../vector-store.ts';

/** A failed load is tried again after this long. */
const RETRY_FAILED_LOAD_MS = 1000;

export type UsageLoader = (tenant: string) => Promise<TenantUsage>;

interface Entry {
  contexts: number;
  textBytes: number;
  loadedAt: number;
  loading: boolean;
  /** Own writes since the load in flight started. */
  sinceLoad: { contexts: number; textBytes: number };
}

export class UsageCounters {
  private readonly entries = new Map<string, Entry>();
  private readonly refreshMs: number;
  private readonly now: () => number;
  private readonly loader: UsageLoader;
  private closed = false;

  constructor(refreshMs: number, now: () => number, loader: UsageLoader) {
    this.refreshMs = refreshMs;
    this.now = now;
    this.loader = loader;
  }

  /** Current usage; starts a background load when unknown or stale. */
  get(tenant: string): TenantUsage {
    let e = this.entries.get(tenant);
    if (!e) this.entries.set(tenant, (e = this.blank()));
    if (!e.loading && this.now() - e.loadedAt >= this.refreshMs) void this.refresh(tenant).catch(() => {});
    return { contexts: Math.max(0, e.contexts), textBytes: Math.max(0, e.textBytes) };
  }

  /** This replica's own write moved the tenant's usage. */
  add(tenant: string, contexts: number, textBytes: number): void {
    if (contexts === 0 && textBytes === 0) return;
    let e = this.entries.get(tenant);
    if (!e) this.entries.set(tenant, (e = this.blank()));
    e.contexts += contexts;
    e.textBytes += textBytes;
    if (e.loading) {
      e.sinceLoad.contexts += contexts;
      e.sinceLoad.textBytes += textBytes;
    }
  }

  /** Loads (or reloads) a tenant now; resolves when its counters hold Qdrant's figures. */
  async refresh(tenant: string): Promise<void> {
    let e = this.entries.get(tenant);
    if (!e) this.entries.set(tenant, (e = this.blank()));
    if (e.loading || this.closed) return;
    e.loading = true;
    e.sinceLoad = { contexts: 0, textBytes: 0 };
    try {
      const loaded = await this.loader(tenant);
      e.contexts = loaded.contexts + e.sinceLoad.contexts;
      e.textBytes = loaded.textBytes + e.sinceLoad.textBytes;
      e.loadedAt = this.now();
    } catch (err) {
      // Tried again a second later (not on every call while Qdrant is away).
      e.loadedAt = Math.max(e.loadedAt, this.now() - this.refreshMs + RETRY_FAILED_LOAD_MS);
      throw err;
    } finally {
      e.loading = false;
    }
  }

  close(): void {
    this.closed = true;
  }

  private blank(): Entry {
    return { contexts: 0, textBytes: 0, loadedAt: Number.NEGATIVE_INFINITY, loading: false, sinceLoad: { contexts: 0, textBytes: 0 } };
  }
}

/** What every engine part needs: the store, the text analyzer (embedder), the settings, a clock. */
import type { Config } from '../config/schema.ts';
import type { Level } from '../domain/context.ts';
import type { TextAnalyzer } from './text/text-analyzer.ts';
import type { VectorStore } from '../store/vector-store.ts';
import type { KeyedLock } from './keyed-lock.ts';
import type { NearestBatcher } from './nearest-batcher.ts';
import type { PendingWrites } from './pending-writes.ts';
import type { AccessCounter } from './access-counter.ts';
import type { QuotaGuard } from './quota.ts';
import type { RecentTurns } from './recent-turns.ts';

/** Counters the metrics read at scrape time. */
export interface EngineCounters {
  dedupHits: number;
  /** Near-duplicates (similar enough) left unmerged because their key tokens differ. */
  dedupKeyMismatches: number;
  /** Retrieves answered from the lexical channel alone. */
  degradedRetrieves: number;
}

export interface EngineDeps {
  readonly counters: EngineCounters;
  readonly store: VectorStore;
  readonly text: TextAnalyzer;
  readonly config: Pick<Config, 'engine' | 'retrieval' | 'session'>;
  /** The relevance floor of the configured embedder (PROTOCOL.md §7.5). */
  readonly minRelevance: number;
  readonly quotas: QuotaGuard;
  readonly locks: KeyedLock;
  /** Dedup's nearest-neighbour look-ups, batched across concurrent stores. */
  readonly nearest: NearestBatcher;
  readonly pending: PendingWrites;
  readonly access: AccessCounter;
  /** L1 turns this process stored recently, for retrieves while a remote store cannot answer; null when not kept. */
  readonly recent: RecentTurns | null;
  readonly now: () => number;
  /** Reports work that failed after the caller was answered (access counts). */
  readonly onBackgroundError: (what: string, err: unknown) => void;
}

/** The scope a store serialises on: a session's L1 or L2, or the tenant's shared L3. */
export function scopeKey(tenant: string, level: Level, session: string): string {
  return level === 3 ? `${tenant}\u00003` : `${tenant}\u0000${level}\u0000${session}`;
}

export function expiryFor(level: Level, ttlS: number | null | undefined, now: number, defaultL2TtlS: number): number | null {
  if (ttlS !== undefined && ttlS !== null) return now + ttlS * 1000;
  return level === 2 ? now + defaultL2TtlS * 1000 : null;
}

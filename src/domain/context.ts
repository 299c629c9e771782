/**
 * Domain types shared by the engine and every store backend. Stores import
 * these; nothing here imports a store, the engine or the server.
 */

export type Level = 1 | 2 | 3;
export const LEVELS: readonly Level[] = [1, 2, 3];

export type Metadata = Record<string, unknown>;

/**
 * Bounds every stored context keeps, whatever merged into it (a dedup refresh,
 * an update): the wire's limits on one request (PROTOCOL.md §3.1, §7.3), so a
 * stored record always passes the checks it meets again at load.
 */
export const MAX_TAGS = 64;
export const MAX_METADATA_KEYS = 1024;

export function tagsAndMetadataFit(tags: readonly string[], metadata: Metadata, maxMetadataJsonBytes: number): boolean {
  return tags.length <= MAX_TAGS && Object.keys(metadata).length <= MAX_METADATA_KEYS && Buffer.byteLength(JSON.stringify(metadata)) <= maxMetadataJsonBytes;
}

/** Shared empties: most contexts have no tags or metadata, and a million empty objects cost memory. */
export const NO_TAGS: readonly string[] = Object.freeze([]);
export const NO_METADATA: Metadata = Object.freeze({});

/** One stored context, as the system of record holds it. */
export interface ContextRecord {
  readonly id: string;
  readonly tenant: string;
  readonly level: Level;
  /** The session it was stored in; L1/L2 are scoped by it, L3 keeps it as provenance. */
  readonly session: string;
  readonly agent: string | null;
  readonly text: string;
  readonly tags: readonly string[];
  readonly metadata: Metadata;
  /** Exact token count for the configured tokenizer. */
  readonly tokens: number;
  readonly createdTs: number;
  /** Last store, refresh or update (ms); recency is measured from it. */
  readonly ts: number;
  /** Absolute expiry (ms) or null for none. */
  readonly expiresAt: number | null;
  readonly accessCount: number;
  /** Bumped on every change; `set_id` hashes (id, version) pairs. */
  readonly version: number;
  readonly vector: Float32Array;
  /**
   * The text's lexical term hashes (lexical.ts termHashes), when the engine
   * already computed them off the event loop; derived, never stored. A store
   * computes them from the text when absent.
   */
  readonly terms?: Uint32Array;
}

/** A record without its text and vector: what an index keeps in memory per row. */
export type ContextMeta = Omit<ContextRecord, 'text' | 'vector' | 'terms'>;

/** A record with its text but not its vector: what reads return. */
export type ContextDoc = Omit<ContextRecord, 'vector' | 'terms'>;

/**
 * A conjunction of conditions on records of one tenant. Stores evaluate it
 * inside their search (never after a top-k cut); policy (which levels a
 * session sees) is the engine's, expressed through these fields.
 */
export interface RecordFilter {
  readonly levels?: readonly Level[];
  readonly session?: string;
  readonly agent?: string;
  readonly tagsAny?: readonly string[];
  readonly tagsAll?: readonly string[];
  /** Metadata equality on top-level keys. */
  readonly where?: Metadata;
  /** ts ≥ since (ms). */
  readonly since?: number;
  /** ts ≤ until (ms). */
  readonly until?: number;
  /** Only records not expired at this instant (ms). */
  readonly aliveAt?: number;
  /** Only records with expiresAt ≤ this (ms): GC candidates. */
  readonly expiredBy?: number;
  /** Only records with accessCount ≥ this. */
  readonly minAccessCount?: number;
}

/** What a search looks for: the query's vector and, for lexical candidates, its text. */
/**
 * A search by meaning (`vector`) and by words (`text`, the lexical channel).
 * Either may be missing: no text for a dedup check, no vector when the
 * embedder is unavailable (a degraded retrieve).
 */
export interface SearchQuery {
  readonly vector: Float32Array | null;
  readonly text?: string;
}

export interface SearchHit {
  readonly meta: ContextMeta;
  /** Cosine similarity with the query vector, in [-1, 1] (0 without a query vector). */
  readonly similarity: number;
  /** BM25 score over the query's terms, normalised to [0, 1] (0 without query text; src/domain/lexical.ts). */
  readonly lexical: number;
}

/**
 * The hits of one search: the k best by similarity and, with query text, the
 * k best by lexical score, each once; best by similarity first.
 */
export function unionOfBest(hits: readonly SearchHit[], k: number): SearchHit[] {
  const byId = new Map<string, SearchHit>();
  for (const h of [...hits].sort((a, b) => b.similarity - a.similarity).slice(0, k)) byId.set(h.meta.id, h);
  const lexical = hits.filter((h) => h.lexical > 0).sort((a, b) => b.lexical - a.lexical);
  let added = 0;
  for (const h of lexical) {
    if (added >= k) break;
    if (!byId.has(h.meta.id)) byId.set(h.meta.id, h);
    added++;
  }
  return [...byId.values()];
}

/** Changes to one record; undefined fields stay as they are. */
export interface RecordPatch {
  readonly text?: string;
  readonly vector?: Float32Array;
  /** The new text's term hashes (see ContextRecord.terms). */
  readonly terms?: Uint32Array;
  readonly tokens?: number;
  readonly tags?: readonly string[];
  readonly metadata?: Metadata;
  readonly level?: Level;
  readonly session?: string;
  readonly ts?: number;
  readonly expiresAt?: number | null;
}

/** The record `current` becomes under `patch`: the one rule every backend applies. */
export function applyPatch(current: ContextMeta, patch: RecordPatch): ContextMeta {
  return {
    ...current,
    level: patch.level ?? current.level,
    session: patch.session ?? current.session,
    tags: patch.tags ?? current.tags,
    metadata: patch.metadata ?? current.metadata,
    tokens: patch.tokens ?? current.tokens,
    ts: patch.ts ?? current.ts,
    expiresAt: patch.expiresAt === undefined ? current.expiresAt : patch.expiresAt,
    version: current.version + 1,
  };
}

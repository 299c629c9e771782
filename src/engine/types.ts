/** Inputs and outputs of the engine's operations (the server maps them to and from the wire). */
import type { ContextDoc, Level, Metadata } from '../domain/context.ts';
import type { Relevance } from './relevance.ts';
import type { ScoreParts } from './scoring.ts';

export const DEFAULT_SESSION = 'default';

export interface StoreInput {
  readonly text: string;
  readonly level: Level;
  readonly session?: string;
  readonly agent?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Metadata;
  readonly ttl_s?: number;
}

export interface StoreResult {
  readonly id: string;
  /** Where it landed: an L1 store that overflowed the session lands in L2. */
  readonly level: Level;
  readonly tokens: number;
  readonly deduplicated: boolean;
}

export interface ContextFilterInput {
  readonly session?: string;
  readonly agent?: string;
  readonly tags_any?: readonly string[];
  readonly tags_all?: readonly string[];
  readonly where?: Metadata;
  readonly since?: number;
  readonly until?: number;
}

export interface RetrieveInput extends ContextFilterInput {
  readonly query: string;
  readonly max_tokens?: number;
  readonly levels?: readonly Level[];
  readonly min_score?: number;
  /** Overrides the embedder's relevance floor for this request. */
  readonly min_similarity?: number;
}

export interface RetrievedContext {
  readonly record: ContextDoc;
  readonly score: number;
  readonly parts: ScoreParts;
  /** The fused relevance and its two channels (relevance.ts). */
  readonly relevance: Relevance;
}

export interface LevelReceipt {
  readonly allocated: number;
  readonly used: number;
  readonly candidates: number;
  readonly omitted: number;
}

export interface RetrieveResult {
  readonly contexts: RetrievedContext[];
  readonly totalTokens: number;
  readonly levels: Partial<Record<Level, LevelReceipt>>;
  readonly setId: string;
  readonly degraded: string[];
  readonly tookMs: number;
}

export interface UpdateInput {
  readonly text?: string;
  /** Merged into the existing map; a null value removes its key. */
  readonly metadata?: Metadata;
  readonly tags?: readonly string[];
  readonly level?: Level;
  readonly ttl_s?: number | null;
}

export interface ListInput {
  readonly level?: Level;
  readonly session?: string;
  readonly agent?: string;
  readonly cursor?: string;
  readonly limit?: number;
}

export interface ListResult {
  readonly items: ContextDoc[];
  readonly nextCursor: string | null;
}

export interface EngineStats {
  readonly perLevel: Record<Level, number>;
  readonly textBytes: number;
  readonly sessions: number;
}

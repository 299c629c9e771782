/**
 * Hybrid relevance (PROTOCOL.md §7.5 "relevance"): the dense channel (cosine
 * of the query and context vectors) and the lexical channel (BM25 over the
 * query's terms, normalised to [0, 1]; src/domain/lexical.ts) fused as a
 * noisy OR: relevance = 1 − (1 − dense) × (1 − w × lexical), w =
 * retrieval.lexical_weight. Without lexical evidence the relevance is the
 * cosine itself, so a paraphrase sharing no word with the query is not
 * scaled down (a weighted sum did that and measured worse: bench/quality.md);
 * a query's rare words and identifiers lift the texts holding them towards 1.
 * The fused value is what `score_parts.similarity` weighs and what the
 * relevance floor (`min_similarity`) applies to. Without a query vector (the
 * embedder is unavailable: `degraded: ["embedder"]`) the lexical channel
 * alone is the relevance.
 */
import type { SearchHit } from '../domain/context.ts';

export interface Relevance {
  /** The fused value in [0, 1]. */
  readonly value: number;
  /** Cosine similarity of the vectors, clamped to [0, 1]. */
  readonly dense: number;
  /** Normalised BM25, in [0, 1]. */
  readonly lexical: number;
}

export function fuse(hit: SearchHit, lexicalWeight: number, denseAvailable: boolean): Relevance {
  const dense = Math.max(0, Math.min(1, hit.similarity));
  const lexical = Math.max(0, Math.min(1, hit.lexical));
  const value = denseAvailable ? 1 - (1 - dense) * (1 - lexicalWeight * lexical) : lexical;
  return { value, dense, lexical };
}

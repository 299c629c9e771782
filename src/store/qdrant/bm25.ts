/**
 * The lexical channel on Qdrant: BM25 split between ctxd (term frequency and
 * length, written into each point's sparse vector "bm25") and Qdrant (IDF, by
 * the vector's `modifier: "idf"`, over the corpus the query names).
 *
 * - Document vector: indices = the text's distinct lexical term hashes
 *   (src/domain/lexical.ts termHashes, u32, deduplicated), every value =
 *   termFactor(length, BM25_AVG_TERMS) with length = the number of distinct
 *   terms: the binary-tf BM25 factor with K1/B from lexical.ts, capped at 1.
 * - Query vector: the query's distinct term hashes (at most MAX_QUERY_TERMS),
 *   value 1. Qdrant multiplies each query value by the term's IDF,
 *   ln(1 + (N − df + 0.5)/(df + 0.5)) — the same formula as lexical.ts idf
 *   (qdrant/qdrant lib/collection/tests/integration/sparse_idf_test.rs
 *   expected_idf) — with N and df counted over `params.idf.corpus`, always
 *   the tenant's filter here, so one tenant's words never move another's
 *   scores (that would leak what another tenant stores). Checked in the
 *   server's source (v1.19.0): SearchParams.idf is `"global"` or
 *   `{"corpus": <filter>}` (lib/segment/src/types.rs IdfParams, added by
 *   qdrant/qdrant #9661), df counts only posting entries of points matching
 *   the corpus and N only those points that have this sparse vector
 *   (…/sparse_vector_index/read_view/idf.rs), and a request naming `idf` for
 *   a vector without the idf modifier is refused (lib/shard/src/query/
 *   query_context.rs). Qdrant before 1.19 ignores the unknown field, hence
 *   the version check in collection.ts.
 * - Normalisation to [0, 1]: a score is divided by the query's total IDF. Qdrant
 *   does not return IDFs, so each query term is probed in the same batch (one
 *   sparse query of that term alone, limit 1, over the tenant): its best score
 *   is idf(t) × the largest factor among the tenant's documents holding t,
 *   which is idf(t) exactly when one of them is no longer than BM25_AVG_TERMS
 *   (and never more). A term no document holds counts idf(N, 0), N from this
 *   replica's usage counter. Since every document's share of term t is at
 *   most that probe score, normalised scores never exceed 1.
 *
 * What differs from the embedded store (src/store/embedded/postings.ts):
 * 1. Length normalisation uses a fixed average (BM25_AVG_TERMS), set when a
 *    document is written, not the partition's live average at query time.
 * 2. IDF is over the whole tenant (all levels), not per (tenant, level)
 *    partition; a multi-level search is one ranking, not a union per level.
 * 3. No term is dropped as too common (the embedded store skips terms in
 *    more than 5 % and at least 256 rows), and there is no visit budget.
 * 4. The divisor is built from probes (above), so it can be slightly smaller
 *    than the exact total IDF when every holder of a term is long.
 * 5. Qdrant keeps IDF statistics per shard, not per collection: each shard
 *    fills its query context from its own segments (lib/shard/src/query/
 *    query_context.rs fill_query_context; the 1.19 docs of per-query IDF
 *    say so, qdrant/landing_page #2526). With store.qdrant.shard_number > 1,
 *    N and df are the tenant's points in the scoring shard, still never
 *    another tenant's; one tenant's points on different shards are scored
 *    with slightly different IDFs. The probe bound above still holds (a
 *    probe's score is the best over every shard).
 */
import { BM25_K1, BM25_B, idf, termFactor, termHashes } from '../../domain/lexical.ts';

export { BM25_K1, BM25_B };

/** The average document length (distinct terms) length normalisation assumes: a few sentences. */
export const BM25_AVG_TERMS = 32;
/** Query terms used, as the embedded store's postings (MAX_QUERY_TERMS). */
export const MAX_QUERY_TERMS = 64;
/** The name of the sparse vector. */
export const SPARSE_NAME = 'bm25';

export interface Sparse {
  readonly indices: number[];
  readonly values: number[];
}

/** A document's sparse vector; null for a text without terms (the point then has no sparse vector). */
export function documentSparse(terms: Uint32Array): Sparse | null {
  const indices = [...new Set(terms)].sort((a, b) => a - b);
  if (indices.length === 0) return null;
  const value = termFactor(indices.length, BM25_AVG_TERMS);
  return { indices, values: indices.map(() => value) };
}

/** The distinct term hashes a query searches by, in the order the text gives them. */
export function queryTerms(text: string | undefined): number[] {
  if (!text) return [];
  return [...new Set(termHashes(text))].slice(0, MAX_QUERY_TERMS);
}

export function querySparse(terms: readonly number[]): Sparse {
  return { indices: [...terms], values: terms.map(() => 1) };
}

/**
 * The query's total IDF from its probes' best scores (null: no document of
 * the tenant holds the term) and the tenant's size.
 */
export function totalIdf(probes: ReadonlyArray<number | null>, corpusSize: number): number {
  let total = 0;
  for (const best of probes) total += best ?? idf(Math.max(0, corpusSize), 0);
  return total;
}

/** A raw Qdrant sparse score → [0, 1]. */
export function normalise(score: number, total: number): number {
  if (!(total > 0) || !(score > 0)) return 0;
  return Math.min(1, score / total);
}

/**
 * Search on Qdrant with the embedded store's contract (src/domain/context.ts
 * unionOfBest): the k nearest by cosine among the records matching the
 * filter, and with query text the k best by BM25, each hit carrying both
 * scores. Requests (all through the Query API, in batches:
 * https://qdrant.tech/documentation/concepts/search/#batch-search-api):
 * 1. dense — `query` = the vector, `using` = the space's dense vector,
 *    `filter` inside, limit k;
 * 2. lexical — `query` = the sparse query vector, `using` = "bm25",
 *    `params.idf.corpus` = the tenant, the same filter, limit k, returning the
 *    dense vector so a lexical-only hit's cosine is computed here;
 * 3. one probe per query term (bm25.ts) for the normalisation;
 * then, in a second batch, the BM25 of dense hits the lexical top k did not
 * hold: the lexical query restricted to them with `has_id`.
 * A query without a vector is lexical only (similarity 0); without text,
 * dense only (lexical 0). Pure: request building and result assembly.
 */
import type { Schemas } from '@qdrant/js-client-rest';
import { unionOfBest, type RecordFilter, type SearchHit, type SearchQuery } from '../../domain/context.ts';
import { normalise, querySparse, queryTerms, SPARSE_NAME, totalIdf } from './bm25.ts';
import { hasIds, recordFilter, tenantFilter, type QFilter } from './filter.ts';
import { META_FIELDS, metaFromPayload, type Payload } from './payload.ts';
import { pointIdOf } from './point-ids.ts';
import { cosine } from '../../domain/cosine.ts';

type QueryRequest = Schemas['QueryRequest'];
type ScoredPoint = Schemas['ScoredPoint'];

const META: Schemas['WithPayloadInterface'] = { include: META_FIELDS };

export function denseRequest(filter: QFilter, vector: Float32Array, limit: number, using: string): QueryRequest {
  return { query: Array.from(vector), using, filter, limit, with_payload: META, with_vector: false };
}

export function lexicalRequest(tenant: string, filter: QFilter, terms: readonly number[], limit: number, denseName: string | null): QueryRequest {
  return {
    query: querySparse(terms),
    using: SPARSE_NAME,
    filter,
    params: { idf: { corpus: tenantFilter(tenant) } },
    limit,
    with_payload: META,
    with_vector: denseName ? [denseName] : false,
  };
}

/** The best score of one term over the tenant: idf(term) × its best holder's factor (bm25.ts). */
export function probeRequest(tenant: string, term: number): QueryRequest {
  return {
    query: querySparse([term]),
    using: SPARSE_NAME,
    filter: tenantFilter(tenant),
    params: { idf: { corpus: tenantFilter(tenant) } },
    limit: 1,
    with_payload: false,
    with_vector: false,
  };
}

export interface QueryPlan {
  readonly tenant: string;
  readonly query: SearchQuery;
  readonly k: number;
  readonly terms: number[];
  readonly requests: QueryRequest[];
  readonly dense: number | null;
  readonly lexical: number | null;
  /** Index of the first probe; one per term. */
  readonly probes: number;
}

export function planQuery(tenant: string, query: SearchQuery, filter: RecordFilter, k: number, denseName: string): QueryPlan {
  const f = recordFilter(tenant, filter);
  const requests: QueryRequest[] = [];
  const dense = query.vector ? requests.push(denseRequest(f, query.vector, k, denseName)) - 1 : null;
  const terms = queryTerms(query.text);
  const lexical = terms.length > 0 ? requests.push(lexicalRequest(tenant, f, terms, k, query.vector ? denseName : null)) - 1 : null;
  const probes = requests.length;
  if (lexical !== null) for (const t of terms) requests.push(probeRequest(tenant, t));
  return { tenant, query, k, terms, requests, dense, lexical, probes };
}

function denseOf(p: ScoredPoint, name: string): number[] | null {
  const v = p.vector as Record<string, unknown> | null | undefined;
  const dense = v && typeof v === 'object' && !Array.isArray(v) ? v[name] : null;
  return Array.isArray(dense) && dense.every((x) => typeof x === 'number') ? (dense as number[]) : null;
}

/** One query's hits after the first batch, and the dense hits still owed a lexical score. */
export interface Partial {
  readonly plan: QueryPlan;
  readonly hits: Map<string, { meta: SearchHit['meta']; similarity: number; lexical: number }>;
  readonly missing: string[];
  readonly total: number;
}

export function firstPass(plan: QueryPlan, responses: readonly Schemas['QueryResponse'][], corpusSize: number, denseName: string): Partial {
  const hits: Partial['hits'] = new Map();
  const probes = plan.terms.map((_, i) => responses[plan.probes + i]?.points[0]?.score ?? null);
  const total = totalIdf(probes, corpusSize);
  for (const p of plan.dense === null ? [] : (responses[plan.dense]?.points ?? [])) {
    const meta = metaFromPayload(p.payload as Payload);
    hits.set(meta.id, { meta, similarity: p.score, lexical: 0 });
  }
  const lexicalIds = new Set<string>();
  for (const p of plan.lexical === null ? [] : (responses[plan.lexical]?.points ?? [])) {
    const meta = metaFromPayload(p.payload as Payload);
    lexicalIds.add(meta.id);
    const lexical = normalise(p.score, total);
    const known = hits.get(meta.id);
    if (known) known.lexical = lexical;
    else {
      const v = plan.query.vector ? denseOf(p, denseName) : null;
      hits.set(meta.id, { meta, similarity: v && plan.query.vector ? cosine(plan.query.vector, v) : 0, lexical });
    }
  }
  const missing = plan.lexical === null ? [] : [...hits.keys()].filter((id) => !lexicalIds.has(id));
  return { plan, hits, missing, total };
}

/** The second batch's request for a query's dense hits without a lexical score (null: none owed). */
export function followUpRequest(part: Partial): QueryRequest | null {
  if (part.missing.length === 0) return null;
  const filter = recordFilter(part.plan.tenant, {}, [hasIds(part.missing.map(pointIdOf))]);
  return lexicalRequest(part.plan.tenant, filter, part.plan.terms, part.missing.length, null);
}

/** Final hits: the follow-up's scores added, then unionOfBest. */
export function finish(part: Partial, followUp: Schemas['QueryResponse'] | null): SearchHit[] {
  for (const p of followUp?.points ?? []) {
    const id = metaFromPayload(p.payload as Payload).id;
    const hit = part.hits.get(id);
    if (hit) hit.lexical = normalise(p.score, part.total);
  }
  return unionOfBest([...part.hits.values()], part.plan.k);
}

/**
 * Runs many queries' searches in one Query API batch, then their follow-ups
 * in a second one (only when some dense hit is owed a lexical score).
 */
export async function searchBatch(
  tenant: string,
  queries: readonly SearchQuery[],
  filter: RecordFilter,
  k: number,
  denseName: string,
  corpusSize: number,
  batch: (searches: QueryRequest[]) => Promise<Schemas['QueryResponse'][]>,
): Promise<SearchHit[][]> {
  const plans = queries.map((q) => planQuery(tenant, q, filter, k, denseName));
  const searches = plans.flatMap((p) => p.requests);
  const answers = searches.length === 0 ? [] : await batch(searches);
  let at = 0;
  const parts = plans.map((plan) => {
    const part = firstPass(plan, answers.slice(at, at + plan.requests.length), corpusSize, denseName);
    at += plan.requests.length;
    return part;
  });
  const followUps = parts.map(followUpRequest);
  const asked = followUps.filter((r): r is QueryRequest => r !== null);
  const more = asked.length === 0 ? [] : await batch(asked);
  let next = 0;
  return parts.map((part, i) => finish(part, followUps[i] ? (more[next++] ?? null) : null));
}

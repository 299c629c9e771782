/**
 * Every distinct value of a keyword or integer field among the points a
 * filter selects, with exact counts, by Qdrant's facet API
 * (https://qdrant.tech/documentation/concepts/payload/#facet-counts) with
 * `exact: true`. One facet answers at most `limit` values (the most frequent),
 * so this pages: each next request excludes the values already seen
 * (`must_not` match any), until a page comes back short. FACET_PAGE values
 * per request; a field with V distinct values costs ceil((V + 1) / FACET_PAGE)
 * requests. Used for tenants(), stats' sessions and the usage counters' text
 * bytes (a facet on text_bytes: Σ value × count).
 */
import type { Schemas } from '@qdrant/js-client-rest';
import { excluding, type QFilter } from './filter.ts';

export const FACET_PAGE = 10_000;

export type FacetCall = (request: Schemas['FacetRequest']) => Promise<Schemas['FacetResponse']>;

export function facetRequest(key: string, filter: QFilter | undefined, seen: readonly (string | number)[]): Schemas['FacetRequest'] {
  const base: QFilter = filter ?? {};
  const f = seen.length > 0 ? excluding(base, key, seen) : filter;
  return { key, limit: FACET_PAGE, exact: true, ...(f ? { filter: f } : {}) };
}

export async function facetAll(call: FacetCall, key: string, filter?: QFilter): Promise<Map<string | number | boolean, number>> {
  const counts = new Map<string | number | boolean, number>();
  for (;;) {
    const seen = [...counts.keys()].filter((v): v is string | number => typeof v !== 'boolean');
    const res = await call(facetRequest(key, filter, seen));
    let fresh = 0;
    for (const hit of res.hits) {
      if (!counts.has(hit.value)) fresh++;
      counts.set(hit.value, (counts.get(hit.value) ?? 0) + hit.count);
    }
    if (res.hits.length < FACET_PAGE || fresh === 0) return counts;
  }
}

/**
 * The Qdrant backend's handling of answers, as pure functions over answer
 * objects of the client's own response types: list pages from scroll (the
 * cursor rules of a scroll whose offset is inclusive), facet paging, and the
 * assembly of a search from its batch (follow-up for dense hits without a
 * lexical score, normalisation by the probes). No request leaves the process.
 */
import type { Schemas } from '@qdrant/js-client-rest';
import { describe, expect, it } from 'vitest';
import type { ContextMeta } from '../../src/domain/context.ts';
import { idf } from '../../src/domain/lexical.ts';
import { facetAll, FACET_PAGE } from '../../src/store/qdrant/facets.ts';
import { metaPayload } from '../../src/store/qdrant/payload.ts';
import { pointIdOf } from '../../src/store/qdrant/point-ids.ts';
import { cursorScrollRequest, scrollPage } from '../../src/store/qdrant/requests.ts';
import { searchBatch } from '../../src/store/qdrant/search.ts';
import { makeRecord } from '../helpers/records.ts';

const meta = (id: string): ContextMeta => {
  const { vector: _v, text: _t, terms: _terms, ...m } = makeRecord({ id, tenant: 'acme', text: 'x' }, 4);
  return m;
};
const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `c${String(from + i).padStart(23, '0')}`);

describe('list pages over an inclusive scroll offset', () => {
  it('asks from the cursor itself, one more for it and one more to see a next page', () => {
    expect(cursorScrollRequest('acme', {}, null, 10)).toMatchObject({ limit: 11 });
    expect(cursorScrollRequest('acme', {}, 'c00000000000000000000005', 10)).toMatchObject({ limit: 12, offset: pointIdOf('c00000000000000000000005') });
  });

  it('drops the cursor when it comes back, sets next only after a full page with a successor', () => {
    const all = ids(6).map(meta);
    // First page of 2: Qdrant returned 3 (limit + 1), more follow.
    expect(scrollPage(all.slice(0, 3), all[3]!.id, null, 2)).toEqual({ items: all.slice(0, 2), next: all[1]!.id });
    // Next page from all[1]: it comes back first and is dropped.
    expect(scrollPage(all.slice(1, 5), all[5]!.id, all[1]!.id, 2)).toEqual({ items: all.slice(2, 4), next: all[3]!.id });
    // The cursor's record was deleted meanwhile: nothing to drop.
    expect(scrollPage(all.slice(2, 6), null, all[1]!.id, 2)).toEqual({ items: all.slice(2, 4), next: all[3]!.id });
    // Last page: exactly `limit` left and no successor.
    expect(scrollPage(all.slice(3, 6), null, all[3]!.id, 2)).toEqual({ items: all.slice(4, 6), next: null });
    expect(scrollPage([], null, all[5]!.id, 2)).toEqual({ items: [], next: null });
  });
});

describe('facet paging', () => {
  it('excludes the values already seen until a page comes back short, and sums counts', async () => {
    const asked: Schemas['FacetRequest'][] = [];
    const pages: Schemas['FacetResponse'][] = [
      { hits: Array.from({ length: FACET_PAGE }, (_, i) => ({ value: i, count: 2 })) },
      { hits: [{ value: FACET_PAGE, count: 5 }] },
    ];
    const counts = await facetAll(async (r) => (asked.push(r), pages[asked.length - 1]!), 'text_bytes', { must: [] });
    expect(asked).toHaveLength(2);
    expect(asked[1]!.filter?.must_not).toEqual([{ key: 'text_bytes', match: { any: Array.from({ length: FACET_PAGE }, (_, i) => i) } }]);
    expect(counts.size).toBe(FACET_PAGE + 1);
    expect(counts.get(FACET_PAGE)).toBe(5);
  });
});

describe('search assembly', () => {
  const scored = (id: string, score: number, vector?: number[]): Schemas['ScoredPoint'] => ({
    id: pointIdOf(id),
    version: 1,
    score,
    payload: metaPayload(meta(id)),
    ...(vector && { vector: { d: vector } }),
  });

  it('asks the lexical score of dense hits the lexical top k missed, and normalises by the probes', async () => {
    const [a, b, c] = ids(3);
    const batches: Schemas['QueryRequest'][][] = [];
    const hits = await searchBatch('acme', [{ vector: Float32Array.from([1, 0, 0, 0]), text: 'quartz lantern' }], {}, 2, 'd', 10, async (searches) => {
      batches.push(searches);
      if (batches.length === 2) return [{ points: [scored(a!, 0.5)] }];
      return [
        { points: [scored(a!, 0.9), scored(b!, 0.8)] }, // dense
        { points: [scored(c!, 2, [0, 1, 0, 0]), scored(b!, 1)] }, // lexical, c with its dense vector
        { points: [scored(c!, 1.5)] }, // probe "quartz"
        { points: [] }, // probe "lantern": no holder
      ];
    });
    expect(batches[0]).toHaveLength(4);
    // The follow-up: the lexical query restricted to `a`, the dense hit the lexical top 2 missed.
    expect(batches[1]).toHaveLength(1);
    expect(batches[1]![0]!.filter).toEqual({ must: [{ key: 'tenant', match: { value: 'acme' } }, { has_id: [pointIdOf(a!)] }] });
    const total = 1.5 + idf(10, 0);
    const byId = new Map(hits[0]!.map((h) => [h.meta.id, h]));
    expect(byId.get(a!)).toMatchObject({ similarity: 0.9, lexical: 0.5 / total });
    expect(byId.get(b!)).toMatchObject({ similarity: 0.8, lexical: 1 / total });
    expect(byId.get(c!)).toMatchObject({ similarity: 0, lexical: 2 / total });
  });
});

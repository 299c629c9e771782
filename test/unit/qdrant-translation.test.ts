/**
 * The Qdrant backend's translations, without a server: filters, payloads,
 * point ids, and the request object of every operation, each assigned to the
 * client's own `Schemas[...]` type (so `tsc` checks them against Qdrant's
 * OpenAPI schema) and compared with the request examples of Qdrant's
 * documentation where one exists (cited beside it). Nothing here imitates a
 * Qdrant server: what Qdrant does with these requests is checked by
 * test/integration/qdrant-store.test.ts against a live one (QDRANT_URL).
 */
import fc from 'fast-check';
import { QdrantClientTimeoutError, type Schemas } from '@qdrant/js-client-rest';
import { describe, expect, it } from 'vitest';
import type { ContextRecord, RecordFilter } from '../../src/domain/context.ts';
import { DependencyUnavailableError } from '../../src/domain/errors.ts';
import { idf, termFactor, termHashes } from '../../src/domain/lexical.ts';
import { VectorSpaceMismatchError } from '../../src/domain/vector-space.ts';
import { newContextId } from '../../src/engine/ids.ts';
import { Breaker, BreakerOpenError } from '../../src/resilience/breaker.ts';
import { BM25_AVG_TERMS, documentSparse, normalise, queryTerms, totalIdf } from '../../src/store/qdrant/bm25.ts';
import { isQdrantFailure, QdrantCaller } from '../../src/store/qdrant/call.ts';
import { checkServerVersion } from '../../src/store/qdrant/collection.ts';
import { facetRequest, FACET_PAGE } from '../../src/store/qdrant/facets.ts';
import { olderVersion, recordFilter, tenantFilter, unchangedSince } from '../../src/store/qdrant/filter.ts';
import { checkCollection, createCollectionParams, denseVectorName, missingIndexes, PAYLOAD_INDEXES, QdrantSpaceMismatchError, type LayoutOptions } from '../../src/store/qdrant/layout.ts';
import { canonicalJson, docFromPayload, metaKvEntry, NO_EXPIRY, recordPayload, stampPayload, WRITE_STAMPS_KEPT } from '../../src/store/qdrant/payload.ts';
import { pointOf } from '../../src/store/qdrant/point.ts';
import { isNativeId, nativeIdOfPoint, pointIdOf } from '../../src/store/qdrant/point-ids.ts';
import { countRequest, deleteRequest, retrieveRequest, scrollRequest, setPayloadRequest, upsertRequest } from '../../src/store/qdrant/requests.ts';
import { planQuery } from '../../src/store/qdrant/search.ts';
import { UsageCounters } from '../../src/store/qdrant/usage.ts';
import { makeRecord } from '../helpers/records.ts';

const T = { key: 'tenant', match: { value: 'acme' } };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const space = { kind: 'hash', model: 'fnv/v1:test', dims: 4 };

describe('point ids', () => {
  const native = fc.stringMatching(/^[0-9a-z]{23}$/).map((s) => `c${s}`);

  it('maps native ids bijectively into UUIDs with the top bit 0', () => {
    fc.assert(
      fc.property(native, (id) => {
        const p = pointIdOf(id);
        expect(p).toMatch(UUID);
        expect(parseInt(p[0]!, 16)).toBeLessThan(8);
        expect(nativeIdOfPoint(p)).toBe(id);
      }),
    );
    const id = newContextId();
    expect(isNativeId(id)).toBe(true);
    expect(nativeIdOfPoint(pointIdOf(id))).toBe(id);
    expect(pointIdOf('c00000000000000000000000')).toBe('00000000-0000-0000-0000-000000000000');
    expect(pointIdOf('c0000000000000000000000z')).toBe('00000000-0000-0000-0000-000000000023');
  });

  it('preserves order: ctxd id order is UUID byte order, which is Qdrant scroll order', () => {
    fc.assert(
      fc.property(native, native, (a, b) => {
        // UUIDs of one fixed format compare as their hex digits, i.e. as 16 big-endian bytes.
        expect(Math.sign(pointIdOf(a).localeCompare(pointIdOf(b), 'en', { numeric: false }))).toBe(Math.sign(a < b ? -1 : a > b ? 1 : 0));
        expect(pointIdOf(a) < pointIdOf(b)).toBe(a < b);
      }),
      { numRuns: 2000 },
    );
    const later = [newContextId(1_000), newContextId(2_000), newContextId(2_000), newContextId(3_000)];
    expect([...later].sort((x, y) => (pointIdOf(x) < pointIdOf(y) ? -1 : 1))).toEqual(later);
  });

  it('maps foreign ids deterministically to UUIDs with the top bit 1, after every native id', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }).filter((s) => !isNativeId(s)), (id) => {
        const p = pointIdOf(id);
        expect(p).toMatch(UUID);
        expect(pointIdOf(id)).toBe(p);
        expect(parseInt(p[0]!, 16)).toBeGreaterThanOrEqual(8);
        expect(nativeIdOfPoint(p)).toBeNull();
        expect(p > pointIdOf('czzzzzzzzzzzzzzzzzzzzzzz')).toBe(true);
      }),
    );
    expect(pointIdOf('imported-1')).not.toBe(pointIdOf('imported-2'));
    expect(pointIdOf('C00000000000000000000000')).not.toBe(pointIdOf('c00000000000000000000000'));
  });
});

describe('filters: every RecordFilter field inside the request', () => {
  // Shapes as in https://qdrant.tech/documentation/concepts/filtering/ — match value
  // {"key": "city", "match": {"value": "London"}}, match any {"key": "color", "match": {"any": ["black", "yellow"]}},
  // range {"key": "price", "range": {"gte": 100.0, "lte": 450.0}}, has_id {"has_id": [1, 3, 5]}.
  const cases: Array<[string, RecordFilter, Schemas['Condition'][]]> = [
    ['nothing', {}, []],
    ['levels', { levels: [1, 2] }, [{ key: 'level', match: { any: [1, 2] } }]],
    ['no levels matches nothing', { levels: [] }, [{ key: 'level', match: { any: [] } }]],
    ['session', { session: 's1' }, [{ key: 'session', match: { value: 's1' } }]],
    ['agent', { agent: 'bot' }, [{ key: 'agent', match: { value: 'bot' } }]],
    ['tagsAny', { tagsAny: ['a', 'b'] }, [{ key: 'tags', match: { any: ['a', 'b'] } }]],
    ['empty tagsAny restricts nothing', { tagsAny: [] }, []],
    ['tagsAll', { tagsAll: ['a', 'b'] }, [{ key: 'tags', match: { value: 'a' } }, { key: 'tags', match: { value: 'b' } }]],
    ['where', { where: { 'team.name': 'red', n: { b: 1, a: [2] } } }, [{ key: 'meta_kv', match: { value: 'team.name\u0000"red"' } }, { key: 'meta_kv', match: { value: 'n\u0000{"a":[2],"b":1}' } }]],
    ['since', { since: 10 }, [{ key: 'ts', range: { gte: 10 } }]],
    ['until', { until: 20 }, [{ key: 'ts', range: { lte: 20 } }]],
    ['since and until', { since: 10, until: 20 }, [{ key: 'ts', range: { gte: 10, lte: 20 } }]],
    ['aliveAt', { aliveAt: 5 }, [{ key: 'expires_at', range: { gt: 5 } }]],
    ['expiredBy', { expiredBy: 7 }, [{ key: 'expires_at', range: { lte: 7 } }]],
    ['minAccessCount', { minAccessCount: 3 }, [{ key: 'access_count', range: { gte: 3 } }]],
  ];
  it.each(cases)('%s', (_name, f, conditions) => {
    const filter: Schemas['Filter'] = recordFilter('acme', f);
    expect(filter).toEqual({ must: [T, ...conditions] });
  });

  it('combines every field in one conjunction, tenant first', () => {
    const all: RecordFilter = { levels: [3], session: 's', agent: 'a', tagsAny: ['x'], tagsAll: ['y'], where: { k: 1 }, since: 1, until: 2, aliveAt: 3, expiredBy: 4, minAccessCount: 5 };
    const filter: Schemas['Filter'] = recordFilter('acme', all, [{ has_id: [pointIdOf('x')] }]);
    expect(filter.must).toHaveLength(11);
    expect((filter.must as Schemas['Condition'][])[0]).toEqual(T);
    expect(filter.must).toContainEqual({ key: 'expires_at', range: { gt: 3, lte: 4 } });
    expect(filter.must).toContainEqual({ has_id: [pointIdOf('x')] });
  });

  it('gives equal metadata values one meta_kv entry whatever the key order', () => {
    expect(metaKvEntry('k', { a: 1, b: [1, { d: 2, c: 3 }] })).toBe(metaKvEntry('k', { b: [1, { c: 3, d: 2 }], a: 1 }));
    expect(canonicalJson(-0)).toBe('0');
    expect(metaKvEntry('a', 'b\u0000c')).toBe('a\u0000"b\\u0000c"');
  });

  it('conditions conditional writes on tenant, id, version and write stamp', () => {
    const p = pointIdOf('c00000000000000000000001');
    const cas: Schemas['Filter'] = unchangedSince('acme', p, 'c00000000000000000000001', 4, 'tag');
    expect(cas).toEqual({ must: [T, { has_id: [p] }, { key: 'cid', match: { value: 'c00000000000000000000001' } }, { key: 'version', match: { value: 4 } }, { key: 'wtag', match: { value: 'tag' } }] });
    const older: Schemas['Filter'] = olderVersion('acme', p, 'c00000000000000000000001', 5);
    expect(older.must).toContainEqual({ key: 'version', range: { lt: 5 } });
  });
});

describe('payload and points', () => {
  const rec = (over: Partial<ContextRecord> = {}): ContextRecord => makeRecord({ tenant: 'acme', text: 'Ticket ABC-1234 blocked on payments', tags: ['t2', 't1'], metadata: { 'a.b': { z: 1, y: [null, 'x'] }, n: 3 }, agent: 'bot', expiresAt: 99, ...over }, 4);

  it('round-trips every field of a record exactly', () => {
    for (const r of [rec(), rec({ expiresAt: null, agent: null, tags: [], metadata: {} }), rec({ text: '' })]) {
      const { vector: _v, terms: _t, ...doc } = r;
      const payload = recordPayload(doc, 'w1');
      expect(docFromPayload(JSON.parse(JSON.stringify(payload)))).toEqual(doc);
      expect(payload.expires_at).toBe(r.expiresAt ?? NO_EXPIRY);
      expect(payload.text_bytes).toBe(Buffer.byteLength(r.text));
    }
  });

  it('keeps the last write stamps, newest first', () => {
    const stamps = stampPayload('new', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect(stamps.wtag).toBe('new');
    expect(stamps.wtags).toEqual(['new', 'a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(stamps.wtags).toHaveLength(WRITE_STAMPS_KEPT);
  });

  it('builds a whole point: UUID, named dense vector, bm25 sparse vector, payload', () => {
    const r = rec();
    // https://qdrant.tech/documentation/concepts/points/ (named vectors with a sparse one):
    // {"id": 1, "vector": {"image": [0.9, 0.1, 0.1, 0.2], "text": {"indices": [6, 7], "values": [1.0, 2.0]}}}
    const point: Schemas['PointStruct'] = pointOf(r, 'dense__x', 'w');
    expect(point.id).toBe(pointIdOf(r.id));
    const vectors = point.vector as Record<string, unknown>;
    expect(vectors.dense__x).toEqual(Array.from(r.vector));
    const sparse = vectors.bm25 as { indices: number[]; values: number[] };
    expect(sparse.indices).toEqual([...new Set(termHashes(r.text))].sort((a, b) => a - b));
    expect(sparse.values.every((v) => v === termFactor(sparse.indices.length, BM25_AVG_TERMS))).toBe(true);
    expect(Object.keys(pointOf(rec({ text: '' }), 'dense__x', 'w').vector as object)).toEqual(['dense__x']);
  });
});

describe('BM25 pieces', () => {
  it('document values are the binary-tf BM25 factor, at most 1', () => {
    expect(documentSparse(Uint32Array.from([5, 3, 5]))).toEqual({ indices: [3, 5], values: [1, 1] });
    const long = documentSparse(Uint32Array.from({ length: 200 }, (_, i) => i))!;
    expect(long.values[0]).toBeLessThan(1);
    expect(documentSparse(new Uint32Array())).toBeNull();
  });

  it('normalises by the probes total, absent terms weighing idf(N, 0), into [0, 1]', () => {
    expect(totalIdf([1.5, null], 10)).toBeCloseTo(1.5 + idf(10, 0));
    expect(normalise(2, 4)).toBe(0.5);
    expect(normalise(5, 4)).toBe(1);
    expect(normalise(1, 0)).toBe(0);
    expect(queryTerms('the the quartz QUARTZ memo')).toHaveLength(2);
    expect(queryTerms(Array.from({ length: 100 }, (_, i) => `w${i}x`).join(' '))).toHaveLength(64);
  });
});

describe('requests of every operation', () => {
  it('upsert: wait + strong ordering; conditional forms', () => {
    const p = pointOf(makeRecord({ tenant: 'acme', text: 'x y' }, 4), 'd', 'w');
    // https://qdrant.tech/documentation/concepts/points/#upload-points : PUT /collections/{name}/points {"points": [...]}, ?wait=true&ordering=strong
    const plain: Schemas['PointsList'] = upsertRequest([p], { filter: tenantFilter('acme') });
    expect(plain).toEqual({ wait: true, ordering: 'strong', points: [p], update_filter: { must: [T] } });
    const insert: Schemas['PointsList'] = upsertRequest([p], { mode: 'insert_only' });
    expect(insert).toEqual({ wait: true, ordering: 'strong', points: [p], update_mode: 'insert_only' });
  });

  it('set_payload by filter alone, delete by filter with the tenant, count exact, scroll by id, retrieve', () => {
    const ids = [pointIdOf('c00000000000000000000001')];
    // https://qdrant.tech/documentation/concepts/payload/#set-payload : {"payload": {...}, "filter": {"must": [...]}}
    const set: Schemas['SetPayload'] = setPayloadRequest({ access_count: 3 }, tenantFilter('acme'));
    expect(set).toEqual({ wait: true, ordering: 'strong', payload: { access_count: 3 }, filter: { must: [T] } });
    expect('points' in set).toBe(false);
    // https://qdrant.tech/documentation/concepts/points/#delete-points : {"filter": {"must": [...]}}
    const del: Schemas['FilterSelector'] = deleteRequest('acme', ids, { levels: [2] });
    expect(del).toEqual({ wait: true, ordering: 'strong', filter: { must: [T, { key: 'level', match: { any: [2] } }, { has_id: ids }] } });
    // https://qdrant.tech/documentation/concepts/points/#counting-points : {"filter": {...}, "exact": true}
    const count: Schemas['CountRequest'] = countRequest('acme', { session: 's' });
    expect(count).toEqual({ filter: { must: [T, { key: 'session', match: { value: 's' } }] }, exact: true });
    // https://qdrant.tech/documentation/concepts/points/#scroll-points : {"filter": ..., "limit": 1, "with_payload": true, "with_vector": false}
    const scroll: Schemas['ScrollRequest'] = scrollRequest('acme', {}, ids[0]!, 11);
    expect(scroll).toMatchObject({ filter: { must: [T] }, limit: 11, with_vector: false, offset: ids[0] });
    expect(scrollRequest('acme', {}, null, 5)).not.toHaveProperty('offset');
    const get: Schemas['PointRequest'] = retrieveRequest(['c00000000000000000000001'], ['cid'], 'd', 'majority');
    expect(get).toEqual({ ids, with_payload: ['cid'], with_vector: ['d'], consistency: 'majority' });
  });

  it('facet: exact, paged by excluding the values seen', () => {
    // https://qdrant.tech/documentation/concepts/payload/#facet-counts : {"key": "size", "filter": {...}, "exact": true}
    const first: Schemas['FacetRequest'] = facetRequest('tenant', undefined, []);
    expect(first).toEqual({ key: 'tenant', limit: FACET_PAGE, exact: true });
    const next: Schemas['FacetRequest'] = facetRequest('session', tenantFilter('acme'), ['s1', 's2']);
    expect(next.filter).toEqual({ must: [T], must_not: [{ key: 'session', match: { any: ['s1', 's2'] } }] });
    expect(facetRequest('text_bytes', tenantFilter('acme'), [3, 7]).filter).toEqual({ must: [T], must_not: [{ key: 'text_bytes', match: { any: [3, 7] } }] });
  });

  it('search: dense, lexical with the tenant as IDF corpus, one probe per term', () => {
    const vector = Float32Array.from([1, 0, 0, 0]);
    const plan = planQuery('acme', { vector, text: 'quartz memo' }, { levels: [3] }, 5, 'd');
    const [dense, lexical, ...probes] = plan.requests as [Schemas['QueryRequest'], Schemas['QueryRequest'], ...Schemas['QueryRequest'][]];
    const filter = { must: [T, { key: 'level', match: { any: [3] } }] };
    // https://qdrant.tech/documentation/concepts/search/#query-api : {"query": [0.2, 0.1, 0.9, 0.7], "using": "image", "filter": ..., "limit": 5}
    expect(dense).toMatchObject({ query: [1, 0, 0, 0], using: 'd', filter, limit: 5, with_vector: false });
    // https://qdrant.tech/documentation/concepts/vectors/#sparse-vectors : {"query": {"indices": [1, 42], "values": [0.22, 0.8]}, "using": "text"}
    const terms = [...new Set(termHashes('quartz memo'))];
    expect(lexical).toMatchObject({ query: { indices: terms, values: [1, 1] }, using: 'bm25', filter, limit: 5, params: { idf: { corpus: { must: [T] } } }, with_vector: ['d'] });
    expect(probes).toHaveLength(2);
    expect(probes[0]).toMatchObject({ query: { indices: [terms[0]], values: [1] }, filter: { must: [T] }, limit: 1, params: { idf: { corpus: { must: [T] } } } });
    const batch: Schemas['QueryRequestBatch'] = { searches: plan.requests };
    expect(batch.searches).toHaveLength(4);
    expect(planQuery('acme', { vector: null, text: 'quartz' }, {}, 3, 'd').requests.map((r) => r.using)).toEqual(['bm25', 'bm25']);
    expect(planQuery('acme', { vector }, {}, 3, 'd').requests.map((r) => r.using)).toEqual(['d']);
  });
});

describe('collection layout', () => {
  const layout: LayoutOptions = { space, shardNumber: 2, replicationFactor: 2, writeConsistencyFactor: 1, onDiskVectors: true, onDiskPayload: true };

  it('creates a named cosine dense vector and an idf sparse vector', () => {
    const params: Schemas['CreateCollection'] = createCollectionParams(layout);
    // https://qdrant.tech/documentation/concepts/indexing/#idf-modifier : {"sparse_vectors": {"text": {"modifier": "idf"}}}
    const expected: Schemas['CreateCollection'] = {
      vectors: { [denseVectorName(space)]: { size: 4, distance: 'Cosine', on_disk: true } },
      sparse_vectors: { bm25: { modifier: 'idf' } },
      shard_number: 2,
      replication_factor: 2,
      write_consistency_factor: 1,
      on_disk_payload: true,
    };
    expect(params).toEqual(expected);
  });

  it('names the dense vector after the space, within what Qdrant allows', () => {
    const name = denseVectorName(space);
    expect(name).toMatch(/^dense__hash__fnv_v1_test__4__[0-9a-f]{12}$/);
    expect(denseVectorName({ kind: 'openai', model: 'text-embedding-3-small', dims: 1536 })).toBe('dense__openai__text-embedding-3-small__1536');
    expect(denseVectorName({ kind: 'k', model: 'm'.repeat(500), dims: 8 }).length).toBeLessThanOrEqual(200);
    expect(denseVectorName({ kind: 'a', model: 'b:c', dims: 4 })).not.toBe(denseVectorName({ kind: 'a', model: 'b/c', dims: 4 }));
  });

  it('indexes tenant with is_tenant and every filtered field', () => {
    // https://qdrant.tech/documentation/manage-data/multitenancy/ : {"field_name": "group_id", "field_schema": {"type": "keyword", "is_tenant": true}}
    const tenant: Schemas['CreateFieldIndex'] = PAYLOAD_INDEXES[0]!;
    expect(tenant).toEqual({ field_name: 'tenant', field_schema: { type: 'keyword', is_tenant: true } });
    const fields = PAYLOAD_INDEXES.map((i) => i.field_name);
    for (const f of ['cid', 'level', 'session', 'agent', 'tags', 'meta_kv', 'expires_at', 'ts', 'created_ts', 'access_count', 'version']) expect(fields).toContain(f);
  });

  it('refuses a Qdrant older than 1.19 (it would ignore the per-tenant IDF corpus)', () => {
    expect(() => checkServerVersion('1.18.2')).toThrow(/too old/);
    expect(() => checkServerVersion('0.11.0')).toThrow(/too old/);
    expect(() => checkServerVersion('1.19.0')).not.toThrow();
    expect(() => checkServerVersion('2.0.0')).not.toThrow();
  });

  it('refuses a collection made for another space, and lists missing indexes', () => {
    const info = (vectors: Schemas['VectorsConfig']): Schemas['CollectionInfo'] =>
      ({ status: 'green', optimizer_status: 'ok', segments_count: 1, payload_schema: { tenant: { data_type: 'keyword', points: 0 } }, config: { params: { vectors, sparse_vectors: { bm25: { modifier: 'idf' } } } } }) as unknown as Schemas['CollectionInfo'];
    const ours = info({ [denseVectorName(space)]: { size: 4, distance: 'Cosine' } });
    expect(() => checkCollection(ours, layout, 'c')).not.toThrow();
    expect(missingIndexes(ours).map((i) => i.field_name)).not.toContain('tenant');
    const other = info({ dense__hash__other__4: { size: 4, distance: 'Cosine' } });
    expect(() => checkCollection(other, layout, 'c')).toThrow(QdrantSpaceMismatchError);
    expect(() => checkCollection(other, layout, 'c')).toThrow(VectorSpaceMismatchError);
    expect(() => checkCollection(info({ size: 4, distance: 'Cosine' }), layout, 'c')).toThrow(/unnamed/);
  });
});

describe('calls through the breaker', () => {
  const breaker = () => new Breaker({ name: 'store', timeoutMs: false, errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 1000, rollingCountTimeoutMs: 1000 });
  const http = (status: number, error = 'bad', headers: Record<string, string> = {}) => Object.assign(new Error(`HTTP ${status}`), { status, headers: new Headers(headers), data: { status: { error } } });

  it('counts network errors, timeouts, 5xx and 429 as failures; not 4xx', () => {
    expect(isQdrantFailure(new QdrantClientTimeoutError('t'))).toBe(true);
    expect(isQdrantFailure(http(503))).toBe(true);
    expect(isQdrantFailure(http(429))).toBe(true);
    expect(isQdrantFailure(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toBe(true);
    expect(isQdrantFailure(http(400))).toBe(false);
    expect(isQdrantFailure(http(404))).toBe(false);
    expect(isQdrantFailure(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(false);
  });

  it('maps failures to DependencyUnavailableError and 4xx to plain errors, never showing the key', async () => {
    const caller = new QdrantCaller(breaker(), 'sekret-key', 500);
    const down = await caller.run('scroll', () => Promise.reject(http(503, 'x', { 'retry-after': '7' })), { write: false }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(DependencyUnavailableError);
    expect(down).toMatchObject({ dependency: 'store', retryAfterMs: 7000, outcome: 'not_applied' });
    const timedOut = await caller.run('upsert', () => Promise.reject(new QdrantClientTimeoutError('aborted')), { write: true }).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ retryAfterMs: 1000, outcome: 'unknown', message: 'qdrant upsert failed: no answer within 500 ms' });
    const refused = await caller.run('upsert', () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })), { write: true }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ outcome: 'not_applied' });
    const bad = (await caller.run('upsert', () => Promise.reject(http(400, 'Wrong input: api-key sekret-key rejected')), { write: true }).catch((e: unknown) => e)) as Error;
    expect(bad).not.toBeInstanceOf(DependencyUnavailableError);
    expect(bad.message).toContain('HTTP 400');
    expect(bad.message).not.toContain('sekret-key');
  });

  it('fails fast while the breaker is open', async () => {
    const b = breaker();
    const caller = new QdrantCaller(b, null, 500);
    const open = new BreakerOpenError('store', 1234);
    const err = await caller.run('count', () => Promise.reject(open), { write: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ dependency: 'store', retryAfterMs: 1234 });
    b.shutdown();
  });
});

describe('usage counters', () => {
  it('adds own writes between loads and reloads when stale', async () => {
    let now = 0;
    let loads = 0;
    const counters = new UsageCounters(1000, () => now, async () => ({ contexts: 10 + loads++, textBytes: 100 }));
    await counters.refresh('a');
    counters.add('a', 2, 5);
    expect(counters.get('a')).toEqual({ contexts: 12, textBytes: 105 });
    now = 2000;
    counters.get('a'); // stale: reloads in the background
    await new Promise((r) => setImmediate(r));
    expect(counters.get('a')).toEqual({ contexts: 11, textBytes: 100 });
    expect(counters.get('new')).toEqual({ contexts: 0, textBytes: 0 });
  });
});

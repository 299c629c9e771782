/**
 * What the Qdrant client really puts on the wire for each request ctxd
 * builds, and which exceptions it really throws, without a Qdrant: the
 * global fetch the client calls is replaced by a recorder. For request
 * shapes the recorder rejects every call after writing it down, so nothing
 * here answers as Qdrant would; for the error mapping it returns one canned
 * HTTP status per test (the statuses Qdrant's src/actix/helpers.rs maps its
 * errors to), to check call.ts against the client's own error classes.
 * Expected bodies are compared with the request examples of Qdrant's
 * documentation and the server's OpenAPI schema (v1.19.0
 * docs/redoc/master/openapi.json), cited beside them.
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../../src/domain/errors.ts';
import { Breaker } from '../../src/resilience/breaker.ts';
import { toWireError } from '../../src/server/error-mapping.ts';
import { QdrantCaller, QdrantUnconfirmedWriteError } from '../../src/store/qdrant/call.ts';
import { createClient, splitUrl } from '../../src/store/qdrant/client.ts';
import { facetRequest } from '../../src/store/qdrant/facets.ts';
import { tenantFilter, unchangedSince } from '../../src/store/qdrant/filter.ts';
import { createCollectionParams, denseVectorName, PAYLOAD_INDEXES } from '../../src/store/qdrant/layout.ts';
import { pointOf } from '../../src/store/qdrant/point.ts';
import { pointIdOf } from '../../src/store/qdrant/point-ids.ts';
import { countRequest, deleteRequest, retrieveRequest, scrollRequest, setPayloadRequest, upsertRequest, type Args } from '../../src/store/qdrant/requests.ts';
import { planQuery } from '../../src/store/qdrant/search.ts';
import { makeRecord } from '../helpers/records.ts';

const T = { key: 'tenant', match: { value: 'acme' } };
const NOT_SENT = new Error('recorded, not sent');

interface Sent {
  readonly method: string;
  readonly url: URL;
  readonly body: unknown;
}

/** Replaces fetch: records each request, then answers with `answer` (default: rejects, so nothing imitates Qdrant). */
function record(answer: () => Response | Promise<Response> = () => Promise.reject(NOT_SENT)): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    sent.push({ method: String(init.method), url: new URL(url), body: init.body === undefined ? undefined : JSON.parse(String(init.body)) });
    return answer();
  });
  return sent;
}

afterEach(() => vi.unstubAllGlobals());

const client = (url = 'http://qdrant:6333') => createClient({ url, apiKey: null, timeoutMs: 1000, maxConnections: 2 });

async function one(call: (c: QdrantClient) => Promise<unknown>, url?: string): Promise<Sent> {
  const sent = record();
  await expect(call(client(url))).rejects.toBe(NOT_SENT);
  expect(sent).toHaveLength(1);
  return sent[0]!;
}

const query = (s: Sent) => Object.fromEntries(s.url.searchParams);

describe('requests on the wire: wait, ordering and consistency in the query string, the rest in the body', () => {
  it('upsert: PUT …/points?wait=true&ordering=strong with points and update_filter in the body', async () => {
    const p = pointOf(makeRecord({ tenant: 'acme', text: 'x y' }, 4), 'd', 'w');
    const args = upsertRequest([p], { filter: tenantFilter('acme'), mode: 'update_only' }) satisfies Args<'upsert'>;
    const s = await one((c) => c.upsert('ctx', args));
    expect([s.method, s.url.pathname, query(s)]).toEqual(['PUT', '/collections/ctx/points', { wait: 'true', ordering: 'strong' }]);
    // https://api.qdrant.tech/v-1-19-x/api-reference/points/upsert-points : wait, ordering, timeout are query parameters; the body is a
    // PointsList {"points", "update_filter", "update_mode": "upsert" | "insert_only" | "update_only"} (openapi.json PointsList, UpdateMode)
    expect(s.body).toEqual(JSON.parse(JSON.stringify({ points: [p], update_filter: { must: [T] }, update_mode: 'update_only' })));
  });

  it('set_payload, delete: the filter alone selects the points, inside the body', async () => {
    const id = pointIdOf('c00000000000000000000001');
    const cas = unchangedSince('acme', id, 'c00000000000000000000001', 2, 'w0');
    const set = await one((c) => c.setPayload('ctx', setPayloadRequest({ access_count: 3 }, cas)));
    expect([set.method, set.url.pathname, query(set)]).toEqual(['POST', '/collections/ctx/points/payload', { wait: 'true', ordering: 'strong' }]);
    // https://qdrant.tech/documentation/concepts/payload/#set-payload : {"payload": {"property1": "string"}, "filter": {"must": [...]}}
    expect(set.body).toEqual({ payload: { access_count: 3 }, filter: cas });
    const del = await one((c) => c.delete('ctx', deleteRequest('acme', [id])));
    expect([del.method, del.url.pathname, query(del)]).toEqual(['POST', '/collections/ctx/points/delete', { wait: 'true', ordering: 'strong' }]);
    // https://qdrant.tech/documentation/concepts/points/#delete-points : {"filter": {"must": [...]}}
    expect(del.body).toEqual({ filter: { must: [T, { has_id: [id] }] } });
  });

  it('retrieve, scroll, count, facet: reads with their bodies', async () => {
    const id = pointIdOf('c00000000000000000000001');
    const get = await one((c) => c.retrieve('ctx', retrieveRequest(['c00000000000000000000001'], ['cid'], 'd', 'majority')));
    expect([get.method, get.url.pathname, query(get)]).toEqual(['POST', '/collections/ctx/points', { consistency: 'majority' }]);
    expect(get.body).toEqual({ ids: [id], with_payload: ['cid'], with_vector: ['d'] });
    const scroll = await one((c) => c.scroll('ctx', scrollRequest('acme', {}, id, 3, ['cid'])));
    expect([scroll.url.pathname, query(scroll)]).toEqual(['/collections/ctx/points/scroll', {}]);
    // https://qdrant.tech/documentation/concepts/points/#scroll-points : {"filter": ..., "limit": 1, "with_payload": true, "with_vector": false}
    expect(scroll.body).toEqual({ limit: 3, offset: id, filter: { must: [T] }, with_payload: ['cid'], with_vector: false });
    const count = await one((c) => c.count('ctx', countRequest('acme', { levels: [1] })));
    // https://qdrant.tech/documentation/concepts/points/#counting-points : {"filter": {...}, "exact": true}
    expect(count.body).toEqual({ filter: { must: [T, { key: 'level', match: { any: [1] } }] }, exact: true });
    const facet = await one((c) => c.facet('ctx', facetRequest('session', tenantFilter('acme'), ['s1'])));
    expect(facet.url.pathname).toBe('/collections/ctx/facet');
    // https://qdrant.tech/documentation/concepts/payload/#facet-counts : {"key": "size", "filter": {...}, "exact": true}
    expect(facet.body).toEqual({ key: 'session', limit: 10_000, exact: true, filter: { must: [T], must_not: [{ key: 'session', match: { any: ['s1'] } }] } });
  });

  it('query batch: the sparse query carries the tenant as its IDF corpus in params', async () => {
    const plan = planQuery('acme', { vector: Float32Array.from([1, 0, 0, 0]), text: 'quartz' }, {}, 5, 'd');
    const s = await one((c) => c.queryBatch('ctx', { searches: plan.requests } satisfies Args<'queryBatch'>));
    expect(s.url.pathname).toBe('/collections/ctx/points/query/batch');
    const [dense, lexical] = (s.body as { searches: Record<string, unknown>[] }).searches;
    expect(dense).toMatchObject({ query: [1, 0, 0, 0], using: 'd', filter: { must: [T] }, limit: 5 });
    expect(dense).not.toHaveProperty('params');
    // qdrant/qdrant #9661 (v1.19.0): {"query": {"indices": …, "values": …}, "filter": …, "params": {"idf": {"corpus": {"must": [{"key": "tenant", "match": {"value": "acme"}}]}}}}
    expect(lexical).toMatchObject({ using: 'bm25', query: { indices: expect.any(Array), values: [1] }, params: { idf: { corpus: { must: [T] } } } });
  });

  it('collection and payload indexes: PUT bodies as in the docs', async () => {
    const space = { kind: 'openai', model: 'text-embedding-3-small', dims: 1536 };
    const layout = { space, shardNumber: 1, replicationFactor: 1, writeConsistencyFactor: 1, onDiskVectors: false, onDiskPayload: true };
    const made = await one((c) => c.createCollection('ctx', createCollectionParams(layout) satisfies Args<'createCollection'>));
    expect([made.method, made.url.pathname, query(made)]).toEqual(['PUT', '/collections/ctx', {}]);
    // https://qdrant.tech/documentation/concepts/vectors/#sparse-vectors with the idf modifier: {"vectors": {"text": {…}}, "sparse_vectors": {"text": {"modifier": "idf"}}}
    expect(made.body).toEqual({ vectors: { [denseVectorName(space)]: { size: 1536, distance: 'Cosine', on_disk: false } }, sparse_vectors: { bm25: { modifier: 'idf' } }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true });
    const idx = await one((c) => c.createPayloadIndex('ctx', { ...PAYLOAD_INDEXES[0]!, wait: true } satisfies Args<'createPayloadIndex'>));
    expect([idx.method, idx.url.pathname, query(idx)]).toEqual(['PUT', '/collections/ctx/index', { wait: 'true' }]);
    // https://qdrant.tech/documentation/manage-data/multitenancy/ : {"field_name": "group_id", "field_schema": {"type": "keyword", "is_tenant": true}}
    expect(idx.body).toEqual({ field_name: 'tenant', field_schema: { type: 'keyword', is_tenant: true } });
  });

  it('keeps a path of the configured url as the prefix of every request', async () => {
    expect(splitUrl('https://proxy.example/qdrant/')).toEqual({ url: 'https://proxy.example', prefix: '/qdrant' });
    expect(splitUrl('http://qdrant:6333')).toEqual({ url: 'http://qdrant:6333' });
    const s = await one((c) => c.count('ctx', countRequest('acme', {})), 'https://proxy.example:8443/qdrant');
    expect(s.url.href).toBe('https://proxy.example:8443/qdrant/collections/ctx/points/count');
  });

  it('goes to the port the url names (the scheme default included), and to 6333 when it names none', async () => {
    expect(splitUrl('https://qdrant.example:443')).toEqual({ url: 'https://qdrant.example', port: 443 });
    expect(splitUrl('http://[::1]:80/q')).toEqual({ url: 'http://[::1]', prefix: '/q', port: 80 });
    const on443 = await one((c) => c.count('ctx', countRequest('acme', {})), 'https://qdrant.example:443');
    expect(on443.url.href).toBe('https://qdrant.example/collections/ctx/points/count');
    const unnamed = await one((c) => c.count('ctx', countRequest('acme', {})), 'https://qdrant.example');
    expect(unnamed.url.href).toBe('https://qdrant.example:6333/collections/ctx/points/count');
  });
});

describe('errors the client really throws, through the caller', () => {
  const breaker = () => new Breaker({ name: 'store', timeoutMs: false, errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 1000, rollingCountTimeoutMs: 1000 });
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  const qdrantError = (status: number, error: string, headers?: Record<string, string>) => json(status, { status: { error }, time: 0 }, headers);

  async function outcome(answer: () => Response, write: boolean): Promise<{ err: unknown; failures: number }> {
    record(answer);
    const b = breaker();
    const caller = new QdrantCaller(b, 'sekret', 1000);
    const c = client();
    const call = (): Promise<unknown> => (write ? c.upsert('ctx', upsertRequest([])) : c.count('ctx', countRequest('acme', {})));
    const err = await caller.run('upsert', call, { write }).catch((e: unknown) => e);
    const failures = b.stats.failures;
    b.shutdown();
    return { err, failures };
  }

  it('a request Qdrant refuses as malformed (400, 404, 422) is INTERNAL, never UNAVAILABLE, and leaves the breaker alone', async () => {
    for (const status of [400, 404, 422]) {
      const { err, failures } = await outcome(qdrantError(status, 'Wrong input: Format error in JSON body: unknown variant `sekret`'), true);
      expect(err).not.toBeInstanceOf(DependencyUnavailableError);
      expect((err as Error).message).toContain(`HTTP ${status}`);
      expect((err as Error).message).not.toContain('sekret');
      expect(toWireError(err).code).toBe('INTERNAL');
      expect(failures).toBe(0);
    }
  });

  it("Qdrant's own timeout (408) is UNAVAILABLE: outcome unknown for a write (it may still be applied), not applied for a read", async () => {
    const write = await outcome(qdrantError(408, 'Timeout error: Update operation timed out in 1.00 seconds on 1 out of 1 shards.'), true);
    expect(write.err).toBeInstanceOf(DependencyUnavailableError);
    expect(write.err).toMatchObject({ outcome: 'unknown', message: 'qdrant upsert failed: HTTP 408' });
    expect(toWireError(write.err)).toMatchObject({ code: 'UNAVAILABLE', details: { outcome: 'unknown' } });
    expect(write.failures).toBe(1);
    const read = await outcome(qdrantError(408, 'Timeout error: Operation \'search\' timed out'), false);
    expect(read.err).toMatchObject({ outcome: 'not_applied' });
  });

  it('5xx is UNAVAILABLE with outcome unknown for a write; 429 with Retry-After is not applied and says when to retry', async () => {
    expect((await outcome(qdrantError(503, 'Service unavailable: no active replica'), true)).err).toMatchObject({ outcome: 'unknown' });
    const limited = await outcome(qdrantError(429, 'Rate limiting exceeded: Write rate limit exceeded', { 'retry-after': '7' }), true);
    expect(limited.err).toMatchObject({ outcome: 'not_applied', retryAfterMs: 7000 });
  });

  it('a write answered 200 but not `completed` (acknowledged, wait_timeout) is not taken as written', async () => {
    for (const status of ['acknowledged', 'wait_timeout']) {
      const { err, failures } = await outcome(json(200, { result: { operation_id: 1, status }, status: 'ok', time: 0 }), true);
      expect(err).toBeInstanceOf(DependencyUnavailableError);
      expect(err).toMatchObject({ outcome: 'unknown' });
      expect((err as Error).cause).toBeInstanceOf(QdrantUnconfirmedWriteError);
      expect(failures).toBe(1);
    }
    const done = await outcome(json(200, { result: { operation_id: 1, status: 'completed' }, status: 'ok', time: 0 }), true);
    expect(done.err).toEqual({ operation_id: 1, status: 'completed' });
  });
});

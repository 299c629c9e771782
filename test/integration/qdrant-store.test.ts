/**
 * QdrantStore against a live Qdrant: the shared VectorStore contract, then
 * what only a store shared by replicas has to hold (two QdrantStore instances
 * over one collection). Runs only with QDRANT_URL set, each store in its own
 * fresh collection, dropped afterwards. Without it, only the behaviour with
 * Qdrant unreachable (a closed local port, no server at all) runs.
 */
import { createServer } from 'node:net';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../../src/domain/errors.ts';
import { hashEmbed } from '../../src/engine/text/hash-embedder.ts';
import { Breaker } from '../../src/resilience/breaker.ts';
import { QdrantStore, type QdrantStoreOptions } from '../../src/store/qdrant/qdrant-store.ts';
import type { VectorStore } from '../../src/store/vector-store.ts';
import { vectorStoreContract } from '../contract/vector-store.contract.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const QDRANT_URL = process.env.QDRANT_URL;
if (!QDRANT_URL) {
  console.log('QDRANT_URL not set: the Qdrant contract suite is skipped; run `docker run -p 6333:6333 qdrant/qdrant` then `QDRANT_URL=http://localhost:6333 npx vitest run test/integration/qdrant-store.test.ts`');
}

const SPACE = { kind: 'hash', model: 'fnv-words-v1', dims: 384 };
const collections = new Set<string>();
let serial = 0;

function options(url: string, collection: string, over: Partial<QdrantStoreOptions> = {}): QdrantStoreOptions {
  return {
    url,
    apiKey: process.env.QDRANT_API_KEY ?? null,
    collection,
    space: SPACE,
    timeoutMs: 5000,
    maxConnections: 16,
    shardNumber: 1,
    replicationFactor: 1,
    writeConsistencyFactor: 1,
    onDiskVectors: false,
    onDiskPayload: false,
    usageRefreshMs: 60_000,
    breaker: new Breaker({ name: 'store', timeoutMs: false, errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 2000, rollingCountTimeoutMs: 2000 }),
    ...over,
  };
}

function freshCollection(): string {
  const name = `ctxd_test_${process.pid}_${Date.now().toString(36)}_${serial++}`;
  collections.add(name);
  return name;
}

async function openStore(collection: string): Promise<QdrantStore> {
  const s = new QdrantStore(options(QDRANT_URL!, collection));
  await s.open();
  expect(s.health().ok).toBe(true);
  return s;
}

const byStore = new WeakMap<VectorStore, string>();

afterAll(async () => {
  if (!QDRANT_URL || collections.size === 0) return;
  const client = new QdrantClient({ url: QDRANT_URL, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });
  for (const c of collections) await client.deleteCollection(c).catch(() => undefined);
});

if (QDRANT_URL) {
  vectorStoreContract('qdrant', {
    async open() {
      const collection = freshCollection();
      const s = await openStore(collection);
      byStore.set(s, collection);
      return s;
    },
    async reopen(store) {
      const collection = byStore.get(store)!;
      await store.close();
      const s = await openStore(collection);
      byStore.set(s, collection);
      return s;
    },
  });
} else {
  describe.skip('VectorStore contract: qdrant (QDRANT_URL not set)', () => {
    it('runs against a live Qdrant only', () => {});
  });
}

describe.skipIf(!QDRANT_URL)('Qdrant: two replicas over one collection', () => {
  async function replicas(): Promise<[QdrantStore, QdrantStore]> {
    const collection = freshCollection();
    const a = await openStore(collection);
    return [a, await openStore(collection)];
  }

  it('keeps every one of concurrent patches through both, with versions that only grow', async () => {
    const [a, b] = await replicas();
    const r = makeRecord({ tenant: 't', text: 'shared record' });
    await a.upsert([r]);
    const patches = await Promise.all([
      a.patch('t', r.id, { metadata: { from_a: 1 } }),
      b.patch('t', r.id, { tags: ['from-b'] }),
      a.patch('t', r.id, { ts: r.ts + 5 }),
      b.patch('t', r.id, { text: 'shared record, rewritten', vector: hashEmbed('shared record, rewritten', 384) }),
    ]);
    const versions = patches.map((p) => p!.version).sort((x, y) => x - y);
    expect(new Set(versions).size).toBe(4);
    const [got] = await b.get('t', [r.id]);
    expect(got).toMatchObject({ tags: ['from-b'], ts: r.ts + 5, text: 'shared record, rewritten', version: versions[3] });
    // A patch that composed with a concurrent metadata patch keeps it (no lost update).
    expect(got!.metadata).toEqual({ from_a: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('never overcounts concurrent access increments from both replicas', async () => {
    const [a, b] = await replicas();
    const r = makeRecord({ tenant: 't', text: 'popular record' });
    await a.upsert([r]);
    const one = new Map([[r.id, 1]]);
    await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).incrementAccess('t', one)));
    const [got] = await a.get('t', [r.id]);
    expect(got!.accessCount).toBeLessThanOrEqual(6);
    expect(got!.accessCount).toBeGreaterThan(0);
    await a.incrementAccess('t', one);
    expect((await b.get('t', [r.id]))[0]!.accessCount).toBe(got!.accessCount + 1);
    await Promise.all([a.close(), b.close()]);
  });

  it('confines every op to its tenant', async () => {
    const [a, b] = await replicas();
    const mine = makeRecord({ tenant: 'a', text: 'tenant a secret plan' });
    await a.upsert([mine]);
    expect(await b.get('b', [mine.id])).toEqual([]);
    expect(await b.patch('b', mine.id, { tags: ['x'] })).toBeNull();
    await b.incrementAccess('b', new Map([[mine.id, 5]]));
    expect(await b.delete('b', [mine.id])).toBe(0);
    expect(await b.deleteWhere('b', {})).toBe(0);
    expect(await b.search('b', { vector: mine.vector, text: 'secret plan' }, {}, 5)).toEqual([]);
    // Upserting another tenant's id does not take it over.
    await b.upsert([{ ...mine, tenant: 'b', text: 'hijack' }]);
    expect((await a.get('a', [mine.id]))[0]).toMatchObject({ text: 'tenant a secret plan', accessCount: 0, tags: [] });
    expect(await b.get('b', [mine.id])).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it('computes IDF per tenant: one tenant storing a word does not move another tenant\u2019s scores', async () => {
    const [a, b] = await replicas();
    await b.upsert([makeRecord({ tenant: 'b', text: 'zebra quartz lantern' }), makeRecord({ tenant: 'b', text: 'quartz lantern' })]);
    const before = await b.search('b', { vector: null, text: 'zebra quartz' }, {}, 5);
    await a.upsert(Array.from({ length: 40 }, (_, i) => makeRecord({ tenant: 'a', text: `zebra herd number ${i}` })));
    const after = await b.search('b', { vector: null, text: 'zebra quartz' }, {}, 5);
    expect(after.map((h) => [h.meta.id, h.lexical])).toEqual(before.map((h) => [h.meta.id, h.lexical]));
    expect(before[0]!.lexical).toBeGreaterThan(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('scrolls a tenant in id order with a stable cursor while the other replica writes', async () => {
    const [a, b] = await replicas();
    const recs = Array.from({ length: 30 }, (_, i) => makeRecord({ tenant: 't', text: syntheticText(i) }));
    await a.upsert(recs);
    const seen: string[] = [];
    let after: string | null = null;
    let page = 0;
    do {
      const p = await a.scroll('t', {}, after, 7);
      seen.push(...p.items.map((m) => m.id));
      after = p.next;
      if (page++ === 1) {
        await b.delete('t', [recs[20]!.id, after!]);
        await b.upsert([makeRecord({ tenant: 't', text: 'written meanwhile' })]);
      }
    } while (after);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain(recs[20]!.id);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('Qdrant unreachable', () => {
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  it('opens without throwing, reports not ready, and fails ops with DependencyUnavailableError', async () => {
    const s = new QdrantStore(options(`http://127.0.0.1:${await closedPort()}`, 'never_created', { timeoutMs: 500 }));
    await s.open();
    expect(s.health()).toMatchObject({ ok: false, detail: expect.stringMatching(/^qdrant unreachable: /) });
    await expect(s.count('t', {})).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(s.usage('t')).toEqual({ contexts: 0, textBytes: 0 });
    const started = Date.now();
    await s.close();
    // Nothing left to wait for (no refresh timer, no retry): far below the 60 s usage refresh. A loose bound, not a speed test.
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

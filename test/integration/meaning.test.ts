/**
 * Retrieval by meaning with the default configuration (the local sentence
 * encoder, hybrid ranking): the acceptance check, exact look-ups, the
 * relevance floor, and dedup that never merges different facts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtxdClient, OpRequest } from '../../src/client/index.ts';
import { ctxd } from '../helpers/cli.ts';
import { startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';
import { UNRELATED_CONTEXTS } from '../fixtures/unrelated-contexts.ts';

const AUTOMOBILE = 'My automobile needs new tires before the winter trip.';

let d: RunningDaemon;
let c: CtxdClient;
beforeAll(async () => {
  // The default embedder, as `npm start` runs it (the test helper picks hash unless told otherwise).
  d = await startDaemon({ env: { CTXD_EMBEDDER_KIND: 'local' } });
  c = await d.client({ timeoutMs: 60_000 });
  await c.storeBatch([...UNRELATED_CONTEXTS.slice(0, 25), AUTOMOBILE, ...UNRELATED_CONTEXTS.slice(25)].map((text) => ({ text, level: 3 })));
}, 120_000);
afterAll(stopAll);

const retrieve = (query: string, extra: Omit<OpRequest<'retrieve'>, 'query'> = {}) => c.retrieve({ query, ...extra });

describe('retrieval by meaning (default embedder)', () => {
  it('runs the local sentence encoder by default', async () => {
    const health = await d.http('/health');
    expect(health.body.components?.embedder).toMatchObject({ ok: true, kind: 'local', model: 'universal-sentence-encoder-lite', dims: 512 });
  });

  it('finds the automobile fact for "car maintenance" first, by meaning alone', async () => {
    const r = await retrieve('car maintenance');
    expect(r.contexts[0]!.text).toBe(AUTOMOBILE);
    expect(r.degraded).toEqual([]);
    // No shared word: the dense channel found it; the parts still sum to the score.
    expect(r.contexts[0]!.relevance.lexical).toBe(0);
    expect(r.contexts[0]!.relevance.dense).toBeGreaterThan(0.4);
    const p = r.contexts[0]!.score_parts;
    expect(p.similarity + p.recency + p.level + p.frequency).toBeCloseTo(r.contexts[0]!.score, 5);
  });

  it('the CLI shows it too', async () => {
    const out = await ctxd(['query', 'car maintenance', '--port', String(d.port), '--data-dir', d.dataDir]);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n')[1]).toContain(AUTOMOBILE);
  });

  it('returns nothing above the floor for a question nothing answers', async () => {
    const r = await retrieve('recipe for lemon cake');
    expect(r.contexts).toEqual([]);
    // Lowering the floor for this request shows the candidates were there, below it.
    expect((await retrieve('recipe for lemon cake', { min_similarity: 0 })).contexts.length).toBeGreaterThan(0);
  });

  it('ranks the context naming an identifier first among texts that differ only in it', async () => {
    const ids = ['ABC-1234', 'ABC-1235', 'ABC-1243'];
    const stored = await c.storeBatch(ids.map((t) => ({ text: `Ticket ${t} is blocked waiting on the payments team.`, level: 3 })));
    expect(new Set(stored.results.map((x) => ('id' in x ? x.id : undefined))).size).toBe(3);
    for (const t of ids) {
      const r = await retrieve(`what's the status of ${t}`);
      expect(r.contexts[0]!.text).toContain(t);
      expect(r.contexts[0]!.relevance.lexical).toBeGreaterThan(r.contexts[1]!.relevance.lexical);
    }
  });
});

describe('dedup with the default embedder', () => {
  const pairs: Array<[string, string]> = [
    ['Ticket ABC-7000 is blocked on review.', 'Ticket ABC-7001 is blocked on review.'],
    ['The release train leaves on Tuesday.', 'The release train leaves on Thursday.'],
    ['Alice owns the billing service.', 'Alicia owns the billing service.'],
    ['The cache cluster has 12 nodes.', 'The cache cluster has 13 nodes.'],
    ['The nightly export is passing.', 'The nightly export is not passing.'],
    ['Invoice 2024-118 was paid in March.', 'Invoice 2024-119 was paid in March.'],
  ];
  it.each(pairs)('never merges %j with %j', async (a, b) => {
    const first = await c.store({ text: a, level: 3 });
    const second = await c.store({ text: b, level: 3 });
    expect(second.deduplicated).toBe(false);
    expect(second.id).not.toBe(first.id);
    expect((await c.get(first.id)).text).toBe(a);
  });

  it('merges the same text again, whatever its case and spacing', async () => {
    const first = await c.store({ text: 'The on-call phone is in the top drawer.', level: 3 });
    const again = await c.store({ text: 'the on-call phone  is in the top drawer.', level: 3 });
    expect(again).toMatchObject({ id: first.id, deduplicated: true });
  });
});

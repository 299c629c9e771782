/**
 * The `openai` embedder through the real daemon, against a real HTTP server
 * speaking the OpenAI embeddings API (test/helpers/fake-openai.ts): batching,
 * 429 with Retry-After, 500s and hangs retried then the breaker opening (seen
 * in /health and /metrics), degraded retrieves and UNAVAILABLE stores during
 * the outage, recovery through half-open, nothing acknowledged lost, an
 * API key that never shows in logs or errors, and a store's embedding deadline
 * (`embedder.store_deadline_ms`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtxdClient, StoreAnswer } from '../../src/client/index.ts';
import { CtxdError } from '../../src/client/index.ts';
import { startDaemon, stopAll, type HealthComponents, type RunningDaemon } from '../helpers/daemon.ts';
import { FakeOpenAi } from '../helpers/fake-openai.ts';
import { failure } from '../helpers/answers.ts';

const API_KEY = 'sk-test-9f8e7d6c5b4a-never-log-me';
const DIMS = 16;

let fake: FakeOpenAi;
let d: RunningDaemon;
let c: CtxdClient;
/** Every store the daemon acknowledged, id → text: all must be there at the end. */
const acknowledged = new Map<string, string>();

/** A daemon embedding through `server` (its key from CTXD_TEST_EMBEDDER_KEY), with `settings` (`key=value`) on top. */
function startOn(server: FakeOpenAi, settings: readonly string[]): Promise<RunningDaemon> {
  const endpoint = [`embedder.openai.base_url=${server.baseUrl}`, 'embedder.openai.model=fake-embed', `embedder.openai.dims=${DIMS}`, 'embedder.openai.api_key_env=CTXD_TEST_EMBEDDER_KEY'];
  return startDaemon({
    env: { CTXD_EMBEDDER_KIND: 'openai', CTXD_TEST_EMBEDDER_KEY: API_KEY },
    args: [...endpoint, ...settings].flatMap((setting) => ['--set', setting]),
  });
}

async function store(text: string): Promise<StoreAnswer> {
  const r = await c.store({ text, level: 3 });
  acknowledged.set(r.id, text);
  return r;
}

async function health(): Promise<HealthComponents> {
  return (await d.http('/health')).body.components!;
}

/** Polls /health (every 50 ms, up to `ms`) until the embedder's breaker is in `state`. */
async function breakerState(state: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if ((await health()).embedder.breaker === state) return;
    if (Date.now() > deadline) throw new Error(`breaker never reached ${state}: ${JSON.stringify((await health()).embedder)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  fake = await FakeOpenAi.start({ dims: DIMS, apiKey: API_KEY });
  d = await startOn(fake, [
    'embedder.openai.batch_size=8',
    'embedder.openai.concurrency=1',
    'embedder.openai.timeout_ms=300',
    'embedder.openai.max_retries=2',
    'embedder.openai.retry_base_ms=10',
    'embedder.openai.breaker_volume_threshold=4',
    'embedder.openai.breaker_reset_ms=1000',
    'embedder.openai.breaker_window_ms=1000',
    'engine.dedup_threshold=1.01',
  ]);
  c = await d.client({ timeoutMs: 30_000 });
}, 60_000);
afterAll(async () => {
  await stopAll();
  await fake.close();
});

describe('openai embedder in the daemon', () => {
  it('embeds stored texts through the endpoint, with the key, and micro-batches concurrent stores', async () => {
    const r = await store('the lighthouse keeper logs the tide at dawn');
    expect(r.deduplicated).toBe(false);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(fake.requests.at(-1)!.body).toMatchObject({ model: 'fake-embed', input: ['the lighthouse keeper logs the tide at dawn'] });

    // Hold the endpoint: the first store's call waits, the next nine queue and leave together.
    const before = fake.batchSizes.length;
    fake.pause();
    const texts = Array.from({ length: 10 }, (_, i) => `batched note number ${i} about harbour cranes`);
    const stores = texts.map((t) => store(t));
    await fake.until((f) => f.inFlight >= 1);
    fake.resume();
    await Promise.all(stores);
    const sizes = fake.batchSizes.slice(before);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(sizes.length).toBeLessThan(10);
    expect(Math.max(...sizes)).toBeGreaterThan(1);

    const found = await c.retrieve({ query: texts[3]! });
    expect(found.contexts[0]!.text).toBe(texts[3]);
    expect(found.contexts[0]!.relevance.dense).toBeCloseTo(1, 4);
    expect((await health()).embedder).toMatchObject({ ok: true, kind: 'openai', model: 'fake-embed', dims: DIMS, breaker: 'closed' });
  });

  it('waits out a 429 as its Retry-After says, without opening the breaker', async () => {
    const before = fake.requestCount;
    fake.failNext(1, { status: 429, retryAfter: 1 });
    const t0 = performance.now();
    await store('rate limited but stored after the pause');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
    expect(fake.requestCount - before).toBe(2);
    expect((await health()).embedder.breaker).toBe('closed');
  });

  it('during an outage: stores are UNAVAILABLE (retryable), the breaker opens, retrieves answer degraded from words', async () => {
    fake.setMode('fail500');
    const first = await failure(store('stored during the outage?'));
    expect(first.code).toBe('UNAVAILABLE');
    expect(first.retryable).toBe(true);
    expect(first.retryAfterMs).toBeGreaterThan(0);
    // Each store tried 1 + 2 retries; a second store fills the breaker's volume and opens it.
    await failure(store('another store during the outage'));
    await breakerState('open');
    const metrics = (await d.http('/metrics')).text;
    expect(metrics).toMatch(/ctxd_breaker_state\{dependency="embedder"\} 2/);
    expect(metrics).toMatch(/ctxd_breaker_transitions_total\{dependency="embedder",state="open"\} [1-9]/);

    // Open: refused at once, no call to the endpoint.
    const calls = fake.requestCount;
    const refused = await failure(store('refused by the open breaker'));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(fake.requestCount).toBe(calls);
    expect(metrics.length).toBeGreaterThan(0);

    const r = await c.retrieve({ query: 'lighthouse tide' });
    expect(r.degraded).toEqual(['embedder']);
    expect(r.contexts[0]!.text).toBe('the lighthouse keeper logs the tide at dawn');
    expect(r.contexts[0]!.relevance).toMatchObject({ dense: 0 });
  });

  it('hangs are cut by the per-call timeout and answered UNAVAILABLE', async () => {
    fake.setMode('hang');
    // Wait for the trial call of half-open, which hangs and re-opens the breaker.
    await breakerState('half_open');
    const e = await failure(store('stored while the endpoint hangs?'));
    expect(e.code).toBe('UNAVAILABLE');
    await breakerState('open');
  });

  it('half-opens and recovers once the endpoint answers again; nothing acknowledged was lost', async () => {
    fake.setMode('ok');
    await breakerState('half_open');
    // The trial call succeeds and closes the breaker.
    await store('first store after recovery');
    await breakerState('closed');
    await store('second store after recovery');

    for (const [id, text] of acknowledged) expect((await c.get(id)).text).toBe(text);
    const r = await c.retrieve({ query: 'second store after recovery' });
    expect(r.degraded).toEqual([]);
    expect(r.contexts[0]!.text).toBe('second store after recovery');
  });

  it('never writes the API key into logs, errors or /health', async () => {
    const everything = [JSON.stringify(d.logs), d.stderr.join('\n'), JSON.stringify(await health()), (await d.http('/metrics')).text].join('\n');
    expect(everything).not.toContain(API_KEY);
    expect(d.logs.some((l) => l.msg === 'embedding failed')).toBe(true);
    expect(d.logs.some((l) => l.msg === 'circuit breaker changed state' && l.state === 'open')).toBe(true);
  });
});

describe('embedder.store_deadline_ms', () => {
  it('answers a store UNAVAILABLE once its embedding has waited past the deadline, and writes nothing', async () => {
    const held = await FakeOpenAi.start({ dims: DIMS, apiKey: API_KEY });
    try {
      const daemon = await startOn(held, ['embedder.openai.timeout_ms=120000', 'embedder.openai.max_retries=0', 'embedder.store_deadline_ms=300']);
      const client = await daemon.client({ timeoutMs: 20_000 });
      held.pause();
      // Held until the deadline: neither the 120 s call timeout, nor the client's 20 s, nor the default 25 s ends it.
      const e = await failure(client.store({ text: 'a text held at the gate', level: 3 }));
      expect(e.code).toBe('UNAVAILABLE');
      held.resume();
      const found = await client.retrieve({ query: 'a text held at the gate', max_tokens: 1000 });
      expect(found.contexts).toHaveLength(0);
      await client.close();
    } finally {
      await held.close();
    }
  });
});

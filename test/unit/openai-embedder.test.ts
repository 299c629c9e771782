import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalize } from '../../src/engine/text/embedder.ts';
import {
  DEFAULT_EMBED_DEADLINE_MS,
  EmbedderError,
  OpenAiEmbedder,
  isEmbedderFailure,
  type OpenAiEmbedderOptions,
} from '../../src/engine/text/openai-embedder.ts';
import { Breaker, BreakerOpenError, type BreakerOptions, type BreakerState } from '../../src/resilience/breaker.ts';
import { FakeOpenAi } from '../helpers/fake-openai.ts';

const DIMS = 8;
const KEY = 'sk-test-SECRET-0123456789abcdef';

let fake: FakeOpenAi;
const toClose: Array<{ close(): Promise<void> } | { shutdown(): void }> = [];

beforeEach(async () => {
  fake = await FakeOpenAi.start({ dims: DIMS });
});

afterEach(async () => {
  for (const x of toClose.splice(0)) {
    if ('close' in x) await x.close();
    else x.shutdown();
  }
  await fake.close();
});

function breaker(over: Partial<BreakerOptions> = {}): Breaker {
  const b = new Breaker({
    name: 'embedder',
    timeoutMs: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 1_000, // never opens unless a test asks for it
    resetTimeoutMs: 60_000,
    rollingCountTimeoutMs: 60_000,
    ...over,
  });
  toClose.push(b);
  return b;
}

/** An embedder on the fake server; backoff sleeps are recorded and return at once unless `sleep` is given. */
function make(over: Partial<OpenAiEmbedderOptions> = {}) {
  const sleeps: number[] = [];
  const b = over.breaker ?? breaker();
  const e = new OpenAiEmbedder({
    baseUrl: fake.baseUrl,
    model: 'test-model',
    dims: DIMS,
    apiKey: null,
    batchSize: 4,
    timeoutMs: 5_000,
    concurrency: 2,
    maxRetries: 3,
    retryBaseMs: 100,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...over,
    breaker: b,
  });
  toClose.push(e);
  return { e, sleeps, breaker: b };
}

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text number ${i}`);
const expected = (t: string) => [...normalize(Float32Array.from(fake.vectorFor(t)))];
const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

async function failure(p: Promise<unknown>): Promise<EmbedderError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EmbedderError);
  return err as EmbedderError;
}

function nextState(b: Breaker, state: BreakerState): Promise<void> {
  return new Promise((resolve) => {
    const off = b.onTransition((s) => {
      if (s === state) {
        off();
        resolve();
      }
    });
  });
}


/** A clock that the embedder's backoff sleeps advance at once, recording each delay. */
function virtualClock(): { now: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  let t = Date.now();
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

describe('OpenAiEmbedder: requests and responses', () => {
  it('has the openai identity and its batch/concurrency settings', async () => {
    const { e } = make({ batchSize: 16, concurrency: 3 });
    expect(e.identity).toEqual({ kind: 'openai', model: 'test-model', dims: DIMS });
    expect([e.maxBatch, e.concurrency, e.threads]).toEqual([16, 3, 0]);
    await expect(e.embed([])).resolves.toEqual([]);
    expect(fake.requestCount).toBe(0);
  });

  it('splits into calls of at most batchSize texts and orders vectors by index', async () => {
    fake.shuffle = true; // the server answers with `data` reversed
    const { e } = make({ batchSize: 4, concurrency: 1 });
    const input = texts(10);
    const out = await e.embed(input);
    expect(fake.batchSizes).toEqual([4, 4, 2]);
    expect(out).toHaveLength(10);
    out.forEach((v, i) => {
      expect(v).toBeInstanceOf(Float32Array);
      expect([...v]).toEqual(expected(input[i]!));
      expect(norm(v)).toBeCloseTo(1, 5);
    });
    expect(fake.requests.flatMap((r) => r.body!.input as string[])).toEqual(input);
    expect(e.stats).toEqual({ requests: 3, retries: 0, failures: 0 });
  });

  it('sends model, input and encoding_format (no dimensions), without Authorization when there is no key', async () => {
    const { e } = make();
    await e.embed(['a', 'b']);
    const [req] = fake.requests;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/v1/embeddings');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.body).toEqual({ model: 'test-model', input: ['a', 'b'], encoding_format: 'float' });
  });

  it('accepts a base URL with a trailing slash', async () => {
    const { e } = make({ baseUrl: fake.baseUrl + '/' });
    await e.embed(['x']);
    expect(fake.requests[0]!.url).toBe('/v1/embeddings');
  });

  it('fails without retrying when the vectors have the wrong number of dimensions', async () => {
    fake.dims = 12;
    const { e, sleeps } = make();
    const err = await failure(e.embed(['a']));
    expect(err.code).toBe('dims_mismatch');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/expected 8, got 12/);
    expect(fake.requestCount).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('rejects malformed responses without retrying', async () => {
    const { e } = make();
    fake.failNext(1, { status: 200, body: '<html>proxy error page</html>' });
    let err = await failure(e.embed(['a']));
    expect(err.code).toBe('bad_response');
    expect(err.message).toContain('proxy error page');

    fake.failNext(1, {
      status: 200,
      body: JSON.stringify({ data: [{ index: 0, embedding: Array(DIMS).fill(1) }, { index: 0, embedding: Array(DIMS).fill(1) }] }),
    });
    err = await failure(e.embed(['a', 'b']));
    expect(err.message).toMatch(/index 0 appears twice/);

    fake.failNext(1, { status: 200, body: JSON.stringify({ data: [{ index: 0, embedding: Array(DIMS).fill(1) }] }) });
    err = await failure(e.embed(['a', 'b']));
    expect(err.message).toMatch(/1 embeddings for 2 inputs/);
    expect(fake.requestCount).toBe(3);
  });
});

describe('OpenAiEmbedder: retries', () => {
  it('honours Retry-After in seconds on 429, and a 429 does not count against the breaker', async () => {
    const { e, sleeps, breaker: b } = make();
    fake.failNext(1, { status: 429, retryAfter: 2 });
    const out = await e.embed(['a']);
    expect([...out[0]!]).toEqual(expected('a'));
    expect(sleeps).toEqual([2000]);
    expect(fake.requestCount).toBe(2);
    expect(b.stats).toMatchObject({ failures: 0, ignoredErrors: 1, successes: 1 });
    expect(e.stats).toEqual({ requests: 2, retries: 1, failures: 1 });
  });

  it('honours Retry-After as an HTTP date, and on 503', async () => {
    const { e, sleeps } = make();
    fake.failNext(1, { status: 503, retryAfter: new Date(Date.now() + 10_000).toUTCString() });
    await e.embed(['a']);
    expect(sleeps).toHaveLength(1);
    // the date has 1 s resolution
    expect(sleeps[0]).toBeGreaterThan(8_000);
    expect(sleeps[0]).toBeLessThanOrEqual(10_000);
  });

  it('caps Retry-After at retryMaxDelayMs, and gives up at once when the wait would pass the deadline', async () => {
    const { e, sleeps } = make({ retryMaxDelayMs: 30_000 });
    fake.failNext(1, { status: 429, retryAfter: 120 });
    await e.embed(['a'], { deadline: Date.now() + 60_000 });
    expect(sleeps).toEqual([30_000]);

    fake.failNext(1, { status: 429, retryAfter: 120 });
    const err = await failure(e.embed(['a'])); // default deadline: 25 s < 30 s
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(true);
    expect(sleeps).toEqual([30_000]);
  });

  it('retries 5xx with exponential backoff and ±25 % jitter', async () => {
    const rolls = [0, 0.5, 0.9999];
    const { e, sleeps } = make({ retryBaseMs: 100, maxRetries: 3, random: () => rolls.shift()! });
    fake.failNext(3, { status: 500 });
    await e.embed(['a']);
    expect(sleeps).toEqual([75, 200, 500]);
    expect(fake.requestCount).toBe(4);
  });

  it('keeps every jittered delay within ±25 % of base·2^attempt and under the cap', async () => {
    const { e, sleeps } = make({ retryBaseMs: 100, maxRetries: 6, random: Math.random, retryMaxDelayMs: 3_000 });
    fake.failNext(6, { status: 502 });
    await e.embed(['a'], { deadline: Date.now() + 60_000 });
    expect(sleeps).toHaveLength(6);
    sleeps.forEach((d, i) => {
      const nominal = 100 * 2 ** i;
      expect(d).toBeGreaterThanOrEqual(Math.min(Math.floor(nominal * 0.75), 3_000));
      expect(d).toBeLessThanOrEqual(Math.min(Math.ceil(nominal * 1.25), 3_000));
    });
  });

  it('retries 408, 409, 502, 503 and 504, and stops after maxRetries', async () => {
    const { e, sleeps } = make({ maxRetries: 5 });
    for (const status of [408, 409, 502, 503, 504]) fake.failNext(1, { status });
    await e.embed(['a']);
    expect(fake.requestCount).toBe(6);
    expect(sleeps).toHaveLength(5);

    fake.setMode('fail500');
    const err = await failure(e.embed(['a']));
    expect(err.status).toBe(500);
    expect(err.retryable).toBe(true);
    expect(fake.requestCount).toBe(6 + 6);
  });

  it.each([400, 401, 403, 404, 422])('does not retry HTTP %i', async (status) => {
    const { e, sleeps, breaker: b } = make();
    fake.failNext(1, { status });
    const err = await failure(e.embed(['a']));
    expect(err.code).toBe('http');
    expect(err.status).toBe(status);
    expect(err.retryable).toBe(false);
    expect(fake.requestCount).toBe(1);
    expect(sleeps).toEqual([]);
    expect(b.stats.failures).toBe(0);
  });

  it('retries connection failures', async () => {
    const dead = await FakeOpenAi.start();
    const baseUrl = dead.baseUrl;
    await dead.close();
    const { e, sleeps, breaker: b } = make({ baseUrl, maxRetries: 2 });
    const err = await failure(e.embed(['a']));
    expect(err.code).toBe('network');
    expect(err.retryable).toBe(true);
    expect(sleeps).toHaveLength(2);
    expect(e.stats).toEqual({ requests: 3, retries: 2, failures: 3 });
    expect(b.stats.failures).toBe(3);
  });
});

describe('OpenAiEmbedder: timeouts and deadlines', () => {
  it('cuts a hanging call at timeoutMs', async () => {
    const { e } = make({ timeoutMs: 200, maxRetries: 0 });
    fake.hangNext(1);
    const t0 = Date.now();
    const err = await failure(e.embed(['a']));
    const elapsed = Date.now() - t0;
    expect(err.code).toBe('timeout');
    expect(err.retryable).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(5_000);
    await fake.until((f) => f.inFlight === 0); // the client dropped the connection
  });

  it('retries after a timeout', async () => {
    const { e, sleeps } = make({ timeoutMs: 200, maxRetries: 1 });
    fake.hangNext(1);
    const out = await e.embed(['a']);
    expect([...out[0]!]).toEqual(expected('a'));
    expect(fake.requestCount).toBe(2);
    expect(sleeps).toHaveLength(1);
  });

  it('stops retrying when the next attempt would not fit before the deadline', async () => {
    const clock = virtualClock();
    const sleeps = clock.sleeps;
    const { e } = make({
      now: clock.now,
      sleep: clock.sleep,
      retryBaseMs: 1_000,
      maxRetries: 10,
    });
    fake.setMode('fail500');
    const err = await failure(e.embed(['a'], { deadline: clock.now() + 5_000 }));
    expect(err.status).toBe(500);
    // 1 s and 2 s fit (t+3 s); the next 4 s would end past the deadline
    expect(sleeps).toEqual([1_000, 2_000]);
    expect(fake.requestCount).toBe(3);
  });

  it(`uses a ${DEFAULT_EMBED_DEADLINE_MS} ms deadline when none is given`, async () => {
    expect(DEFAULT_EMBED_DEADLINE_MS).toBe(25_000);
    const clock = virtualClock();
    const sleeps = clock.sleeps;
    const { e } = make({
      now: clock.now,
      sleep: clock.sleep,
      retryBaseMs: 10_000,
      maxRetries: 10,
    });
    fake.setMode('fail500');
    await failure(e.embed(['a']));
    // 10 s fits in 25 s; then 20 s would not fit in the 15 s left
    expect(sleeps).toEqual([10_000]);
    expect(fake.requestCount).toBe(2);
  });

  it('cuts a hanging call at the deadline when it comes before timeoutMs', async () => {
    const { e } = make({ timeoutMs: 10_000, maxRetries: 5 });
    fake.setMode('hang');
    const t0 = Date.now();
    const err = await failure(e.embed(['a'], { deadline: t0 + 300 }));
    const elapsed = Date.now() - t0;
    expect(err.code).toBe('deadline');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5_000);
    expect(fake.requestCount).toBe(1);
  });

  it('sends nothing when the deadline has already passed', async () => {
    const { e } = make();
    const err = await failure(e.embed(['a'], { deadline: Date.now() - 1 }));
    expect(err.code).toBe('deadline');
    expect(fake.requestCount).toBe(0);
  });
});

describe('OpenAiEmbedder: circuit breaker', () => {
  it('opens after repeated failures, then rejects with BreakerOpenError without an HTTP call', async () => {
    const b = breaker({ volumeThreshold: 3, resetTimeoutMs: 60_000 });
    const { e } = make({ breaker: b, maxRetries: 5 });
    fake.setMode('fail500');
    // attempts 1-3 fail and open the breaker; the 4th attempt is refused by it
    const first = await e.embed(['a']).catch((err: unknown) => err);
    expect(first).toBeInstanceOf(BreakerOpenError);
    expect(fake.requestCount).toBe(3);
    expect(b.state).toBe('open');

    const second = await e.embed(['b']).catch((err: unknown) => err);
    expect(second).toBeInstanceOf(BreakerOpenError);
    expect((second as BreakerOpenError).dependency).toBe('embedder');
    expect((second as BreakerOpenError).retryAfterMs).toBeGreaterThan(0);
    expect(fake.requestCount).toBe(3);
  });

  it('counts timeouts as failures', async () => {
    const b = breaker({ volumeThreshold: 1 });
    const { e } = make({ breaker: b, timeoutMs: 100, maxRetries: 0 });
    fake.hangNext(1);
    await failure(e.embed(['a']));
    expect(b.state).toBe('open');
  });

  it('does not open on a storm of 429s', async () => {
    const b = breaker({ volumeThreshold: 1 });
    const { e } = make({ breaker: b, maxRetries: 0 });
    fake.failNext(20, { status: 429 });
    for (let i = 0; i < 20; i++) expect((await failure(e.embed(['a']))).status).toBe(429);
    expect(b.state).toBe('closed');
    await e.embed(['a']);
  });

  it('half-opens after the reset timeout and closes when the endpoint is healthy again', async () => {
    const b = breaker({ volumeThreshold: 2, resetTimeoutMs: 50 });
    const { e } = make({ breaker: b, maxRetries: 0 });
    const halfOpen = nextState(b, 'half_open');
    fake.setMode('fail500');
    await failure(e.embed(['a']));
    await failure(e.embed(['a']));
    expect(b.state).toBe('open');
    fake.setMode('ok');
    await halfOpen;
    const out = await e.embed(['a']);
    expect([...out[0]!]).toEqual(expected('a'));
    expect(b.state).toBe('closed');
    expect(fake.requestCount).toBe(3);
    expect(b.stats.transitions).toEqual({ open: 1, half_open: 1, closed: 1 });
  });

  it('classifies errors for the breaker', () => {
    const http = (status: number) => new EmbedderError('x', { code: 'http', retryable: true, status });
    expect(isEmbedderFailure(http(500))).toBe(true);
    expect(isEmbedderFailure(http(408))).toBe(true);
    expect(isEmbedderFailure(http(429))).toBe(false);
    expect(isEmbedderFailure(http(400))).toBe(false);
    expect(isEmbedderFailure(new EmbedderError('x', { code: 'timeout', retryable: true }))).toBe(true);
    expect(isEmbedderFailure(new EmbedderError('x', { code: 'deadline', retryable: true }))).toBe(false);
    expect(isEmbedderFailure(new Error('unexpected'))).toBe(true);
  });
});

describe('OpenAiEmbedder: API key', () => {
  it('sends the key as a Bearer token and never puts it in an error', async () => {
    const { e } = make({ apiKey: KEY, maxRetries: 0 });
    await e.embed(['a']);
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);

    const errors: EmbedderError[] = [];
    // the fake's default error body echoes the Authorization header
    for (const status of [401, 500, 429]) {
      fake.failNext(1, { status });
      errors.push(await failure(e.embed(['a'])));
    }
    // the key straddling the 200-character cut
    fake.failNext(1, { status: 400, body: 'x'.repeat(190) + KEY + 'y'.repeat(5_000) });
    errors.push(await failure(e.embed(['a'])));
    fake.failNext(1, { status: 200, body: `not json ${KEY}` });
    errors.push(await failure(e.embed(['a'])));

    expect(fake.requests.slice(1).map((r) => r.headers.authorization)).toEqual(Array(5).fill(`Bearer ${KEY}`));
    for (const err of errors) {
      for (const s of [err.message, String(err), err.stack ?? '', inspect(err)]) {
        expect(s).not.toContain(KEY);
        expect(s).not.toContain('SECRET');
      }
    }
    expect(errors[0]!.message).toContain('Bearer ***');
    // at most 200 characters of the body
    expect(errors[3]!.message.length).toBeLessThan(400);
  });
});

describe('OpenAiEmbedder: concurrency and close', () => {
  it('keeps at most `concurrency` HTTP calls in flight', async () => {
    const { e } = make({ batchSize: 1, concurrency: 3 });
    fake.pause();
    const input = texts(10);
    const p = e.embed(input);
    await fake.until((f) => f.inFlight === 3);
    await new Promise((r) => setTimeout(r, 50)); // room for a 4th request to (wrongly) show up
    expect(fake.inFlight).toBe(3);
    expect(fake.requestCount).toBe(3);
    fake.resume();
    const out = await p;
    expect(fake.maxInFlight).toBe(3);
    expect(fake.requestCount).toBe(10);
    out.forEach((v, i) => expect([...v]).toEqual(expected(input[i]!)));
  });

  it('shares the limit across embed calls', async () => {
    const { e } = make({ batchSize: 2, concurrency: 2 });
    fake.pause();
    const p = Promise.all([e.embed(texts(4)), e.embed(texts(6)), e.embed(['z'])]);
    await fake.until((f) => f.inFlight === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.requestCount).toBe(2);
    fake.resume();
    await p;
    expect(fake.maxInFlight).toBe(2);
    expect(fake.requestCount).toBe(2 + 3 + 1);
  });

  it('abandons the other calls of an embed when one fails for good', async () => {
    const { e } = make({ batchSize: 1, concurrency: 3, timeoutMs: 20_000 });
    fake.failNext(1, { status: 400 });
    fake.hangNext(2);
    const err = await failure(e.embed(texts(3)));
    expect(err.status).toBe(400);
    await fake.until((f) => f.inFlight === 0, 2_000);
  });

  it('close() aborts calls in flight and refuses new ones', async () => {
    const { e } = make({ timeoutMs: 20_000 });
    fake.hangNext(1);
    const p = e.embed(['a']);
    await fake.until((f) => f.inFlight === 1);
    await e.close();
    const err = await failure(p);
    expect(err.code).toBe('closed');
    await fake.until((f) => f.inFlight === 0, 2_000);
    expect((await failure(e.embed(['b']))).code).toBe('closed');
    expect(fake.requestCount).toBe(1);
  });

  it('close() interrupts a backoff sleep', async () => {
    const { e } = make({ sleep: undefined, retryBaseMs: 20_000, retryMaxDelayMs: 30_000 });
    fake.failNext(1, { status: 500 });
    const p = e.embed(['a'], { deadline: Date.now() + 60_000 });
    const until = Date.now() + 5_000;
    while (e.stats.retries === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await e.close();
    expect((await failure(p)).code).toBe('closed');
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(fake.requestCount).toBe(1);
  });
});

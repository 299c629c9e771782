/**
 * The Qdrant backend when Qdrant is sick, through the real daemon: a real
 * HTTP server stands on the Qdrant port and answers 503, hangs, or resets
 * connections (test/helpers/fault-server.ts; it never imitates Qdrant). The
 * daemon must stay up and live, answer UNAVAILABLE with retry_after_ms, open
 * its breaker and then fail fast without calling Qdrant, show the breaker in
 * /health and /metrics, and try again through half-open.
 *
 * With QDRANT_URL set, the same server passes requests through to that live
 * Qdrant, and the last test takes it away and brings it back: acknowledged
 * writes survive, retrieves answer degraded from recent L1 turns meanwhile,
 * and the breaker closes again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtxdError, type CtxdClient } from '../../src/client/index.ts';
import { startDaemon, stopAll, type LogLine, type RunningDaemon } from '../helpers/daemon.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { failure } from '../helpers/answers.ts';

const QDRANT_URL = process.env.QDRANT_URL;

function qdrantArgs(url: string, collection: string): string[] {
  return [
    '--set', 'store.backend=qdrant',
    '--set', `store.qdrant.url=${url}`,
    '--set', `store.qdrant.collection=${collection}`,
    '--set', 'store.qdrant.timeout_ms=400',
    '--set', 'store.qdrant.breaker_volume_threshold=3',
    '--set', 'store.qdrant.breaker_window_ms=60000',
    '--set', 'store.qdrant.breaker_reset_ms=1500',
  ];
}

/** The log lines announcing the store breaker's moves to `state`. */
function transitions(d: RunningDaemon, state: string): LogLine[] {
  return d.logs.filter((l) => l.msg === 'circuit breaker changed state' && l.dependency === 'store' && l.state === state);
}

/** Waits for the n-th log line announcing the store breaker's move to `state` (the daemon's own word, not a sleep). */
async function breakerMoves(d: RunningDaemon, state: string, n: number, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (transitions(d, state).length < n) {
    if (Date.now() > deadline) throw new Error(`store breaker did not reach ${state} ${n} times: ${JSON.stringify(d.logs.slice(-10).map((l) => [l.msg, l.state]))}`);
    await d.waitForLog('circuit breaker changed state', 1000).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
  }
}

describe('Qdrant backend against a failing server', () => {
  let fault: FaultServer;
  let d: RunningDaemon;
  let c: CtxdClient;

  beforeAll(async () => {
    fault = await startFaultServer({ mode: 'unavailable' });
    d = await startDaemon({ args: qdrantArgs(fault.url, 'ctxd_faults') });
    c = await d.client();
  });

  afterAll(async () => {
    c?.close();
    await stopAll();
    await fault?.close();
  });

  it('starts, is live but not ready, and names the store as the reason', async () => {
    expect((await d.http('/health/live')).status).toBe(200);
    const ready = await d.http('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toMatch(/store/);
    expect(await c.ping()).toBeDefined();
  });

  it('answers UNAVAILABLE with retry_after_ms, opens the breaker, then fails fast without calling Qdrant', async () => {
    for (let i = 0; i < 3; i++) {
      const e = await failure(c.store({ text: `written while qdrant answers 503 (${i})`, level: 3 }));
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(e.details).toMatchObject({ dependency: 'store' });
    }
    await breakerMoves(d, 'open', 1);
    const seen = fault.requests;
    const fast = await failure(c.retrieve({ query: 'anything', session: 's' }));
    expect(fast.code).toBe('UNAVAILABLE');
    expect(fast.details).toMatchObject({ dependency: 'store', outcome: 'not_applied' });
    expect(fast.retryAfterMs).toBeGreaterThan(0);
    expect(fast.retryAfterMs).toBeLessThanOrEqual(1500);
    await failure(c.store({ text: 'refused by the open breaker', level: 1, session: 's' }));
    expect(fault.requests).toBe(seen);

    const health = (await d.http('/health')).body.components!;
    expect(health.breakers).toMatchObject({ ok: false, store: 'open' });
    expect(health.store).toMatchObject({ ok: false, backend: 'qdrant' });
    const metrics = (await d.http('/metrics')).text;
    expect(metrics).toMatch(/ctxd_breaker_state\{dependency="store"\} 2/);
    expect(metrics).toMatch(/ctxd_breaker_transitions_total\{dependency="store",state="open"\} [1-9]/);
    expect(metrics).toMatch(/ctxd_breaker_rejections_total\{dependency="store"\} [1-9]/);
    expect((await d.http('/health/live')).status).toBe(200);
  });

  it('lets one trial call through after the reset time (half-open), and opens again when it fails', async () => {
    await breakerMoves(d, 'half_open', 1);
    const before = fault.requests;
    const e = await failure(c.store({ text: 'the trial call', level: 3 }));
    expect(e.code).toBe('UNAVAILABLE');
    expect(fault.requests).toBeGreaterThan(before);
    await breakerMoves(d, 'open', 2);
  });

  it('survives hangs (each request ends at its deadline) and reset connections, and keeps answering pings', async () => {
    for (const mode of ['hang', 'reset'] as const) {
      fault.mode = mode;
      await breakerMoves(d, 'half_open', transitions(d, 'half_open').length + 1);
      const opened = transitions(d, 'open').length;
      const pending = failure(c.store({ text: `while qdrant ${mode}s`, level: 3 }));
      // The daemon serves other requests while a store waits on the hung dependency.
      expect(await c.ping()).toBeDefined();
      const e = await pending;
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.details).toMatchObject({ dependency: 'store' });
      await breakerMoves(d, 'open', opened + 1);
    }
    expect(d.proc.exitCode).toBeNull();
    expect((await d.http('/health/live')).status).toBe(200);
    fault.mode = 'unavailable';
  });
});

describe.skipIf(!QDRANT_URL)('Qdrant backend through an outage of a live Qdrant (QDRANT_URL)', () => {
  let fault: FaultServer;
  let d: RunningDaemon;
  let c: CtxdClient;

  beforeAll(async () => {
    fault = await startFaultServer({ mode: 'pass', upstream: QDRANT_URL });
    d = await startDaemon({ args: qdrantArgs(fault.url, `ctxd_outage_${process.pid}_${Date.now()}`) });
    c = await d.client();
  });

  afterAll(async () => {
    c?.close();
    await stopAll();
    await fault?.close();
  });

  it('keeps acknowledged writes, answers degraded from recent L1 turns meanwhile, and recovers', async () => {
    const acked = new Map<string, string>();
    for (const [text, level] of [['the canary of billing-api is at 5 percent', 1], ['billing-api rollbacks need an approval', 3]] as const) {
      const r = await c.store({ text, level, session: 's' });
      acked.set(r.id, text);
    }
    expect((await c.retrieve({ query: 'billing-api canary', session: 's' })).degraded).toEqual([]);

    fault.mode = 'unavailable';
    const during = await c.retrieve({ query: 'billing-api canary', session: 's' });
    expect(during.degraded).toEqual(['store']);
    expect(during.contexts.map((x) => x.text)).toEqual(['the canary of billing-api is at 5 percent']);
    expect((await failure(c.store({ text: 'refused during the outage', level: 3 }))).code).toBe('UNAVAILABLE');
    await breakerMoves(d, 'open', 1);

    fault.mode = 'pass';
    await breakerMoves(d, 'half_open', 1);
    // The trial call closes the breaker; retry as the answers say.
    for (let attempt = 0; ; attempt++) {
      try {
        await c.get(acked.keys().next().value!);
        break;
      } catch (e) {
        if (attempt > 20 || (e as CtxdError).code !== 'UNAVAILABLE') throw e;
        await new Promise((r) => setTimeout(r, (e as CtxdError).retryAfterMs ?? 100));
      }
    }
    await breakerMoves(d, 'closed', 1);
    for (const [id, text] of acked) expect((await c.get(id)).text).toBe(text);
    const after = await c.retrieve({ query: 'billing-api', session: 's' });
    expect(after.degraded).toEqual([]);
    expect(after.contexts.map((x) => x.text).sort()).toEqual([...acked.values()].sort());
  });
});

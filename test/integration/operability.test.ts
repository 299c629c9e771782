/**
 * What an operator relies on: probes, metrics, configuration layering, one-line
 * config errors, and a SIGTERM that loses nothing.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CtxdClient } from '../../src/client/index.ts';
import type { Body } from '../../src/protocol/messages.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { createInterface } from 'node:readline';
import { RawPeer, requestFrame } from '../helpers/raw-socket.ts';
import { ctxd } from '../helpers/cli.ts';
import { syntheticText } from '../helpers/records.ts';

afterAll(stopAll);

/** The value of one Prometheus sample line, or 0 when absent. */
function sample(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

describe('side HTTP server', () => {
  it('answers live, ready and health, and scrapes metrics that move', async () => {
    const d = await startDaemon();
    expect(await d.http('/health/live')).toMatchObject({ status: 200, body: { status: 'live' } });
    expect(await d.http('/health/ready')).toMatchObject({ status: 200, body: { status: 'ready' } });
    const health = await d.http('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', version: '0.1.0', components: { store: { ok: true }, embedder: { ok: true }, index: { ok: true }, listener: { ok: true }, worker_pool: { ok: true } } });
    expect(typeof health.body.uptime_s).toBe('number');

    const before = (await d.http('/metrics')).text;
    const c = await d.client();
    await c.ping();
    await c.store({ text: 'metrics moving fact', level: 3 });
    await c.store({ text: 'metrics moving fact', level: 3 });
    await c.retrieve({ query: 'metrics moving' });
    await c.get('missing').catch(() => {});
    // A big batch is tokenised and embedded in the worker pool, off the event loop.
    await c.storeBatch(Array.from({ length: 200 }, (_, i) => ({ text: `${syntheticText(i, 30)} worker ${i}`, level: 3 })));
    await c.close();
    const { RawPeer, requestFrame } = await import('../helpers/raw-socket.ts');
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame('nobody', Buffer.alloc(32), {}));
    await peer.closed;
    const after = (await d.http('/metrics')).text;

    expect(sample(after, 'ctxd_requests_total{op="ping",outcome="ok"}')).toBe(sample(before, 'ctxd_requests_total{op="ping",outcome="ok"}') + 1);
    expect(sample(after, 'ctxd_requests_total{op="get",outcome="NOT_FOUND"}')).toBe(1);
    expect(sample(after, 'ctxd_frames_rejected_total{reason="UNKNOWN_KEY"}')).toBe(1);
    expect(sample(after, 'ctxd_frames_rejected_total{reason="BAD_SIGNATURE"}')).toBe(0);
    expect(sample(after, 'ctxd_dedup_hits_total')).toBe(1);
    expect(sample(after, 'ctxd_contexts{level="3"}')).toBe(201);
    expect(sample(after, 'ctxd_text_tasks_total{where="worker"}')).toBe(2); // the batch's token counts and its hash vectors, one worker task each
    expect(sample(after, 'ctxd_received_bytes_total')).toBeGreaterThan(sample(before, 'ctxd_received_bytes_total'));
    expect(sample(after, 'ctxd_sent_bytes_total')).toBeGreaterThan(0);
    expect(sample(after, 'ctxd_request_duration_seconds_count{op="retrieve"}')).toBe(1);
    expect(sample(after, 'ctxd_embed_cache_misses_total')).toBe(1);
    expect(sample(after, 'ctxd_store_commit_writes_total')).toBeGreaterThan(0);
    // Texts came from memory, not SQLite: the second store's duplicate check and the retrieve read the first one's.
    expect(sample(after, 'ctxd_text_cache_hits_total')).toBe(2);
    expect(sample(after, 'ctxd_text_cache_misses_total')).toBe(0);
    expect(sample(after, 'ctxd_text_cache_bytes')).toBeGreaterThan(201 * 100);
    for (const name of ['ctxd_connections_open', 'ctxd_worker_queue_depth', 'ctxd_gc_deleted_total', 'ctxd_gc_promoted_total', 'nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes']) {
      expect(after, name).toMatch(new RegExp(`^${name} `, 'm'));
    }
    // The side server never serves context data.
    expect((await d.http('/contexts')).status).toBe(404);
    expect(after).not.toContain('metrics moving fact');
    await d.stop();
  });
});

describe('health as the design names it, and request durations', () => {
  it('answers /health/liveness, /health/readiness and /health/deps with measured round trips; logs slow requests with their duration', async () => {
    // Every request counts as slow at 0 ms: each answered request writes its info line.
    const d = await startDaemon({ args: ['--set', 'log.slow_request_ms=0'] });
    expect(await d.http('/health/liveness')).toMatchObject({ status: 200, body: { status: 'live' } });
    expect(await d.http('/health/readiness')).toMatchObject({ status: 200, body: { status: 'ready' } });
    const deps = await d.http('/health/deps');
    expect(deps.status).toBe(200);
    const components = (deps.body as { components: Record<string, { ok: boolean; latency_ms?: number }> }).components;
    expect(Object.keys(components)).toEqual(expect.arrayContaining(['store', 'embedder', 'index', 'listener', 'worker_pool', 'breakers']));
    expect(components.store).toMatchObject({ ok: true, latency_ms: expect.any(Number) });
    expect(components.embedder).toMatchObject({ ok: true, kind: 'hash', latency_ms: expect.any(Number) });
    const c = await d.client();
    await c.ping();
    await expect(c.get('no-such-id')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await c.close();
    const slow = d.logs.filter((l) => l.msg === 'slow request');
    expect(slow).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'info', op: 'ping', code: 'ok', kid: d.kid, ms: expect.any(Number) }),
        expect.objectContaining({ op: 'get', code: 'NOT_FOUND' }),
      ]),
    );
  });
});

describe('configuration', () => {
  it('layers defaults < file < environment < flags', async () => {
    const dir = tempDataDir();
    const file = join(dir, 'ctxd.json');
    writeFileSync(file, JSON.stringify({ server: { max_inflight_per_connection: 7, idle_timeout_ms: 111_000 }, protocol: { max_skew_ms: 20_000 } }));
    const d = await startDaemon({
      args: ['--config', file, '--set', 'server.max_inflight_per_connection=9'],
      env: { CTXD_SERVER_MAX_INFLIGHT_PER_CONNECTION: '8', CTXD_PROTOCOL_MAX_SKEW_MS: '25000' },
    });
    const c = await d.client();
    const hello = await c.hello();
    expect(hello.limits).toMatchObject({ max_inflight_per_connection: 9, max_skew_ms: 25_000, idle_timeout_ms: 111_000, frame_deadline_ms: 10_000 });
    await c.close();
    await d.stop();

    const shown = await ctxd(['config', '--config', file, '--port', '7777'], { CTXD_RETRIEVAL_MAX_TOKENS: '1234' });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ server: { port: 7777, max_inflight_per_connection: 7 }, retrieval: { max_tokens: 1234 }, protocol: { max_skew_ms: 20_000 } });
  });

  it.each([
    [['--set', 'server.port=99999'], {}, 'ctxd: config: server.port must be <= 65535'],
    [['--set', 'retrieval.share_l1=0.5'], {}, 'ctxd: config: retrieval.share_l1 + share_l2 + share_l3 must sum to 1, got 1.2'],
    [[], { CTXD_STORE_DURABILITY: 'sometimes' }, 'ctxd: config: store.durability must be equal to one of the allowed values'],
    [['--set', 'server.colour=red'], {}, 'ctxd: config: unknown setting server.colour'],
  ])('stops at start with one clear line for %j %j', async (args, env, line) => {
    const r = await ctxd(['serve', '--port', '0', '--http-port', '0', '--data-dir', tempDataDir(), ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(line + '\n');
  });
});

describe('graceful shutdown', () => {
  /** Holds a debug_hold request in flight; resolves once the daemon has dispatched it (a ping behind it was answered). */
  async function holdOne(c: CtxdClient): Promise<{ held: Promise<Body> }> {
    // A debug op: not in the op table, so not typed.
    const held = c.request('debug_hold', {});
    held.catch(() => {});
    await c.ping();
    return { held };
  }

  it('on SIGTERM: not ready at once, SHUTTING_DOWN for new work, in-flight answered, a diagnostic before close, nothing lost, exit 0', async () => {
    const dataDir = tempDataDir();
    const d = await startDaemon({ dataDir, args: ['--set', 'debug.enable_ops=true', '--set', 'server.shutdown_deadline_ms=60000'] });
    const c = await d.client({ timeoutMs: 60_000 });
    const acked = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const text = `shutdown kept ${i} ${syntheticText(i, 5)}`;
      const r = await c.store({ text, level: 3 });
      acked.set(r.id, text);
    }
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame(d.kid, d.secret, { id: 'peer-ping' }));
    await peer.frame(0);
    const { held } = await holdOne(c);

    d.proc.kill('SIGTERM');
    await d.waitForLog('shutting down');
    expect(await d.http('/health/ready')).toMatchObject({ status: 503, body: { reason: 'shutting down' } });
    // New work on an open connection is refused while the held request is still in flight.
    expect(await c.store({ text: 'too late', level: 3 }).catch((e) => e.code)).toBe('SHUTTING_DOWN');
    peer.send(requestFrame(d.kid, d.secret, { id: 'peer-late' }));
    expect((await peer.frame(1)).message).toMatchObject({ id: 'peer-late', ok: false, error: { code: 'SHUTTING_DOWN', retryable: true } });

    d.proc.kill('SIGUSR2');
    expect(await held).toMatchObject({ held_ms: expect.any(Number) });
    await peer.closed;
    // The last frame before the close is the unsigned diagnostic saying why.
    expect(peer.frames.at(-1)).toMatchObject({ kid: '', message: { id: '', ok: false, error: { code: 'SHUTTING_DOWN' } } });
    expect(await d.exited).toBe(0);
    await c.close();
    expect(d.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));

    const again = await startDaemon({ dataDir });
    const c2 = await again.client();
    const missing = (await Promise.all([...acked.keys()].map((id) => c2.get(id).then(() => null, () => id)))).filter(Boolean);
    expect(missing).toEqual([]);
    expect(await c2.get('too late').catch((e) => e.code)).toBe('NOT_FOUND');
    await c2.close();
    await again.stop();
  });

  it('a SIGTERM that arrives while the daemon starts stops it gracefully once started, never by the signal itself', async () => {
    // Sent as soon as the side server listens, before the store opens: the signal handlers must already be there.
    const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--data-dir', tempDataDir()], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CTXD_EMBEDDER_KIND: 'hash' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const messages: string[] = [];
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      messages.push(msg);
      if (msg === 'http listening') proc.kill('SIGTERM');
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => proc.once('exit', (c, sig) => r([c, sig])));
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(messages).toEqual(expect.arrayContaining(['http listening', 'listening', 'signal received', 'stopped']));
    expect(messages.indexOf('signal received')).toBeGreaterThan(messages.indexOf('listening'));
  });

  it('exits at once on a second signal', async () => {
    const d = await startDaemon({ args: ['--set', 'debug.enable_ops=true', '--set', 'server.shutdown_deadline_ms=60000'] });
    const c = await d.client({ timeoutMs: 60_000 });
    const { held } = await holdOne(c);
    d.proc.kill('SIGTERM');
    await d.waitForLog('shutting down');
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(130);
    expect(await held.catch((e: { code: string }) => e.code)).toBe('CONNECTION_CLOSED');
    await c.close();
  });
});

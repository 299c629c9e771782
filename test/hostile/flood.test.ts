/**
 * Request floods from one key (case 4): with rate limiting off, a key that
 * fills its replay window gets OVERLOADED while another tenant's key is
 * answered normally; with default settings a key flooding pings is
 * RATE_LIMITED (retry_after_ms) while another key is answered normally.
 * RSS stays bounded. HOSTILE_FLOOD sets the default-settings flood size
 * (default 100,000; run e.g. HOSTILE_FLOOD=2000000 by hand).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/daemon.ts';
import { alive, codeOf, expectServes, expectWellFormed, metric, MiB, Peer, percentile, pingMs, rssBytes, signedMessage, type Frame } from '../helpers/hostile.ts';
import { startTenantDaemon, type TenantDaemon, type TenantKey } from '../helpers/tenants.ts';

afterAll(stopAll);

const FLOOD = Number(process.env.HOSTILE_FLOOD ?? 100_000);

interface FloodResult {
  readonly codes: Map<string, number>;
  readonly seconds: number;
  readonly anomalies: string[];
  readonly rateLimited: Frame[];
}

/**
 * Pipelines `n` pings with `key` on one raw connection (paced by the socket's
 * drain, frames built in chunks), counting answer codes without keeping them.
 */
async function flood(t: TenantDaemon, key: TenantKey, n: number, prefix: string): Promise<FloodResult> {
  const codes = new Map<string, number>();
  const sampleLimited: Frame[] = [];
  const p = await Peer.open(t.d.port, {
    keys: [key],
    keepRaw: false,
    keepFrames: false,
    onFrame: (f) => {
      const c = codeOf(f);
      codes.set(c, (codes.get(c) ?? 0) + 1);
      if (c !== 'ok' && sampleLimited.length < 100) sampleLimited.push(f);
    },
  });
  const started = performance.now();
  const CHUNK = 5000;
  for (let i = 0; i < n; i += CHUNK) {
    const frames: Buffer[] = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) frames.push(signedMessage(key, { id: `${prefix}-${j}`, ts: Date.now(), op: 'ping' }));
    await p.sendPaced(Buffer.concat(frames));
  }
  await p.waitFrames(n, 60_000 + n / 5);
  const seconds = (performance.now() - started) / 1000;
  const anomalies = [...p.anomalies];
  p.destroy();
  return { codes, seconds, anomalies, rateLimited: sampleLimited };
}

/** Pings with `key` on its own connection until `stop()` resolves; every answer must be ok. */
function bystander(t: TenantDaemon, key: TenantKey) {
  const latencies: number[] = [];
  const codes: string[] = [];
  let done = false;
  const run = (async () => {
    const p = await Peer.open(t.d.port, { keys: [key], keepRaw: false });
    expect(codeOf(await p.request(key, 'hello'))).toBe('ok');
    while (!done) {
      const t0 = performance.now();
      const f = await p.request(key, 'ping', undefined, { ms: 20_000 });
      latencies.push(performance.now() - t0);
      codes.push(codeOf(f));
    }
    p.destroy();
  })();
  return {
    latencies,
    codes,
    async stop() {
      done = true;
      await run;
    },
  };
}

describe('case 4: one key floods', () => {
  it('with rate limiting off, a key past replay_max_ids_per_key gets OVERLOADED; another tenant\'s key is served throughout', async () => {
    const CAP = 20_000;
    const t = await startTenantDaemon({ args: ['--set', 'server.rate_limit_rps=0', '--set', `protocol.replay_max_ids_per_key=${CAP}`] });
    const rss0 = rssBytes(t.d);
    const b = bystander(t, t.key('B'));
    const r = await flood(t, t.key('A'), CAP + 5_000, 'capA');
    await b.stop();
    console.log(`[case 4a] ${CAP + 5_000} pings in ${r.seconds.toFixed(2)} s: ${JSON.stringify(Object.fromEntries(r.codes))}; bystander pings ${b.latencies.length}, p50 ${percentile(b.latencies, 50).toFixed(2)} ms, p99 ${percentile(b.latencies, 99).toFixed(2)} ms; RSS +${((rssBytes(t.d) - rss0) / MiB).toFixed(1)} MiB`);
    expect(r.anomalies).toEqual([]);
    expect(r.codes.get('ok')).toBe(CAP);
    expect(r.codes.get('OVERLOADED')).toBe(5_000);
    for (const f of r.rateLimited) {
      expect(expectWellFormed(f)).toBe('OVERLOADED');
      expect(f.message!.error.retry_after_ms).toBeGreaterThan(0);
    }
    expect(b.codes.length).toBeGreaterThan(0);
    expect(new Set(b.codes)).toEqual(new Set(['ok']));
    // A stays refused; B (whose window is its own) is not.
    const a = await Peer.open(t.d.port, { keys: [t.key('A')] });
    expect(codeOf(await a.request(t.key('A'), 'ping'))).toBe('OVERLOADED');
    a.destroy();
    await expectServes(t.d, t.key('B'));
    await expectServes(t.d, t.key('C'));
    expect(await metric(t.d, 'ctxd_replay_ids')).toBeLessThanOrEqual(CAP + 1000);
    expect(rssBytes(t.d) - rss0, 'RSS growth').toBeLessThan(200 * MiB);
    await t.d.stop();
  }, 120_000);

  it(`with default settings, a key flooding ${FLOOD} pings is RATE_LIMITED with retry_after_ms; another key is served during and after`, async () => {
    const t = await startTenantDaemon();
    const hello = await Peer.open(t.d.port, { keys: [t.admin] });
    const limits = (await hello.request(t.admin, 'hello')).message!.body.limits;
    hello.destroy();
    const { rate_limit_rps: rps, rate_limit_burst: burst } = limits;
    expect(rps).toBe(5000);
    expect(burst).toBe(10_000);
    const rss0 = rssBytes(t.d);
    const b = bystander(t, t.key('B'));
    const r = await flood(t, t.key('A'), FLOOD, 'rlA');
    await b.stop();
    const ok = r.codes.get('ok') ?? 0;
    const limited = r.codes.get('RATE_LIMITED') ?? 0;
    console.log(`[case 4b] ${FLOOD} pings in ${r.seconds.toFixed(2)} s: ${JSON.stringify(Object.fromEntries(r.codes))}; bystander pings ${b.latencies.length}, p50 ${percentile(b.latencies, 50).toFixed(2)} ms, p99 ${percentile(b.latencies, 99).toFixed(2)} ms, max ${Math.max(...b.latencies).toFixed(1)} ms; RSS +${((rssBytes(t.d) - rss0) / MiB).toFixed(1)} MiB`);
    expect(r.anomalies).toEqual([]);
    expect(ok + limited, 'every answer is ok or RATE_LIMITED').toBe(FLOOD);
    // The bucket allows the burst plus rps per second of the flood, no more.
    expect(ok).toBeLessThanOrEqual(burst + Math.ceil(rps * r.seconds) + 100);
    expect(ok).toBeGreaterThanOrEqual(Math.min(FLOOD, burst));
    if (FLOOD > burst + rps * r.seconds * 1.5) expect(limited).toBeGreaterThan(0);
    for (const f of r.rateLimited) {
      expect(expectWellFormed(f)).toBe('RATE_LIMITED');
      expect(f.message!.error.retry_after_ms).toBeGreaterThan(0);
    }
    expect(b.codes.length).toBeGreaterThan(0);
    expect(new Set(b.codes)).toEqual(new Set(['ok']));
    const after = await Peer.open(t.d.port, { keys: [t.key('B')] });
    const lat = [];
    for (let i = 0; i < 20; i++) lat.push(await pingMs(after, t.key('B')));
    after.destroy();
    expect(alive(t.d)).toBe(true);
    await expectServes(t.d, t.key('C'));
    expect(rssBytes(t.d) - rss0, 'RSS growth').toBeLessThan(300 * MiB);
    await t.d.stop();
  }, 120_000 + FLOOD / 5);
});

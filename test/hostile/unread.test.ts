/**
 * Peers that never read their answers (case 5): ten connections pipeline a
 * thousand `list {limit: 1000}` each over ~1 MB pages and never read. The
 * daemon's queued answer bytes stay within answer_queue_bytes_per_connection
 * per connection and answer_queue_bytes_total overall, RSS stays bounded,
 * other tenants are served meanwhile, and everything is given back when the
 * peers go away.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/daemon.ts';
import { alive, codeOf, expectServes, metric, MiB, openNonReader, Peer, pingMs, rssBytes, signedMessage, waitUntil, type Peer as PeerT } from '../helpers/hostile.ts';
import { startTenantDaemon, type TenantDaemon } from '../helpers/tenants.ts';

afterAll(stopAll);

const CONNS = 10;
const PER_CONN = 1000;

/** ~1,000 contexts of ~1 KB in tenant A. */
async function seed(t: TenantDaemon): Promise<void> {
  const A = t.key('A');
  const p = await Peer.open(t.d.port, { keys: [A], keepRaw: false });
  expect(codeOf(await p.request(A, 'hello'))).toBe('ok');
  for (let b = 0; b < 2; b++) {
    const items = Array.from({ length: 500 }, (_, i) => ({ text: `seed ${b}-${i} ${randomBytes(500).toString('hex')}`, level: 3 }));
    expect(codeOf(await p.request(A, 'store_batch', { items }, { ms: 60_000 }))).toBe('ok');
  }
  p.destroy();
}

/** Opens the non-readers and pipelines their list requests. */
async function attack(t: TenantDaemon): Promise<PeerT[]> {
  const A = t.key('A');
  const peers: PeerT[] = [];
  for (let c = 0; c < CONNS; c++) {
    const p = await openNonReader(t.d.port);
    const frames = [signedMessage(A, { id: `nr-${c}-hello`, ts: Date.now(), op: 'hello', body: {} })];
    for (let i = 0; i < PER_CONN; i++) frames.push(signedMessage(A, { id: `nr-${c}-${i}`, ts: Date.now(), op: 'list', body: { limit: 1000 } }));
    p.send(Buffer.concat(frames));
    peers.push(p);
  }
  return peers;
}

/** Polls the queued-bytes metric until it has not changed for `stable` samples in a row; returns every sample. */
async function settle(t: TenantDaemon, stable = 8): Promise<number[]> {
  const samples: number[] = [];
  await waitUntil(async () => {
    samples.push(await metric(t.d, 'ctxd_answer_queued_bytes'));
    const tail = samples.slice(-stable);
    return tail.length === stable && tail.every((x) => x === tail[0]) && tail[0]! > 0 ? true : undefined;
  }, 'ctxd_answer_queued_bytes to settle', 45_000, 100);
  return samples;
}

describe('case 5: peers that never read', () => {
  it('queued answer bytes stay within the per-connection and global bounds, RSS stays bounded, others are served, all is given back', async () => {
    const t = await startTenantDaemon();
    await seed(t);
    const perConn = 8 * MiB;
    const limit = await metric(t.d, 'ctxd_answer_queued_bytes_limit');
    expect(limit).toBe(256 * MiB);
    const rss0 = rssBytes(t.d);
    const t0 = performance.now();
    let listsBefore = 0;
    // Authenticated before the attack: it measures how long the daemon is away when the attackers leave.
    const bystander = await Peer.open(t.d.port, { keys: [t.key('B')] });
    expect(codeOf(await bystander.request(t.key('B'), 'hello'))).toBe('ok');
    const peers = await attack(t);
    try {
      const samples = await settle(t);
      console.log(`[case 5] settled after ${((performance.now() - t0) / 1000).toFixed(1)} s, ${samples.length} samples`);
      const peak = Math.max(...samples);
      const rss = rssBytes(t.d);
      // Another tenant is served while the ten sit on their answers.
      const b = await Peer.open(t.d.port, { keys: [t.key('B')] });
      const lat: number[] = [];
      for (let i = 0; i < 20; i++) lat.push(await pingMs(b, t.key('B')));
      b.destroy();
      await expectServes(t.d, t.key('C'));
      console.log(`[case 5] queued bytes peak ${(peak / MiB).toFixed(1)} MiB (limit ${(limit / MiB).toFixed(0)} MiB, ${CONNS} × ${(perConn / MiB).toFixed(0)} MiB per connection = ${((CONNS * perConn) / MiB).toFixed(0)} MiB); RSS ${(rss0 / MiB).toFixed(0)} -> ${(rss / MiB).toFixed(0)} MiB; pings meanwhile max ${Math.max(...lat).toFixed(1)} ms`);
      for (const s of samples) expect(s).toBeLessThanOrEqual(limit);
      expect(rss - rss0, 'RSS growth').toBeLessThan(400 * MiB);
      // Each connection's share: at most its bound (64 KiB of slack for envelopes).
      expect.soft(peak, 'queued bytes of 10 connections within 10 × answer_queue_bytes_per_connection').toBeLessThanOrEqual(CONNS * (perConn + 64 * 1024));
      listsBefore = await metric(t.d, 'ctxd_requests_total', { op: 'list' });
    } finally {
      for (const p of peers) p.destroy();
    }
    // The peers are gone: what they left queued must not be run for nobody, and everything is given back.
    const t1 = performance.now();
    const pingAfter = await pingMs(bystander, t.key('B'), 120_000);
    bystander.destroy();
    const left = await waitUntil(async () => {
      const v = await metric(t.d, 'ctxd_answer_queued_bytes');
      const open = await metric(t.d, 'ctxd_connections_open');
      return v <= 64 * 1024 && open === 0 ? v : undefined;
    }, 'queued answer bytes to return to ~0 and the connections to close', 60_000, 100);
    const listsAfter = await metric(t.d, 'ctxd_requests_total', { op: 'list' });
    console.log(`[case 5] queued bytes back to ${left} ${((performance.now() - t1) / 1000).toFixed(1)} s after the peers went away; a ping sent right then took ${pingAfter.toFixed(0)} ms; list requests run after the peers left: ${listsAfter - listsBefore}`);
    expect(left).toBe(0);
    // At most what was in flight or admitted when they left (2 reservations + 1 ready per connection).
    expect(listsAfter - listsBefore, 'list requests run for peers that had gone').toBeLessThanOrEqual(CONNS * 3);
    expect(alive(t.d)).toBe(true);
    await expectServes(t.d, t.key('B'));
    await t.d.stop();
  }, 120_000);

  it('non-readers that fill answer_queue_bytes_total do not starve other tenants', async () => {
    // 10 non-readers × 8 MiB could queue 80 MiB; the global bound is 16 MiB, so it is what binds.
    // (With the defaults, 32 non-reading connections × 8 MiB reach 256 MiB the same way.)
    const total = 16 * MiB;
    const t = await startTenantDaemon({ args: ['--set', `server.answer_queue_bytes_total=${total}`] });
    await seed(t);
    const peers = await attack(t);
    try {
      const samples = await settle(t);
      const peak = Math.max(...samples);
      console.log(`[case 5, global bound] queued bytes peak ${(peak / MiB).toFixed(1)} MiB of ${(total / MiB).toFixed(0)} MiB`);
      // A client of another tenant that reads its answers must still be served.
      await expectServes(t.d, t.key('B'), { ms: 10_000 });
      expect.soft(peak, 'queued bytes within answer_queue_bytes_total').toBeLessThanOrEqual(total + 64 * 1024);
    } finally {
      for (const p of peers) p.destroy();
    }
    await expectServes(t.d, t.key('C'));
    await t.d.stop();
  }, 120_000);
});

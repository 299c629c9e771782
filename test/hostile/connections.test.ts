/**
 * Lock-out attempts before authentication (case 7): silent sockets, first
 * frames claiming 4 MiB, stalled partial first frames, an exhausted
 * pre-authentication budget. Real clients of other tenants keep connecting
 * and working throughout; a 4 MiB store_batch right behind hello is fine.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CtxdClient, type OpAnswer } from '../../src/client/index.ts';
import { stopAll } from '../helpers/daemon.ts';
import { alive, codeOf, expectServes, expectWellFormed, metric, MiB, Peer, rssBytes, signedMessage, waitUntil, type Frame } from '../helpers/hostile.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/constants.ts';
import { startTenantDaemon, type TenantDaemon, type TenantKey } from '../helpers/tenants.ts';

/** Small connection caps (case 7a, 7b). */
let t: TenantDaemon;
/** Default settings (case 7c). */
let dflt: TenantDaemon;
const MAX_UNAUTH = 20;
const MAX_CONN = 50;

beforeAll(async () => {
  [t, dflt] = await Promise.all([
    startTenantDaemon({
      args: [
        '--set', `server.max_unauthenticated_connections=${MAX_UNAUTH}`,
        '--set', `server.max_connections=${MAX_CONN}`,
        '--set', 'server.handshake_timeout_ms=2000',
        '--set', 'server.preauth_buffered_bytes=262144',
      ],
    }),
    startTenantDaemon(),
  ]);
});
afterAll(stopAll);
// After every case: both daemons alive, and a tenant the attack did not use is served.
afterEach(async () => {
  await expectServes(t.d, t.key('C'));
  await expectServes(dflt.d, dflt.key('C'));
});

const client = (k: TenantKey, o: Partial<Parameters<typeof CtxdClient.connect>[0]> = {}, on: TenantDaemon = t) =>
  CtxdClient.connect({ port: on.d.port, kid: k.kid, secret: k.secret, maxReconnectAttempts: 0, timeoutMs: 15_000, ...o });

/** `n` raw peers of key `k`, each authenticated by a hello. */
async function greeted(on: TenantDaemon, k: TenantKey, n: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) {
    const p = await Peer.open(on.d.port, { keys: [k] });
    expect(codeOf(await p.request(k, 'hello'))).toBe('ok');
    peers.push(p);
  }
  return peers;
}

/** The one diagnostic a peer the daemon closed received, and the close. */
async function closedWith(p: Peer, ms = 15_000): Promise<string> {
  await p.waitFor(() => (p.hasClosed ? true : undefined), 'the close', ms).catch(() => undefined);
  await p.closed;
  expect(p.frames.length, 'exactly one frame: the diagnostic').toBe(1);
  const f = p.frames[0]!;
  expect(f.diagnostic).toBe(true);
  expectWellFormed(f);
  return f.message!.error.code;
}

describe('case 7a: silent connections', () => {
  it('cannot lock a real client out: the oldest silent ones are evicted (OVERLOADED), the rest time out (BAD_FRAME)', async () => {
    const silent: Peer[] = [];
    for (let i = 0; i < 60; i++) silent.push(await Peer.open(t.d.port));
    // A real client of tenant A connects and works while the silent ones sit there.
    await using _cleanup = { [Symbol.asyncDispose]: async () => silent.forEach((p) => p.destroy()) };
    const a = await client(t.key('A'));
    expect(await a.ping()).toEqual({});
    expect((await a.hello()).tenant).toBe('A');
    const codes = await Promise.all(silent.map((p) => closedWith(p)));
    const count = (c: string) => codes.filter((x) => x === c).length;
    expect(count('OVERLOADED') + count('BAD_FRAME')).toBe(60);
    expect(count('OVERLOADED')).toBeGreaterThanOrEqual(60 - MAX_UNAUTH);
    expect(count('BAD_FRAME')).toBeGreaterThanOrEqual(1);
    for (const p of silent.filter((x) => x.frames[0]!.message!.error.code === 'BAD_FRAME')) {
      expect(p.frames[0]!.message!.error.message).toContain('handshake_timeout_ms');
    }
    expect(await a.ping()).toEqual({});
    await a.close();
    await waitUntil(async () => ((await metric(t.d, 'ctxd_connections_unauthenticated')) === 0 ? true : undefined), 'no unauthenticated connections left');
    expect(await metric(t.d, 'ctxd_connections_evicted_total')).toBeGreaterThanOrEqual(60 - MAX_UNAUTH);
    await expectServes(t.d, t.key('B'));
  }, 30_000);

  it('keeps open connections at or below max_connections while silent sockets churn, and a real client still gets in', async () => {
    // 40 authenticated clients hold their slots; 40 silent sockets arrive on top, never reading their diagnostics.
    // In waves below max_unauthenticated_connections: a burst of more new clients than that evicts some of them.
    const held: CtxdClient[] = [];
    for (let wave = 0; wave < 4; wave++) held.push(...(await Promise.all(Array.from({ length: 10 }, () => client(t.key('C'))))));
    const silent: Peer[] = [];
    const seen: number[] = [];
    try {
      await Promise.all(held.map((c) => c.ping()));
      for (let i = 0; i < 40; i++) {
        silent.push(await Peer.open(t.d.port));
        if (i % 5 === 4) seen.push(await metric(t.d, 'ctxd_connections_open'));
      }
      const a = await client(t.key('A'));
      expect(await a.ping()).toEqual({});
      seen.push(await metric(t.d, 'ctxd_connections_open'));
      await a.close();
      expect(Math.max(...seen), `open connections sampled: ${seen.join(', ')}`).toBeLessThanOrEqual(MAX_CONN);
    } finally {
      for (const p of silent) p.destroy();
      await Promise.all(held.map((c) => c.close()));
      await waitUntil(async () => ((await metric(t.d, 'ctxd_connections_open')) === 0 ? true : undefined), 'every connection closed');
    }
  }, 30_000);
});

describe('case 7b: first frames claiming 4 MiB, stalled first frames', () => {
  it('FRAME_TOO_LARGE on the 6-byte header for each of 70 connections; nothing is buffered; a real client works', async () => {
    const rss0 = rssBytes(t.d);
    const header = Buffer.from([0x00, 0x40, 0x00, 0x00, 0x01, 0x05]); // len = 4 MiB, ver 1, kid_len 5
    const codes: string[] = [];
    // In waves below max_unauthenticated_connections, so none is evicted before its header is read.
    for (let wave = 0; wave < 7; wave++) {
      const peers = await Promise.all(Array.from({ length: 10 }, () => Peer.open(t.d.port)));
      for (const p of peers) p.send(header);
      codes.push(...(await Promise.all(peers.map((p) => closedWith(p)))));
    }
    expect(codes).toEqual(Array(70).fill('FRAME_TOO_LARGE'));
    const a = await client(t.key('A'));
    expect(await a.ping()).toEqual({});
    await a.close();
    expect(rssBytes(t.d) - rss0, 'RSS growth').toBeLessThan(64 * MiB);
    await expectServes(t.d, t.key('B'));
  }, 30_000);

  it('partial first frames stalled by 40 sockets exhaust the pre-auth budget, not the service', async () => {
    // Each claims 60 KiB (under preauth_max_frame_bytes) and sends 1 KiB of it: 60 KiB reserved
    // from the 256 KiB pre-auth budget each, so the fifth and later find it spent.
    const peers: Peer[] = [];
    for (let i = 0; i < 40; i++) {
      const p = await Peer.open(t.d.port);
      const head = Buffer.alloc(1024);
      head.writeUInt32BE(60 * 1024, 0);
      head[4] = 1;
      head[5] = 5;
      head.write('stall', 6, 'latin1');
      p.send(head);
      peers.push(p);
    }
    // Real clients of two tenants connect and work meanwhile.
    const a = await client(t.key('A'));
    expect(await a.ping()).toEqual({});
    const codes = await Promise.all(peers.map((p) => closedWith(p)));
    expect(codes.every((c) => c === 'OVERLOADED' || c === 'BAD_FRAME'), codes.join(',')).toBe(true);
    expect(await a.ping()).toEqual({});
    await a.close();
    await expectServes(t.d, t.key('B'));
  }, 30_000);
});

describe('case 7d: headers announcing 4 MiB after hello (default settings)', () => {
  it('hold what they sent, not what they announce: 70 of them leave room for another tenant\'s 240 KB store', async () => {
    const A = dflt.key('A');
    const attackers = await greeted(dflt, A, 70);
    // The 6 bytes of a header (len, version, kid length) of a frame of max_frame_bytes, and nothing more: sent by all
    // at once, so none nears frame_deadline_ms (10 s) before the store below.
    const header = Buffer.alloc(6);
    header.writeUInt32BE(4 * MiB, 0);
    header[4] = PROTOCOL_VERSION;
    header[5] = Buffer.byteLength(A.kid);
    for (const p of attackers) p.send(header);
    // Before: each header reserved its 4 MiB of the 256 MiB budget (server.max_buffered_bytes) and this store was
    // refused OVERLOADED (the wait below then times out: 64 × 4 MiB held). Now each holds 64 KiB, its buffer's first size.
    await waitUntil(async () => ((await metric(dflt.d, 'ctxd_partial_frame_bytes')) === 70 * 64 * 1024 ? true : undefined), 'the 70 headers held at 64 KiB each');
    const b = await client(dflt.key('B'), {}, dflt);
    expect((await b.store({ text: 'x '.repeat(120_000), level: 3 })).deduplicated).toBe(false);
    await b.close();
    expect(attackers.filter((p) => p.hasClosed)).toHaveLength(0);
    for (const p of attackers) p.destroy();
  });
});

describe('case 7e: one key holding connections', () => {
  it('cannot take every slot: past max_connections_per_key its next connection is closed OVERLOADED, other keys still get in', async () => {
    const own = await startTenantDaemon({ args: ['--set', 'server.max_connections=30', '--set', 'server.max_connections_per_key=10'] });
    const A = own.key('A');
    const held = await greeted(own, A, 10);
    // 25 more of A's, refused, their peers never closing: each frees its slot as soon as its diagnostic is sent, so
    // together with the 10 they would pass max_connections (30) if they lingered.
    for (let i = 0; i < 25; i++) {
      const extra = await Peer.open(own.d.port, { keys: [A] });
      extra.send(signedMessage(A, { id: `one-too-many-${i}`, ts: Date.now(), op: 'hello' }));
      expect(await closedWith(extra)).toBe('OVERLOADED');
      expect(extra.frames[0]!.message!.error.message).toMatch(/max_connections_per_key \(10\)/);
    }
    // Another tenant's key is not counted against A's share.
    const b = await client(own.key('B'), {}, own);
    expect((await b.store({ text: 'B still gets in', level: 3 })).deduplicated).toBe(false);
    await b.close();
    // A closed connection gives its slot back.
    held.pop()!.destroy();
    const again = await waitUntil(async () => {
      const p = await Peer.open(own.d.port, { keys: [A] });
      const f = await p.request(A, 'hello').catch(() => undefined);
      if (f && codeOf(f) === 'ok') return p;
      p.destroy();
      return undefined;
    }, 'a slot for A again');
    for (const p of [again, ...held]) p.destroy();
    expect(await own.d.stop()).toBe(0);
  });
});

describe('case 7c: a 4 MiB frame right behind hello (default settings)', () => {
  const batch = (n: number, bytes: number) => ({
    items: Array.from({ length: n }, (_, i) => ({ text: `${i} ${randomBytes(bytes / 2).toString('hex')}`, level: 3 as const })),
  });

  it('works from a raw peer sending hello and a ~4 MiB store_batch in one write', async () => {
    const A = dflt.key('A');
    const p = await Peer.open(dflt.d.port, { keys: [A] });
    const hello = signedMessage(A, { id: 'h1', ts: Date.now(), op: 'hello', body: {} });
    const big = signedMessage(A, { id: 'big1', ts: Date.now(), op: 'store_batch', body: batch(16, 255_000) });
    expect(big.length).toBeGreaterThan(4_000_000);
    expect(big.length - 4).toBeLessThanOrEqual(4 * MiB);
    p.send(Buffer.concat([hello, big]));
    expect(codeOf(await p.answer('h1'))).toBe('ok');
    const f = (await p.answer('big1', 60_000)) as Frame<OpAnswer<'store_batch'>>;
    expect(expectWellFormed(f)).toBe('ok');
    expect(f.message!.body.results).toHaveLength(16);
    expect(f.message!.body.results.every((r) => 'id' in r && typeof r.id === 'string')).toBe(true);
    p.destroy();
  }, 90_000);

  it('works as the TS client\'s first request (the client sends hello itself)', async () => {
    const c = await client(dflt.key('B'), { timeoutMs: 60_000 }, dflt);
    const r = await c.storeBatch(batch(16, 255_000).items);
    expect(r.results.length).toBe(16);
    await c.close();
    expect(alive(dflt.d)).toBe(true);
  }, 90_000);

  it('still works while 256 keyless sockets hold the pre-auth budget with 6-byte headers claiming 64 KiB', async () => {
    // 256 (max_unauthenticated_connections) × 64 KiB = 16 MiB = preauth_buffered_bytes: the whole budget, for 1.5 KiB sent.
    const header = Buffer.from([0x00, 0x00, 0xff, 0xfc, 0x01, 0x05]); // len 65532: a 64 KiB frame
    const squatters: Peer[] = [];
    try {
      for (let i = 0; i < 256; i++) {
        const p = await Peer.open(dflt.d.port, { keepRaw: false });
        p.send(header);
        squatters.push(p);
      }
      // Every header is in once a ping from an authenticated client has gone round after them.
      const probe = await client(dflt.key('C'), {}, dflt);
      await probe.ping();
      await probe.close();
      const A = dflt.key('A');
      const p = await Peer.open(dflt.d.port, { keys: [A] });
      const hello = signedMessage(A, { id: 'h2', ts: Date.now(), op: 'hello', body: {} });
      const big = signedMessage(A, { id: 'big3', ts: Date.now(), op: 'store_batch', body: batch(16, 255_000) });
      p.send(Buffer.concat([hello, big]));
      const f = await p.answer('big3', 60_000);
      expect(expectWellFormed(f)).toBe('ok');
      p.destroy();
    } finally {
      for (const p of squatters) p.destroy();
    }
    await expectServes(dflt.d, dflt.key('B'));
  }, 90_000);

  it('refuses the same 4 MiB frame as a first frame (no hello): FRAME_TOO_LARGE on its header', async () => {
    const p = await Peer.open(dflt.d.port);
    p.send(signedMessage(dflt.key('A'), { id: 'big2', ts: Date.now(), op: 'store_batch', body: batch(16, 255_000) }));
    expect(await closedWith(p)).toBe('FRAME_TOO_LARGE');
    await expectServes(dflt.d, dflt.key('C'));
  });
});

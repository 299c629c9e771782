/**
 * Ends of connections and of the daemon (cases 8, 11): a peer that half-closes
 * right after its request still gets the answer and the write is committed;
 * a SIGTERM with a request held in flight answers new requests SHUTTING_DOWN,
 * answers the held one, then sends a SHUTTING_DOWN diagnostic and exits 0.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/daemon.ts';
import type { OpAnswer, StoreAnswer } from '../../src/client/index.ts';
import { storedItem } from '../helpers/answers.ts';
import { bodyAs, codeOf, expectServes, expectWellFormed, Peer, signedMessage, waitForLog } from '../helpers/hostile.ts';
import { startTenantDaemon } from '../helpers/tenants.ts';

afterAll(stopAll);

describe('case 8: half-close', () => {
  it('answers a store sent just before the peer\'s FIN, commits it, then closes', async () => {
    const t = await startTenantDaemon();
    const A = t.key('A');
    const marker = `halfclose-${randomBytes(6).toString('hex')}`;

    // One store, then FIN in the same breath.
    const p = await Peer.open(t.d.port, { keys: [A] });
    p.send(signedMessage(A, { id: 'hc-hello', ts: Date.now(), op: 'hello', body: {} }));
    p.send(signedMessage(A, { id: 'hc-1', ts: Date.now(), op: 'store', body: { text: `one ${marker}`, level: 3 } }));
    p.end();
    const one = await p.answer('hc-1');
    expect(expectWellFormed(one)).toBe('ok');
    await p.closed;

    // Fifty pipelined stores and a 1,000-item batch, then FIN: every answer arrives.
    const q = await Peer.open(t.d.port, { keys: [A] });
    const frames = [signedMessage(A, { id: 'hc2-hello', ts: Date.now(), op: 'hello', body: {} })];
    for (let i = 0; i < 50; i++) frames.push(signedMessage(A, { id: `hc2-${i}`, ts: Date.now(), op: 'store', body: { text: `many ${i} ${marker}`, level: 3 } }));
    frames.push(signedMessage(A, { id: 'hc2-batch', ts: Date.now(), op: 'store_batch', body: { items: Array.from({ length: 1000 }, (_, i) => ({ text: `batch ${i} ${marker} ${randomBytes(4).toString('hex')}`, level: 3 })) } }));
    q.send(Buffer.concat(frames));
    q.end();
    await q.closed;
    const answered = new Map(q.frames.map((f) => [f.message?.id, codeOf(f)]));
    for (let i = 0; i < 50; i++) expect(answered.get(`hc2-${i}`), `hc2-${i}`).toBe('ok');
    expect(answered.get('hc2-batch')).toBe('ok');
    expect(q.frames.filter((f) => f.diagnostic)).toEqual([]);

    // Committed: another client (another connection) reads them back.
    // (Counted by distinct acknowledged ids: a near-duplicate text may be deduplicated into another.)
    const acked = new Set<string>([bodyAs('store', one).id]);
    for (const f of q.frames) {
      // hello, store and store_batch answers: a store's id, or a batch's results.
      const body = f.message?.body as Partial<StoreAnswer & OpAnswer<'store_batch'>> | undefined;
      if (body?.id) acked.add(body.id);
      for (const r of body?.results ?? []) acked.add(storedItem(r).id);
    }
    const r = await Peer.open(t.d.port, { keys: [A] });
    expect(codeOf(await r.request(A, 'get', { id: bodyAs('store', one).id }))).toBe('ok');
    expect((await r.request(A, 'stats', {})).message!.body.total).toBe(acked.size);
    expect(acked.size).toBeGreaterThan(1000);
    r.destroy();
    await expectServes(t.d, t.key('B'), { forbidden: [marker] });
    expect(await t.d.stop()).toBe(0);
  }, 60_000);
});

describe('case 11: shutdown with a request in flight', () => {
  it('SHUTTING_DOWN for new requests, the held request answered, then a SHUTTING_DOWN diagnostic, exit 0', async () => {
    const t = await startTenantDaemon({
      args: ['--set', 'debug.enable_ops=true', '--set', 'server.shutdown_deadline_ms=60000', '--log-level', 'debug'],
    });
    const { d, admin } = t;
    const B = t.key('B');
    const held = await Peer.open(d.port, { keys: [admin] });
    expect(codeOf(await held.request(admin, 'hello'))).toBe('ok');
    const other = await Peer.open(d.port, { keys: [B] });
    expect(codeOf(await other.request(B, 'hello'))).toBe('ok');

    held.send(signedMessage(admin, { id: 'hold-1', ts: Date.now(), op: 'debug_hold', body: {} }));
    await waitForLog(d, (l) => l.msg === 'request' && l.op === 'debug_hold' && l.id === 'hold-1', 'the held request dispatched');
    const from = d.logs.length;
    d.proc.kill('SIGTERM');
    await waitForLog(d, (l) => l.msg === 'shutting down', 'shutting down', 20_000, from);

    // Requests on already-open connections: SHUTTING_DOWN, retryable, with a hint.
    for (const [peer, key] of [[other, B], [held, admin]] as const) {
      const f = await peer.request(key, 'ping');
      expect(expectWellFormed(f)).toBe('SHUTTING_DOWN');
      expect(f.message!.error.retry_after_ms).toBeGreaterThan(0);
      expect(codeOf(await peer.request(key, 'store', { text: 'too late', level: 3 }))).toBe('SHUTTING_DOWN');
    }
    // No new connections; not ready.
    const refused = await new Promise<string>((res) => {
      const s = connect({ port: d.port, host: '127.0.0.1' }, () => {
        s.destroy();
        res('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => res(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect((await d.http('/health/ready')).status).toBe(503);
    expect(held.hasClosed).toBe(false);

    // Release the hold: its answer, then the diagnostic, then the close, on every connection.
    d.proc.kill('SIGUSR2');
    const answer = await held.answer('hold-1', 20_000);
    expect(expectWellFormed(answer)).toBe('ok');
    expect(typeof answer.message!.body.held_ms).toBe('number');
    await Promise.all([held.closed, other.closed]);
    for (const p of [held, other]) {
      const last = p.frames.at(-1)!;
      expect(last.diagnostic).toBe(true);
      expect(expectWellFormed(last)).toBe('SHUTTING_DOWN');
      expect(p.frames.filter((f) => f.diagnostic)).toHaveLength(1);
    }
    expect(held.frames.findIndex((f) => f.message?.id === 'hold-1')).toBeLessThan(held.frames.length - 1);
    expect(await d.exited).toBe(0);
  }, 60_000);
});

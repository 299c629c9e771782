/**
 * Resource edges (cases 9a, 9b, 10): a full disk (store.max_db_bytes) answers
 * UNAVAILABLE, turns readiness off, counts the failures, and recovers on its
 * own once room is freed; answers larger than max_frame_bytes are cut (list
 * pages truncated with a cursor that misses nothing and repeats nothing,
 * retrieve omitting what does not fit); texts that are worst cases for BPE
 * tokenisation complete while other connections are answered.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OpAnswer } from '../../src/client/index.ts';
import { storedItem } from '../helpers/answers.ts';
import { stopAll } from '../helpers/daemon.ts';
import { alive, codeOf, expectServes, expectWellFormed, freshId, metric, Peer, percentile, pingMeanwhile, rssBytes, signedMessage, waitUntil, MiB, type Frame } from '../helpers/hostile.ts';
import { startTenantDaemon, type TenantDaemon } from '../helpers/tenants.ts';

const MAX_FRAME = 4 * 1024 * 1024;
let big: TenantDaemon;

beforeAll(async () => {
  // Dedup off: the generated texts share vocabulary.
  big = await startTenantDaemon({ args: ['--set', 'engine.dedup_threshold=1.01'] });
});
afterAll(stopAll);
afterEach(() => expectServes(big.d, big.key('C')));

describe('case 9a: disk full', () => {
  it('UNAVAILABLE (retryable, disk_full) once the database is full, not ready, counted; ready and storing again after deletes', async () => {
    const t = await startTenantDaemon({ args: ['--set', 'store.max_db_bytes=1048576'] });
    const { d } = t;
    const A = t.key('A');
    const a = await Peer.open(d.port, { keys: [A] });
    const ids: string[] = [];
    let full: Frame | undefined;
    for (let round = 0; round < 200 && !full; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => a.request(A, 'store', { text: `filler ${round}-${i} ${randomBytes(1500).toString('hex')}`, level: 3 })));
      for (const f of answers) {
        const code = expectWellFormed(f);
        if (code === 'ok') ids.push(f.message!.body.id);
        else if (code === 'UNAVAILABLE') full ??= f;
        else throw new Error(`unexpected ${code}: ${JSON.stringify(f.message!.error)}`);
      }
    }
    expect(full, 'the database filled up').toBeDefined();
    expect(ids.length).toBeGreaterThan(50);
    expect(full!.message!.error).toMatchObject({ code: 'UNAVAILABLE', retryable: true, details: { reason: 'disk_full' } });
    expect(full!.message!.error.retry_after_ms).toBeGreaterThan(0);
    await waitUntil(async () => ((await d.http('/health/ready')).status === 503 ? true : undefined), 'not ready');
    expect((await d.http('/health/ready')).body.reason).toMatch(/store/);
    expect(await metric(d, 'ctxd_store_write_failures_total', { reason: 'disk_full' })).toBeGreaterThan(0);
    // Reads still work, for every tenant; the stored count is what was acknowledged.
    expect((await a.request(A, 'stats', {})).message!.body.total).toBe(ids.length);
    const b = await Peer.open(d.port, { keys: [t.key('B')] });
    expect(codeOf(await b.request(t.key('B'), 'list', {}))).toBe('ok');
    // As big as the write that failed: a smaller one could still fit in a page's leftover room.
    expect(codeOf(await b.request(t.key('B'), 'store', { text: `b while full ${randomBytes(1500).toString('hex')}`, level: 3 }))).toBe('UNAVAILABLE');
    b.destroy();
    // Two stores of one text in one read: the second is decided while the first's commit is in flight, and answers with
    // its id. Neither may be acknowledged unless it was stored (the duplicate was answered ok with an id never written).
    for (let attempt = 0; attempt < 3; attempt++) {
      const text = `twins while full ${attempt} ${randomBytes(1500).toString('hex')}`;
      const twins = [freshId('store'), freshId('store')];
      a.send(Buffer.concat(twins.map((id) => signedMessage(A, { id, ts: Date.now(), op: 'store', body: { text, level: 3 } }))));
      for (const id of twins) {
        const f = await a.answer(id);
        if (codeOf(f) === 'ok') expect(codeOf(await a.request(A, 'get', { id: f.message!.body.id })), 'an acknowledged store is stored').toBe('ok');
        else expect(f.message!.error).toMatchObject({ code: 'UNAVAILABLE', details: { reason: 'disk_full' } });
      }
    }

    // Free half, then wait (poll, with a deadline) for the daemon's own probe to find room.
    for (const id of ids.slice(0, Math.ceil(ids.length / 2))) {
      const del = await a.request(A, 'delete', { id });
      expect(codeOf(del), `delete on a full database: ${JSON.stringify(del.message?.error)}`).toBe('ok');
    }
    await waitUntil(async () => ((await d.http('/health/ready')).status === 200 ? true : undefined), 'ready again', 30_000, 200);
    for (let i = 0; i < 5; i++) expect(codeOf(await a.request(A, 'store', { text: `after recovery ${i} ${randomBytes(200).toString('hex')}`, level: 3 }))).toBe('ok');
    a.destroy();
    await expectServes(d, t.key('C'));
    expect(await d.stop()).toBe(0);
  }, 90_000);
});

describe('case 9b: answers larger than max_frame_bytes', () => {
  it('errors naming a peer\'s field of 3.9 MB are answered in a few hundred bytes, alone or as store_batch items', async () => {
    const A = big.key('A');
    const a = await Peer.open(big.d.port, { keys: [A] });
    expect(codeOf(await a.request(A, 'hello'))).toBe('ok');
    const name = `k${'漢'.repeat(1_300_000)}`;
    // Before: the name came back twice (message and details.field), an answer of ~7.8 MB, past max_frame_bytes and
    // past the 4 KiB the connection reserves for an error (the answer queue's bound).
    for (const [op, body] of [['ping', { [name]: 1 }], ['store', { text: 'fine', level: 3, metadata: { [name]: 1 } }]] as const) {
      const f = await a.request(A, op, body);
      expect(expectWellFormed(f), op).toBe('BAD_REQUEST');
      expect(f.len, op).toBeLessThan(2048);
      expect((f.message!.error!.details as { field: string }).field.startsWith('body.'), op).toBe(true);
    }
    const batch = await a.request(A, 'store_batch', { items: [{ text: 'fine', level: 3, tags: [name.slice(0, 600_000)] }, { text: 'x', level: 3, [name.slice(0, 600_000)]: 1 }] });
    expect(expectWellFormed(batch)).toBe('ok');
    expect(batch.len).toBeLessThan(4096);
    for (const r of batch.message!.body.results) expect('error' in r && r.error.code).toBe('BAD_REQUEST');
    a.destroy();
  });

  it('list pages of ~8 KB contexts are cut below max_frame_bytes, truncated with a cursor, and page through every id exactly once', async () => {
    const A = big.key('A');
    const a = await Peer.open(big.d.port, { keys: [A] });
    expect(codeOf(await a.request(A, 'hello'))).toBe('ok');
    const stored: string[] = [];
    const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo'.split(' ');
    for (let batch = 0; batch < 3; batch++) {
      const items = Array.from({ length: 350 }, (_, i) => {
        let s = `ctx-${batch}-${i}`;
        while (s.length < 8000) s += ` ${words[(s.length * 7 + i) % words.length]}`;
        return { text: s, level: 3 as const };
      });
      const f = await a.request(A, 'store_batch', { items }, { ms: 60_000 });
      expect(codeOf(f)).toBe('ok');
      stored.push(...f.message!.body.results.map((r) => storedItem(r).id));
    }
    const seen: string[] = [];
    const pages: Array<{ len: number; n: number; truncated: boolean }> = [];
    for (let cursor: string | null = null; ; ) {
      const page: Frame<OpAnswer<'list'>> = await a.request(A, 'list', cursor ? { cursor, limit: 1000 } : { limit: 1000 }, { ms: 30_000 });
      expect(expectWellFormed(page)).toBe('ok');
      expect(page.len, 'answer frame len').toBeLessThanOrEqual(MAX_FRAME);
      const body = page.message!.body;
      pages.push({ len: page.len, n: body.items.length, truncated: body.truncated });
      seen.push(...body.items.map((c: { id: string }) => c.id));
      if (body.truncated) expect(typeof body.next_cursor).toBe('string');
      cursor = body.next_cursor;
      if (!cursor) break;
      expect(pages.length).toBeLessThan(50);
    }
    console.log(`[case 9b] ${stored.length} contexts of ~8 KB listed in ${pages.length} pages: ${pages.map((p) => `${p.n} items/${(p.len / MiB).toFixed(2)} MiB${p.truncated ? ' (truncated)' : ''}`).join(', ')}`);
    expect(pages[0]!.truncated).toBe(true);
    expect(new Set(seen).size, 'no id twice').toBe(seen.length);
    expect([...seen].sort()).toEqual([...stored].sort());
    a.destroy();
  }, 90_000);

  it('retrieve of contexts whose text outweighs their tokens stays below max_frame_bytes, omitting what does not fit', async () => {
    // Long runs of spaces are few tokens and many bytes: 60 × ~250 KB would be ~15 MB of answer within the token budget.
    const B = big.key('B');
    const b = await Peer.open(big.d.port, { keys: [B] });
    expect(codeOf(await b.request(B, 'hello'))).toBe('ok');
    const piece = `${' '.repeat(240)}lanternfish`;
    let tokens = 0;
    for (let batch = 0; batch < 4; batch++) {
      const items = Array.from({ length: 15 }, (_, i) => ({ text: `${batch}-${i} ${piece.repeat(1000)}`, level: 3 as const }));
      const f = await b.request(B, 'store_batch', { items }, { ms: 120_000 });
      expect(codeOf(f)).toBe('ok');
      for (const r of f.message!.body.results) tokens += storedItem(r).tokens;
    }
    const r = await b.request(B, 'retrieve', { query: 'lanternfish', max_tokens: 200_000, min_similarity: -1 }, { ms: 60_000 });
    expect(expectWellFormed(r), JSON.stringify(r.message?.error)).toBe('ok');
    expect(r.len).toBeLessThanOrEqual(MAX_FRAME);
    const body = r.message!.body;
    const omitted = Object.values(body.levels).reduce((n, l) => n + l.omitted, 0);
    console.log(`[case 9b] retrieve over 60 × 240 KB low-token texts (${tokens} tokens in all): ${body.contexts.length} contexts, ${(r.len / MiB).toFixed(2)} MiB, omitted ${omitted}`);
    expect(body.total_tokens).toBeLessThanOrEqual(200_000);
    if (tokens <= 200_000) expect(omitted).toBeGreaterThan(0);
    b.destroy();
    await expectServes(big.d, big.key('C'));
  }, 180_000);
});

describe('case 10: tokeniser worst cases', () => {
  it('stores 256 KiB of emoji without spaces and 20 × 16,000 chars of emoji at once; pings on another connection keep being answered', async () => {
    const A = big.key('A');
    const C = big.key('C');
    const pings = await pingMeanwhile(big.d.port, C);
    const latencies = pings.latencies;
    const rss0 = rssBytes(big.d);
    const a = await Peer.open(big.d.port, { keys: [A], keepRaw: false });
    expect(codeOf(await a.request(A, 'hello'))).toBe('ok');
    const emoji = ['😀', '👩‍👩‍👧', '👍🏽', '🇵🇹', '‼️'];
    /** ~n UTF-16 units of whole emoji (never a split surrogate pair), no spaces. */
    const run = (n: number, k: number) => {
      let s = '';
      for (let i = k; s.length < n; i++) s += emoji[i % emoji.length];
      return s;
    };
    const t0 = performance.now();
    try {
      const huge = await a.request(A, 'store', { text: '😀'.repeat(65_536), level: 3 }, { ms: 120_000 });
      expect(expectWellFormed(huge), JSON.stringify(huge.message?.error)).toBe('ok');
      const tooBig = await a.request(A, 'store', { text: '😀'.repeat(65_537), level: 3 }, { ms: 120_000 });
      expect(codeOf(tooBig)).toBe('BAD_REQUEST');
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, k) => a.request(A, 'store', { text: run(16_000, k), level: (k % 3) + 1, session: `emoji-${k}` }, { ms: 120_000 })),
      );
      for (const f of many) expect(expectWellFormed(f), JSON.stringify(f.message?.error)).toBe('ok');
      // Other worst cases: one letter repeated, CJK without spaces, combining marks piled on one base.
      for (const text of ['a'.repeat(200_000), '漢字仮名交じり文'.repeat(8_000), `e${'\u0301'.repeat(50_000)}`, '\u200d'.repeat(60_000)]) {
        const f = await a.request(A, 'store', { text, level: 3 }, { ms: 120_000 });
        expect(expectWellFormed(f), JSON.stringify(f.message?.error)).toBe('ok');
        expect(f.message!.body.tokens).toBeGreaterThan(0);
      }
    } finally {
      await pings.stop();
    }
    console.log(`[case 10] stores took ${((performance.now() - t0) / 1000).toFixed(1)} s; ${latencies.length} pings meanwhile: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${percentile(latencies, 100).toFixed(1)} ms; RSS +${((rssBytes(big.d) - rss0) / MiB).toFixed(0)} MiB`);
    expect(latencies.length).toBeGreaterThan(0);
    a.destroy();
    expect(alive(big.d)).toBe(true);
    await expectServes(big.d, big.key('B'));
  }, 180_000);
});

/**
 * The context engine's rules, through the real protocol against the daemon as
 * a child process (issue: hierarchical context engine).
 */
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import type { CtxdClient, OpAnswer, OpRequest } from '../../src/client/index.ts';
import { writeKeyringFile } from '../../src/auth/keyring-file.ts';
import type { Body } from '../../src/protocol/messages.ts';
import { storedItem } from '../helpers/answers.ts';
import { syntheticText } from '../helpers/records.ts';
import { QUANTIZED_MIN_ROWS } from '../../src/store/embedded/quantized-scan.ts';
import { startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';

let d: RunningDaemon;
let c: CtxdClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true or `ms` passes. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

beforeAll(async () => {
  d = await startDaemon({ args: ['--set', 'engine.l1_max_items=4', '--set', 'engine.gc_interval_s=0.2', '--set', 'engine.access_flush_ms=20'] });
  c = await d.client();
});
afterAll(async () => {
  await c.close();
  await stopAll();
});

const store = (body: OpRequest<'store'>) => c.store(body);
const retrieve = (body: OpRequest<'retrieve'>) => c.retrieve(body);
const get = (id: string) => c.get(id);

describe('store and the three levels', () => {
  it('stores at every level and answers get with every field', async () => {
    const before = Date.now();
    const r = await store({ text: 'The deploy pipeline runs on Fridays', level: 3, agent: 'planner', tags: ['ops', 'deploy'], metadata: { source: 'wiki', n: 2 } });
    expect(r).toMatchObject({ level: 3, deduplicated: false });
    // Exact o200k_base counts (the default tokenizer), not a length estimate.
    expect(r.tokens).toBe(o200k('The deploy pipeline runs on Fridays'));
    const long = 'Ünïcödé, emoji 🚀🚀 and code: const x = await fetch(url);';
    expect((await store({ text: long, level: 3 })).tokens).toBe(o200k(long));
    expect(o200k(long)).not.toBe(Math.ceil(long.length / 4));
    const doc = await get(r.id);
    expect(doc).toMatchObject({ id: r.id, level: 3, text: 'The deploy pipeline runs on Fridays', tokens: r.tokens, session: 'default', agent: 'planner', tags: ['ops', 'deploy'], metadata: { source: 'wiki', n: 2 }, access_count: 0, version: 1, expires_at: null });
    expect(doc.ts).toBeGreaterThanOrEqual(before);
    const l2 = await store({ text: 'Short-term note about the retro', level: 2, session: 'levels' });
    expect((await get(l2.id)).expires_at).toBeGreaterThan(Date.now() + 86_000_000);
    const l1 = await store({ text: 'User just asked about lunch', level: 1, session: 'levels' });
    expect((await get(l1.id)).level).toBe(1);
  });

  it('moves the oldest L1 contexts of a full session to L2, never dropping one', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await store({ text: `turn ${i}: ${['apples', 'rivers', 'engines', 'violins', 'glaciers', 'tulips'][i]} discussion`, level: 1, session: 'spill' })).id);
    }
    const levels = await Promise.all(ids.map(async (id) => (await get(id)).level));
    expect(levels).toEqual([2, 2, 1, 1, 1, 1]);
    const l1 = await c.listPage({ level: 1, session: 'spill' });
    expect(l1.items.map((x) => x.id)).toEqual(ids.slice(2));
    const spilled = await get(ids[0]!);
    expect(spilled.expires_at).toBeGreaterThan(Date.now());
    // A batch that overflows L1 lands its oldest items in L2 and says so.
    const batch = await c.storeBatch(['kiwi', 'mango', 'papaya', 'guava', 'lychee'].map((f) => ({ text: `fruit ${f} notes`, level: 1, session: 'spill2' })));
    expect(batch.results.map((r) => storedItem(r).level)).toEqual([2, 1, 1, 1, 1]);
  });

  it('scopes L1 and L2 to the session and shares L3 across the tenant', async () => {
    await store({ text: 'zebra migration observation in session A', level: 2, session: 'scope-a' });
    await store({ text: 'zebra herd shared fact', level: 3, session: 'scope-a' });
    const fromB = await retrieve({ query: 'zebra', session: 'scope-b', max_tokens: 500 });
    expect(fromB.contexts.map((x) => x.text)).toEqual(['zebra herd shared fact']);
    const fromA = await retrieve({ query: 'zebra', session: 'scope-a', max_tokens: 500 });
    expect(fromA.contexts.map((x) => x.text).sort()).toEqual(['zebra herd shared fact', 'zebra migration observation in session A']);
  });
});

describe('TTL, garbage collection and promotion', () => {
  it('never returns an expired L2 context, even before GC removes it', async () => {
    const noGc = await startDaemon({ args: ['--set', 'engine.gc_interval_s=3600'] });
    const cc = await noGc.client();
    const r = await cc.store({ text: 'ephemeral walrus note', level: 2, ttl_s: 1 });
    expect((await cc.get(r.id)).id).toBe(r.id);
    await sleep(1100);
    expect(await cc.get(r.id).catch((e) => e.code)).toBe('NOT_FOUND');
    expect((await cc.retrieve({ query: 'ephemeral walrus note' })).contexts).toEqual([]);
    expect((await cc.listPage({ level: 2 })).items).toEqual([]);
    expect((await cc.stats()).levels['2']).toBe(0);
    // Still in the store: GC has not run.
    const db = new DatabaseSync(`${noGc.dataDir}/ctxd.sqlite`, { readOnly: true });
    expect((db.prepare('SELECT count(*) AS n FROM contexts WHERE id = ?').get(r.id) as { n: number }).n).toBe(1);
    db.close();
    await cc.close();
    await noGc.stop();
  });

  it('GC deletes expired contexts and promotes often-retrieved L2 contexts to L3', async () => {
    const doomed = await store({ text: 'short lived narwhal memo', level: 2, session: 'gc-doomed', ttl_s: 1 });
    const keeper = await store({ text: 'frequently needed quokka insight', level: 2, session: 'gc', ttl_s: 3600 });
    for (let i = 0; i < 3; i++) {
      const r = await retrieve({ query: 'quokka insight', session: 'gc', levels: [2] });
      expect(r.contexts[0]!.id).toBe(keeper.id);
    }
    await eventually(async () => (await get(keeper.id)).level === 3);
    const promoted = await get(keeper.id);
    expect(promoted).toMatchObject({ level: 3, expires_at: null, access_count: 3 });
    await sleep(1100);
    const db = new DatabaseSync(`${d.dataDir}/ctxd.sqlite`, { readOnly: true });
    const count = () => (db.prepare('SELECT count(*) AS n FROM contexts WHERE id = ?').get(doomed.id) as { n: number }).n;
    await eventually(async () => count() === 0);
    db.close();
  });
});

describe('dedup', () => {
  it('returns the existing id and refreshes it instead of storing a copy', async () => {
    const a = await store({ text: 'The staging database password rotates monthly', level: 3, tags: ['sec'] });
    const first = await get(a.id);
    await sleep(5);
    const b = await store({ text: 'the staging database password rotates monthly!', level: 3, tags: ['ops'] });
    expect(b).toMatchObject({ id: a.id, deduplicated: true });
    const after = await get(a.id);
    expect(after.ts).toBeGreaterThan(first.ts);
    expect(after.tags).toEqual(['sec', 'ops']);
    const other = await store({ text: 'The production database password rotates weekly', level: 3 });
    expect(other.deduplicated).toBe(false);
  });

  it('a refresh takes the later expiry: never shortened, and none when a store without ttl_s refreshes an expiring L3 context', async () => {
    const text = 'the quarterly audit checklist lives in the compliance wiki';
    const a = await store({ text, level: 3, ttl_s: 60 });
    const soon = (await get(a.id)).expires_at!;
    expect(soon).toBeGreaterThan(Date.now());
    await store({ text, level: 3, ttl_s: 3600 });
    const later = (await get(a.id)).expires_at!;
    expect(later).toBeGreaterThan(soon + 3000_000);
    expect(await store({ text, level: 3, ttl_s: 1 })).toMatchObject({ id: a.id, deduplicated: true });
    expect((await get(a.id)).expires_at).toBe(later);
    // Acknowledged as long-term: it must not vanish with the first store's ttl.
    expect(await store({ text, level: 3 })).toMatchObject({ id: a.id, deduplicated: true });
    expect((await get(a.id)).expires_at).toBeNull();
  });

  it('deduplicates concurrent stores of one text, and keeps a full L1 at its limit under concurrency', async () => {
    const rs = await Promise.all(Array.from({ length: 10 }, () => store({ text: 'concurrent copies of one lemur fact', level: 3 })));
    expect(new Set(rs.map((r) => r.id)).size).toBe(1);
    expect(rs.filter((r) => !r.deduplicated)).toHaveLength(1);
    await Promise.all(Array.from({ length: 12 }, (_, i) => store({ text: `parallel turn ${i} about ${['otters', 'comets', 'violas', 'basalt', 'sonar', 'quinoa', 'fjords', 'lutes', 'mosaics', 'geysers', 'kites', 'oboes'][i]}`, level: 1, session: 'par' })));
    const l1 = await c.listPage({ level: 1, session: 'par' });
    const l2 = await c.listPage({ level: 2, session: 'par' });
    expect(l1.items).toHaveLength(4);
    expect(l1.items.length + l2.items.length).toBe(12);
  });

  it('keeps copies in different sessions of L1/L2, and merges identical texts within a batch', async () => {
    const x = await store({ text: 'identical session note', level: 2, session: 'dd-1' });
    const y = await store({ text: 'identical session note', level: 2, session: 'dd-2' });
    expect(y.id).not.toBe(x.id);
    const batch = await c.storeBatch([{ text: 'batch twin text', level: 3 }, { text: 'batch twin text', level: 3 }]);
    const [r1, r2] = batch.results;
    expect(r2).toMatchObject({ id: storedItem(r1!).id, deduplicated: true });
  });

  it('finds the near-duplicate among thousands of contexts (the 8-bit scan of a bigger level), and stores what differs', async () => {
    const texts = Array.from({ length: QUANTIZED_MIN_ROWS + 500 }, (_, i) => `${syntheticText(i, 16)} many-${i}`);
    const ids: string[] = [];
    for (let at = 0; at < texts.length; at += 500) {
      const r = await c.storeBatch(texts.slice(at, at + 500).map((text) => ({ text, level: 3 as const })));
      for (const item of r.results) ids.push(storedItem(item).id);
    }
    expect(new Set(ids).size).toBe(texts.length);
    for (const i of [7, QUANTIZED_MIN_ROWS + 123]) {
      const again = await store({ text: `  ${texts[i]!.toUpperCase()}`, level: 3 });
      expect(again).toMatchObject({ id: ids[i], deduplicated: true });
    }
    const fresh = await store({ text: `${syntheticText(999_999, 16)} many-999999`, level: 3 });
    expect(fresh.deduplicated).toBe(false);
  });
});

describe('retrieve: filters, budget, ordering, access counts', () => {
  beforeAll(async () => {
    const now = Date.now();
    await c.storeBatch([
      { text: 'kafka consumer lag alert runbook', level: 3, agent: 'sre', tags: ['runbook', 'kafka'], metadata: { team: 'data' } },
      { text: 'kafka partition rebalance guide', level: 3, agent: 'sre', tags: ['kafka'], metadata: { team: 'infra' } },
      { text: 'kafka topic naming conventions', level: 3, agent: 'dev', tags: ['style'], metadata: { team: 'data' } },
    ]);
    expect(Date.now() - now).toBeLessThan(10_000);
  });

  const texts = (r: OpAnswer<'retrieve'>) => r.contexts.map((x) => x.text).sort();

  it('filters by agent, tags_any, tags_all, metadata and time inside the search', async () => {
    const q: OpRequest<'retrieve'> = { query: 'kafka', levels: [3], max_tokens: 1000 };
    expect(texts(await retrieve({ ...q, agent: 'dev' }))).toEqual(['kafka topic naming conventions']);
    expect(texts(await retrieve({ ...q, tags_any: ['runbook', 'style'] }))).toEqual(['kafka consumer lag alert runbook', 'kafka topic naming conventions']);
    expect(texts(await retrieve({ ...q, tags_all: ['runbook', 'kafka'] }))).toEqual(['kafka consumer lag alert runbook']);
    expect(texts(await retrieve({ ...q, where: { team: 'infra' } }))).toEqual(['kafka partition rebalance guide']);
    expect(texts(await retrieve({ ...q, agent: 'sre', where: { team: 'data' } }))).toEqual(['kafka consumer lag alert runbook']);
    expect(await retrieve({ ...q, until: Date.now() - 3_600_000 })).toMatchObject({ contexts: [] });
    expect(texts(await retrieve({ ...q, since: Date.now() - 60_000, agent: 'dev' }))).toEqual(['kafka topic naming conventions']);
  });

  it('keeps total_tokens within max_tokens, equal to the sum of the contexts', async () => {
    await c.storeBatch(Array.from({ length: 40 }, (_, i) => ({ text: `budget filler item ${i} about kafka streams and consumer groups`, level: 3 })));
    for (const max of [1, 10, 37, 100, 333]) {
      const r = await retrieve({ query: 'kafka consumer', max_tokens: max });
      expect(r.total_tokens).toBeLessThanOrEqual(max);
      expect(r.total_tokens).toBe(r.contexts.reduce((s, x) => s + x.tokens, 0));
      const used = Object.values(r.levels).reduce((s, l) => s + l.used, 0);
      expect(used).toBe(r.total_tokens);
    }
  });

  it('fills from L3 when L1 is empty and L3 is rich', async () => {
    const r = await retrieve({ query: 'kafka consumer groups', session: 'no-such-session', max_tokens: 200 });
    expect(r.levels['1']).toMatchObject({ candidates: 0, used: 0, allocated: 0 });
    expect(r.levels['3']!.used).toBeGreaterThan(0.3 * 200);
    expect(r.levels['3']!.allocated).toBeGreaterThan(0.3 * 200);
    expect(r.total_tokens).toBeGreaterThan(180);
    expect(r.levels['3']!.omitted).toBeGreaterThan(0);
  });

  it('orders by score, explains it with score_parts, and drops below min_score', async () => {
    const r = await retrieve({ query: 'kafka consumer lag', max_tokens: 2000 });
    const scores = r.contexts.map((x) => x.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const x of r.contexts) {
      const p = x.score_parts;
      expect(p.similarity + p.recency + p.level + p.frequency).toBeCloseTo(x.score, 5);
      expect(p.similarity).toBeCloseTo(0.5 * Math.max(0, x.similarity), 5);
    }
    const cut = scores[Math.floor(scores.length / 2)]!;
    const filtered = await retrieve({ query: 'kafka consumer lag', max_tokens: 2000, min_score: cut });
    expect(filtered.contexts.every((x) => x.score >= cut)).toBe(true);
    expect(filtered.contexts.length).toBeLessThan(r.contexts.length);
    expect(r.set_id).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof r.took_ms).toBe('number');
    expect(r.degraded).toEqual([]);
  });

  it('counts every returned context as accessed, and persists the count', async () => {
    const id = (await store({ text: 'unique pangolin fact for access counting', level: 3 })).id;
    const r1 = await retrieve({ query: 'pangolin access counting', levels: [3], max_tokens: 50 });
    expect(r1.contexts.find((x) => x.id === id)?.access_count).toBe(1);
    await retrieve({ query: 'pangolin access counting', levels: [3], max_tokens: 50 });
    expect((await get(id)).access_count).toBe(2);
    // Counts are written in batches every access_flush_ms: wait for the write, with a deadline, rather than sleep and hope.
    const db = new DatabaseSync(`${d.dataDir}/ctxd.sqlite`, { readOnly: true });
    const read = () => (db.prepare('SELECT c.access_count + coalesce(a.n, 0) AS n FROM contexts c LEFT JOIN access_counts a ON a.id = c.id WHERE c.id = ?').get(id) as { n: number }).n;
    for (const deadline = Date.now() + 10_000; read() < 2 && Date.now() < deadline; ) await sleep(20);
    expect(read()).toBe(2);
    db.close();
  });

  it('gives the same set_id for the same set, and a new one when a context changes', async () => {
    const q: OpRequest<'retrieve'> = { query: 'kafka topic naming', levels: [3], agent: 'dev', max_tokens: 100 };
    const a = await retrieve(q);
    const b = await retrieve(q);
    expect(b.set_id).toBe(a.set_id);
    await c.update(a.contexts[0]!.id, { tags: ['style', 'naming'] });
    expect((await retrieve(q)).set_id).not.toBe(a.set_id);
  });
});

describe('update, delete, delete_where, clear, list, stats', () => {
  it('updates text (re-counting tokens), merges metadata, changes level', async () => {
    const r = await store({ text: 'draft', level: 2, session: 'upd', metadata: { a: 1, b: 2 } });
    const u = await c.update(r.id, { text: 'final version of the release notes', metadata: { b: null, c: 3 }, level: 3 });
    expect(u).toMatchObject({ text: 'final version of the release notes', tokens: 6, metadata: { a: 1, c: 3 }, level: 3, expires_at: null, version: 2 });
    const found = await retrieve({ query: 'release notes final', levels: [3] });
    expect(found.contexts.map((x) => x.id)).toContain(r.id);
    expect((await c.update(r.id, { ttl_s: 60 })).expires_at).toBeGreaterThan(Date.now());
    expect(await c.update('c-nope', { tags: [] }).catch((e) => e.code)).toBe('NOT_FOUND');
  });

  it('concurrent updates of one context each keep their change (merged under its scope lock, even across a level move)', async () => {
    const r = await store({ text: 'a context many agents annotate at once', level: 2, session: 'upd-race', metadata: { base: 0 } });
    // Pipelined on one connection: each reads the context while the others are in flight.
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    const answers = await Promise.all([...keys.map((k, i) => c.update(r.id, { metadata: { [k]: i } })), c.update(r.id, { level: 3 }), c.update(r.id, { tags: ['annotated'] })]);
    expect(answers.map((a) => a.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
    const final = await c.get(r.id);
    expect(final.metadata).toEqual({ base: 0, ...Object.fromEntries(keys.map((k, i) => [k, i])) });
    expect(final).toMatchObject({ level: 3, tags: ['annotated'], version: 11 });
  });

  it('a store of the same text refreshing a context while it is updated keeps both changes', async () => {
    for (let i = 0; i < 10; i++) {
      const text = `a note about incident ${i} in the payments service`;
      const r = await store({ text, level: 3, metadata: { a: 1 } });
      // Pipelined: the store's nearest-neighbour search runs before the update commits, its refresh after.
      const [, again] = await Promise.all([c.update(r.id, { metadata: { b: 2 } }), store({ text, level: 3, metadata: { c: 3 } })]);
      expect(again).toMatchObject({ id: r.id, deduplicated: true });
      expect((await c.get(r.id)).metadata).toEqual({ a: 1, b: 2, c: 3 });
    }
  });

  it('deletes by id and by filter, and clears a level of a session', async () => {
    const a = await store({ text: 'delete me please', level: 3 });
    expect(await c.delete(a.id)).toEqual({ deleted: 1 });
    expect(await c.delete(a.id).catch((e) => e.code)).toBe('NOT_FOUND');
    await c.storeBatch(['one', 'two', 'three'].map((t) => ({ text: `temp ${t} item`, level: 2, session: 'del', agent: 'tmp' })));
    expect(await c.deleteWhere({ agent: 'tmp' })).toEqual({ deleted: 3 });
    // No filter at all: the typed method cannot send it, the server must refuse it.
    const err = await c.request<OpAnswer<'delete_where'>>('delete_where', {}).catch((e) => e);
    expect(err.code).toBe('BAD_REQUEST');
    await c.storeBatch(['x', 'y'].map((t) => ({ text: `clear ${t} thing`, level: 1, session: 'clr' })));
    expect(await c.clear({ level: 1, session: 'clr' })).toEqual({ deleted: 2 });
  });

  it('pages list with a cursor that stays stable while writes go on', async () => {
    const s = 'paging';
    const ids = (await c.storeBatch(Array.from({ length: 25 }, (_, i) => ({ text: `page item ${i} ${'abcdefghijklmnopqrstuvwxy'[i]}${i}`, level: 2, session: s })))).results.map((r) => storedItem(r).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await c.listPage({ session: s, level: 2, limit: 10, ...(cursor && { cursor }) });
      seen.push(...page.items.map((x) => x.id));
      cursor = page.next_cursor ?? undefined;
      if (pages++ === 0) {
        await c.delete(ids[20]!);
        await store({ text: 'page item arriving late', level: 2, session: s });
      }
    } while (cursor);
    expect(seen.slice(0, 24)).toEqual(ids.filter((_, i) => i !== 20));
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
  });

  it('reports stats per level, bytes and sessions', async () => {
    const s = await c.stats();
    expect(s.tenant).toBe('default');
    expect(s.total).toBe(s.levels['1'] + s.levels['2'] + s.levels['3']);
    expect(s.levels['3']).toBeGreaterThan(40);
    expect(s.text_bytes).toBeGreaterThan(1000);
    expect(s.sessions).toBeGreaterThan(3);
  });

  it('rejects bad bodies with the field path', async () => {
    const cases: Array<[string, Body, string]> = [
      ['store', { level: 1 }, 'body.text'],
      ['store', { text: 'x', level: 4 }, 'body.level'],
      ['store', { text: 'x', level: 1, tags: ['ok', 5] }, 'body.tags.1'],
      ['store', { text: 'x', level: 1, ttl_s: -5 }, 'body.ttl_s'],
      ['store', { text: 'x'.repeat(300_000), level: 3 }, 'body.text'],
      ['retrieve', { query: '' }, 'body.query'],
      ['retrieve', { query: 'q', max_tokens: 0 }, 'body.max_tokens'],
      ['retrieve', { query: 'q', max_tokens: 10_000_000 }, 'body.max_tokens'],
      ['retrieve', { query: 'q', levels: [1, 1] }, 'body.levels'],
      ['retrieve', { query: 'q', where: { a: { nested: true } } }, 'body.where.a'],
      ['list', { limit: 1001 }, 'body.limit'],
      ['get', {}, 'body.id'],
    ];
    for (const [op, body, field] of cases) {
      const e = await c.request(op, body).catch((x) => x);
      expect(e.code, `${op} ${JSON.stringify(body).slice(0, 60)}`).toBe('BAD_REQUEST');
      expect(e.details.field, `${op} ${JSON.stringify(body).slice(0, 60)}`).toBe(field);
    }
    const batch = await c.request<OpAnswer<'store_batch'>>('store_batch', { items: [{ text: 'fine batch item', level: 3 }, { text: 'bad', level: 9 }, { level: 1 }] });
    const [ok, bad, missing] = batch.results;
    expect(storedItem(ok!).id).toBeDefined();
    expect(bad).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'body.items.1.level' } } });
    expect(missing).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'body.items.2.text' } } });
    expect((await c.request('store_batch', { items: Array(1001).fill({ text: 'x', level: 3 }) }).catch((x) => x)).details.field).toBe('body.items');
  });
});

describe('tenant isolation', () => {
  it('confines every op to the key tenant; admin keys may name one, agent keys may not', async () => {
    const dir = tempDataDir();
    const keys = {
      a: { kid: 'agent-a', secret: randomBytes(32), tenant: 'acme', role: 'agent' as const },
      b: { kid: 'agent-b', secret: randomBytes(32), tenant: 'globex', role: 'agent' as const },
      admin: { kid: 'root', secret: randomBytes(32), tenant: 'default', role: 'admin' as const },
    };
    writeKeyringFile(`${dir}/keys.json`, Object.values(keys));
    const t = await startDaemon({ dataDir: dir });
    const [ca, cb, cadm] = await Promise.all([t.client(keys.a), t.client(keys.b), t.client(keys.admin)]);
    const a1 = await ca.store({ text: 'acme secret roadmap', level: 3, agent: 'x', tags: ['t'] });
    await ca.store({ text: 'acme working note', level: 1 });

    expect(await cb.get(a1.id).catch((e) => e.code)).toBe('NOT_FOUND');
    expect(await cb.update(a1.id, { tags: ['pwned'] }).catch((e) => e.code)).toBe('NOT_FOUND');
    expect(await cb.delete(a1.id).catch((e) => e.code)).toBe('NOT_FOUND');
    expect((await cb.retrieve({ query: 'acme secret roadmap' })).contexts).toEqual([]);
    expect((await cb.listPage({})).items).toEqual([]);
    expect(await cb.deleteWhere({ agent: 'x' })).toEqual({ deleted: 0 });
    expect(await cb.clear({ level: 1 })).toEqual({ deleted: 0 });
    expect(await cb.clear({ level: 3 })).toEqual({ deleted: 0 });
    expect((await cb.stats()).total).toBe(0);
    const dup = await cb.store({ text: 'acme secret roadmap', level: 3 });
    expect(dup.deduplicated).toBe(false);
    expect(await cb.get(a1.id, { tenant: 'acme' }).catch((e) => e.code)).toBe('FORBIDDEN');

    // acme's data is untouched by all of that.
    expect(await ca.get(a1.id)).toMatchObject({ text: 'acme secret roadmap', tags: ['t'] });
    expect((await ca.stats()).total).toBe(2);
    // An admin key acts on a named tenant.
    expect(await cadm.get(a1.id, { tenant: 'acme' })).toMatchObject({ id: a1.id });
    expect(await cadm.get(a1.id).catch((e) => e.code)).toBe('NOT_FOUND');
    await Promise.all([ca.close(), cb.close(), cadm.close()]);
    await t.stop();
  });
});

/**
 * The typed client against the real daemon (PROTOCOL.md §7): every op through
 * its own method, and every answer checked at run time against the answer
 * schema its TypeScript type is derived from (src/protocol/ops), so the
 * schema, the server's handler and the client's type cannot drift apart.
 */
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtxdNotFoundError, type CtxdClient, type OpAnswer, type OpName } from '../../src/client/index.ts';
import { OP_SCHEMAS } from '../../src/protocol/ops/index.ts';
import { startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';

const ajv = new Ajv({ strict: true, allowUnionTypes: true });
const validators = new Map(Object.entries(OP_SCHEMAS).map(([op, s]) => [op, ajv.compile(s.answer)]));

/** Asserts that `answer` is exactly what `op`'s answer schema describes, and returns it. */
function conforms<T>(op: OpName, answer: T): T {
  const validate = validators.get(op)!;
  expect(validate(answer) ? [] : validate.errors, `${op} answer`).toEqual([]);
  return answer;
}

let d: RunningDaemon;
let c: CtxdClient;

beforeAll(async () => {
  d = await startDaemon();
  c = await d.client();
});
afterAll(stopAll);

describe('typed client', () => {
  it('hello and ping answer their schemas', async () => {
    const hello = conforms('hello', await c.hello());
    expect(new Set(hello.ops)).toEqual(new Set(Object.keys(OP_SCHEMAS)));
    expect(c.serverInfo?.kid).toBe(d.kid);
    conforms('ping', await c.ping());
  });

  it('store, get, update, retrieve, delete: each answer matches its schema', async () => {
    const stored = conforms('store', await c.store({ text: 'The staging cluster runs Kubernetes 1.31 on ARM nodes.', level: 3, tags: ['infra'], metadata: { owner: 'ops', n: 2 } }));
    expect(stored).toMatchObject({ level: 3, deduplicated: false });
    const again = conforms('store', await c.store({ text: 'the staging cluster runs kubernetes 1.31 on ARM nodes.', level: 3 }));
    expect(again).toMatchObject({ id: stored.id, deduplicated: true });

    const got = conforms('get', await c.get(stored.id));
    expect(got).toMatchObject({ id: stored.id, text: 'The staging cluster runs Kubernetes 1.31 on ARM nodes.', tags: ['infra'], metadata: { owner: 'ops', n: 2 }, expires_at: null });

    const updated = conforms('update', await c.update(stored.id, { metadata: { n: null, reviewed: true }, ttl_s: 600 }));
    expect(updated.metadata).toEqual({ owner: 'ops', reviewed: true });
    expect(updated.version).toBe(got.version + 1);
    expect(updated.expires_at).toBeGreaterThan(updated.ts);

    const r = conforms('retrieve', await c.retrieve({ query: 'staging cluster Kubernetes', max_tokens: 500, levels: [3] }));
    expect(r.contexts.map((x) => x.id)).toContain(stored.id);
    expect(Object.keys(r.levels)).toEqual(['3']);

    expect(conforms('delete', await c.delete(stored.id))).toEqual({ deleted: 1 });
    await expect(c.get(stored.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(c.delete(stored.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('storeBatch answers each item with its result or its own error', async () => {
    const batch = conforms('store_batch', await c.storeBatch([{ text: 'first batch fact', level: 2, session: 's-batch' }, { text: 'second batch fact', level: 1, session: 's-batch', ttl_s: 60 }]));
    expect(batch.results).toHaveLength(2);
    expect(batch.results.every((x) => 'id' in x)).toBe(true);
    // A bad item cannot be written with the typed method; the raw request shows the per-item error shape.
    const mixed = await c.request<OpAnswer<'store_batch'>>('store_batch', { items: [{ text: 'fine', level: 3 }, { text: 'bad level', level: 9 }] });
    const checked = conforms('store_batch', mixed);
    expect(checked.results[1]).toMatchObject({ error: { code: 'BAD_REQUEST', details: { field: 'body.items.1.level' } } });
  });

  it('list pages through every context with an async iterator, following cursors', async () => {
    const texts = Array.from({ length: 25 }, (_, i) => ({ text: `paged fact number ${i} about item-${i * 7}`, level: 2 as const, session: 's-list' }));
    await c.storeBatch(texts);
    const pages = [];
    for await (const page of c.list({ session: 's-list', level: 2, limit: 10 })) pages.push(conforms('list', page));
    expect(pages.map((p) => p.items.length)).toEqual([10, 10, 5]);
    expect(pages.at(-1)!.next_cursor).toBeNull();
    const ids = pages.flatMap((p) => p.items.map((x) => x.id));
    expect(new Set(ids).size).toBe(25);
    expect([...ids].sort()).toEqual(ids);
    const one = conforms('list', await c.listPage({ session: 's-list', level: 2, limit: 3, cursor: ids[20] }));
    expect(one.items.map((x) => x.id)).toEqual(ids.slice(21, 24));
  });

  it('deleteWhere, clear and stats answer their schemas; an admin key names the tenant', async () => {
    await c.call('store', { text: 'tenant two fact', level: 3, tenant: 'typed-two' });
    expect(conforms('stats', await c.stats({ tenant: 'typed-two' }))).toMatchObject({ tenant: 'typed-two', total: 1, levels: { '1': 0, '2': 0, '3': 1 } });
    expect(conforms('delete_where', await c.deleteWhere({ level: 3, tenant: 'typed-two' }))).toEqual({ deleted: 1 });
    expect(conforms('clear', await c.clear({ level: 1, session: 's-batch' }))).toEqual({ deleted: 1 });
    const stats = conforms('stats', await c.stats());
    expect(stats.tenant).toBe('default');
    expect(stats.levels['1']).toBe(0);
  });

  it('a refused request rejects with the typed error of its wire code', async () => {
    const err = await c.update('no-such-id', { text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtxdNotFoundError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', retryable: false });
  });
});

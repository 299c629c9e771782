/**
 * Two ctxd replicas over one live Qdrant (runs only with QDRANT_URL; skipped
 * with the reason printed otherwise). Checks the guarantees PRODUCTION.md
 * "Scaling out" states across replicas: what one writes the other reads,
 * concurrent updates of one context through both lose neither change, the L1
 * cap holds for turns stored alternately through both, tenants stay apart,
 * and only this process's backup/rekey ops are absent.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtxdClient } from '../../src/client/index.ts';
import { CtxdError } from '../../src/client/index.ts';
import { startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';

const QDRANT_URL = process.env.QDRANT_URL;
if (!QDRANT_URL) console.log('QDRANT_URL not set: the two-replica Qdrant tests are skipped (docker run -p 6333:6333 qdrant/qdrant; QDRANT_URL=http://localhost:6333 npm test)');

const L1_CAP = 4;

describe.skipIf(!QDRANT_URL)('two replicas over one Qdrant', () => {
  const key = { CTXD_KEY_ID: 'replicas-admin', CTXD_KEY_SECRET: randomBytes(32).toString('hex') };
  const collection = `ctxd_replicas_${process.pid}_${Date.now()}`;
  let a: RunningDaemon;
  let b: RunningDaemon;
  let ca: CtxdClient;
  let cb: CtxdClient;

  beforeAll(async () => {
    const args = ['--set', 'store.backend=qdrant', '--set', `store.qdrant.url=${QDRANT_URL}`, '--set', `store.qdrant.collection=${collection}`, '--set', `engine.l1_max_items=${L1_CAP}`];
    a = await startDaemon({ env: key, args });
    b = await startDaemon({ env: key, args });
    ca = await a.client();
    cb = await b.client();
    expect((await a.http('/health/ready')).status).toBe(200);
  });

  afterAll(async () => {
    ca?.close();
    cb?.close();
    await stopAll();
  });

  it('reads through one replica what the other wrote, by id and by meaning', async () => {
    const r = await ca.store({ text: 'the staging database moved to the eu-west-3 region', level: 3 });
    expect((await cb.get(r.id)).text).toBe('the staging database moved to the eu-west-3 region');
    const found = await cb.retrieve({ query: 'where is the staging database now', levels: [3] });
    expect(found.degraded).toEqual([]);
    expect(found.contexts.map((c) => c.id)).toContain(r.id);
  });

  it('keeps both of two concurrent updates made through different replicas, with versions that only grow', async () => {
    const r = await ca.store({ text: 'a context both replicas update', level: 3, metadata: {} });
    const before = await ca.get(r.id);
    await Promise.all([
      ca.update(r.id, { metadata: { from_a: 1 } }),
      cb.update(r.id, { metadata: { from_b: 2 } }),
      ca.update(r.id, { tags: ['a-tag'] }),
    ]);
    const after = await cb.get(r.id);
    expect(after.metadata).toMatchObject({ from_a: 1, from_b: 2 });
    expect(after.tags).toEqual(['a-tag']);
    expect(after.version).toBe(before.version + 3);
  });

  it('holds the L1 cap for turns stored one after another through both replicas', async () => {
    for (let i = 0; i < L1_CAP * 2 + 1; i++) {
      const via = i % 2 === 0 ? ca : cb;
      await via.store({ text: `turn ${i} of the alternating session about topic ${i * 7919}`, level: 1, session: 'alt' });
    }
    const l1 = await ca.listPage({ level: 1, session: 'alt' });
    expect(l1.items).toHaveLength(L1_CAP);
    const l2 = await cb.listPage({ level: 2, session: 'alt' });
    expect(l2.items).toHaveLength(L1_CAP + 1);
  });

  it('keeps tenants apart across replicas', async () => {
    // An admin key acts for the tenant its body names (PROTOCOL.md §4.2).
    const r = (await ca.call('store', { tenant: 'one', text: 'tenant one private note about the merger', level: 3 })) as { id: string };
    const e = await cb.call('get', { tenant: 'two', id: r.id }).catch((x: unknown) => x as CtxdError);
    expect((e as CtxdError).code).toBe('NOT_FOUND');
    const other = (await cb.call('retrieve', { tenant: 'two', query: 'private note about the merger', levels: [3] })) as { contexts: unknown[] };
    expect(other.contexts).toEqual([]);
    expect(((await cb.call('get', { tenant: 'one', id: r.id })) as { text: string }).text).toBe('tenant one private note about the merger');
  });

  it('does not offer the embedded store\'s backup and rekey ops', async () => {
    const e = await ca.backup().catch((x: unknown) => x as CtxdError);
    expect((e as CtxdError).code).toBe('UNKNOWN_OP');
  });
});

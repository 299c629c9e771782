/**
 * Per-tenant quotas (PROTOCOL.md §7.4): off by default, set per tenant in the
 * config file; a store that could pass one is refused whole with
 * QUOTA_EXCEEDED (not retryable), and other tenants are untouched.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CtxdClient, CtxdQuotaError } from '../../src/client/index.ts';
import { stopAll, tempDataDir } from '../helpers/daemon.ts';
import { startTenantDaemon, type TenantDaemon } from '../helpers/tenants.ts';

afterAll(stopAll);

async function clientOf(t: TenantDaemon, tenant: string): Promise<CtxdClient> {
  const k = t.key(tenant);
  return CtxdClient.connect({ port: t.d.port, kid: k.kid, secret: k.secret, maxReconnectAttempts: 0 });
}

describe('tenant quotas', () => {
  it('refuses stores past a tenant\'s quota with QUOTA_EXCEEDED and its numbers; other tenants and deletes are untouched', async () => {
    const config = join(tempDataDir(), 'quotas.json');
    writeFileSync(config, JSON.stringify({ quotas: { tenants: { A: { max_contexts: 3 }, B: { max_text_bytes: 100 } } } }));
    const t = await startTenantDaemon({ tenants: ['A', 'B', 'C'], args: ['--config', config] });
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((n) => clientOf(t, n)));

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await a!.store({ text: `quota fact number ${i} about otters`, level: 3 })).id);
    const refused = await a!.store({ text: 'one too many', level: 3 }).catch((e) => e);
    expect(refused).toBeInstanceOf(CtxdQuotaError);
    expect(refused).toMatchObject({ code: 'QUOTA_EXCEEDED', retryable: false, details: { quota: 'max_contexts', limit: 3, usage: 4 } });
    // A batch is refused whole: nothing of it is stored.
    await a!.delete(ids[0]!);
    const batch = await a!.storeBatch([{ text: 'batch one', level: 3 }, { text: 'batch two', level: 3 }]).catch((e) => e.code);
    expect(batch).toBe('QUOTA_EXCEEDED');
    expect((await a!.stats()).total).toBe(2);
    expect((await a!.store({ text: 'fits again after a delete', level: 3 })).deduplicated).toBe(false);

    expect(await b!.store({ text: 'x'.repeat(60), level: 3 })).toMatchObject({ deduplicated: false });
    expect(await b!.store({ text: 'y'.repeat(60), level: 3 }).catch((e) => e.details)).toEqual({ quota: 'max_text_bytes', limit: 100, usage: 120 });

    // An update that lengthens a text needs the room too (it was a way around the quota: store small, then grow).
    const small = await b!.store({ text: 'short', level: 3 });
    expect(await b!.update(small.id, { text: 'z'.repeat(60) }).catch((e) => e.details)).toEqual({ quota: 'max_text_bytes', limit: 100, usage: 120 });
    expect((await b!.get(small.id)).text).toBe('short');
    expect((await b!.update(small.id, { text: 'shorter still?' })).text).toBe('shorter still?');
    expect((await b!.stats()).text_bytes).toBe(60 + 'shorter still?'.length);

    for (let i = 0; i < 10; i++) await c!.store({ text: `tenant C has no quota ${i}`, level: 3 });
    expect((await c!.stats()).total).toBe(10);
    await Promise.all([a, b, c].map((x) => x!.close()));
    await t.d.stop();

    // An operator lowers the quotas below what the tenants hold: they may still change their contexts, not grow them.
    writeFileSync(config, JSON.stringify({ quotas: { tenants: { A: { max_contexts: 1 }, B: { max_text_bytes: 10 } } } }));
    const again = await startTenantDaemon({ reuse: { dataDir: t.d.dataDir, admin: t.admin, keys: t.keys }, args: ['--config', config] });
    const [a2, b2] = await Promise.all(['A', 'B'].map((n) => clientOf(again, n)));
    expect((await a2!.update(ids[1]!, { metadata: { reviewed: true }, tags: ['kept'], level: 2 })).metadata).toEqual({ reviewed: true });
    expect(await a2!.store({ text: 'a fourth, over the lowered quota', level: 3 }).catch((e) => e.code)).toBe('QUOTA_EXCEEDED');
    expect((await b2!.update(small.id, { text: 'tiny' })).text).toBe('tiny');
    expect(await b2!.update(small.id, { text: 'longer than tiny' }).catch((e) => e.code)).toBe('QUOTA_EXCEEDED');
    await Promise.all([a2, b2].map((x) => x!.close()));
    await again.d.stop();
  });
});

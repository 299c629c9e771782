/**
 * The audit trail against a real daemon: every audited action writes its line
 * (deletes, end_session, export, import, purge, backup, an admin op refused to
 * an agent key, key changes, authentication failures per address), and no
 * context text, metadata value or secret appears in the audit file or in any
 * log line (the test stores marker strings and scans for them).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CtxdClient } from '../../src/client/index.ts';
import { readKeyringFile } from '../../src/auth/keyring-file.ts';
import { ctxd } from '../helpers/cli.ts';
import { startDaemon, stopAll } from '../helpers/daemon.ts';

afterAll(stopAll);

const TEXT_MARKER = 'AUDITMARKERTEXT7Q';
const META_MARKER = 'AUDITMARKERMETA9Z';

describe('audit trail', () => {
  it('records each audited action and never a text, metadata value or secret', async () => {
    const d = await startDaemon();
    const env = { CTXD_PORT: String(d.port), CTXD_DATA_DIR: d.dataDir };
    const c = await d.client();
    const stored = await c.storeBatch(Array.from({ length: 6 }, (_, i) => ({ text: `${TEXT_MARKER} fact ${i}`, level: 1 as const, session: 'audited', metadata: { secret: `${META_MARKER}${i}` } })));
    const ids = stored.results.map((r) => ('id' in r ? r.id : ''));
    await c.delete(ids[0]!);
    await c.deleteWhere({ where: { secret: `${META_MARKER}1` } });
    await c.endSession('audited', { action: 'drop' });
    await c.store({ text: `${TEXT_MARKER} long-term`, level: 3 });
    const exported = [];
    for await (const page of c.export({ vectors: true })) exported.push(...page.items);
    await c.purge('default');
    await c.import(exported);
    await c.backup();
    await c.clear({ level: 3 });

    // An agent key of another tenant asks for an admin op, and a key change is picked up.
    const agent = { kid: 'agent-audit', secret: randomBytes(32).toString('hex'), tenant: 'other', role: 'agent' };
    const keyring = join(d.dataDir, 'keys.json');
    const current = JSON.parse(readFileSync(keyring, 'utf8')) as { keys: unknown[] };
    writeFileSync(keyring, JSON.stringify({ keys: [...current.keys, agent] }), { mode: 0o600 });
    await d.waitForLog('keyring reloaded');
    const a = await CtxdClient.connect({ port: d.port, kid: agent.kid, secret: agent.secret, maxReconnectAttempts: 0 });
    await expect(a.purge('default')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await a.close();

    // Three connections with a wrong secret, one with an unknown key: one line for the address.
    for (const [kid, secret] of [[d.kid, 'aa'.repeat(32)], [d.kid, 'bb'.repeat(32)], [d.kid, 'cc'.repeat(32)], ['no-such-kid', 'dd'.repeat(32)]] as const) {
      const bad = await CtxdClient.connect({ port: d.port, kid, secret, maxReconnectAttempts: 0 }).catch((e: unknown) => e);
      if (bad instanceof CtxdClient) await bad.ping().catch(() => {});
    }
    expect((await ctxd(['ping', '--kid', d.kid, '--secret', 'ee'.repeat(32)], env)).code).not.toBe(0);
    await c.close();
    // Authentication failures are written per minute and at shutdown: stop to have them.
    expect(await d.stop()).toBe(0);

    const lines = readFileSync(join(d.dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const ops = lines.filter((l) => l.event === 'op');
    const byOp = (op: string) => ops.filter((l) => l.op === op);
    expect(byOp('delete')).toEqual([expect.objectContaining({ kid: d.kid, tenant: 'default', outcome: 'ok', counts: { deleted: 1 }, id: expect.any(String) })]);
    expect(byOp('delete_where')[0]).toMatchObject({ outcome: 'ok', counts: { deleted: 1 } });
    expect(byOp('end_session')[0]).toMatchObject({ outcome: 'ok', counts: { moved: 0, dropped: 4 } });
    expect(byOp('export')[0]).toMatchObject({ outcome: 'ok', counts: { items: 1 } });
    expect(byOp('purge')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kid: d.kid, outcome: 'ok', counts: expect.objectContaining({ contexts: 1 }) }),
        expect.objectContaining({ kid: agent.kid, tenant: 'other', outcome: 'FORBIDDEN' }),
      ]),
    );
    // Imported without naming the vector space: its vector is made again.
    expect(byOp('import')[0]).toMatchObject({ outcome: 'ok', counts: { results: 1, reembedded: 1 } });
    expect(byOp('backup')[0]).toMatchObject({ outcome: 'ok', counts: expect.objectContaining({ bytes: expect.any(Number) }) });
    expect(byOp('clear')[0]).toMatchObject({ outcome: 'ok', counts: { deleted: 1 } });
    expect(byOp('store')).toEqual([]);
    expect(lines.find((l) => l.event === 'keys_changed')).toMatchObject({ added: [agent.kid], removed: [] });
    const failures = lines.filter((l) => l.event === 'auth_failures');
    expect(failures).toEqual([expect.objectContaining({ remote: '127.0.0.1', count: 5, codes: { BAD_SIGNATURE: 4, UNKNOWN_KEY: 1 } })]);

    // No marker text, metadata value or secret anywhere.
    const secrets = [d.secret.toString('hex'), agent.secret];
    const everything = [readFileSync(join(d.dataDir, 'audit.log'), 'utf8'), JSON.stringify(d.logs), d.stderr.join('\n')].join('\n');
    for (const needle of [TEXT_MARKER, META_MARKER, ...secrets]) expect(everything, needle).not.toContain(needle);
  });
});

/**
 * Attacks that outlive a process (cases 3, 6, 9e, 9g): poisoned rows written
 * straight into ctxd.sqlite (no crash loop: quarantined, never served, left
 * on disk), captured signed frames replayed across a SIGTERM and a SIGKILL
 * restart, the modes of a data dir the daemon creates, and a second daemon on
 * the same data dir.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { OpAnswer } from '../../src/client/index.ts';
import type { ContextRecord } from '../../src/domain/context.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { alive, bodyAs, codeOf, expectServes, expectWellFormed, findMarkers, metric, Peer, signedMessage, waitForLog, type Frame } from '../helpers/hostile.ts';
import { makeRecord } from '../helpers/records.ts';
import { startTenantDaemon, type TenantDaemon } from '../helpers/tenants.ts';

afterAll(stopAll);

function insertRaw(db: DatabaseSync, r: ContextRecord, over: { tags?: string; metadata?: string; vector?: Uint8Array; level?: number; text?: string } = {}): void {
  db.prepare(`INSERT INTO contexts (id, tenant, level, session, agent, text, tags, metadata, tokens, created_ts, ts, expires_at, access_count, version, vector, space)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM vector_spaces WHERE kind = 'hash'))`).run(
    r.id, r.tenant, over.level ?? r.level, r.session, r.agent, over.text ?? r.text,
    over.tags ?? JSON.stringify(r.tags), over.metadata ?? JSON.stringify(r.metadata), r.tokens, r.createdTs, r.ts, r.expiresAt, r.accessCount, r.version,
    over.vector ?? new Uint8Array(r.vector.buffer, r.vector.byteOffset, r.vector.byteLength));
}

const restartOf = (t: TenantDaemon) => ({ dataDir: t.d.dataDir, admin: t.admin, keys: t.keys });

describe('case 3: poisoned rows in ctxd.sqlite do not make a crash loop', () => {
  it('starts, quarantines and reports them, never serves them, serves the good rows, and leaves the bad ones on disk', async () => {
    // A data dir made by the daemon, with one context stored the normal way.
    const first = await startTenantDaemon();
    const A = first.key('A');
    const p = await Peer.open(first.d.port, { keys: [A] });
    const viaWire = await p.request(A, 'store', { text: 'stored over the wire before the poisoning', level: 3 });
    expect(codeOf(viaWire)).toBe('ok');
    p.destroy();
    expect(await first.d.stop()).toBe(0);

    // Rows an older (or hostile) writer left behind, all in tenant A, all about "poison".
    const text = 'poison candidate words lantern';
    const rec = (id: string, extra: Partial<ContextRecord> = {}) => makeRecord({ tenant: 'A', id, text: `${text} ${id}`, ...extra });
    const good = [rec('good-direct-1', { metadata: { fine: [1, { two: 'x' }] } }), rec('good-direct-2', { level: 1, tags: ['ok'] })];
    const bad: Record<string, string> = {};
    const db = new DatabaseSync(join(first.d.dataDir, 'ctxd.sqlite'));
    for (const g of good) insertRaw(db, g);
    const poison = (id: string, over: Parameters<typeof insertRaw>[2], why: string) => {
      insertRaw(db, rec(id, { tags: ['poison'] }), over);
      bad[id] = why;
    };
    poison('deep-arrays', { metadata: '{"a":' + '['.repeat(3_000) + ']'.repeat(3_000) + '}' }, 'depth');
    poison('deep-maps', { metadata: '{"a":'.repeat(3_000) + '1' + '}'.repeat(3_000) }, 'depth');
    poison('deep-tags', { tags: '[' + '['.repeat(3_000) + ']'.repeat(3_000) + ']' }, 'tags');
    poison('proto', { metadata: '{"__proto__":{"tenant":"B","polluted":true}}' }, '__proto__');
    poison('infinity', { metadata: '{"x":1e400}' }, 'infinite number');
    poison('lone-surrogate', { metadata: '{"x":"\\ud800"}' }, 'lone surrogate');
    poison('too-many-keys', { metadata: JSON.stringify(Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, i]))) }, 'keys');
    poison('not-a-map', { metadata: '[1,2,3]' }, 'not a map');
    poison('broken-json', { metadata: '{"x":' }, 'json');
    poison('tags-not-strings', { tags: '[1,{"a":2}]' }, 'tags');
    poison('short-vector', { vector: new Uint8Array(100) }, 'vector');
    poison('level-7', { level: 7 }, 'level');
    db.close();

    const second = await startTenantDaemon({ reuse: restartOf(first) });
    const { d } = second;
    const badIds = Object.keys(bad);
    // Logged, one line per row.
    for (const id of badIds) await waitForLog(d, (l) => l.msg === 'stored record quarantined: kept on disk, never served' && l.id === id, `quarantine of ${id}`);
    // Reported by /health and the metric.
    const health = await d.http('/health');
    expect(health.status).toBe(200);
    expect(health.body.components?.store.quarantined).toBe(badIds.length);
    expect(health.body.components?.store.quarantine_sample.map((e: { id: string }) => e.id).sort()).toEqual([...badIds].sort());
    expect((await d.http('/health/ready')).status).toBe(200);
    expect(await metric(d, 'ctxd_quarantined_records')).toBe(badIds.length);

    // Never served, by any read; the good rows are.
    const a = await Peer.open(d.port, { keys: [A] });
    for (const id of badIds) expect(codeOf(await a.request(A, 'get', { id })), `get ${id}`).toBe('NOT_FOUND');
    for (const id of [...good.map((g) => g.id), viaWire.message!.body.id]) expect(codeOf(await a.request(A, 'get', { id })), `get ${id}`).toBe('ok');
    const listed: string[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: Frame<OpAnswer<'list'>> = await a.request(A, 'list', cursor ? { cursor, limit: 2 } : { limit: 2 });
      expect(expectWellFormed(page)).toBe('ok');
      listed.push(...page.message!.body.items.map((c: { id: string }) => c.id));
      cursor = page.message!.body.next_cursor;
      if (!cursor) break;
    }
    expect(listed.sort()).toEqual([...good.map((g) => g.id), viaWire.message!.body.id].sort());
    const r = await a.request(A, 'retrieve', { query: `${text} ${badIds.join(' ')}`, max_tokens: 100_000, min_similarity: -1 });
    expect(expectWellFormed(r)).toBe('ok');
    for (const c of r.message!.body.contexts) expect(badIds).not.toContain(c.id);
    expect((await a.request(A, 'stats', {})).message!.body.total).toBe(3);
    // Deleting through the daemon cannot reach them either.
    expect((await a.request(A, 'delete_where', { tags_any: ['poison'] })).message!.body).toEqual({ deleted: 0 });
    for (const id of badIds) expect(codeOf(await a.request(A, 'delete', { id }))).toBe('NOT_FOUND');
    expect(a.anomalies).toEqual([]);
    a.destroy();
    // The polluted prototype did not reach tenant B, which can work.
    await expectServes(d, second.key('B'), { forbidden: ['polluted'] });
    expect(await d.stop()).toBe(0);

    // A third start (a supervisor restarting it) is just as fine: no crash loop.
    const third = await startTenantDaemon({ reuse: restartOf(first) });
    expect(await metric(third.d, 'ctxd_quarantined_records')).toBe(badIds.length);
    await expectServes(third.d, third.key('C'));
    expect(await third.d.stop()).toBe(0);

    // Still on disk, untouched.
    const check = new DatabaseSync(join(first.d.dataDir, 'ctxd.sqlite'), { readOnly: true });
    const rows = check.prepare('SELECT id, metadata FROM contexts').all() as Array<{ id: string; metadata: string }>;
    check.close();
    for (const id of badIds) expect(rows.some((row) => row.id === id), `${id} still on disk`).toBe(true);
    expect(rows.find((row) => row.id === 'proto')!.metadata).toBe('{"__proto__":{"tenant":"B","polluted":true}}');
  }, 60_000);
});

describe('case 6: captured frames replayed across a restart', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`REPLAY after a ${signal} restart for a captured store and delete; the context does not come back; honest clients work at once`, async () => {
      const first = await startTenantDaemon();
      const A = first.key('A');
      const marker = `replayed-${signal}-${Math.random().toString(36).slice(2)}`;
      const ts = Date.now();
      const captured = signedMessage(A, { id: `cap-store-${signal}`, ts, op: 'store', body: { text: `captured store ${marker}`, level: 3 } });
      const p = await Peer.open(first.d.port, { keys: [A] });
      p.send(captured);
      const stored = await p.answer(`cap-store-${signal}`);
      expect(codeOf(stored)).toBe('ok');
      const id = bodyAs('store', stored).id;
      const capturedDelete = signedMessage(A, { id: `cap-del-${signal}`, ts, op: 'delete', body: { id } });
      p.send(capturedDelete);
      expect(codeOf(await p.answer(`cap-del-${signal}`))).toBe('ok');
      // Replayed before the restart, too.
      expect(codeOf(await p.exchange(captured))).toBe('REPLAY');
      p.destroy();
      if (signal === 'SIGKILL') {
        first.d.proc.kill('SIGKILL');
        await first.d.exited;
      } else {
        expect(await first.d.stop('SIGTERM')).toBe(0);
      }

      const second = await startTenantDaemon({ reuse: restartOf(first) });
      // The honest client first: no blanket refusal after a start.
      const honest = await Peer.open(second.d.port, { keys: [A] });
      expect(codeOf(await honest.request(A, 'hello'))).toBe('ok');
      expect(codeOf(await honest.request(A, 'store', { text: `honest after restart ${marker}`, level: 3 }))).toBe('ok');
      // The attacker replays both captured frames, well within max_skew_ms of their ts.
      const q = await Peer.open(second.d.port, { keys: [A] });
      const answers = [await q.exchange(captured), await q.exchange(capturedDelete)];
      expect(Date.now() - ts).toBeLessThan(30_000);
      expect(answers.map(codeOf)).toEqual(['REPLAY', 'REPLAY']);
      expect(codeOf(await q.request(A, 'get', { id }))).toBe('NOT_FOUND');
      const list = await q.request(A, 'list', { limit: 1000 });
      expect(list.message!.body.items.filter((c: { text: string }) => c.text === `captured store ${marker}`)).toEqual([]);
      expect(answers.every((f) => f.tagOk === true)).toBe(true);
      q.destroy();
      honest.destroy();
      await expectServes(second.d, second.key('B'), { forbidden: [marker] });
      await second.d.stop();
    }, 45_000);
  }
});

describe('case 9e: modes of a data dir the daemon creates', () => {
  const modes = (dir: string) => {
    const out: Record<string, string> = {};
    const m = (p: string) => (statSync(p).mode & 0o777).toString(8);
    out['.'] = m(dir);
    for (const f of ['keys.json', 'ctxd.sqlite', 'ctxd.sqlite-wal', 'ctxd.sqlite-shm', 'ctxd.lock', 'ctxd.pid']) if (existsSync(join(dir, f))) out[f] = m(join(dir, f));
    return out;
  };
  const expected = (withKeys: boolean) => ({
    '.': '700',
    ...(withKeys ? { 'keys.json': '600' } : {}),
    'ctxd.sqlite': '600',
    'ctxd.sqlite-wal': '600',
    'ctxd.sqlite-shm': '600',
    'ctxd.lock': '600',
    'ctxd.pid': '600',
  });

  async function createdBy(env: Record<string, string> | undefined, umask: number): Promise<{ dir: string; parent: string; modes: Record<string, string> }> {
    const parent = join(tempDataDir(), 'not', 'yet');
    const dir = join(parent, 'data');
    const old = process.umask(umask);
    let d;
    try {
      d = await startDaemon({ dataDir: dir, ...(env ? { env } : {}) });
    } finally {
      process.umask(old);
    }
    const c = await d.client();
    await c.store({ text: 'a private context', level: 3 });
    await c.close();
    const result = { dir, parent, modes: modes(dir) };
    await d.stop();
    return result;
  }

  it('0700 for the dir, 0600 for every file, when the daemon generates its key (umask 022)', async () => {
    const { modes: got } = await createdBy(undefined, 0o022);
    expect(got).toEqual(expected(true));
  });

  it('0700 / 0600 even under umask 000, with the key from the environment', async () => {
    const { modes: got, parent } = await createdBy({ CTXD_KEY_ID: 'env-admin', CTXD_KEY_SECRET: 'ab'.repeat(32) }, 0o000);
    expect(got).toEqual(expected(false));
    expect((statSync(parent).mode & 0o077).toString(8), 'parents the daemon created').toBe('0');
  });

  it('0700 / 0600 under umask 000 when the daemon generates its key', async () => {
    const { modes: got } = await createdBy(undefined, 0o000);
    expect(got).toEqual(expected(true));
  });
});

describe('case 9g: a second daemon on the same data dir', () => {
  it('exits non-zero naming the first daemon\'s pid; the first keeps serving', async () => {
    const t = await startTenantDaemon();
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--data-dir', t.d.dataDir], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    const stdout: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
    createInterface({ input: child.stdout! }).on('line', (l) => stdout.push(l));
    const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stderr.join('\n')).toContain(String(t.d.proc.pid));
    expect(stdout.some((l) => l.includes('"listening"'))).toBe(false);
    expect(alive(t.d)).toBe(true);
    await expectServes(t.d, t.key('A'));
    expect(findMarkers(Buffer.from(stderr.join('\n')), [t.admin.secret.toString('hex'), t.key('A').secret.toString('hex')])).toEqual([]);
    await t.d.stop();
  });
});

describe('metadata merged by update and by dedup stays within the limits, so it survives a restart', () => {
  it('1,000 keys + 1,000 + 1,000 merged: refused or kept within 1,024 keys and max_metadata_bytes; served after a restart, nothing quarantined', async () => {
    const first = await startTenantDaemon();
    const A = first.key('A');
    const p = await Peer.open(first.d.port, { keys: [A] });
    const keys = (prefix: string) => Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${prefix}${i}`, i]));
    // By update.
    const x = await p.request(A, 'store', { text: 'metadata merge target by update', level: 3, metadata: keys('a') });
    expect(codeOf(x)).toBe('ok');
    const xid = x.message!.body.id;
    const updates = [await p.request(A, 'update', { id: xid, metadata: keys('b') }), await p.request(A, 'update', { id: xid, metadata: keys('c') })];
    // By dedup: the same text again with other keys refreshes the context and merges its metadata.
    const y = await p.request(A, 'store', { text: 'metadata merge target by dedup', level: 3, metadata: keys('a') });
    const ys = [await p.request(A, 'store', { text: 'metadata merge target by dedup', level: 3, metadata: keys('b') }), await p.request(A, 'store', { text: 'metadata merge target by dedup', level: 3, metadata: keys('c') })];
    const yid = y.message!.body.id;
    const shapes: Record<string, unknown> = {};
    for (const f of [...updates, ...ys]) expect(['ok', 'BAD_REQUEST']).toContain(codeOf(f));
    for (const id of [xid, yid]) {
      const got = await p.request(A, 'get', { id });
      expect(codeOf(got)).toBe('ok');
      const md = got.message!.body.metadata;
      shapes[id] = { keys: Object.keys(md).length, json_bytes: Buffer.byteLength(JSON.stringify(md)) };
    }
    p.destroy();
    console.log(`[metadata merge] stored metadata after merges: ${JSON.stringify(shapes)}; update answers ${updates.map(codeOf)}, dedup answers ${ys.map((f) => `${codeOf(f)}${f.message?.body?.deduplicated ? ' (dedup)' : ''}`)}`);
    expect(await first.d.stop()).toBe(0);

    const second = await startTenantDaemon({ reuse: restartOf(first) });
    const q = await Peer.open(second.d.port, { keys: [A] });
    for (const id of [xid, yid]) expect(codeOf(await q.request(A, 'get', { id })), `${id} after a restart`).toBe('ok');
    q.destroy();
    expect(await metric(second.d, 'ctxd_quarantined_records')).toBe(0);
    for (const s of Object.values(shapes) as Array<{ keys: number; json_bytes: number }>) {
      expect(s.keys).toBeLessThanOrEqual(1024);
      expect(s.json_bytes).toBeLessThanOrEqual(16 * 1024);
    }
    await second.d.stop();
  }, 45_000);
});

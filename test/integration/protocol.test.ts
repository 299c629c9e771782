/**
 * The protocol against the real daemon process over real TCP (PROTOCOL.md §2–§7).
 * Every error row asserts the code the daemon actually sent.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtxdAuthError, CtxdRequestError, CtxdUnavailableError } from '../../src/client/index.ts';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { signingKey } from '../../src/protocol/signer.ts';
import { REPO_ROOT, startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';
import { RawPeer, requestFrame } from '../helpers/raw-socket.ts';
import { rejectVectors } from '../helpers/vectors.ts';

/** Debian's python3, where python3-msgpack installs: examples/python-client.py uses clients/python, which needs msgpack. */
const PYTHON = '/usr/bin/python3';
const pythonHasMsgpack = spawnSync(PYTHON, ['-c', 'import msgpack'], { stdio: 'ignore' }).status === 0;
if (!pythonHasMsgpack) console.warn(`protocol.test.ts: ${PYTHON} cannot import msgpack, so the Python example's test skips (apt-get install python3-msgpack)`);

let d: RunningDaemon;

beforeAll(async () => {
  d = await startDaemon({ args: ['--set', 'server.frame_deadline_ms=300'] });
});
afterAll(stopAll);

/** Expects one unsigned diagnostic frame with `code`, then the close. */
async function expectFatal(peer: RawPeer, code: string): Promise<void> {
  const f = await peer.frame(0);
  expect(f.kid).toBe('');
  expect(f.tag.equals(Buffer.alloc(32))).toBe(true);
  expect(f.message).toMatchObject({ id: '', ok: false, error: { code, retryable: false } });
  await peer.closed;
}

describe('hello and ping', () => {
  it('answers hello with server, key identity and limits', async () => {
    const c = await d.client();
    const hello = await c.hello();
    expect(hello).toMatchObject({
      server: 'ctxd',
      protocol: 1,
      max_frame_bytes: 4 * 1024 * 1024,
      kid: d.kid,
      tenant: 'default',
      role: 'admin',
      limits: { max_inflight_per_connection: 64, max_skew_ms: 30_000, max_id_bytes: 64, frame_deadline_ms: 300 },
    });
    expect(hello.ops).toEqual(expect.arrayContaining(['hello', 'ping']));
    expect(await c.ping()).toEqual({});
    await c.close();
  });

  it('signs answers with the request key and sends ts as an integer', async () => {
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame(d.kid, d.secret, { id: 'sig-1' }));
    const f = await peer.frame(0);
    expect(f.kid).toBe(d.kid);
    expect(f.message).toMatchObject({ id: 'sig-1', ok: true, body: {} });
    expect(Number.isInteger(f.message.ts)).toBe(true);
    expect(Math.abs(f.message.ts - Date.now())).toBeLessThan(5000);
    peer.close();
  });

  it.skipIf(!pythonHasMsgpack)('is answered by the Python client package (examples/python-client.py on clients/python)', async () => {
    const { stdout } = await promisify(execFile)(PYTHON, ['examples/python-client.py', '--port', String(d.port), '--data-dir', d.dataDir], { cwd: REPO_ROOT });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ op: 'hello', answer: { ok: true, body: { server: 'ctxd', kid: d.kid } } });
    expect(lines[1]).toMatchObject({ op: 'ping', answer: { ok: true, body: {} } });
    expect(lines[2]).toMatchObject({ op: 'store', answer: { ok: true, body: { level: 1 } } });
    expect(lines[3].answer.body.contexts[0].id).toBe(lines[2].answer.body.id);
  });
});

describe('connection-fatal errors: diagnostic frame, then close', () => {
  it('BAD_SIGNATURE for a wrong tag', async () => {
    const peer = await RawPeer.open(d.port);
    const frame = requestFrame(d.kid, d.secret, {});
    frame[frame.length - 1]! ^= 0xff;
    peer.send(frame);
    await expectFatal(peer, 'BAD_SIGNATURE');
  });

  it('BAD_SIGNATURE for a frame signed with another secret', async () => {
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame(d.kid, randomBytes(32), {}));
    await expectFatal(peer, 'BAD_SIGNATURE');
  });

  it('UNKNOWN_KEY for a kid that is not live', async () => {
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame('no-such-key', d.secret, {}));
    await expectFatal(peer, 'UNKNOWN_KEY');
  });

  it('FRAME_TOO_LARGE on the length alone, before any body is sent', async () => {
    const peer = await RawPeer.open(d.port);
    peer.send(Buffer.from([0x00, 0x40, 0x00, 0x01])); // len = 4 MiB + 1
    await expectFatal(peer, 'FRAME_TOO_LARGE');
  });

  it('BAD_FRAME for a truncated frame followed by silence, after frame_deadline_ms', async () => {
    const peer = await RawPeer.open(d.port);
    const started = Date.now();
    peer.send(requestFrame(d.kid, d.secret, {}).subarray(0, 20));
    await expectFatal(peer, 'BAD_FRAME');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('BAD_FRAME for random garbage, and the daemon keeps serving', async () => {
    for (let i = 0; i < 20; i++) {
      const peer = await RawPeer.open(d.port);
      const garbage = randomBytes(200);
      garbage.writeUInt32BE(100 + i, 0);
      garbage[4] = 1;
      garbage[5] = 0x7f; // kid_len beyond 64
      peer.send(garbage);
      await expectFatal(peer, 'BAD_FRAME');
    }
    const c = await d.client();
    expect(await c.ping()).toEqual({});
    await c.close();
  });

  for (const v of rejectVectors()) {
    it(`${v.expect_error} for vector ${v.name} (${v.note})`, async () => {
      const peer = await RawPeer.open(d.port);
      // The vectors are signed with their own test key, unknown to this daemon: re-sign where a tag matters.
      const bytes = Buffer.from(v.frame_hex, 'hex');
      if (v.expect_error === 'BAD_SIGNATURE') {
        const frame = requestFrame(d.kid, d.secret, {});
        frame[frame.length - 1]! ^= 1;
        peer.send(frame);
      } else {
        peer.send(bytes);
      }
      await expectFatal(peer, v.expect_error);
    });
  }
});

describe('request errors: signed answer, connection stays open', () => {
  it('STALE_TIMESTAMP for a ts outside the skew, with the server clock in details', async () => {
    const c = await d.client();
    const peer = await RawPeer.open(d.port);
    peer.send(requestFrame(d.kid, d.secret, { id: 'stale-1', ts: Date.now() - 60_000 }));
    peer.send(requestFrame(d.kid, d.secret, { id: 'stale-2', ts: Date.now() + 60_000 }));
    peer.send(requestFrame(d.kid, d.secret, { id: 'fresh-1' }));
    const [a, b, ok] = [await peer.frame(0), await peer.frame(1), await peer.frame(2)];
    expect(a.kid).toBe(d.kid);
    expect(a.message).toMatchObject({ id: 'stale-1', ok: false, error: { code: 'STALE_TIMESTAMP', retryable: true } });
    expect(typeof a.message.error.details?.server_ts).toBe('number');
    expect(b.message).toMatchObject({ id: 'stale-2', ok: false, error: { code: 'STALE_TIMESTAMP' } });
    expect(ok.message).toMatchObject({ id: 'fresh-1', ok: true });
    peer.close();
    await c.close();
  });

  it('REPLAY for an id reused with the same key, even on another connection', async () => {
    const frame = requestFrame(d.kid, d.secret, { id: 'replay-me' });
    const p1 = await RawPeer.open(d.port);
    p1.send(frame);
    expect((await p1.frame(0)).message).toMatchObject({ id: 'replay-me', ok: true });
    p1.send(requestFrame(d.kid, d.secret, { id: 'replay-me' }));
    expect((await p1.frame(1)).message).toMatchObject({ id: 'replay-me', ok: false, error: { code: 'REPLAY', retryable: false } });
    const p2 = await RawPeer.open(d.port);
    p2.send(frame);
    expect((await p2.frame(0)).message).toMatchObject({ error: { code: 'REPLAY' } });
    p2.send(requestFrame(d.kid, d.secret, { id: 'replay-other' }));
    expect((await p2.frame(1)).message).toMatchObject({ id: 'replay-other', ok: true });
    p1.close();
    p2.close();
  });

  it('UNKNOWN_OP for an op with no handler', async () => {
    const c = await d.client();
    const err = await c.request('frobnicate').catch((e) => e);
    expect(err).toBeInstanceOf(CtxdRequestError);
    expect(err.code).toBe('UNKNOWN_OP');
    // Past 64 characters it is not a name at all (PROTOCOL.md §4.1).
    expect(await c.request('x'.repeat(64)).catch((e) => e.code)).toBe('UNKNOWN_OP');
    expect(await c.request('x'.repeat(65)).catch((e) => [e.code, e.details])).toEqual(['BAD_REQUEST', { field: 'op' }]);
    expect(await c.ping()).toEqual({});
    await c.close();
  });

  it('BAD_REQUEST names the offending field', async () => {
    const c = await d.client();
    const wrongType = await c.request('hello', { client: 42 }).catch((e) => e);
    expect(wrongType.code).toBe('BAD_REQUEST');
    expect(wrongType.details).toEqual({ field: 'body.client' });
    const unknown = await c.request('ping', { extra: true }).catch((e) => e);
    expect(unknown.details).toEqual({ field: 'body.extra' });
    await c.close();
  });

  it('BAD_REQUEST for an authentic body that is not a map, or an envelope with wrong types', async () => {
    const peer = await RawPeer.open(d.port);
    const key = signingKey(d.secret);
    const { frameBody } = await import('../../src/protocol/frame.ts');
    peer.send(frameBody(d.kid, key, Buffer.from([0x93, 0x01, 0x02, 0x03]))); // an array
    peer.send(encodeFrame(d.kid, key, { id: 'env-1', ts: 'yesterday', op: 'ping' }));
    peer.send(encodeFrame(d.kid, key, { id: 'env-2', ts: Date.now(), op: 'ping', body: [1] }));
    peer.send(encodeFrame(d.kid, key, { id: 'x'.repeat(65), ts: Date.now(), op: 'ping' }));
    peer.send(requestFrame(d.kid, d.secret, { id: 'env-ok' }));
    const got = await Promise.all([0, 1, 2, 3, 4].map((i) => peer.frame(i)));
    expect(got[0]!.message).toMatchObject({ id: '', ok: false, error: { code: 'BAD_REQUEST' } });
    expect(got[1]!.message).toMatchObject({ id: 'env-1', error: { code: 'BAD_REQUEST', details: { field: 'ts' } } });
    expect(got[2]!.message).toMatchObject({ id: 'env-2', error: { code: 'BAD_REQUEST', details: { field: 'body' } } });
    expect(got[3]!.message).toMatchObject({ id: '', error: { code: 'BAD_REQUEST', details: { field: 'id' } } });
    expect(got[4]!.message).toMatchObject({ id: 'env-ok', ok: true });
    peer.close();
  });
});

describe('load on one daemon', () => {
  it('answers 1,000 pipelined pings on one connection, every answer matched', async () => {
    const c = await d.client();
    const peer = await RawPeer.open(d.port);
    const ids = Array.from({ length: 1000 }, (_, i) => `pipe-${i}`);
    peer.send(Buffer.concat(ids.map((id) => requestFrame(d.kid, d.secret, { id }))));
    await peer.frame(999, 15_000);
    expect(peer.frames.map((f) => f.message.id).sort()).toEqual([...ids].sort());
    expect(peer.frames.every((f) => f.message.ok === true && f.kid === d.kid)).toBe(true);
    expect((await Promise.all(Array.from({ length: 1000 }, () => c.ping()))).length).toBe(1000);
    peer.close();
    await c.close();
  });

  it('serves 50 concurrent connections', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => d.client()));
    const answers = await Promise.all(clients.flatMap((c) => Array.from({ length: 20 }, () => c.ping())));
    expect(answers).toHaveLength(1000);
    expect(answers.every((a) => Object.keys(a).length === 0)).toBe(true);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('limits and keys', () => {
  it('refuses connections beyond max_connections with a diagnostic OVERLOADED', async () => {
    const small = await startDaemon({ args: ['--set', 'server.max_connections=2'] });
    const a = await small.client();
    const b = await small.client();
    // Authenticated connections keep their slots: only unauthenticated ones are closed to make room.
    await Promise.all([a.ping(), b.ping()]);
    const peer = await RawPeer.open(small.port);
    const f = await peer.frame(0);
    expect(f.message).toMatchObject({ id: '', ok: false, error: { code: 'OVERLOADED', retryable: true } });
    await peer.closed;
    await a.close();
    await b.close();
    expect(await small.stop()).toBe(0);
  });

  it('RATE_LIMITED with retry_after_ms once a key exceeds its rate', async () => {
    // A burst of 4: the client's own hello on connect, then three pings.
    const limited = await startDaemon({ args: ['--set', 'server.rate_limit_rps=5', '--set', 'server.rate_limit_burst=4'] });
    const c = await limited.client();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => c.ping()));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
    expect(refused).toHaveLength(3);
    for (const e of refused) {
      expect(e).toBeInstanceOf(CtxdUnavailableError);
      expect(e.code).toBe('RATE_LIMITED');
      expect(e.retryAfterMs).toBeGreaterThan(0);
    }
    await c.close();
    await limited.stop();
  });

  it('takes an admin key from CTXD_KEY_ID/CTXD_KEY_SECRET, and FORBIDDEN stops an agent key acting on another tenant', async () => {
    const secretHex = randomBytes(32).toString('hex');
    const env = await startDaemon({ env: { CTXD_KEY_ID: 'env-admin', CTXD_KEY_SECRET: secretHex } });
    const c = await env.client();
    expect(await c.hello()).toMatchObject({ kid: 'env-admin', role: 'admin', tenant: 'default' });
    expect(await c.call('ping', { tenant: 'other' })).toEqual({});
    await c.close();
    await env.stop();

    const { writeKeyringFile } = await import('../../src/auth/keyring-file.ts');
    const dir = (await import('../helpers/daemon.ts')).tempDataDir();
    const agent = { kid: 'agent-1', secret: randomBytes(32), tenant: 'acme', role: 'agent' as const };
    const admin = { kid: 'admin-1', secret: randomBytes(32), tenant: 'default', role: 'admin' as const };
    writeKeyringFile(`${dir}/keys.json`, [agent, admin]);
    const multi = await startDaemon({ dataDir: dir });
    const ca = await multi.client({ kid: agent.kid, secret: agent.secret });
    expect(await ca.hello()).toMatchObject({ kid: 'agent-1', tenant: 'acme', role: 'agent' });
    const err = await ca.call('ping', { tenant: 'default' }).catch((e) => e);
    expect(err).toBeInstanceOf(CtxdAuthError);
    expect(err.code).toBe('FORBIDDEN');
    const cb = await multi.client({ kid: admin.kid, secret: admin.secret });
    expect(await cb.hello()).toMatchObject({ kid: 'admin-1', role: 'admin' });
    await ca.close();
    await cb.close();
    await multi.stop();
  });

  it('closes an idle connection after idle_timeout_ms, and the client reconnects with backoff', async () => {
    const idle = await startDaemon({ args: ['--set', 'server.idle_timeout_ms=300'] });
    const peer = await RawPeer.open(idle.port);
    const t = Date.now();
    await peer.closed;
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    const c = await idle.client({ maxReconnectAttempts: 5 });
    expect(await c.ping()).toEqual({});
    await new Promise((r) => setTimeout(r, 600)); // the daemon closes the idle client connection
    expect(await c.ping()).toEqual({}); // the next request reconnects
    await c.close();
    await idle.stop();
  });

  it('generates a key with mode 0600 when none is configured, and says where', async () => {
    const { statSync } = await import('node:fs');
    const fresh = await startDaemon();
    expect(statSync(`${fresh.dataDir}/keys.json`).mode & 0o777).toBe(0o600);
    expect(fresh.logs.some((l) => l.msg.includes('generated an admin key') && l.keyring === `${fresh.dataDir}/keys.json`)).toBe(true);
    expect(JSON.stringify(fresh.logs)).not.toContain(fresh.secret.toString('hex'));
    await fresh.stop();
  });
});

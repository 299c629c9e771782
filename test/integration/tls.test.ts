/**
 * TLS and mTLS on the agent port (PROTOCOL.md §1), against real daemons with
 * certificates made at test time: a good handshake (client and CLI), a wrong
 * CA, an expired certificate, a missing or foreign client certificate, a
 * certificate of one tenant carrying another tenant's key, a plaintext peer
 * on the TLS port, certificates rotated without dropping connections, and a
 * refusal to start on unreadable certificate files.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtxdClient, type ClientTls } from '../../src/client/index.ts';
import { makePki, type TestPki } from '../helpers/certs.ts';
import { ctxd } from '../helpers/cli.ts';
import { startDaemon, stopAll, tempDataDir, type RunningDaemon } from '../helpers/daemon.ts';

let pki: TestPki;
/** mTLS with tenant mapping. */
let mtls: RunningDaemon;
/** TLS without client certificates, its certificate files copies that the rotation test replaces. */
let plain: RunningDaemon;
let rotating: { cert: string; key: string };

const tlsFlags = (cert: string, key: string, extra: Record<string, string> = {}) =>
  Object.entries({ cert_file: cert, key_file: key, ...extra }).flatMap(([k, v]) => ['--set', `tls.${k}=${v}`]);

/** A client of `d` with the data dir's admin key (tenant "default") and these TLS options. */
function connect(d: RunningDaemon, tls: ClientTls | undefined): Promise<CtxdClient> {
  return CtxdClient.connect({ port: d.port, kid: d.kid, secret: d.secret, maxReconnectAttempts: 0, connectTimeoutMs: 5000, ...(tls && { tls }) });
}

/** The error a connect-and-ping ends with (the test fails if it succeeds). */
async function refusal(d: RunningDaemon, tls: ClientTls | undefined): Promise<{ code: string; message: string }> {
  let c: CtxdClient | undefined;
  try {
    c = await connect(d, tls);
    await c.ping();
  } catch (e) {
    return e as { code: string; message: string };
  } finally {
    await c?.close();
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  pki = makePki();
  const dir = tempDataDir();
  rotating = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  copyFileSync(pki.serverCert, rotating.cert);
  copyFileSync(pki.serverKey, rotating.key);
  [mtls, plain] = await Promise.all([
    startDaemon({ args: tlsFlags(pki.serverCert, pki.serverKey, { ca_file: pki.caCert, client_auth: 'tenant' }) }),
    startDaemon({ args: tlsFlags(rotating.cert, rotating.key) }),
  ]);
}, 60_000);
afterAll(stopAll);

describe('TLS on the agent port', () => {
  it('serves every op over TLS to a client that trusts its CA, and the CLI with --tls-ca', async () => {
    const c = await connect(plain, { ca: readFileSync(pki.caCert) });
    const stored = await c.store({ text: 'the vault is sealed on Fridays', level: 3 });
    expect((await c.retrieve({ query: 'when is the vault sealed' })).contexts.map((x) => x.id)).toContain(stored.id);
    expect(await c.get(stored.id)).toMatchObject({ text: 'the vault is sealed on Fridays' });
    await c.close();
    const env = { CTXD_PORT: String(plain.port), CTXD_DATA_DIR: plain.dataDir };
    const ping = await ctxd(['ping', '--tls-ca', pki.caCert], env);
    expect(ping.code, ping.stderr).toBe(0);
    expect(ping.stdout).toContain('pong from ctxd');
    // Flags before the command too, and the CA from the environment.
    const q = await ctxd(['--host', 'localhost', 'query', 'vault sealed'], { ...env, CTXD_TLS_CA: pki.caCert });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toContain('the vault is sealed on Fridays');
  });

  it('a plaintext peer on the TLS port gets one clear diagnostic, and the daemon serves on', async () => {
    const err = await refusal(plain, undefined);
    expect(err).toMatchObject({ code: 'BAD_FRAME' });
    expect(err.message).toContain('this port speaks TLS only');
    const cli = await ctxd(['ping'], { CTXD_PORT: String(plain.port), CTXD_DATA_DIR: plain.dataDir });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('BAD_FRAME: this port speaks TLS only');
    const c = await connect(plain, { ca: readFileSync(pki.caCert) });
    expect(await c.ping()).toEqual({});
    await c.close();
  });

  it('a client that trusts another CA refuses the daemon', async () => {
    const err = await refusal(plain, { ca: readFileSync(pki.otherCaCert) });
    expect(err.code).toBe('CONNECTION_CLOSED');
    expect(err.message).toMatch(/unable to verify|self.signed|certificate/i);
  });

  it('an expired certificate is refused by the client', async () => {
    const expired = await startDaemon({ args: tlsFlags(pki.expiredCert, pki.expiredCert.replace(/\.pem$/, '.key')) });
    const err = await refusal(expired, { ca: readFileSync(pki.caCert) });
    expect(err.message).toMatch(/certificate has expired/i);
    await expired.stop();
  });

  it('bounds sockets that never finish their handshake: the oldest are closed past max_unauthenticated_connections', async () => {
    const d = await startDaemon({ args: [...tlsFlags(pki.serverCert, pki.serverKey), '--set', 'server.max_unauthenticated_connections=2', '--set', 'server.handshake_timeout_ms=60000'] });
    const sockets = await Promise.all(
      Array.from({ length: 10 }, () => new Promise<Socket>((resolve) => {
        const s = netConnect({ host: '127.0.0.1', port: d.port }, () => resolve(s));
        s.on('error', () => {});
      })),
    );
    // One byte of a TLS record each, then silence: every socket past the bound evicts the oldest pending one.
    let closed = 0;
    const eightClosed = new Promise<void>((resolve) => {
      for (const s of sockets) s.once('close', () => ++closed === 8 && resolve());
    });
    for (const s of sockets) s.write(Buffer.from([0x16]));
    await eightClosed;
    // Which 8 depends on the order the daemon accepted them; that 2 stay open does not.
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(2);
    // A well-behaved client still gets in (it evicts the oldest pending one in turn).
    const c = await connect(d, { ca: readFileSync(pki.caCert) });
    expect(await c.ping()).toEqual({});
    await c.close();
    for (const s of sockets) s.destroy();
  });

  it('rotates certificates on file change without dropping open connections', async () => {
    const ca = readFileSync(pki.caCert);
    const before = await connect(plain, { ca });
    // A certificate of another CA: new connections that trust only the first CA now fail, the open one goes on.
    const otherServer = makePkiServerOfOtherCa();
    copyFileSync(otherServer.cert, rotating.cert);
    copyFileSync(otherServer.key, rotating.key);
    await plain.waitForLog('tls certificates reloaded', 10_000);
    expect(await before.ping()).toEqual({});
    const rejected = await refusal(plain, { ca });
    expect(rejected.code).toBe('CONNECTION_CLOSED');
    const after = await connect(plain, { ca: readFileSync(otherServer.ca) });
    expect(await after.ping()).toEqual({});
    await Promise.all([before.close(), after.close()]);
  });
});

describe('mTLS', () => {
  it('a client certificate of the key\u2019s tenant is served', async () => {
    const mine = pki.client('default');
    const c = await connect(mtls, { ca: readFileSync(pki.caCert), cert: readFileSync(mine.cert), key: readFileSync(mine.key) });
    expect((await c.store({ text: 'mutual TLS fact', level: 3 })).deduplicated).toBe(false);
    await c.close();
    const cli = await ctxd(['stats', '--tls-ca', pki.caCert, '--tls-cert', mine.cert, '--tls-key', mine.key], { CTXD_PORT: String(mtls.port), CTXD_DATA_DIR: mtls.dataDir });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('tenant default');
  });

  it('no client certificate, or one of an unknown CA, is refused with FORBIDDEN', async () => {
    const none = await refusal(mtls, { ca: readFileSync(pki.caCert) });
    expect(none.code).toBe('FORBIDDEN');
    expect(none.message).toContain('client certificate refused');
    const stranger = pki.strangerClient();
    const foreign = await refusal(mtls, { ca: readFileSync(pki.caCert), cert: readFileSync(stranger.cert), key: readFileSync(stranger.key) });
    expect(foreign.code).toBe('FORBIDDEN');
  });

  it('an admin key on a certificate-bound connection cannot reach other tenants', async () => {
    const mine = pki.client('default');
    const c = await connect(mtls, { ca: readFileSync(pki.caCert), cert: readFileSync(mine.cert), key: readFileSync(mine.key) });
    await expect(c.store({ text: 'into another tenant', level: 3, tenant: 'acme' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.stats({ tenant: 'acme' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.exportPage({ all_tenants: true })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.backup()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect((await c.stats()).tenant).toBe('default');
    await c.close();
  });

  it('a frame signed by a key of another tenant than the certificate\u2019s is FORBIDDEN, and the connection stays usable', async () => {
    const other = pki.client('other-tenant');
    const c = await connect(mtls, { ca: readFileSync(pki.caCert), cert: readFileSync(other.cert), key: readFileSync(other.key) });
    await expect(c.ping()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.stats()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await c.close();
  });
});

describe('start-up', () => {
  it('refuses to start on a certificate file it cannot read, in one line, exit 2', async () => {
    const r = await ctxd(['serve', '--port', '0', '--http-port', '0', '--data-dir', tempDataDir(), '--set', 'tls.cert_file=/nonexistent.pem', '--set', 'tls.key_file=/nonexistent.key'], {
      CTXD_EMBEDDER_KIND: 'hash',
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('tls: cannot use the certificate files');
    const half = await ctxd(['serve', '--data-dir', tempDataDir(), '--set', `tls.cert_file=${pki.serverCert}`], { CTXD_EMBEDDER_KIND: 'hash' });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('tls.cert_file and tls.key_file go together');
  });
});

/** A second PKI's CA and server certificate, for the rotation test. */
function makePkiServerOfOtherCa(): { cert: string; key: string; ca: string } {
  const other = makePki();
  return { cert: other.serverCert, key: other.serverKey, ca: other.caCert };
}

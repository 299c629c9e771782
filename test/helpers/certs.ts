/**
 * Certificates made at test time with the openssl command line: a CA, a
 * server certificate for localhost/127.0.0.1, client certificates whose
 * subject CN is a tenant, a second CA nobody trusts, and an expired server
 * certificate (`openssl ca` with -startdate/-enddate: `req -x509` in
 * OpenSSL 3.0 cannot back-date one).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDataDir } from './daemon.ts';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly expiredCert: string;
  readonly otherCaCert: string;
  /** A client certificate and key signed by the CA, with subject CN = tenant. */
  client(tenant: string): { cert: string; key: string };
  /** A client certificate signed by the untrusted CA. */
  strangerClient(): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { cert, key };
}

function sign(dir: string, ca: { cert: string; key: string }, name: string, subject: string, ext: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile], dir);
  return { cert, key };
}

const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n';

/** A server certificate valid from 2020-01-01 to 2020-01-02, signed by `ca` through `openssl ca`. */
function expired(dir: string, ca: { cert: string; key: string }): string {
  const db = join(dir, 'ca-db');
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  const conf = join(dir, 'ca.cnf');
  writeFileSync(
    conf,
    `[ ca ]\ndefault_ca = test\n[ test ]\ndir = ${db}\ndatabase = ${db}/index.txt\nserial = ${db}/serial\nnew_certs_dir = ${db}\n` +
      `certificate = ${ca.cert}\nprivate_key = ${ca.key}\ndefault_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n` +
      `x509_extensions = server\n[ any ]\ncommonName = supplied\n[ server ]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n`,
  );
  const key = join(dir, 'expired.key');
  const csr = join(dir, 'expired.csr');
  const cert = join(dir, 'expired.pem');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost'], dir);
  openssl(['ca', '-batch', '-config', conf, '-in', csr, '-out', cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext'], dir);
  return cert;
}

export function makePki(): TestPki {
  const dir = tempDataDir();
  const ca = makeCa(dir, 'ca');
  const other = makeCa(dir, 'other-ca');
  const server = sign(dir, ca, 'server', '/CN=localhost', SERVER_EXT);
  const expiredCert = expired(dir, ca);
  let n = 0;
  return {
    dir,
    caCert: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    expiredCert,
    otherCaCert: other.cert,
    client: (tenant) => sign(dir, ca, `client-${tenant}-${n++}`, `/CN=${tenant}`, CLIENT_EXT),
    strangerClient: () => sign(dir, other, `stranger-${n++}`, '/CN=default', CLIENT_EXT),
  };
}

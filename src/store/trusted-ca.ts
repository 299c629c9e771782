/**
 * Trust for a remote store's https certificate. The Qdrant REST client builds
 * its own HTTP agent and takes no TLS options, so a private CA is added to the
 * process's default trust store (what NODE_EXTRA_CA_CERTS does, at start):
 * it widens trust by that CA, and never turns verification off.
 */
import { readFileSync } from 'node:fs';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { ConfigError } from '../config/load.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Adds the certificates of a PEM bundle to the CAs every TLS client of this process trusts. */
export function trustCaFile(setting: string, file: string): void {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`config: ${setting}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const certs = pem.match(PEM_CERTIFICATE);
  if (!certs) throw new ConfigError(`config: ${setting}: ${file} holds no PEM certificate`);
  try {
    setDefaultCACertificates([...getCACertificates('default'), ...certs]);
  } catch (e) {
    throw new ConfigError(`config: ${setting}: ${file} is not a usable CA bundle: ${(e as Error).message}`);
  }
}

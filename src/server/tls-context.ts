/**
 * TLS on the agent port (PROTOCOL.md §1): the certificates from config, read
 * into a SecureContext that is swapped when the files change (connections
 * open keep the context they started with), and what a client certificate
 * says about the connection: nothing, or the one tenant it may act for.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { TENANT_PATTERN } from '../domain/tenant.ts';

export type TlsSettings = Config['tls'];

/** What the handshake established about the peer. */
export interface PeerIdentity {
  /** The only tenant the connection may act for (client_auth: tenant), else undefined. */
  readonly tenant?: string;
}

export class TlsContext {
  private readonly settings: TlsSettings;
  private current: SecureContextOptions;
  private readonly listeners: Array<(options: SecureContextOptions) => void> = [];

  constructor(settings: TlsSettings) {
    this.settings = settings;
    this.current = this.load();
  }

  /** Certificate, key, CA and version floor, as tls.createServer and setSecureContext take them. */
  get options(): SecureContextOptions {
    return this.current;
  }

  /** Called with the new options after each successful reload. */
  onReload(listener: (options: SecureContextOptions) => void): void {
    this.listeners.push(listener);
  }

  /** Client certificates are asked for (and must verify) unless client_auth is none. */
  get requestCert(): boolean {
    return this.settings.client_auth !== 'none';
  }

  /** The files this context is read from (watched for rotation). */
  get files(): string[] {
    return [this.settings.cert_file, this.settings.key_file, this.settings.ca_file].filter(Boolean);
  }

  /** Reads the files again; throws (keeping the old context) when they do not make a valid pair. */
  reload(): void {
    this.current = this.load();
    for (const listener of this.listeners) listener(this.current);
  }

  private load(): SecureContextOptions {
    const { cert_file, key_file, ca_file, min_version } = this.settings;
    const options: SecureContextOptions = {
      cert: readFileSync(cert_file),
      key: readFileSync(key_file),
      ...(ca_file && { ca: readFileSync(ca_file) }),
      minVersion: min_version,
      // Node's default cipher list (forward-secret AEAD suites first) and no renegotiation: nothing to loosen here.
    };
    // Throws here, at start or on a reload, when the key does not match the certificate or a file is not PEM.
    createSecureContext(options);
    return options;
  }

  /**
   * After the handshake: the peer's identity, or why the connection is
   * refused (no certificate, one that does not verify, or a CN that is not
   * a tenant name when certificates map to tenants).
   */
  identify(socket: TLSSocket): PeerIdentity | { readonly refused: string } {
    if (this.settings.client_auth === 'none') return {};
    if (!socket.authorized) {
      // Node reports a missing certificate as an issuer error: say what happened.
      const sent = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
      return { refused: sent ? `client certificate refused: ${String(socket.authorizationError)}` : 'client certificate refused: none sent' };
    }
    if (this.settings.client_auth === 'require') return {};
    const cn = socket.getPeerCertificate().subject?.CN;
    const tenant = Array.isArray(cn) ? undefined : cn;
    if (!tenant || !TENANT_PATTERN.test(tenant)) return { refused: 'client certificate subject CN is not a tenant name' };
    return { tenant };
  }
}

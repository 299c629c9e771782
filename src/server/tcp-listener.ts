/**
 * The only place TCP appears: a node:net server that hands sockets to the
 * registry, in plaintext or, with `tls` configured, TLS only (PROTOCOL.md §1).
 *
 * With TLS the first bytes are looked at before the handshake: a TLS record
 * starts with 0x16. A peer that speaks plaintext frames instead gets one
 * diagnostic saying so, not a reset it cannot explain; the others are handed
 * to a node:tls server (never listening itself) through its 'connection'
 * event, so the handshake, certificate checks and reloads are node's own.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ConnectionRegistry } from './connection-registry.ts';
import type { TlsContext } from './tls-context.ts';

/** The first byte of a TLS handshake record. */
const TLS_HANDSHAKE = 0x16;

export interface TcpListenerOptions {
  readonly tls?: TlsContext | undefined;
  /** Sockets before their TLS handshake completes (and refused ones lingering) at most; the oldest goes first past it. */
  readonly maxPending: number;
  /** How long a peer has to complete the TLS handshake (the protocol's own deadline starts after it). */
  readonly handshakeTimeoutMs: number;
  readonly onTlsError?: (remote: string, message: string) => void;
}

export class TcpListener {
  private readonly server: Server;
  private readonly registry: ConnectionRegistry;
  private readonly tlsServer: TlsServer | undefined;
  /** Raw sockets not yet handed to the registry, by remote address:port, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<string, { readonly socket: Socket; readonly timer: NodeJS.Timeout }>();

  constructor(registry: ConnectionRegistry, opts: TcpListenerOptions) {
    this.registry = registry;
    const tls = opts.tls;
    if (tls) this.tlsServer = this.tlsServerFor(tls, opts);
    // allowHalfOpen: a peer that sends FIN after its requests still gets their answers (PROTOCOL.md §4.4).
    this.server = createServer({ noDelay: true, keepAlive: true, allowHalfOpen: true }, (socket) => {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      if (!this.tlsServer) {
        registry.accept(socket, remote);
        return;
      }
      // Handshakes cost CPU and a descriptor each: bounded like unauthenticated connections, the oldest evicted.
      if (this.pending.size >= opts.maxPending) this.pending.values().next().value?.socket.destroy();
      // One deadline from accept to the end of the TLS handshake; the TLS server's own timeout stays as a second bound.
      const timer = setTimeout(() => socket.destroy(), opts.handshakeTimeoutMs);
      this.pending.set(remote, { socket, timer });
      socket.once('close', () => this.settle(remote));
      this.sniff(socket, remote, this.tlsServer);
    });
  }

  private tlsServerFor(tls: TlsContext, opts: TcpListenerOptions): TlsServer {
    // Certificates are checked here, after the handshake (identify), so a refused one gets a diagnostic, not a bare alert.
    const server = createTlsServer({ ...tls.options, requestCert: tls.requestCert, rejectUnauthorized: false, handshakeTimeout: opts.handshakeTimeoutMs }, (secure: TLSSocket) => {
      const remote = `${secure.remoteAddress}:${secure.remotePort}`;
      const peer = tls.identify(secure);
      // Handed on: the registry's own limits and deadline take over from here (a refused one stays counted until it closes).
      if (!('refused' in peer)) this.settle(remote);
      if ('refused' in peer) {
        opts.onTlsError?.(remote, peer.refused);
        this.registry.refuse(secure, remote, 'FORBIDDEN', peer.refused);
        return;
      }
      this.registry.accept(secure, remote, peer);
    });
    server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
      opts.onTlsError?.(`${socket.remoteAddress}:${socket.remotePort}`, e.message);
      socket.destroy();
    });
    // New connections use rotated certificates; open ones keep theirs.
    tls.onReload((options) => server.setSecureContext(options));
    return server;
  }

  /** Stops counting and timing a raw socket: handed to the registry, or closed. */
  private settle(remote: string): void {
    const entry = this.pending.get(remote);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(remote);
  }

  private sniff(socket: Socket, remote: string, tlsServer: TlsServer): void {
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      if (first[0] !== TLS_HANDSHAKE) {
        this.registry.refuse(socket, remote, 'BAD_FRAME', 'this port speaks TLS only: connect with TLS (the CLI: --tls-ca FILE)');
        return;
      }
      socket.pause();
      // The TLS socket feeds bytes already read from this socket to the handshake before reading more.
      socket.unshift(first);
      tlsServer.emit('connection', socket);
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; open connections are left to the registry. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

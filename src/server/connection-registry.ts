/**
 * Accepts duplex streams as connections, enforces the connection caps, and
 * tracks them for graceful shutdown. Knows nothing of TCP: tcp-listener.ts
 * feeds it sockets, unit tests feed it in-memory stream pairs.
 *
 * Connections that have not yet sent a verified frame have their own small
 * cap. When it (or max_connections) is reached, the oldest of them is closed
 * to make room, so silent sockets can delay nobody for longer than it takes a
 * real client to say hello, and never take an authenticated client's slot. A
 * per-address limit would not do: every local agent is 127.0.0.1, and behind
 * kube-proxy clients share addresses.
 */
import type { Duplex } from 'node:stream';
import { encodeFrame } from '../protocol/frame.ts';
import { errorResponse } from '../protocol/messages.ts';
import { wireError, type ErrorCode } from '../protocol/errors.ts';
import type { PeerIdentity } from './tls-context.ts';
import { RETRY_AFTER_MS } from './admission.ts';
import { Connection, type ConnectionDeps, type Diagnostic } from './connection.ts';

/** How long a refused stream gets to read its diagnostic before it is destroyed. */
const REFUSAL_LINGER_MS = 2000;

export class ConnectionRegistry {
  private readonly deps: ConnectionDeps;
  private readonly live = new Set<Connection>();
  /** In accept order: the first is the oldest. */
  private readonly unauthenticated = new Set<Connection>();
  /** Authenticated connections open per key, and the connections counted in it. */
  private readonly perKey = new Map<string, number>();
  private readonly counted = new Set<Connection>();

  constructor(deps: ConnectionDeps) {
    this.deps = deps;
  }

  get size(): number {
    return this.live.size;
  }

  get unauthenticatedCount(): number {
    return this.unauthenticated.size;
  }

  /** Answers one diagnostic (PROTOCOL.md §6.1) on a stream that gets no connection, and closes it. */
  refuse(stream: Duplex, remote: string, code: ErrorCode, message: string, opts: { readonly retryAfterMs?: number; readonly linger?: boolean } = {}): void {
    const { retryAfterMs, linger = true } = opts;
    this.deps.stats.connectionsRefused++;
    this.deps.stats.rejectFrame(code);
    this.deps.rejections.note('', code, `connection refused: ${message}`, { remote });
    const now = (this.deps.now ?? Date.now)();
    stream.on('error', () => stream.destroy());
    const frame = encodeFrame('', null, errorResponse('', wireError(code, message, { retryAfterMs }), now));
    // Under a connection flood (max_connections) the slot goes as soon as the kernel has the diagnostic.
    if (!linger) stream.end(frame, () => stream.destroy());
    else {
      stream.end(frame);
      // Read and drop what the peer already sent until it closes or the linger ends: closing with unread bytes
      // would reset the connection, and the peer could lose the diagnostic before reading it.
      stream.on('data', () => {});
      stream.once('end', () => stream.destroy());
    }
    setTimeout(() => stream.destroy(), REFUSAL_LINGER_MS).unref();
  }

  /** `peer`: what a TLS handshake established (the one tenant a client certificate allows). */
  accept(stream: Duplex, remote: string, peer: PeerIdentity = {}): Connection | null {
    const { stats, log, config } = this.deps;
    if (this.unauthenticated.size >= config.server.max_unauthenticated_connections) this.evictOldestUnauthenticated();
    if (this.live.size >= config.server.max_connections && !this.evictOldestUnauthenticated()) {
      this.refuse(stream, remote, 'OVERLOADED', 'max_connections reached', { retryAfterMs: RETRY_AFTER_MS, linger: false });
      return null;
    }
    const conn = new Connection(stream, this.deps, remote, peer);
    this.live.add(conn);
    this.unauthenticated.add(conn);
    conn.whenAuthenticated((kid) => {
      this.unauthenticated.delete(conn);
      // One key may not hold every slot (server.max_connections_per_key): refused connections are never counted.
      const open = this.perKey.get(kid) ?? 0;
      if (open >= config.server.max_connections_per_key) {
        // Its slot is free at once (it is closed as soon as its diagnostic is sent), as for an eviction: reconnecting
        // refused connections must not hold max_connections.
        this.forget(conn);
        return false;
      }
      this.perKey.set(kid, open + 1);
      this.counted.add(conn);
      return true;
    });
    stats.connectionsOpen++;
    stats.connectionsTotal++;
    // Connections that never authenticate are counted in metrics, not logged one by one (a flood of them would flood the log).
    log.debug({ remote }, 'connection open');
    stream.once('close', () => {
      if (!this.forget(conn)) return;
      if (conn.isAuthenticated) log.info({ remote, kid: conn.kid }, 'connection closed');
      else log.debug({ remote }, 'connection closed');
    });
    return conn;
  }

  /** Stops counting `conn`; false when it was already forgotten. */
  private forget(conn: Connection): boolean {
    this.unauthenticated.delete(conn);
    if (this.counted.delete(conn)) {
      const open = this.perKey.get(conn.kid)! - 1;
      if (open === 0) this.perKey.delete(conn.kid);
      else this.perKey.set(conn.kid, open);
    }
    if (!this.live.delete(conn)) return false;
    this.deps.stats.connectionsOpen--;
    return true;
  }

  /** Its slot is free at once: the socket is destroyed as soon as the diagnostic is sent. */
  private evictOldestUnauthenticated(): boolean {
    const oldest = this.unauthenticated.values().next().value;
    if (!oldest) return false;
    this.forget(oldest);
    this.deps.stats.connectionsEvicted++;
    this.deps.rejections.note('', 'OVERLOADED', 'connection evicted: too many unauthenticated connections', { remote: oldest.remote });
    oldest.fatal('OVERLOADED', 'too many connections waiting to authenticate: the oldest was closed', { destroyOnceSent: true });
    return true;
  }

  /** Waits until every connection has nothing in flight, or the deadline passes. */
  async drain(deadlineMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    const drained = Promise.all([...this.live].map((c) => c.whenDrained())).then(() => true);
    try {
      return await Promise.race([drained, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Closes every connection: answers in flight are sent, then `diagnostic`,
   * then FIN; streams still open after `graceMs` are destroyed.
   */
  async closeAll(graceMs: number, diagnostic?: Diagnostic): Promise<void> {
    const closing = [...this.live];
    for (const conn of closing) conn.close(diagnostic);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(closing.map((c) => c.whenClosed())), grace]);
    clearTimeout(timer);
    for (const conn of closing) if (conn.connectionState !== 'closed') conn.destroy();
  }
}

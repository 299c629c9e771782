/**
 * Accepts duplex streams as connections, enforces max_connections, and tracks
 * them for graceful shutdown. Knows nothing of TCP: tcp-listener.ts feeds it
 * sockets, unit tests feed it in-memory stream pairs.
 */
import type { Duplex } from 'node:stream';
import { encodeFrame } from '../protocol/frame.ts';
import { errorResponse } from '../protocol/messages.ts';
import { wireError } from '../protocol/errors.ts';
import { Connection, type ConnectionDeps } from './connection.ts';

export class ConnectionRegistry {
  private readonly deps: ConnectionDeps;
  private readonly live = new Set<Connection>();

  constructor(deps: ConnectionDeps) {
    this.deps = deps;
  }

  get size(): number {
    return this.live.size;
  }

  accept(stream: Duplex, remote: string): Connection | null {
    const { stats, log, config } = this.deps;
    if (this.live.size >= config.server.max_connections) {
      stats.connectionsRefused++;
      stats.rejectFrame('OVERLOADED');
      log.warn({ remote, max_connections: config.server.max_connections }, 'connection refused: max_connections reached');
      const now = (this.deps.now ?? Date.now)();
      stream.end(encodeFrame('', null, errorResponse('', wireError('OVERLOADED', 'max_connections reached', { retryAfterMs: 1000 }), now)));
      setTimeout(() => stream.destroy(), 2000).unref();
      return null;
    }
    const conn = new Connection(stream, this.deps, remote);
    this.live.add(conn);
    stats.connectionsOpen++;
    stats.connectionsTotal++;
    log.info({ remote }, 'connection open');
    stream.once('close', () => {
      this.live.delete(conn);
      stats.connectionsOpen--;
      log.info({ remote }, 'connection closed');
    });
    return conn;
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

  /** Ends every connection after its queued answers; destroys those still open after `graceMs`. */
  async closeAll(graceMs: number): Promise<void> {
    const closing = [...this.live];
    for (const conn of closing) conn.end();
    const deadline = Date.now() + graceMs;
    while (closing.some((c) => !c.isClosed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of closing) if (!conn.isClosed) conn.destroy();
  }
}

/**
 * The client's connection (PROTOCOL.md §4): one TCP connection, many pipelined
 * requests correlated by id, every answer's tag verified, typed errors,
 * per-request timeouts, reconnect with exponential backoff. Every connection
 * starts with `hello`, as the server's handshake deadline asks (§2.3); other
 * requests may be pipelined behind it at once.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { EncodeError, unpackMessage } from '../protocol/codec.ts';
import { FrameDecoder } from '../protocol/decoder.ts';
import { encodeFrame, type RawFrame } from '../protocol/frame.ts';
import { isPlainMap, type Body } from '../protocol/messages.ts';
import { signingKey, verifyTag, type SigningKey } from '../protocol/signer.ts';
import type { WireError } from '../protocol/errors.ts';
import type { OpAnswer } from '../protocol/ops/index.ts';
import { CtxdConnectionError, CtxdError, CtxdRequestError, CtxdTimeoutError, CtxdAuthError, errorFromWire } from './errors.ts';

export interface ClientOptions {
  readonly host?: string;
  readonly port?: number;
  readonly kid: string;
  /** The key's secret: raw bytes or hex. */
  readonly secret: Uint8Array | string;
  /** Default per-request timeout. */
  readonly timeoutMs?: number;
  /** Reconnect attempts per outage before requests fail (0 disables reconnecting). */
  readonly maxReconnectAttempts?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  readonly connectTimeoutMs?: number;
  /** Largest answer accepted; the server's own limit by default once `hello` ran. */
  readonly maxFrameBytes?: number;
  /** Connect with TLS (PROTOCOL.md §1): the CA to trust, and a client certificate where the server asks for one (mTLS). */
  readonly tls?: ClientTls;
}

/** TLS verification failures (expired, unknown CA, wrong name): not worth a retry. */
function isCertificateError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/.test(code);
}

export interface ClientTls {
  /** PEM CA bundle the server's certificate must chain to (default: the system's roots). */
  readonly ca?: string | Buffer;
  /** PEM client certificate and key, for servers with client_auth. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name the server's certificate must carry (default: host). */
  readonly servername?: string;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

interface Pending {
  readonly resolve: (body: Body) => void;
  readonly reject: (err: CtxdError) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 7411,
  timeoutMs: 30_000,
  maxReconnectAttempts: 8,
  reconnectBaseMs: 50,
  reconnectMaxMs: 5_000,
  connectTimeoutMs: 5_000,
  maxFrameBytes: 64 * 1024 * 1024,
};

/** Sends raw requests; CtxdClient (client.ts) adds one typed method per op. */
export class ClientConnection {
  private readonly opts: Required<ClientOptions>;
  private readonly key: SigningKey;
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private seq = 0;
  private socket: Socket | null = null;
  private connecting: Promise<Socket> | null = null;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private server: OpAnswer<'hello'> | null = null;

  protected constructor(opts: ClientOptions) {
    this.opts = { ...DEFAULTS, ...opts } as Required<ClientOptions>;
    const secret = typeof opts.secret === 'string' ? Buffer.from(opts.secret, 'hex') : opts.secret;
    this.key = signingKey(secret);
  }

  /** Connects, retrying with backoff. */
  protected async open(): Promise<void> {
    await this.ensureSocket();
  }

  get inflight(): number {
    return this.pending.size;
  }

  /** The answer to the `hello` sent on the current connection, once it arrived (limits, ops, the key's tenant). */
  get serverInfo(): OpAnswer<'hello'> | null {
    return this.server;
  }

  /**
   * Sends one request of any op with any body, unchecked by the type system
   * (new ops, or tests of what the server refuses); resolves with the answer's
   * body or rejects with a CtxdError. The typed methods are CtxdClient's.
   */
  async request<T extends Body = Body>(op: string, body: Body = {}, opts: RequestOptions = {}): Promise<T> {
    if (this.closed) throw new CtxdConnectionError('CONNECTION_CLOSED', 'client is closed', { retryable: false });
    const socket = this.socket && !this.socket.destroyed ? this.socket : await this.ensureSocket();
    return this.send<T>(socket, op, body, opts);
  }

  private send<T extends Body>(socket: Socket, op: string, body: Body, opts: RequestOptions): Promise<T> {
    const id = `${this.idPrefix}-${(this.seq++).toString(36)}`;
    let frame: Buffer;
    try {
      frame = encodeFrame(this.opts.kid, this.key, { id, ts: Date.now(), op, body });
    } catch (e) {
      // Values outside the wire model (typed arrays, Dates, Maps, undefined…) never leave the client.
      if (e instanceof EncodeError) return Promise.reject(new CtxdRequestError('BAD_REQUEST', e.message.replace('cannot encode ', 'cannot encode message field '), { retryable: false }));
      throw e;
    }
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CtxdTimeoutError('TIMEOUT', `${op} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (b: Body) => void, reject, timer });
      socket.write(frame);
    });
  }

  /** Closes the connection; pending requests fail with CONNECTION_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.socket = null;
    this.failAll(new CtxdConnectionError('CONNECTION_CLOSED', 'client closed', { retryable: false }));
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    }
  }

  private ensureSocket(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= this.connectWithBackoff().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connectWithBackoff(): Promise<Socket> {
    let attempt = 0;
    for (;;) {
      try {
        const socket = await this.openSocket();
        this.attach(socket);
        this.server = null;
        this.send<OpAnswer<'hello'>>(socket, 'hello', { client: 'ctxd-ts' }, {}).then(
          (info) => {
            if (this.socket === socket) this.server = info;
          },
          () => {},
        );
        return socket;
      } catch (e) {
        // A certificate that does not verify will not verify on the next attempt either: fail at once.
        if (this.closed || attempt >= this.opts.maxReconnectAttempts || isCertificateError(e)) {
          throw new CtxdConnectionError('CONNECTION_CLOSED', `cannot connect to ${this.opts.host}:${this.opts.port}: ${(e as Error).message}`);
        }
        const backoff = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectBaseMs * 2 ** attempt);
        attempt++;
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
      }
    }
  }

  private openSocket(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const { host, port, tls } = this.opts;
      const socket = tls
        ? tlsConnect({ host, port, ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername ?? (isIP(host) ? undefined : host), minVersion: 'TLSv1.2' }).setNoDelay(true)
        : netConnect({ host, port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), this.opts.connectTimeoutMs);
      // A TLS socket is ready once the handshake is done and the server's certificate verified.
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    const decoder = new FrameDecoder({ maxFrameBytes: this.opts.maxFrameBytes, acceptDiagnostics: true });
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = decoder.write(chunk);
      for (const frame of frames) this.onFrame(socket, frame);
      if (error) this.drop(socket, new CtxdConnectionError('CONNECTION_CLOSED', `server sent a bad frame: ${error.message}`));
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      decoder.destroy();
      if (this.socket === socket) this.socket = null;
      this.failAll(new CtxdConnectionError('CONNECTION_CLOSED', 'connection closed before the answer arrived'));
    });
  }

  private onFrame(socket: Socket, frame: RawFrame): void {
    let message: unknown;
    if (frame.kid === '') {
      // A diagnostic (PROTOCOL.md §6.1): unsigned, the server is closing; fail everything with its code.
      try {
        message = unpackMessage(frame.body);
      } catch {
        message = undefined;
      }
      const err = isPlainMap(message) ? (message.error as WireError | undefined) : undefined;
      return this.drop(socket, errorFromWire(err));
    }
    if (frame.kid !== this.opts.kid || !verifyTag(this.key, frame.signed, frame.tag)) {
      return this.drop(socket, new CtxdAuthError('BAD_SIGNATURE', 'an answer from the server did not verify with this key'));
    }
    try {
      message = unpackMessage(frame.body);
    } catch {
      return this.drop(socket, new CtxdConnectionError('CONNECTION_CLOSED', 'server sent an undecodable answer'));
    }
    if (!isPlainMap(message) || typeof message.id !== 'string') return;
    const id = message.id;
    const waiter = this.pending.get(id);
    // An answer to no pending request (timed out, or id "" for an unreadable envelope) is dropped.
    if (!waiter) return;
    if (message.ok === true) {
      this.pending.delete(id);
      clearTimeout(waiter.timer);
      waiter.resolve(isPlainMap(message.body) ? message.body : {});
    } else {
      this.settle(id, errorFromWire(message.error as WireError));
    }
  }

  private settle(id: string, err: CtxdError): void {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.reject(err);
  }

  private drop(socket: Socket, err: CtxdError): void {
    this.failAll(err);
    socket.destroy();
  }

  private failAll(err: CtxdError): void {
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }
}

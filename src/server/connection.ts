/**
 * One client connection over any duplex byte stream (TCP in production,
 * in-memory pairs in unit tests). Implements PROTOCOL.md §4–§6: verify the tag
 * before decoding, check time and replay, dispatch, answer signed with the
 * request's key. Reading stops while too many requests are in flight or the
 * peer is not reading its answers, so nothing is buffered without bound.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Keyring, LiveKey } from '../auth/keyring.ts';
import { startsWithMap, unpackMessage } from '../protocol/codec.ts';
import { FrameDecoder, type ByteBudget, type FramingError } from '../protocol/decoder.ts';
import { CtxdProtocolError, ERROR_CODES, wireError, type ErrorCode } from '../protocol/errors.ts';
import { encodeFrame, type RawFrame } from '../protocol/frame.ts';
import { errorResponse, okResponse, parseRequest, type Body } from '../protocol/messages.ts';
import { verifyTag } from '../protocol/signer.ts';
import type { Config } from '../config/schema.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { ReplayGuard } from './replay-guard.ts';
import type { ServerStats } from './stats.ts';

export interface ConnectionDeps {
  readonly config: Pick<Config, 'server' | 'protocol'>;
  readonly keyring: Keyring;
  readonly replay: ReplayGuard;
  /** Absent when rate limiting is off. */
  readonly rateLimiter?: RateLimiter | undefined;
  readonly dispatcher: Dispatcher;
  readonly budget: ByteBudget;
  readonly stats: ServerStats;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
  readonly now?: () => number;
}

const DIAGNOSTIC_LINGER_MS = 2000;

export class Connection {
  private readonly stream: Duplex;
  private readonly deps: ConnectionDeps;
  private readonly decoder: FrameDecoder;
  private readonly now: () => number;
  private readonly maxInflight: number;
  readonly remote: string;

  private inflight = 0;
  private backlog: RawFrame[] = [];
  private outbox: Buffer[] = [];
  private flushScheduled = false;
  private writeBlocked = false;
  private paused = false;
  private closed = false;
  private partialTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(stream: Duplex, deps: ConnectionDeps, remote = 'stream') {
    this.stream = stream;
    this.deps = deps;
    this.remote = remote;
    this.now = deps.now ?? Date.now;
    this.maxInflight = deps.config.server.max_inflight_per_connection;
    this.decoder = new FrameDecoder({ maxFrameBytes: deps.config.protocol.max_frame_bytes, budget: deps.budget });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('drain', () => {
      this.writeBlocked = false;
      this.updateReading();
    });
    stream.on('error', (err) => this.deps.log.debug({ remote, err: err.message }, 'connection error'));
    stream.on('close', () => this.cleanup());
    stream.on('end', () => this.onPeerEnd());
    const idleMs = deps.config.server.idle_timeout_ms;
    if (idleMs > 0) this.idleTimer = setTimeout(() => this.onIdle(), idleMs);
  }

  get inflightCount(): number {
    return this.inflight;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once nothing is in flight (used by graceful shutdown). */
  whenDrained(): Promise<void> {
    if (this.inflight === 0 && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Ends the connection after queued answers are written. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.deps.stats.bytesIn += chunk.length;
    this.idleTimer?.refresh();
    const { frames, error } = this.decoder.write(chunk);
    for (const frame of frames) this.backlog.push(frame);
    this.pump();
    if (error) {
      this.fatal(error.code, error.message);
      return;
    }
    this.armPartialDeadline(frames.length > 0);
    this.updateReading();
  }

  /** Starts frames from the backlog while the in-flight limit allows. */
  private pump(): void {
    let i = 0;
    while (i < this.backlog.length && this.inflight < this.maxInflight && !this.closed) {
      this.handleFrame(this.backlog[i++]!);
    }
    this.backlog = i === this.backlog.length ? [] : this.backlog.slice(i);
  }

  private handleFrame(frame: RawFrame): void {
    const key = this.deps.keyring.get(frame.kid);
    if (!key) return this.fatal('UNKNOWN_KEY', `no live key has kid ${JSON.stringify(frame.kid)}`);
    if (!verifyTag(key.signingKey, frame.signed, frame.tag)) return this.fatal('BAD_SIGNATURE', 'frame tag does not verify');

    // The frame is authentic from here on: every answer is signed, the connection stays open.
    if (!startsWithMap(frame.body)) return this.reject(key, '', new CtxdProtocolError('BAD_REQUEST', 'body is not a MessagePack map', { details: { field: '' } }));
    let message: unknown;
    try {
      message = unpackMessage(frame.body);
    } catch (e) {
      return this.reject(key, '', new CtxdProtocolError('BAD_REQUEST', `body is not one valid MessagePack map: ${(e as Error).message.slice(0, 120)}`, { details: { field: '' } }));
    }
    const parsed = parseRequest(message);
    if ('error' in parsed) return this.reject(key, parsed.id, parsed.error);
    const { id, ts, op, body } = parsed.request;

    const now = this.now();
    const skew = this.deps.config.protocol.max_skew_ms;
    if (Math.abs(now - ts) > skew) {
      return this.reject(key, id, new CtxdProtocolError('STALE_TIMESTAMP', `ts is ${now - ts} ms from the server clock; the limit is ±${skew} ms`, { details: { server_ts: now } }));
    }
    const waitMs = this.deps.rateLimiter?.take(key.kid, now) ?? 0;
    if (waitMs > 0) return this.reject(key, id, new CtxdProtocolError('RATE_LIMITED', 'request rate limit for this key exceeded', { retryAfterMs: waitMs }));
    const verdict = this.deps.replay.check(key.kid, id, now);
    if (verdict === 'replay') return this.reject(key, id, new CtxdProtocolError('REPLAY', `id ${JSON.stringify(id)} was already used with this key`));
    if (verdict === 'full') return this.reject(key, id, new CtxdProtocolError('OVERLOADED', 'replay window is full', { retryAfterMs: 1000 }));
    if (this.deps.isShuttingDown()) return this.reject(key, id, new CtxdProtocolError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterMs: 1000 }), op);

    const timed = this.deps.stats.onRequestTimed;
    const started = timed ? performance.now() : 0;
    const done = timed && this.deps.dispatcher.has(op) ? () => timed(op, (performance.now() - started) / 1000) : undefined;
    if (this.deps.log.isLevelEnabled('debug')) this.deps.log.debug({ remote: this.remote, kid: key.kid, op, id }, 'request');
    let result: Body | Promise<Body>;
    try {
      result = this.deps.dispatcher.dispatch(op, body, key, id);
    } catch (e) {
      done?.();
      return this.answerError(key, id, op, e);
    }
    if (result instanceof Promise) {
      this.inflight++;
      result.then(
        (out) => this.answerOk(key, id, op, out),
        (e: unknown) => this.answerError(key, id, op, e),
      ).finally(() => {
        done?.();
        this.settle();
      });
    } else {
      done?.();
      this.answerOk(key, id, op, result);
    }
  }

  private settle(): void {
    this.inflight--;
    if (this.backlog.length > 0) this.pump();
    if (this.inflight === 0 && this.backlog.length === 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
    this.updateReading();
  }

  private answerOk(key: LiveKey, id: string, op: string, body: Body): void {
    this.deps.stats.countRequest(this.opLabel(op), 'ok');
    this.send(encodeFrame(key.kid, key.signingKey, okResponse(id, body, this.now())));
  }

  private answerError(key: LiveKey, id: string, op: string, e: unknown): void {
    let err: CtxdProtocolError;
    if (e instanceof CtxdProtocolError) {
      err = e;
    } else {
      this.deps.log.error({ remote: this.remote, op, err: e instanceof Error ? e.stack : String(e) }, 'handler failed');
      err = new CtxdProtocolError('INTERNAL', 'internal error');
    }
    this.deps.stats.countRequest(this.opLabel(op), err.code);
    this.send(encodeFrame(key.kid, key.signingKey, errorResponse(id, err.toWire(), this.now())));
  }

  /** A request refused before dispatch: counted as a rejected frame, answered signed. */
  private reject(key: LiveKey, id: string, err: CtxdProtocolError, op?: string): void {
    this.deps.stats.rejectFrame(err.code);
    this.deps.log.info({ remote: this.remote, kid: key.kid, code: err.code, op }, 'request rejected');
    this.send(encodeFrame(key.kid, key.signingKey, errorResponse(id, err.toWire(), this.now())));
  }

  private opLabel(op: string): string {
    return this.deps.dispatcher.has(op) ? op : '_unknown';
  }

  private send(frame: Buffer): void {
    if (this.closed) return;
    this.outbox.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Answers produced in the same tick leave in one write (PROTOCOL.md §4.4).
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const out = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox);
    this.outbox = [];
    this.deps.stats.bytesOut += out.length;
    this.idleTimer?.refresh();
    if (!this.stream.write(out)) {
      this.writeBlocked = true;
      this.updateReading();
    }
  }

  private updateReading(): void {
    if (this.closed) return;
    const shouldPause = this.writeBlocked || this.backlog.length > 0 || this.inflight >= this.maxInflight;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }

  private armPartialDeadline(frameCompleted: boolean): void {
    if (!this.decoder.hasPartialFrame) {
      if (this.partialTimer) clearTimeout(this.partialTimer);
      this.partialTimer = null;
      return;
    }
    if (this.partialTimer && !frameCompleted) return;
    if (this.partialTimer) clearTimeout(this.partialTimer);
    const ms = this.deps.config.server.frame_deadline_ms;
    this.partialTimer = setTimeout(() => this.fatal('BAD_FRAME', `incomplete frame not finished within frame_deadline_ms (${ms})`), ms);
  }

  private onIdle(): void {
    if (this.closed) return;
    if (this.inflight > 0 || this.decoder.hasPartialFrame) {
      this.idleTimer?.refresh();
      return;
    }
    this.deps.log.info({ remote: this.remote }, 'closing idle connection');
    this.end();
  }

  private onPeerEnd(): void {
    // The peer will send nothing more; answer what is in flight, then close our side.
    if (this.inflight === 0) this.end();
    else void this.whenDrained().then(() => this.end());
  }

  /**
   * Connection-fatal errors (PROTOCOL.md §6.1): one unsigned diagnostic frame
   * with kid_len 0, a zero tag and id "", then close.
   */
  fatal(code: ErrorCode | FramingError['code'], message: string): void {
    if (this.closed) return;
    this.deps.stats.rejectFrame(code);
    this.deps.log.info({ remote: this.remote, code, fatal: ERROR_CODES[code].fatal }, 'connection closed by protocol error');
    this.flush();
    const frame = encodeFrame('', null, errorResponse('', wireError(code, message), this.now()));
    this.closed = true;
    this.decoder.destroy();
    this.backlog = [];
    this.clearTimers();
    this.deps.stats.bytesOut += frame.length;
    this.stream.end(frame);
    // A peer that does not read must not keep the socket: destroy after a short linger.
    setTimeout(() => this.stream.destroy(), DIAGNOSTIC_LINGER_MS).unref();
  }

  private clearTimers(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.partialTimer = this.idleTimer = null;
  }

  private cleanup(): void {
    this.closed = true;
    this.decoder.destroy();
    this.backlog = [];
    this.outbox = [];
    this.clearTimers();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }
}

/**
 * One client connection over any duplex byte stream (TCP in production,
 * in-memory pairs in unit tests). Implements PROTOCOL.md §2–§6.
 *
 * States: open → closing → closed.
 * - open: frames are read, authenticated, admitted and dispatched.
 * - closing (idle, shutdown, the peer's FIN once its requests are answered):
 *   nothing more is read or dispatched; answers to requests in flight are
 *   still sent, then an optional diagnostic frame, then our FIN.
 * - closed (a fatal protocol error, or the stream closed): nothing is sent.
 *
 * Flow control (§4.4): a request starts only while the in-flight limit allows
 * and its answer fits the connection's and the global answer budgets; while a
 * request waits, the socket is not read (TCP backpressure). A peer that does
 * not read its answers is therefore not served, and buffers stay bounded.
 *
 * Before a connection has sent a frame that verifies (§2.3), its first frame
 * may be at most preauth_max_frame_bytes, its bytes count against a small
 * pre-authentication budget, and it must verify within handshake_timeout_ms.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Keyring, LiveKey } from '../auth/keyring.ts';
import type { Config } from '../config/schema.ts';
import { FrameDecoder, type ByteBudget, type FramingError } from '../protocol/decoder.ts';
import { ERROR_CODES, wireError, type ErrorCode } from '../protocol/errors.ts';
import { encodeFrame, type RawFrame } from '../protocol/frame.ts';
import { errorResponse, okResponse, type Body, type Request } from '../protocol/messages.ts';
import { admit, authenticate, decodeRequest, type AdmitDeps } from './admission.ts';
import type { PeerIdentity } from './tls-context.ts';
import { ConnectionAnswerBudget, type GlobalAnswerBudget } from './answer-budget.ts';
import type { Dispatcher } from './dispatcher.ts';
import { FrameQueue } from './frame-queue.ts';
import { toWireError } from './error-mapping.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { ReplayGuard } from './replay-guard.ts';
import type { RejectionLog } from './rejection-log.ts';
import type { ServerStats } from './stats.ts';

export interface ConnectionDeps {
  readonly config: Pick<Config, 'server' | 'protocol' | 'log'>;
  readonly keyring: Keyring;
  readonly replay: ReplayGuard;
  /** Absent when rate limiting is off. */
  readonly rateLimiter?: RateLimiter | undefined;
  readonly dispatcher: Dispatcher;
  /** Bytes of incomplete frames: before authentication, and after. */
  readonly budgets: { readonly preauth: ByteBudget; readonly main: ByteBudget };
  readonly answers: GlobalAnswerBudget;
  /**
   * Journals the id of an admitted mutating request (replay protection across
   * restarts, §4.3); resolves once committed, which is no later than the
   * request's own writes. The answer waits for it; if it failed (a full disk)
   * while the request's writes committed, the request is still acknowledged.
   */
  readonly journal?: ((kid: string, id: string, ts: number) => Promise<void>) | undefined;
  readonly stats: ServerStats;
  readonly log: Logger;
  /** Throttled lines for refusals (rejection-log.ts). */
  readonly rejections: RejectionLog;
  /** Told of every frame refused for its key or signature (the audit trail counts them per address). */
  readonly onAuthFailure?: ((remote: string, code: string) => void) | undefined;
  readonly isShuttingDown: () => boolean;
  readonly now?: () => number;
}

export type ConnectionState = 'open' | 'closing' | 'closed';

/** A peer that does not read must not keep the socket: destroy this long after our FIN. */
const LINGER_MS = 2000;
/** Upper bound of an answer's frame beyond its body: len, ver, kid, the envelope's other fields, tag. */
const ANSWER_ENVELOPE_BYTES = 512;
/** Room an error answer needs; a frame is not even looked at without it. */
const ERROR_ANSWER_BYTES = 4096;
/**
 * Frames one connection may take through admission in one turn of the event
 * loop before it yields: a peer pipelining thousands of requests (refused or
 * not) must not make every other connection wait for all of them.
 */
const FRAMES_PER_TURN = 64;

interface Admitted {
  readonly key: LiveKey;
  readonly request: Request;
}

export interface Diagnostic {
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryAfterMs?: number;
}

export class Connection {
  readonly remote: string;
  private readonly stream: Duplex;
  private readonly deps: ConnectionDeps;
  private readonly decoder: FrameDecoder;
  private readonly now: () => number;
  private readonly maxInflight: number;
  private readonly maxAnswerBody: number;
  private readonly admitDeps: AdmitDeps;
  private readonly answers: ConnectionAnswerBudget;
  private readonly backlog = new FrameQueue<RawFrame>();

  private state: ConnectionState = 'open';
  private authenticated = false;
  /** The kid of the first frame that verified ('' before). */
  private authenticatedKid = '';
  private onAuthenticated: ((kid: string) => boolean) | null = null;
  private inflight = 0;
  /** Admitted, waiting for answer room. */
  private ready: Admitted | null = null;
  private outbox: Buffer[] = [];
  private flushScheduled = false;
  /** While onData takes a read: what it answers at once leaves when it returns. */
  private takingRead = false;
  private paused = false;
  private peerEnded = false;
  private pumping = false;
  private pumpAgain = false;
  private waitingForRoom = false;
  private yieldScheduled = false;
  /** Bytes after a first frame not yet authenticated: decoded once its key checks out (at most one read's worth). */
  private held: Buffer | null = null;
  private closeDiagnostic: Diagnostic | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private partialTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly drainWaiters: Array<() => void> = [];
  private readonly closeWaiters: Array<() => void> = [];

  constructor(stream: Duplex, deps: ConnectionDeps, remote = 'stream', peer: PeerIdentity = {}) {
    this.stream = stream;
    this.deps = deps;
    this.remote = remote;
    this.now = deps.now ?? Date.now;
    const { server, protocol } = deps.config;
    this.maxInflight = server.max_inflight_per_connection;
    this.maxAnswerBody = protocol.max_frame_bytes - ANSWER_ENVELOPE_BYTES;
    this.decoder = new FrameDecoder({ maxFrameBytes: protocol.max_frame_bytes, maxFirstFrameBytes: server.preauth_max_frame_bytes, budget: deps.budgets.preauth });
    this.admitDeps = { peerTenant: peer.tenant, maxSkewMs: protocol.max_skew_ms, rateLimiter: deps.rateLimiter, replay: deps.replay, isShuttingDown: deps.isShuttingDown };
    this.answers = new ConnectionAnswerBudget(deps.answers, server.answer_queue_bytes_per_connection);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => {
      this.deps.log.debug({ remote, err: err.message }, 'connection error');
      // A reset peer is gone: stop at once (its pending writes fail next, and must not start more work).
      this.cleanup();
    });
    stream.on('close', () => this.cleanup());
    stream.on('end', () => this.onPeerEnd());
    this.handshakeTimer = setTimeout(
      () => this.fatal('BAD_FRAME', `no frame verified within handshake_timeout_ms (${server.handshake_timeout_ms}); send hello first`, { destroyOnceSent: true }),
      server.handshake_timeout_ms,
    );
    if (server.idle_timeout_ms > 0) this.idleTimer = setTimeout(() => this.onIdle(), server.idle_timeout_ms);
  }

  get inflightCount(): number {
    return this.inflight;
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }

  /** The key of the first frame that verified, '' if none did. */
  get kid(): string {
    return this.authenticatedKid;
  }

  /** Called once, when the first frame verifies (the registry stops counting it as unauthenticated). */
  whenAuthenticated(callback: (kid: string) => boolean): void {
    this.onAuthenticated = callback;
  }

  /** Resolves once nothing is in flight (graceful shutdown waits for it). */
  whenDrained(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Resolves once the stream has closed. */
  whenClosed(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * Starts closing: nothing more is read or dispatched; answers to requests in
   * flight are sent, then `diagnostic` (if any) as an unsigned frame, then FIN.
   */
  close(diagnostic?: Diagnostic): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closeDiagnostic = diagnostic ?? null;
    this.backlog.clear();
    this.ready = null;
    this.held = null;
    this.decoder.destroy();
    this.clearTimers();
    this.setPaused(true);
    this.finishClosing();
  }

  destroy(): void {
    this.stream.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    this.deps.stats.bytesIn += chunk.length;
    this.idleTimer?.refresh();
    // A write in fatal() can deliver data back at once on an in-memory stream: the outer read flushes for both.
    const nested = this.takingRead;
    this.takingRead = true;
    try {
      this.take(chunk);
    } finally {
      this.takingRead = nested;
      // The answers this read produced at once (a ping's, an error's) leave now, in one write (PROTOCOL.md §4.4),
      // even if taking it threw.
      if (!nested && this.outbox.length > 0) this.flush();
    }
  }

  private take(chunk: Buffer): void {
    // Until a frame has verified, one frame at a time: nothing of the next is buffered or charged to a budget.
    const { frames, error, consumed } = this.decoder.write(chunk, this.authenticated ? Infinity : 1);
    if (consumed < chunk.length) this.held = chunk.subarray(consumed);
    for (const frame of frames) this.backlog.push(frame);
    this.pump();
    if (error) return this.fatal(error.code, error.message);
    this.armPartialDeadline(frames.length > 0);
    this.updateReading();
  }

  /** Starts what the limits allow: frames are admitted in order, each started once its answer fits. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
        // A yield ends this turn, whatever asked for more meanwhile (a synchronous answer does).
      } while (this.pumpAgain && this.state === 'open' && !this.yieldScheduled);
    } finally {
      this.pumping = false;
    }
    this.maybeFinishHalfClosed();
    this.updateReading();
  }

  private pumpOnce(): void {
    let taken = 0;
    while (this.state === 'open' && this.inflight < this.maxInflight && !this.stream.destroyed) {
      if (!this.ready) {
        if (this.backlog.length === 0) return;
        if (taken === FRAMES_PER_TURN) return this.yieldTurn();
        if (this.answers.room(ERROR_ANSWER_BYTES, ERROR_ANSWER_BYTES) === 0) return this.waitForRoom();
        taken++;
        this.ready = this.prepare(this.backlog.shift()!);
        if (this.held && this.authenticated) this.takeHeld();
        continue;
      }
      const need = this.deps.dispatcher.answerNeed(this.ready.request.op, this.maxAnswerBody);
      const room = this.answers.room(need.min, need.max);
      if (room === 0) return this.waitForRoom();
      const admitted = this.ready;
      this.ready = null;
      this.start(admitted, room);
    }
  }

  /** authenticate → decode → admit; null when the frame was answered (or was fatal). */
  private prepare(frame: RawFrame): Admitted | null {
    const auth = authenticate(frame, this.deps.keyring);
    if ('fatal' in auth) {
      this.fatal(auth.fatal, auth.message);
      return null;
    }
    const { key } = auth;
    if (!this.authenticated && !this.becomeAuthenticated(key.kid)) return null;
    const decoded = decodeRequest(frame);
    if ('error' in decoded) {
      this.reject(key, decoded.id, decoded.error.code, decoded.error.toWire());
      return null;
    }
    const refusal = admit(key, decoded.request, this.admitDeps, this.now());
    if (refusal) {
      this.reject(key, decoded.request.id, refusal.code, refusal.toWire(), decoded.request.op);
      return null;
    }
    return { key, request: decoded.request };
  }

  /** Decodes what arrived behind the frame that authenticated, as if it had just arrived. */
  private takeHeld(): void {
    const held = this.held!;
    this.held = null;
    const { frames, error } = this.decoder.write(held);
    for (const frame of frames) this.backlog.push(frame);
    if (error) this.fatal(error.code, error.message);
    else this.armPartialDeadline(frames.length > 0);
  }

  private becomeAuthenticated(kid: string): boolean {
    this.authenticated = true;
    this.authenticatedKid = kid;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    const admitted = this.onAuthenticated?.(kid) ?? true;
    this.onAuthenticated = null;
    if (!admitted) {
      this.fatal('OVERLOADED', `key ${kid} has max_connections_per_key (${this.deps.config.server.max_connections_per_key}) connections open`, { destroyOnceSent: true });
      return false;
    }
    if (!this.decoder.switchBudget(this.deps.budgets.main)) {
      this.fatal('OVERLOADED', 'server buffer budget for incomplete frames is exhausted');
      return false;
    }
    return true;
  }

  private start({ key, request }: Admitted, reserved: number): void {
    const { id, op, ts, body } = request;
    this.answers.charge(reserved);
    this.inflight++;
    const journaled = this.deps.journal && this.deps.dispatcher.isMutating(op) ? this.deps.journal(key.kid, id, ts) : null;
    // The journal's write can fail (a full disk) before the op settles, and only then is it looked at below: handled
    // from now on, or its rejection would be unhandled meanwhile and end the process.
    journaled?.catch(() => {});
    const timed = this.deps.stats.onRequestTimed;
    const started = performance.now();
    if (this.deps.log.isLevelEnabled('debug')) this.deps.log.debug({ remote: this.remote, kid: key.kid, op, id }, 'request');
    const finish = (outcome: { body: Body } | { error: unknown }) => {
      const seconds = (performance.now() - started) / 1000;
      if (timed && this.deps.dispatcher.has(op)) timed(op, seconds);
      const code = this.finish(key, id, op, reserved, outcome);
      this.logRequest(key, id, op, code, seconds * 1000);
    };
    let result: Body | Promise<Body>;
    try {
      result = this.deps.dispatcher.dispatch(op, body, key, id, reserved);
    } catch (error) {
      return finish({ error });
    }
    if (journaled) {
      const unjournaled = (e: unknown) => this.deps.log.warn({ kid: key.kid, id, op, err: describe(e) }, 'request id not journaled: not protected from replay across a restart');
      result = Promise.resolve(result).then(
        (out) => journaled.then(() => out, (e: unknown) => (unjournaled(e), out)),
        (error: unknown) => journaled.then(() => Promise.reject(error), () => Promise.reject(error)),
      );
    }
    if (result instanceof Promise) {
      result.then(
        (out) => finish({ body: out }),
        (error: unknown) => finish({ error }),
      );
    } else {
      finish({ body: result });
    }
  }

  /** A line per answered request with its duration: info when slow (log.slow_request_ms), else debug (as is the line at dispatch). */
  private logRequest(key: LiveKey, id: string, op: string, code: string, ms: number): void {
    const slow = ms >= this.deps.config.log.slow_request_ms;
    if (!slow && !this.deps.log.isLevelEnabled('debug')) return;
    const line = { remote: this.remote, kid: key.kid, op, id, code, ms: Math.round(ms * 1000) / 1000 };
    if (slow) this.deps.log.info(line, 'slow request');
    else this.deps.log.debug(line, 'request done');
  }

  /** Answers a started request; returns its outcome ('ok' or the wire code). Never throws: an answer that cannot be encoded becomes INTERNAL. */
  private finish(key: LiveKey, id: string, op: string, reserved: number, outcome: { body: Body } | { error: unknown }): string {
    this.inflight--;
    let code = 'ok';
    try {
      const label = this.deps.dispatcher.has(op) ? op : '_unknown';
      let frame: Buffer | null = null;
      if ('body' in outcome) {
        try {
          frame = encodeFrame(key.kid, key.signingKey, okResponse(id, outcome.body, this.now()));
          if (frame.length - 4 > this.deps.config.protocol.max_frame_bytes) throw new Error(`answer of ${frame.length} bytes exceeds max_frame_bytes`);
          this.deps.stats.countRequest(label, 'ok');
        } catch (e) {
          frame = null;
          outcome = { error: e };
        }
      }
      if (!frame) {
        const err = toWireError((outcome as { error: unknown }).error);
        code = err.code;
        if (err.code === 'INTERNAL') this.deps.log.error({ remote: this.remote, op, id, err: describe((outcome as { error: unknown }).error) }, 'request failed');
        this.deps.stats.countRequest(label, err.code);
        frame = encodeFrame(key.kid, key.signingKey, errorResponse(id, err, this.now()));
      }
      this.send(frame);
    } catch (e) {
      this.deps.log.error({ remote: this.remote, op, id, err: describe(e) }, 'could not answer a request');
    }
    // The answer is charged before its reservation is given back: releasing first would let a
    // request woken by the release take that room, and the queue pass its bound by one answer.
    this.answers.release(reserved);
    if (this.inflight === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.state === 'closing') this.finishClosing();
    else this.pump();
    return code;
  }

  /** A request refused before dispatch: counted as a rejected frame, answered signed. */
  private reject(key: LiveKey, id: string, code: ErrorCode, error: ReturnType<typeof wireError>, op?: string): void {
    this.deps.stats.rejectFrame(code);
    this.deps.rejections.note(key.kid, code, 'request rejected', { remote: this.remote, op });
    this.send(encodeFrame(key.kid, key.signingKey, errorResponse(id, error, this.now())));
  }

  private send(frame: Buffer): void {
    if (this.state === 'closed') return;
    this.answers.charge(frame.length);
    this.outbox.push(frame);
    // Within a read, onData flushes at its end: no tick of its own (at one request per read, one per answer).
    if (!this.flushScheduled && !this.takingRead) {
      this.flushScheduled = true;
      // Answers produced in the same tick leave in one write (PROTOCOL.md §4.4).
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.state === 'closed' || this.outbox.length === 0) return;
    const out = this.outbox.length === 1 ? this.outbox[0]! : Buffer.concat(this.outbox);
    this.outbox = [];
    this.deps.stats.bytesOut += out.length;
    this.idleTimer?.refresh();
    // The bytes stay charged until the kernel has taken them.
    this.stream.write(out, () => this.answers.release(out.length));
  }

  /** Lets other connections' I/O in, then carries on with this backlog. */
  private yieldTurn(): void {
    if (this.yieldScheduled) return;
    this.yieldScheduled = true;
    setImmediate(() => {
      this.yieldScheduled = false;
      if (this.state === 'open') this.pump();
    });
  }

  private waitForRoom(): void {
    if (this.waitingForRoom) return;
    this.waitingForRoom = true;
    this.deps.answers.waitForRoom(this.onRoom);
  }

  private readonly onRoom = (): void => {
    this.waitingForRoom = false;
    if (this.state === 'open') this.pump();
  };

  private updateReading(): void {
    if (this.state !== 'open') return;
    this.setPaused(this.held !== null || this.backlog.length > 0 || this.ready !== null || this.inflight >= this.maxInflight);
  }

  private setPaused(pause: boolean): void {
    if (pause && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!pause && this.paused) {
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
    if (this.state !== 'open') return;
    if (this.inflight > 0 || this.decoder.hasPartialFrame) {
      this.idleTimer?.refresh();
      return;
    }
    this.deps.log.info({ remote: this.remote }, 'closing idle connection');
    this.close();
  }

  private onPeerEnd(): void {
    // Half-close: the peer sends nothing more but still reads. Answer what it sent, then close.
    this.peerEnded = true;
    this.maybeFinishHalfClosed();
  }

  private maybeFinishHalfClosed(): void {
    if (this.peerEnded && this.state === 'open' && this.inflight === 0 && this.backlog.length === 0 && !this.ready) this.close();
  }

  /** In closing: once nothing is in flight, the queued answers, the diagnostic, then FIN. */
  private finishClosing(): void {
    if (this.state !== 'closing' || this.inflight > 0) return;
    this.flush();
    const diag = this.closeDiagnostic;
    if (diag) {
      const frame = encodeFrame('', null, errorResponse('', wireError(diag.code, diag.message, { retryAfterMs: diag.retryAfterMs }), this.now()));
      this.deps.stats.bytesOut += frame.length;
      this.stream.end(frame);
    } else {
      this.stream.end();
    }
    setTimeout(() => this.stream.destroy(), LINGER_MS).unref();
  }

  /**
   * Connection-fatal errors (PROTOCOL.md §6.1): one unsigned diagnostic frame
   * with kid_len 0, a zero tag and id "", then close. Answers of requests
   * still in flight are dropped.
   */
  fatal(code: ErrorCode | FramingError['code'], message: string, opts: { readonly destroyOnceSent?: boolean } = {}): void {
    if (this.state === 'closed') return;
    this.deps.stats.rejectFrame(code);
    this.deps.rejections.note(this.authenticatedKid, code, 'connection closed by protocol error', { remote: this.remote, fatal: ERROR_CODES[code].fatal });
    if (code === 'UNKNOWN_KEY' || code === 'BAD_SIGNATURE') this.deps.onAuthFailure?.(this.remote, code);
    this.flush();
    const frame = encodeFrame('', null, errorResponse('', wireError(code, message), this.now()));
    this.state = 'closed';
    this.release();
    this.deps.stats.bytesOut += frame.length;
    // A peer that never authenticated gets no linger: its slot is free as soon as the kernel has the diagnostic.
    this.stream.end(frame, opts.destroyOnceSent ? () => this.stream.destroy() : undefined);
    setTimeout(() => this.stream.destroy(), LINGER_MS).unref();
  }

  private clearTimers(): void {
    for (const t of [this.handshakeTimer, this.partialTimer, this.idleTimer]) if (t) clearTimeout(t);
    this.handshakeTimer = this.partialTimer = this.idleTimer = null;
  }

  /** Gives back every buffer and budget this connection holds. */
  private release(): void {
    this.decoder.destroy();
    this.backlog.clear();
    this.ready = null;
    this.held = null;
    this.outbox = [];
    this.clearTimers();
    this.answers.releaseAll();
    this.deps.answers.forget(this.onRoom);
  }

  private cleanup(): void {
    this.state = 'closed';
    this.release();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

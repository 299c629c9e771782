/**
 * The stages a frame passes before dispatch (PROTOCOL.md §2.1, §3, §4.3):
 * authenticate (key, tag) → decode (JSON-only walk, envelope) → admit (clock
 * skew, rate limit, replay, shutdown). Each stage either hands on or says how
 * the frame is answered; none of them touches a socket.
 */
import type { Keyring, LiveKey } from '../auth/keyring.ts';
import { decodeMessage, startsWithMap } from '../protocol/codec.ts';
import { CtxdProtocolError, type ErrorCode } from '../protocol/errors.ts';
import type { RawFrame } from '../protocol/frame.ts';
import { parseRequest, type Request } from '../protocol/messages.ts';
import { peekRequestId } from '../protocol/peek-id.ts';
import { verifyTag } from '../protocol/signer.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { ReplayGuard } from './replay-guard.ts';

/** Retry hint for capacity refusals (replay memory, shutdown). */
export const RETRY_AFTER_MS = 1000;

export type Authenticated = { readonly key: LiveKey } | { readonly fatal: ErrorCode; readonly message: string };

/** Stage 1: the kid names a live key and the tag verifies; anything else is connection-fatal (§6.1). */
export function authenticate(frame: RawFrame, keyring: Keyring): Authenticated {
  const key = keyring.get(frame.kid);
  if (!key) return { fatal: 'UNKNOWN_KEY', message: `no live key has kid ${JSON.stringify(frame.kid)}` };
  if (!verifyTag(key.signingKey, frame.signed, frame.tag)) return { fatal: 'BAD_SIGNATURE', message: 'frame tag does not verify' };
  return { key };
}

export type Decoded = { readonly request: Request } | { readonly id: string; readonly error: CtxdProtocolError };

/** Stage 2: one JSON-model map (§3) holding a valid envelope (§4.1). Errors are answered signed; the stream is still in sync. */
export function decodeRequest(frame: RawFrame): Decoded {
  if (!startsWithMap(frame.body)) return { id: '', error: new CtxdProtocolError('BAD_REQUEST', 'body is not a MessagePack map', { details: { field: '' } }) };
  const decoded = decodeMessage(frame.body);
  if (decoded.error) {
    const { path, message, limit } = decoded.error;
    return { id: peekRequestId(frame.body) ?? '', error: new CtxdProtocolError('BAD_REQUEST', `${path || 'message'}: ${message}`, { details: { field: path, ...(limit && { limit }) } }) };
  }
  return parseRequest(decoded.value);
}

export interface AdmitDeps {
  readonly maxSkewMs: number;
  readonly rateLimiter: RateLimiter | undefined;
  readonly replay: ReplayGuard;
  readonly isShuttingDown: () => boolean;
  /** The only tenant whose keys may sign on this connection (its client certificate's, mTLS), or undefined. */
  readonly peerTenant?: string | undefined;
}

/** Stage 3: the request may run now; null when it may, else the error to answer. */
export function admit(key: LiveKey, request: Request, deps: AdmitDeps, now: number): CtxdProtocolError | null {
  const { id, ts } = request;
  if (deps.peerTenant !== undefined) {
    // A certificate-bound connection acts for its tenant only: not through another tenant's key, an admin's
    // `tenant` field, or an op spanning every tenant.
    if (key.tenant !== deps.peerTenant) return new CtxdProtocolError('FORBIDDEN', `this connection's client certificate is for tenant ${deps.peerTenant}, not this key's`);
    const body = request.body;
    if ((body.tenant !== undefined && body.tenant !== deps.peerTenant) || body.all_tenants === true || request.op === 'backup' || request.op === 'rekey') {
      return new CtxdProtocolError('FORBIDDEN', `this connection's client certificate is for tenant ${deps.peerTenant} only`);
    }
  }
  if (Math.abs(now - ts) > deps.maxSkewMs) {
    return new CtxdProtocolError('STALE_TIMESTAMP', `ts is ${now - ts} ms from the server clock; the limit is ±${deps.maxSkewMs} ms`, { details: { server_ts: now } });
  }
  const waitMs = deps.rateLimiter?.take(key.kid, now) ?? 0;
  if (waitMs > 0) return new CtxdProtocolError('RATE_LIMITED', 'request rate limit for this key exceeded', { retryAfterMs: waitMs });
  const verdict = deps.replay.check(key.kid, id, now);
  if (verdict === 'replay') return new CtxdProtocolError('REPLAY', `id ${JSON.stringify(id)} was already used with this key`);
  if (verdict === 'full') return new CtxdProtocolError('OVERLOADED', 'replay window of this key is full', { retryAfterMs: RETRY_AFTER_MS });
  if (deps.isShuttingDown()) return new CtxdProtocolError('SHUTTING_DOWN', 'the server is shutting down', { retryAfterMs: RETRY_AFTER_MS });
  return null;
}

/**
 * Every Qdrant call goes through the store's Breaker, and leaves as one of:
 * - DependencyUnavailableError('store', …) when Qdrant is sick or away:
 *   the breaker is open (retry when it half-opens), or the call failed in a
 *   way that counts against Qdrant's health — a network error, the client's
 *   timeout (QdrantClientTimeoutError), HTTP 5xx, 408 or 429 (retry after the
 *   Retry-After header, else 1 s), or a write Qdrant did not confirm.
 *   `outcome` says whether a write may have been applied: 'unknown' once a
 *   write was sent and no confirmation came (timeout, reset, 5xx, 408, a
 *   status other than `completed`); 'not_applied' when it was refused
 *   (breaker open, connection refused, 429).
 * - a plain Error for anything else (any other HTTP 4xx: a request Qdrant
 *   finds malformed is our bug, answered INTERNAL, never UNAVAILABLE, since
 *   retrying it cannot help); these do not count against the breaker.
 *
 * What the client (@qdrant/js-client-rest 1.19) throws, from its sources:
 * an ApiError subclass with `status`, `headers` and `data` for every non-2xx
 * answer (@qdrant/openapi-typescript-fetch fetchJson), except a 429 carrying
 * Retry-After, which becomes QdrantClientResourceExhaustedError; its own
 * AbortController deadline becomes QdrantClientTimeoutError; undici's
 * TypeError("fetch failed" / "terminated") with the socket error as `cause`.
 * Qdrant answers 408 for its own timeouts (StorageError::Timeout,
 * src/actix/helpers.rs), including a `wait=true` update that was queued in
 * the WAL but not applied in time (lib/collection/src/collection/point_ops.rs):
 * such a write may still land, so 408 is an unknown outcome, not a bug.
 * Messages name the operation and the failure, never the API key (redacted
 * if Qdrant's own message holds it) nor stored text (never put in them).
 */
import { QdrantClientResourceExhaustedError, QdrantClientTimeoutError } from '@qdrant/js-client-rest';
import { DependencyUnavailableError } from '../../domain/errors.ts';
import { BreakerOpenError, BreakerShutdownError, type Breaker } from '../../resilience/breaker.ts';

const DEFAULT_RETRY_MS = 1000;
const MAX_DETAIL = 300;
/** Connection errors that mean the request never reached Qdrant. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface HttpLike {
  readonly status: number;
  readonly headers?: { get(name: string): string | null };
  readonly data?: unknown;
}

/**
 * A write Qdrant answered without confirming it was applied: `acknowledged`
 * (queued only) or `wait_timeout` (UpdateStatus in Qdrant's OpenAPI schema).
 * With `wait: true` and no `timeout` parameter Qdrant answers `completed` or
 * fails, but an answer that says otherwise must not be taken as written.
 */
export class QdrantUnconfirmedWriteError extends Error {
  override readonly name = 'QdrantUnconfirmedWriteError';
  readonly status: string;

  constructor(status: string) {
    super(`write not confirmed (status ${status})`);
    this.status = status;
  }
}

/** Throws QdrantUnconfirmedWriteError unless `result` is an UpdateResult saying `completed` (other results pass). */
export function requireCompleted<T>(result: T): T {
  const status = typeof result === 'object' && result !== null ? (result as { status?: unknown }).status : undefined;
  if (typeof status === 'string' && status !== 'completed') throw new QdrantUnconfirmedWriteError(status);
  return result;
}

function httpError(err: unknown): HttpLike | null {
  if (typeof err !== 'object' || err === null) return null;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status >= 100 && status < 600 ? (err as HttpLike) : null;
}

/** The error codes along an error's cause chain (undici wraps the socket's error as `cause`). */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
  }
  return out;
}

function isNetworkError(err: unknown): boolean {
  if (err instanceof TypeError && /fetch failed|terminated|network/i.test(err.message)) return true;
  if (err instanceof Error && err.name === 'AbortError') return true;
  // Socket errors (ECONNRESET, ETIMEDOUT, …) and undici's own; not Node's ERR_* argument errors (our bugs).
  return codes(err).some((c) => /^E[A-Z]+$/.test(c) || c.startsWith('UND_ERR'));
}

/** Whether an error counts against Qdrant's health (the breaker's isFailure). */
export function isQdrantFailure(err: unknown): boolean {
  if (err instanceof QdrantClientTimeoutError || err instanceof QdrantClientResourceExhaustedError || err instanceof QdrantUnconfirmedWriteError) return true;
  const http = httpError(err);
  if (http) return http.status >= 500 || http.status === 429 || http.status === 408;
  return isNetworkError(err);
}

/**
 * When to retry. The client (1.19 api-client.js) reads Retry-After as
 * `headers.get('retry-after')?.[0]`, its first character: Qdrant's "12" comes
 * back as 1 s. Nothing else of the header survives in its error, so waits of
 * 10 s or more are under-reported; the breaker still opens on repeated 429s.
 */
function retryAfterMs(err: unknown): number {
  if (err instanceof QdrantClientResourceExhaustedError && Number.isFinite(err.retry_after) && err.retry_after > 0) return Math.ceil(err.retry_after * 1000);
  const header = httpError(err)?.headers?.get?.('retry-after');
  const seconds = header ? Number(header) : NaN;
  if (Number.isFinite(seconds) && seconds > 0) return Math.ceil(seconds * 1000);
  const date = header ? Date.parse(header) : NaN;
  if (Number.isFinite(date)) return Math.max(1, date - Date.now());
  return DEFAULT_RETRY_MS;
}

function redact(text: string, apiKey: string | null): string {
  let out = apiKey ? text.split(apiKey).join('[redacted]') : text;
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_DETAIL ? `${out.slice(0, MAX_DETAIL)}…` : out;
}

/** Qdrant's own error description of an HTTP error ({"status":{"error":"…"}}), redacted and shortened. */
function qdrantDetail(err: unknown, apiKey: string | null): string {
  const data = httpError(err)?.data as { status?: { error?: unknown } } | undefined;
  const text = typeof data?.status?.error === 'string' ? data.status.error : err instanceof Error ? err.message : String(err);
  return redact(text, apiKey);
}

function failureKind(err: unknown, timeoutMs: number): string {
  if (err instanceof QdrantClientTimeoutError) return `no answer within ${timeoutMs} ms`;
  if (err instanceof QdrantUnconfirmedWriteError) return err.message;
  const http = httpError(err);
  if (http) return `HTTP ${http.status}`;
  if (err instanceof QdrantClientResourceExhaustedError) return 'HTTP 429 (rate limited)';
  const code = codes(err)[0];
  return code ? `network error ${code}` : 'network error';
}

function outcomeOf(err: unknown, write: boolean): 'not_applied' | 'unknown' {
  if (!write) return 'not_applied';
  if (err instanceof QdrantClientResourceExhaustedError || httpError(err)?.status === 429) return 'not_applied';
  if (codes(err).some((c) => NOT_SENT.has(c))) return 'not_applied';
  return 'unknown';
}

export interface CallOptions {
  /** Whether the call changes data (a failed write's outcome may be unknown). */
  readonly write: boolean;
}

export class QdrantCaller {
  private readonly breaker: Breaker;
  private readonly apiKey: string | null;
  private readonly timeoutMs: number;

  constructor(breaker: Breaker, apiKey: string | null, timeoutMs: number) {
    this.breaker = breaker;
    this.apiKey = apiKey;
    this.timeoutMs = timeoutMs;
  }

  /** Runs `fn` (one client call) under the breaker; `what` names it in errors ("scroll", "upsert"). */
  async run<T>(what: string, fn: () => Promise<T>, opts: CallOptions): Promise<T> {
    try {
      // A write's answer is checked inside the breaker's call: an unconfirmed write counts against Qdrant.
      return await this.breaker.run(opts.write ? async () => requireCompleted(await fn()) : fn, { isFailure: isQdrantFailure });
    } catch (err) {
      throw this.translate(what, err, opts.write);
    }
  }

  translate(what: string, err: unknown, write: boolean): Error {
    if (err instanceof DependencyUnavailableError) return err;
    if (err instanceof BreakerOpenError) {
      return new DependencyUnavailableError('store', err.retryAfterMs, `qdrant is unavailable (circuit breaker open); ${what} not attempted`, { cause: err });
    }
    if (err instanceof BreakerShutdownError) {
      return new DependencyUnavailableError('store', DEFAULT_RETRY_MS, `the qdrant store is closed; ${what} not attempted`, { cause: err });
    }
    if (isQdrantFailure(err)) {
      return new DependencyUnavailableError('store', retryAfterMs(err), `qdrant ${what} failed: ${failureKind(err, this.timeoutMs)}`, { cause: err, outcome: outcomeOf(err, write) });
    }
    const http = httpError(err);
    const status = http ? `HTTP ${http.status}: ` : '';
    return new Error(`qdrant ${what} refused: ${status}${qdrantDetail(err, this.apiKey)}`);
  }
}

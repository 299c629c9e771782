/**
 * The `openai` embedder: any OpenAI-compatible `POST {base_url}/embeddings`
 * endpoint (OpenAI, Ollama, vLLM, TEI, LM Studio...).
 *
 * One `embed` call is split into HTTP calls of at most `batchSize` texts; at
 * most `concurrency` of them are in flight for the whole embedder. Every HTTP
 * attempt has its own timeout (the smaller of `timeoutMs` and the time left to
 * the deadline), goes through the dependency's circuit breaker, and is retried
 * with exponential backoff while the error is transient and the deadline
 * leaves room for another attempt.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { ChunkRule } from './chunking.ts';
import type { Breaker } from '../../resilience/breaker.ts';
import { callSignal, parseRetryAfter, Slots } from '../../resilience/call-limits.ts';
import { normalize, type EmbedOptions, type Embedder, type EmbedderIdentity } from './embedder.ts';
import { EmbedderError } from './embedder-error.ts';

export { EmbedderError, type EmbedderErrorCode } from './embedder-error.ts';

/**
 * The deadline of an `embed` call that brings none: below the TypeScript
 * client's 30 s request timeout, so a client never re-sends a request while the
 * daemon is still retrying it.
 */
export const DEFAULT_EMBED_DEADLINE_MS = 25_000;
/** About 2,000 tokens of English: inside every common embedding model's window (OpenAI's is 8,191). */
export const DEFAULT_MAX_INPUT_CHARS = 8_000;

/** Another attempt is only worth starting with at least this much time left after the backoff. */
const MIN_ATTEMPT_MS = 100;
/** Each backoff delay is scaled by a random factor in [1 - JITTER, 1 + JITTER). */
const JITTER = 0.25;
/** Response body characters kept in an error message. */
const BODY_SNIPPET_CHARS = 200;

export interface OpenAiEmbedderOptions {
  /** e.g. `http://host:port/v1`; requests go to `{baseUrl}/embeddings`. */
  readonly baseUrl: string;
  readonly model: string;
  readonly dims: number;
  /** The secret itself (the caller reads it from the environment), or null for none. */
  readonly apiKey: string | null;
  /** Most texts per HTTP call. */
  readonly batchSize: number;
  /** Longest input sent; longer texts are windowed (chunking.ts). Default DEFAULT_MAX_INPUT_CHARS. */
  readonly maxInputChars?: number;
  /** Timeout of one HTTP call. */
  readonly timeoutMs: number;
  /** Most HTTP calls in flight at once, across all `embed` calls. */
  readonly concurrency: number;
  /** Retries of one HTTP call after its first attempt. */
  readonly maxRetries: number;
  /** First backoff delay; it doubles at every retry. */
  readonly retryBaseMs: number;
  /** Cap on every single delay, Retry-After included. Default 30 000. */
  readonly retryMaxDelayMs?: number;
  /** The embedder's circuit breaker (shared with /health and /metrics). */
  readonly breaker: Breaker;
  /** For tests: jitter source, [0, 1). */
  readonly random?: () => number;
  /** For tests: the backoff sleep. It should reject when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** For tests: the clock the deadline is compared with (epoch ms). */
  readonly now?: () => number;
}

/**
 * Which errors count against the endpoint's health in the circuit breaker:
 * timeouts, connection failures, 408 and 5xx, i.e. the endpoint is down or
 * overwhelmed.
 *
 * A 429 does NOT count: the endpoint is alive and tells us to slow down. The
 * call is retried after Retry-After; opening the breaker on a rate limit would
 * stop all embedding (stores included) for the whole reset timeout, far longer
 * than the endpoint asked us to wait. Other 4xx answers (bad request, bad key,
 * unknown model, 409) and bad 2xx bodies (wrong dims...) are configuration or
 * request problems a breaker cannot fix: each call reports them itself. Calls
 * cut short by the caller's deadline or by close() say nothing about the
 * endpoint either.
 */
export function isEmbedderFailure(err: unknown): boolean {
  if (!(err instanceof EmbedderError)) return true;
  switch (err.code) {
    case 'timeout':
    case 'network':
      return true;
    case 'http':
      return err.status !== undefined && (err.status >= 500 || err.status === 408);
    default:
      return false;
  }
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleepFor(ms, undefined, signal ? { signal } : undefined);

export class OpenAiEmbedder implements Embedder {
  readonly identity: EmbedderIdentity;
  readonly maxBatch: number;
  readonly concurrency: number;
  readonly threads = 0;
  /** Inputs beyond the model's window would be refused (HTTP 400) or truncated by the server: windows of maxInputChars. */
  readonly chunkRule: ChunkRule;
  /** requests: HTTP attempts made; retries: attempts that were retries; failures: attempts that failed. */
  readonly stats = { requests: 0, retries: 0, failures: 0 };

  private readonly opts: OpenAiEmbedderOptions;
  private readonly url: string;
  /** The endpoint as named in messages: origin and path, never the query string. */
  private readonly label: string;
  private readonly headers: Record<string, string>;
  private readonly retryMaxDelayMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly slots: Slots;
  /** One controller per running `embed` call: close() aborts them all. */
  private readonly active = new Set<AbortController>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(opts: OpenAiEmbedderOptions) {
    this.opts = opts;
    this.identity = { kind: 'openai', model: opts.model, dims: opts.dims };
    this.maxBatch = opts.batchSize;
    this.chunkRule = { windowWords: Number.MAX_SAFE_INTEGER, windowChars: opts.maxInputChars ?? DEFAULT_MAX_INPUT_CHARS, maxWindows: 16 };
    this.concurrency = opts.concurrency;
    this.url = opts.baseUrl.replace(/\/+$/, '') + '/embeddings';
    let parsed: URL;
    try {
      parsed = new URL(this.url);
    } catch {
      throw new Error('embedder base URL is not a valid URL');
    }
    this.label = parsed.origin + parsed.pathname;
    this.headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (opts.apiKey) this.headers['authorization'] = `Bearer ${opts.apiKey}`;
    this.retryMaxDelayMs = opts.retryMaxDelayMs ?? 30_000;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
    this.slots = new Slots(Math.max(1, opts.concurrency));
  }

  embed(texts: readonly string[], opts?: EmbedOptions): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(this.closedError());
    if (texts.length === 0) return Promise.resolve([]);
    const p = this.embedAll(texts, opts?.deadline ?? this.now() + DEFAULT_EMBED_DEADLINE_MS);
    this.running.add(p);
    const forget = (): void => {
      this.running.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ctl of this.active) ctl.abort();
    await Promise.allSettled([...this.running]);
  }

  private async embedAll(texts: readonly string[], deadline: number): Promise<Float32Array[]> {
    const ctl = new AbortController();
    this.active.add(ctl);
    try {
      const size = Math.max(1, this.opts.batchSize);
      const calls: Promise<Float32Array[]>[] = [];
      for (let i = 0; i < texts.length; i += size) {
        calls.push(
          this.embedBatch(texts.slice(i, i + size), deadline, ctl.signal).catch((err: unknown) => {
            ctl.abort(); // one batch failed: the call fails, stop the others
            throw err;
          }),
        );
      }
      return (await Promise.all(calls)).flat();
    } finally {
      this.active.delete(ctl);
    }
  }

  /** One batch, retried while the error is transient and the deadline leaves room. */
  private async embedBatch(texts: readonly string[], deadline: number, signal: AbortSignal): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(texts, deadline, signal);
      } catch (err) {
        // BreakerOpenError and anything unexpected pass through unchanged.
        if (!(err instanceof EmbedderError) || !err.retryable || signal.aborted) throw err;
        if (attempt >= this.opts.maxRetries) throw err;
        const delay = this.retryDelay(attempt, err);
        if (deadline - this.now() <= delay + MIN_ATTEMPT_MS) throw err;
        this.stats.retries++;
        try {
          await this.sleep(delay, signal);
        } catch (sleepErr) {
          if (signal.aborted) throw this.closedError();
          throw sleepErr;
        }
        if (signal.aborted) throw this.closedError();
      }
    }
  }

  private retryDelay(attempt: number, err: EmbedderError): number {
    if (err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, this.retryMaxDelayMs);
    const jitter = 1 + (2 * this.random() - 1) * JITTER;
    return Math.min(Math.round(this.opts.retryBaseMs * 2 ** attempt * jitter), this.retryMaxDelayMs);
  }

  /** One HTTP attempt: a concurrency slot, then the call under the breaker. */
  private async attempt(texts: readonly string[], deadline: number, signal: AbortSignal): Promise<Float32Array[]> {
    const left = deadline - this.now();
    if (left <= 0) throw this.deadlineError();
    const wait = callSignal(signal, left);
    try {
      await this.slots.acquire(wait.signal);
    } catch {
      throw signal.aborted ? this.closedError() : this.deadlineError();
    } finally {
      wait.dispose();
    }
    try {
      return await this.opts.breaker.run(() => this.post(texts, deadline, signal), { isFailure: isEmbedderFailure });
    } finally {
      this.slots.release();
    }
  }

  private async post(texts: readonly string[], deadline: number, signal: AbortSignal): Promise<Float32Array[]> {
    const budget = Math.min(this.opts.timeoutMs, deadline - this.now());
    if (budget <= 0) throw this.deadlineError();
    if (signal.aborted) throw this.closedError();
    const call = callSignal(signal, budget);
    this.stats.requests++;
    try {
      let res: Response;
      let body: string;
      try {
        res = await fetch(this.url, {
          method: 'POST',
          headers: this.headers,
          // No `dimensions`: only OpenAI's text-embedding-3 models take it, other servers may reject it.
          body: JSON.stringify({ model: this.opts.model, input: texts, encoding_format: 'float' }),
          signal: call.signal,
        });
        body = await res.text();
      } catch (err) {
        throw this.transportError(err, signal, call.timedOut(), budget);
      }
      if (!res.ok) throw this.httpError(res, body);
      return this.parse(body, texts.length);
    } catch (err) {
      this.stats.failures++;
      throw err;
    } finally {
      call.dispose();
    }
  }

  private parse(body: string, n: number): Float32Array[] {
    const dims = this.opts.dims;
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw this.badResponse(`the response is not JSON: ${this.snippet(body)}`);
    }
    const data = typeof json === 'object' && json !== null ? (json as { data?: unknown }).data : undefined;
    if (!Array.isArray(data)) throw this.badResponse('the response has no "data" array');
    if (data.length !== n) throw this.badResponse(`the response has ${data.length} embeddings for ${n} inputs`);
    const out = new Array<Float32Array | undefined>(n);
    for (const item of data as unknown[]) {
      const { index, embedding } = (typeof item === 'object' && item !== null ? item : {}) as {
        index?: unknown;
        embedding?: unknown;
      };
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= n) {
        throw this.badResponse(`an embedding has index ${JSON.stringify(index) ?? 'undefined'}, expected 0..${n - 1}`);
      }
      if (out[index]) throw this.badResponse(`index ${index} appears twice in the response`);
      if (!Array.isArray(embedding)) throw this.badResponse(`embedding ${index} is not an array of floats`);
      if (embedding.length !== dims) {
        throw new EmbedderError(
          this.redact(
            `embedding dimension mismatch: ${this.label} returned ${embedding.length}-dimensional vectors ` +
              `for model "${this.opts.model}", but the embedder is configured with dims ${dims} ` +
              `(expected ${dims}, got ${embedding.length})`,
          ),
          { code: 'dims_mismatch', retryable: false },
        );
      }
      const v = new Float32Array(dims);
      for (let i = 0; i < dims; i++) {
        const x: unknown = embedding[i];
        if (typeof x !== 'number' || !Number.isFinite(x)) throw this.badResponse(`embedding ${index} holds a non-finite value`);
        v[i] = x;
      }
      out[index] = normalize(v);
    }
    // n distinct indices in 0..n-1: every input has its vector.
    return out as Float32Array[];
  }

  private transportError(err: unknown, signal: AbortSignal, timedOut: boolean, budget: number): EmbedderError {
    if (signal.aborted) return this.closedError();
    if (timedOut) {
      if (budget < this.opts.timeoutMs) {
        return new EmbedderError(`embeddings request to ${this.label} stopped at the deadline after ${budget} ms`, {
          code: 'deadline',
          retryable: true,
        });
      }
      return new EmbedderError(`embeddings request to ${this.label} timed out after ${budget} ms`, {
        code: 'timeout',
        retryable: true,
      });
    }
    return new EmbedderError(this.redact(`embeddings request to ${this.label} failed: ${describeCause(err)}`), {
      code: 'network',
      retryable: true,
    });
  }

  private httpError(res: Response, body: string): EmbedderError {
    const status = res.status;
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    const retryAfterMs =
      status === 429 || status === 503 ? parseRetryAfter(res.headers.get('retry-after'), this.now()) : undefined;
    const text = body.length > 0 ? `: ${this.snippet(body)}` : '';
    return new EmbedderError(this.redact(`embeddings endpoint ${this.label} answered HTTP ${status}${text}`), {
      code: 'http',
      retryable,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  private badResponse(what: string): EmbedderError {
    return new EmbedderError(this.redact(`bad embeddings response from ${this.label}: ${what}`), {
      code: 'bad_response',
      retryable: false,
    });
  }

  private deadlineError(): EmbedderError {
    return new EmbedderError(`embeddings request to ${this.label} not sent: the deadline has passed`, {
      code: 'deadline',
      retryable: true,
    });
  }

  private closedError(): EmbedderError {
    return new EmbedderError('the embedder is closed or the embed call was abandoned', {
      code: 'closed',
      retryable: false,
    });
  }

  /** At most BODY_SNIPPET_CHARS of a response body, on one line, without the API key. */
  private snippet(body: string): string {
    const flat = this.redact(body).replace(/\s+/g, ' ').trim();
    return flat.length > BODY_SNIPPET_CHARS ? flat.slice(0, BODY_SNIPPET_CHARS) + '…' : flat;
  }

  private redact(s: string): string {
    const key = this.opts.apiKey;
    return key ? s.split(key).join('***') : s;
  }
}

/** "fetch failed: connect ECONNREFUSED 127.0.0.1:9" from undici's error and its cause. */
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return `${err.message}: ${cause.message}`;
  return err.message;
}

/**
 * The circuit breaker every remote dependency goes through (the embedding
 * endpoint, later the vector store). A thin wrapper around one opossum
 * CircuitBreaker per dependency: the breaker's action takes the call to make
 * as its argument (`fire(fn)` runs `fn()`), so one breaker guards every call
 * of that dependency and sees all of its failures.
 *
 * Semantics (opossum's):
 * - closed: calls run. Once the rolling window (`rollingCountTimeoutMs`)
 *   holds at least `volumeThreshold` calls and more than
 *   `errorThresholdPercentage` % of them failed, it opens.
 * - open: calls are rejected at once with BreakerOpenError, without running.
 *   After `resetTimeoutMs` it half-opens.
 * - half_open: the first call is let through as a trial (the others are still
 *   rejected); success closes the breaker, failure opens it again.
 *
 * Timeouts are each call's own business (`timeoutMs: false`): opossum's
 * timeout cannot stop the call, and its `abortController` option would abort
 * every call in flight at once, so neither is used by default.
 *
 * Choose `resetTimeoutMs` above the dependency's per-call timeout, so the calls
 * admitted before the breaker opened have settled when it half-opens (a late
 * failure of one of them would re-open it), and at least `rollingCountTimeoutMs`,
 * so the failures that opened it have left the window once it closes again.
 */
import CircuitBreaker from 'opossum';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Says whether an error from the guarded call counts against the dependency's health. */
export type IsFailure = (err: unknown) => boolean;

export interface BreakerOptions {
  /** The dependency's label, e.g. "embedder": in errors, logs, /health and metrics. */
  readonly name: string;
  /** Opossum's own call timeout; `false` (the usual) when each call enforces its own. */
  readonly timeoutMs: false | number;
  /** Failure percentage of the rolling window above which the breaker opens. */
  readonly errorThresholdPercentage: number;
  /** Calls the rolling window must hold before the breaker may open. */
  readonly volumeThreshold: number;
  /** Time spent open before a trial call is let through (half_open). */
  readonly resetTimeoutMs: number;
  /** Length of the rolling window the failure percentage is computed over. */
  readonly rollingCountTimeoutMs: number;
  /**
   * Whether an error counts as a failure of the dependency (opossum's errorFilter,
   * inverted). Default: every error does. An error that does not count is still
   * thrown to the caller, and counts as a healthy answer (a trial call ending in
   * it closes a half-open breaker).
   */
  readonly isFailure?: IsFailure;
}

export interface RunOptions {
  /** Overrides the breaker's `isFailure` for this call (a dependency classifies its own errors). */
  readonly isFailure?: IsFailure;
}

export interface BreakerStats {
  /** Times the breaker entered each state. */
  readonly transitions: Record<BreakerState, number>;
  /** Calls rejected without running because the breaker was open (or half-open with a trial in flight). */
  rejections: number;
  /** Calls that failed and counted as failures. */
  failures: number;
  /** Calls that succeeded. */
  successes: number;
  /** Calls that failed with an error `isFailure` did not count. */
  ignoredErrors: number;
}

/** Thrown by `Breaker.run` while the breaker is open; the call was not made. */
export class BreakerOpenError extends Error {
  readonly dependency: string;
  /** How long until the breaker lets a trial call through (at least 1). */
  readonly retryAfterMs: number;

  constructor(dependency: string, retryAfterMs: number) {
    super(`${dependency} is unavailable (circuit breaker open); retry in ${retryAfterMs} ms`);
    this.name = 'BreakerOpenError';
    this.dependency = dependency;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Thrown by `Breaker.run` after `shutdown()`; the call was not made. */
export class BreakerShutdownError extends Error {
  readonly dependency: string;

  constructor(dependency: string) {
    super(`${dependency}: circuit breaker shut down`);
    this.name = 'BreakerShutdownError';
    this.dependency = dependency;
  }
}

/** What `retryAfterMs()` says while a half-open breaker's trial call is in flight. */
const HALF_OPEN_RETRY_MS = 1_000;

type Thunk = () => Promise<unknown>;
type TransitionListener = (state: BreakerState) => void;

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

export class Breaker {
  readonly name: string;
  readonly stats: BreakerStats = {
    transitions: { open: 0, half_open: 0, closed: 0 },
    rejections: 0,
    failures: 0,
    successes: 0,
    ignoredErrors: 0,
  };
  private readonly resetTimeoutMs: number;
  private readonly isFailure: IsFailure;
  private readonly cb: CircuitBreaker<[Thunk, IsFailure | undefined], unknown>;
  private readonly listeners = new Set<TransitionListener>();
  private openedAt = 0;

  constructor(opts: BreakerOptions) {
    this.name = opts.name;
    this.resetTimeoutMs = opts.resetTimeoutMs;
    this.isFailure = opts.isFailure ?? (() => true);
    // opossum calls errorFilter with the error followed by the arguments given to fire().
    const errorFilter = (err: unknown, _fn: Thunk, perCall: IsFailure | undefined): boolean =>
      !this.counts(err, perCall);
    this.cb = new CircuitBreaker((fn: Thunk, _perCall: IsFailure | undefined) => fn(), {
      name: opts.name,
      timeout: opts.timeoutMs,
      errorThresholdPercentage: opts.errorThresholdPercentage,
      volumeThreshold: opts.volumeThreshold,
      resetTimeout: opts.resetTimeoutMs,
      rollingCountTimeout: opts.rollingCountTimeoutMs,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: errorFilter as (err: unknown) => boolean,
    });
    this.cb.on('open', () => {
      this.openedAt = Date.now();
      this.transition('open');
    });
    this.cb.on('halfOpen', () => this.transition('half_open'));
    this.cb.on('close', () => this.transition('closed'));
  }

  get state(): BreakerState {
    if (this.cb.closed) return 'closed';
    if (this.cb.halfOpen) return 'half_open';
    return 'open'; // opened, or shut down: either way nothing gets through
  }

  /**
   * Runs `fn` under the breaker: rejects with BreakerOpenError (without calling
   * `fn`) while open, otherwise settles as `fn` does and records the outcome.
   */
  async run<T>(fn: () => Promise<T>, opts?: RunOptions): Promise<T> {
    try {
      const value = (await this.cb.fire(fn, opts?.isFailure)) as T;
      this.stats.successes++;
      return value;
    } catch (err) {
      if (CircuitBreaker.isOurError(err as Error)) {
        const code = errorCode(err);
        if (code === 'EOPENBREAKER') {
          this.stats.rejections++;
          throw new BreakerOpenError(this.name, this.retryAfterMs());
        }
        if (code === 'ESHUTDOWN') throw new BreakerShutdownError(this.name);
      }
      if (this.counts(err, opts?.isFailure)) this.stats.failures++;
      else this.stats.ignoredErrors++;
      throw err;
    }
  }

  /**
   * Time until the breaker lets a call through, for `retry_after_ms`: the rest
   * of the reset timeout while open, a short pause while a half-open breaker's
   * trial call is in flight, 1 when calls go through now. Always at least 1.
   */
  retryAfterMs(): number {
    if (this.cb.opened) return Math.max(1, Math.ceil(this.openedAt + this.resetTimeoutMs - Date.now()));
    if (this.cb.halfOpen && !this.cb.pendingClose) return Math.max(1, Math.min(this.resetTimeoutMs, HALF_OPEN_RETRY_MS));
    if (this.cb.isShutdown) return Math.max(1, this.resetTimeoutMs);
    return 1;
  }

  /** Calls `listener` on every state change; returns the function that unsubscribes it. */
  onTransition(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the breaker's timers; later calls reject with BreakerShutdownError. */
  shutdown(): void {
    this.cb.shutdown();
    this.listeners.clear();
  }

  private counts(err: unknown, perCall: IsFailure | undefined): boolean {
    try {
      return (perCall ?? this.isFailure)(err);
    } catch {
      return true;
    }
  }

  private transition(state: BreakerState): void {
    this.stats.transitions[state]++;
    for (const l of [...this.listeners]) {
      try {
        l(state);
      } catch {
        // a listener's failure must not break the breaker
      }
    }
  }
}

/** The breakers of the process, for /health and /metrics. */
export class BreakerRegistry {
  private readonly breakers: Breaker[] = [];

  add(b: Breaker): void {
    if (this.breakers.some((x) => x.name === b.name)) throw new Error(`a breaker named "${b.name}" is already registered`);
    this.breakers.push(b);
  }

  all(): readonly Breaker[] {
    return this.breakers;
  }
}

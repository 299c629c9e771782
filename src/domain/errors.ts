/**
 * Errors the store and the engine throw for conditions a client can act on.
 * The server maps each class to one wire code in one table; nothing here knows
 * the protocol, so stores and the engine never import it.
 */

/** Why the store cannot take writes: the disk (or `store.max_db_bytes`) is full, a write failed below SQL, or the store is closed. */
export type UnavailableReason = 'disk_full' | 'write_failed' | 'closed' | 'backup_failed';

/** The store could not commit: nothing of the write was applied or acknowledged; retrying later may succeed. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly reason: UnavailableReason;

  constructor(reason: UnavailableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** A record (or other named thing) does not exist in the caller's tenant. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  readonly what: string;
  readonly id: string;

  constructor(what: string, id: string) {
    super(`${what} ${id} not found`);
    this.what = what;
    this.id = id;
  }
}

/** A request the engine refuses for its content (`field`: the dotted path, as in PROTOCOL.md §4.2). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** A write would take a tenant past one of its quotas. */
export class QuotaExceededError extends Error {
  override readonly name = 'QuotaExceededError';
  /** The quota's name, e.g. 'contexts' or 'text_bytes'. */
  readonly quota: string;
  readonly limit: number;
  /** Usage the write would have reached (or the current usage, when that is already over). */
  readonly usage: number;

  constructor(quota: string, limit: number, usage: number) {
    super(`quota ${quota} exceeded: ${usage} > ${limit}`);
    this.quota = quota;
    this.limit = limit;
    this.usage = usage;
  }
}

/**
 * Whether a failed call to a dependency changed anything: `not_applied` when
 * it certainly did not (refused, never sent, breaker open), `unknown` when a
 * write was sent and its answer never came (a timeout, a connection reset).
 */
export type DependencyOutcome = 'not_applied' | 'unknown';

/** A dependency the request needs (the embedder, a remote store) cannot answer now; retrying later may succeed. */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  readonly dependency: string;
  readonly retryAfterMs: number;
  readonly outcome: DependencyOutcome;

  constructor(dependency: string, retryAfterMs: number, message: string, options?: { cause?: unknown; outcome?: DependencyOutcome }) {
    super(message, options);
    this.dependency = dependency;
    this.retryAfterMs = retryAfterMs;
    this.outcome = options?.outcome ?? 'not_applied';
  }
}

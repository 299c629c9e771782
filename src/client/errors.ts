/**
 * Client-side errors. Wire codes map to classes by table (never by message
 * text); TIMEOUT and CONNECTION_CLOSED are the client's own and never sent.
 */
import { ERROR_CODES, isErrorCode, type ErrorCode, type WireError } from '../protocol/errors.ts';

export type ClientErrorCode = ErrorCode | 'TIMEOUT' | 'CONNECTION_CLOSED';

export class CtxdError extends Error {
  readonly code: ClientErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;

  constructor(code: ClientErrorCode, message: string, opts: { retryable?: boolean; retryAfterMs?: number | undefined; details?: unknown } = {}) {
    super(`${code}: ${message}`);
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? (isErrorCode(code) ? ERROR_CODES[code].retryable : true);
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
  }
}

/** The frame or connection was refused: bad bytes, version, size. */
export class CtxdFramingError extends CtxdError {}
/** The key is unknown, the signature wrong, or the role insufficient. */
export class CtxdAuthError extends CtxdError {}
/** The request itself is wrong: fix it before sending again. */
export class CtxdRequestError extends CtxdError {}
export class CtxdNotFoundError extends CtxdError {}
/** A tenant quota would be exceeded (`details`: quota, limit, usage); not retryable until data is deleted or the quota raised. */
export class CtxdQuotaError extends CtxdError {}
/** The server cannot take the request now; retry later (see retryAfterMs). */
export class CtxdUnavailableError extends CtxdError {}
export class CtxdTimeoutError extends CtxdError {}
/** The connection dropped before an answer arrived; the request may or may not have run. */
export class CtxdConnectionError extends CtxdError {}

type ErrorClass = new (code: ClientErrorCode, message: string, opts?: { retryable?: boolean; retryAfterMs?: number | undefined; details?: unknown }) => CtxdError;

export const ERROR_CLASSES: Readonly<Record<ErrorCode, ErrorClass>> = {
  BAD_FRAME: CtxdFramingError,
  FRAME_TOO_LARGE: CtxdFramingError,
  UNSUPPORTED_VERSION: CtxdFramingError,
  UNKNOWN_KEY: CtxdAuthError,
  BAD_SIGNATURE: CtxdAuthError,
  FORBIDDEN: CtxdAuthError,
  STALE_TIMESTAMP: CtxdRequestError,
  REPLAY: CtxdRequestError,
  BAD_REQUEST: CtxdRequestError,
  UNKNOWN_OP: CtxdRequestError,
  NOT_FOUND: CtxdNotFoundError,
  QUOTA_EXCEEDED: CtxdQuotaError,
  RATE_LIMITED: CtxdUnavailableError,
  OVERLOADED: CtxdUnavailableError,
  UNAVAILABLE: CtxdUnavailableError,
  SHUTTING_DOWN: CtxdUnavailableError,
  INTERNAL: CtxdUnavailableError,
};

export function errorFromWire(err: WireError | undefined): CtxdError {
  if (!err || !isErrorCode(err.code)) {
    return new CtxdError('INTERNAL', `malformed error from server: ${JSON.stringify(err)?.slice(0, 200)}`);
  }
  const Cls = ERROR_CLASSES[err.code];
  return new Cls(err.code, String(err.message), { retryable: Boolean(err.retryable), retryAfterMs: err.retry_after_ms, details: err.details });
}

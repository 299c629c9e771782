/**
 * The one registry of error codes that ctxd sends on the wire (PROTOCOL.md §6).
 * Every code the daemon emits comes from here; a unit test checks this table
 * against protocol/PROTOCOL.md, and the client maps codes to error classes by it.
 */

export interface ErrorSpec {
  /** The connection is closed after a diagnostic frame (PROTOCOL.md §6.1). */
  readonly fatal: boolean;
  /** A client may retry the same request (with a new id) later. */
  readonly retryable: boolean;
  readonly summary: string;
}

export const ERROR_CODES = {
  BAD_FRAME: { fatal: true, retryable: false, summary: 'The bytes are not a well-formed v1 frame (length, key id, an incomplete frame that timed out, or no verified frame within the handshake deadline).' },
  FRAME_TOO_LARGE: { fatal: true, retryable: false, summary: '`len` exceeds the server\'s `max_frame_bytes`; rejected before the body is read.' },
  UNSUPPORTED_VERSION: { fatal: true, retryable: false, summary: 'The `ver` byte is not a protocol version this server speaks.' },
  UNKNOWN_KEY: { fatal: true, retryable: false, summary: 'No live key has this `kid`.' },
  BAD_SIGNATURE: { fatal: true, retryable: false, summary: 'The HMAC tag does not match the frame.' },
  STALE_TIMESTAMP: { fatal: false, retryable: true, summary: '`ts` is further than `max_skew_ms` from the server clock.' },
  REPLAY: { fatal: false, retryable: false, summary: 'This `id` was already used with this key inside the replay window.' },
  BAD_REQUEST: { fatal: false, retryable: false, summary: 'A field is missing, of the wrong type or out of range; `details.field` names it.' },
  UNKNOWN_OP: { fatal: false, retryable: false, summary: 'The server has no handler for `op`.' },
  NOT_FOUND: { fatal: false, retryable: false, summary: 'The addressed object does not exist (in this tenant).' },
  FORBIDDEN: { fatal: false, retryable: false, summary: 'The key\'s role may not do this.' },
  QUOTA_EXCEEDED: { fatal: false, retryable: false, summary: 'The write would take the tenant past a quota; `details` gives `quota`, `limit` and `usage`.' },
  RATE_LIMITED: { fatal: false, retryable: true, summary: 'Too many requests for this key; wait `retry_after_ms`.' },
  OVERLOADED: { fatal: false, retryable: true, summary: 'The server is at a capacity limit (connections, buffered bytes, replay memory).' },
  UNAVAILABLE: { fatal: false, retryable: true, summary: 'A dependency (store, embedder) is not available right now.' },
  SHUTTING_DOWN: { fatal: false, retryable: true, summary: 'The server is draining; reconnect to another instance or later.' },
  INTERNAL: { fatal: false, retryable: true, summary: 'An unexpected server fault; the request may or may not have taken effect unless the op is idempotent.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ALL_ERROR_CODES = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The `error` map of a response message (PROTOCOL.md §4.2). */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retry_after_ms?: number;
  details?: unknown;
}

/**
 * An error that a handler or the connection layer raises to be answered on the
 * wire. Anything else thrown inside the daemon is answered as INTERNAL.
 */
export class CtxdProtocolError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { details?: unknown; retryAfterMs?: number } = {}) {
    super(message);
    this.name = 'CtxdProtocolError';
    this.code = code;
    this.details = opts.details;
    this.retryAfterMs = opts.retryAfterMs;
  }

  toWire(): WireError {
    return wireError(this.code, this.message, { details: this.details, retryAfterMs: this.retryAfterMs });
  }
}

/**
 * Bounds of an error's text on the wire, in UTF-8 bytes. Messages and details name fields, and a field's name is the
 * peer's: a 4 MB key would otherwise come back twice in the answer, past max_frame_bytes (PROTOCOL.md §4.4) and past
 * the room the connection reserved for it (an error answer fits ERROR_ANSWER_BYTES, a store_batch item's 1 KiB).
 */
export const MESSAGE_MAX_BYTES = 512;
export const DETAIL_MAX_BYTES = 256;

/** `text` cut to at most `maxBytes` of UTF-8, ending in "…" when cut (never inside a character). */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Every UTF-16 unit is at most 3 bytes of UTF-8: most texts are known to fit without counting.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const room = maxBytes - 3;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > room) break;
    bytes += size;
    end += ch.length;
  }
  return `${text.slice(0, end)}…`;
}

/** Details with their string values bounded (details are flat maps of scalars: a field, an id, a quota's numbers). */
function boundedDetails(details: unknown): unknown {
  if (typeof details === 'string') return truncateUtf8(details, DETAIL_MAX_BYTES);
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return details;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) out[key] = typeof value === 'string' ? truncateUtf8(value, DETAIL_MAX_BYTES) : value;
  return out;
}

export function wireError(code: ErrorCode, message: string, opts: { details?: unknown; retryAfterMs?: number | undefined } = {}): WireError {
  const err: WireError = { code, message: truncateUtf8(message, MESSAGE_MAX_BYTES), retryable: ERROR_CODES[code].retryable };
  if (opts.retryAfterMs !== undefined) err.retry_after_ms = Math.max(0, Math.round(opts.retryAfterMs));
  if (opts.details !== undefined) err.details = boundedDetails(opts.details);
  return err;
}

/** Shorthand for the most common error: a field that failed validation. */
export function badRequest(field: string, message: string): CtxdProtocolError {
  return new CtxdProtocolError('BAD_REQUEST', message, { details: { field } });
}

/**
 * Why a remote embedder could not answer. Messages never carry secrets: no
 * request headers, response bodies cut short and scrubbed of the API key.
 */

export type EmbedderErrorCode =
  /** The HTTP call took longer than its timeout (or the time left to the deadline). */
  | 'timeout'
  /** The connection failed (refused, reset, DNS...). */
  | 'network'
  /** The endpoint answered with a non-2xx status (see `status`). */
  | 'http'
  /** A 2xx answer that is not a valid embeddings response. */
  | 'bad_response'
  /** The endpoint's vectors do not have the configured number of dimensions. */
  | 'dims_mismatch'
  /** The deadline passed before a call could be made. */
  | 'deadline'
  /** The embedder was closed, or the embed call was abandoned. */
  | 'closed';

export class EmbedderError extends Error {
  readonly code: EmbedderErrorCode;
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;
  /** The HTTP status, for `code: 'http'`. */
  readonly status?: number;
  /** The delay the endpoint asked for (Retry-After), in ms. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    opts: { code: EmbedderErrorCode; retryable: boolean; status?: number; retryAfterMs?: number },
  ) {
    super(message);
    this.name = 'EmbedderError';
    this.code = opts.code;
    this.retryable = opts.retryable;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

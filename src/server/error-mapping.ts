/**
 * Domain errors to wire codes, in one table (PROTOCOL.md §6). The engine and
 * the stores throw domain errors (src/domain/errors.ts) and know nothing of
 * the protocol; handlers may still throw CtxdProtocolError for request-shape
 * problems. Anything else is answered INTERNAL, and its cause is logged by the
 * caller, never sent.
 */
import { DependencyUnavailableError, InvalidRequestError, NotFoundError, QuotaExceededError, StoreUnavailableError } from '../domain/errors.ts';
import { CtxdProtocolError, wireError, type WireError } from '../protocol/errors.ts';

/** When a client should try an unavailable store again. */
const UNAVAILABLE_RETRY_MS = 1000;

export function toWireError(e: unknown): WireError {
  if (e instanceof CtxdProtocolError) return e.toWire();
  if (e instanceof InvalidRequestError) return wireError('BAD_REQUEST', e.message, { details: { field: e.field } });
  if (e instanceof NotFoundError) return wireError('NOT_FOUND', `no ${e.what} ${JSON.stringify(e.id)}`, { details: { id: e.id } });
  if (e instanceof QuotaExceededError) {
    return wireError('QUOTA_EXCEEDED', `tenant quota ${e.quota} exceeded (limit ${e.limit}, would be ${e.usage})`, { details: { quota: e.quota, limit: e.limit, usage: e.usage } });
  }
  if (e instanceof StoreUnavailableError) {
    return wireError('UNAVAILABLE', e.reason === 'backup_failed' ? e.message : `the store cannot take writes right now (${e.reason})`, { retryAfterMs: UNAVAILABLE_RETRY_MS, details: { reason: e.reason } });
  }
  if (e instanceof DependencyUnavailableError) {
    // A remote write whose answer never came may have been applied: said, never hidden (PROTOCOL.md §6).
    const effect = e.outcome === 'unknown' ? 'a write was sent and its answer never came, so it may have taken effect' : 'nothing of the request took effect';
    return wireError('UNAVAILABLE', `the ${e.dependency} is not available right now; ${effect}`, { retryAfterMs: e.retryAfterMs, details: { dependency: e.dependency, outcome: e.outcome } });
  }
  return wireError('INTERNAL', 'internal error');
}

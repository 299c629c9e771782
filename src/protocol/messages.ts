/**
 * Request and response messages (PROTOCOL.md §4): the envelope around every
 * op's body, and its validation. Op bodies are validated by their handlers.
 */
import { MAX_ID_BYTES, MAX_OP_BYTES } from './constants.ts';
import { CtxdProtocolError, type WireError } from './errors.ts';

export type Body = Record<string, unknown>;

export interface Request {
  readonly id: string;
  readonly ts: number;
  readonly op: string;
  readonly body: Body;
}

export interface OkResponse {
  id: string;
  ts: number;
  ok: true;
  body: Body;
}

export interface ErrorResponse {
  id: string;
  ts: number;
  ok: false;
  error: WireError;
}

export type Response = OkResponse | ErrorResponse;

export type EnvelopeResult = { readonly request: Request } | { readonly id: string; readonly error: CtxdProtocolError };

export function isPlainMap(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Validates a decoded request envelope; on failure keeps whatever id could be read. */
export function parseRequest(message: unknown): EnvelopeResult {
  if (!isPlainMap(message)) return { id: '', error: new CtxdProtocolError('BAD_REQUEST', 'message must be a map', { details: { field: '' } }) };
  const { id, ts, op, body } = message;
  if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > MAX_ID_BYTES) {
    return { id: '', error: new CtxdProtocolError('BAD_REQUEST', `id must be a string of 1..${MAX_ID_BYTES} bytes`, { details: { field: 'id' } }) };
  }
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) {
    return { id, error: new CtxdProtocolError('BAD_REQUEST', 'ts must be an integer (Unix time, ms)', { details: { field: 'ts' } }) };
  }
  if (typeof op !== 'string' || op.length === 0 || Buffer.byteLength(op) > MAX_OP_BYTES) {
    return { id, error: new CtxdProtocolError('BAD_REQUEST', `op must be a string of 1..${MAX_OP_BYTES} bytes`, { details: { field: 'op' } }) };
  }
  if (body !== undefined && body !== null && !isPlainMap(body)) {
    return { id, error: new CtxdProtocolError('BAD_REQUEST', 'body must be a map', { details: { field: 'body' } }) };
  }
  return { request: { id, ts, op, body: (body as Body | undefined | null) ?? {} } };
}

export function okResponse(id: string, body: Body, now: number): OkResponse {
  return { id, ts: now, ok: true, body };
}

export function errorResponse(id: string, error: WireError, now: number): ErrorResponse {
  return { id, ts: now, ok: false, error };
}

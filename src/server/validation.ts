/** Turns a JSON-schema (ajv) error into BAD_REQUEST with a dotted field path (PROTOCOL.md §4.2). */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CtxdProtocolError } from '../protocol/errors.ts';

/** The one schema compiler: strict (unknown keywords are bugs), no coercion, no defaults (a body is taken as sent). */
export const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });

/** Validators not compiled yet (lazyValidator), in the order they were declared. */
const uncompiled = new Set<() => unknown>();

/**
 * A schema's validator, compiled on first use or by warmValidators: compiling every op's schema took ~0.3 s of each
 * start, all before the listener could open.
 */
export function lazyValidator<T = unknown>(schema: object): () => ValidateFunction<T> {
  let compiled: ValidateFunction<T> | null = null;
  const get = (): ValidateFunction<T> => {
    if (compiled === null) {
      compiled = ajv.compile<T>(schema);
      uncompiled.delete(get);
    }
    return compiled;
  };
  uncompiled.add(get);
  return get;
}

/**
 * Compiles the validators no request has needed yet, one per turn of the event loop (a few ms each), so a request
 * arriving meanwhile waits for one compile at most. The daemon calls it once its listener is open.
 */
export function warmValidators(): void {
  const next = uncompiled.values().next();
  if (next.done === true) return;
  next.value();
  setImmediate(warmValidators).unref();
}

export function fieldPath(err: ErrorObject, root: string): string {
  const base = [root, ...err.instancePath.split('/').slice(1)].join('.');
  const params = err.params as { missingProperty?: string; additionalProperty?: string };
  const child = err.keyword === 'required' ? params.missingProperty : err.keyword === 'additionalProperties' ? params.additionalProperty : undefined;
  return child ? `${base}.${child}` : base;
}

export function schemaError(err: ErrorObject, root: string): CtxdProtocolError {
  const field = fieldPath(err, root);
  const message =
    err.keyword === 'required' ? `${field} is required` : err.keyword === 'additionalProperties' ? `${field} is not a known field` : `${field} ${err.message ?? 'is invalid'}`;
  return new CtxdProtocolError('BAD_REQUEST', message, { details: { field } });
}

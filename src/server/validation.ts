/** Turns a JSON-schema (ajv) error into BAD_REQUEST with a dotted field path (PROTOCOL.md §4.2). */
import { Ajv, type ErrorObject } from 'ajv';
import { CtxdProtocolError } from '../protocol/errors.ts';

/** The one schema compiler: strict (unknown keywords are bugs), no coercion, no defaults (a body is taken as sent). */
export const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true, coerceTypes: false, useDefaults: false });

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

/**
 * Batch ops whose items are validated one by one (store_batch, import;
 * PROTOCOL.md §7.4, §7.11): a bad item is answered with its own error, in
 * its place, and the others go on.
 */
import type { ValidateFunction } from 'ajv';
import { CtxdProtocolError, type WireError } from '../../protocol/errors.ts';
import { schemaError } from '../validation.ts';

export interface CheckedItems<R> {
  /** Items that passed, with their place in the request. */
  readonly valid: Array<{ readonly index: number; readonly value: R }>;
  /** The error of each refused item, by its place. */
  readonly refused: Map<number, WireError>;
}

/** Validates each item against `validate`, then `accept` (limits a schema cannot say) turns it into what the op needs. */
export function checkEach<T, R>(items: readonly unknown[], validate: ValidateFunction<T>, accept: (item: T, field: string) => R): CheckedItems<R> {
  const valid: Array<{ index: number; value: R }> = [];
  const refused = new Map<number, WireError>();
  items.forEach((item, index) => {
    const field = `body.items.${index}`;
    try {
      if (!validate(item)) throw schemaError(validate.errors![0]!, field);
      valid.push({ index, value: accept(item, field) });
    } catch (e) {
      if (!(e instanceof CtxdProtocolError)) throw e;
      refused.set(index, e.toWire());
    }
  });
  return { valid, refused };
}

/**
 * `store_batch` (PROTOCOL.md §7.4): up to 1,000 store bodies; each item is
 * validated on its own and answered with its result or its error, in order.
 */
import { Ajv } from 'ajv';
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { StoreInput } from '../../engine/types.ts';
import type { Config } from '../../config/schema.ts';
import { CtxdProtocolError } from '../../protocol/errors.ts';
import type { OpHandler } from '../dispatcher.ts';
import { schemaError } from '../validation.ts';
import { checkStoreInput, storeItemSchema } from './schemas.ts';

export const MAX_BATCH_ITEMS = 1000;
/** Bound of one item's result: an id and counts, or an error with a short message and a field path. */
const BATCH_RESULT_BYTES = 1024;

const validateItem = new Ajv({ strict: true, allowUnionTypes: true }).compile(storeItemSchema);

export function storeBatchHandler(engine: ContextEngine, config: Config): OpHandler<{ items: unknown[] }> {
  return {
    op: 'store_batch',
    role: 'agent',
    mutating: true,
    answerBytes: MAX_BATCH_ITEMS * BATCH_RESULT_BYTES,
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['items'],
      properties: { items: { type: 'array', minItems: 1, maxItems: MAX_BATCH_ITEMS } },
    },
    async handle(body, ctx) {
      const results: Array<Record<string, unknown>> = new Array(body.items.length);
      const valid: Array<{ index: number; input: StoreInput }> = [];
      body.items.forEach((item, index) => {
        const field = `body.items.${index}`;
        try {
          if (!validateItem(item)) throw schemaError(validateItem.errors![0]!, field);
          checkStoreInput(item as StoreInput, config, field);
          valid.push({ index, input: item as StoreInput });
        } catch (e) {
          if (!(e instanceof CtxdProtocolError)) throw e;
          results[index] = { error: e.toWire() };
        }
      });
      if (valid.length > 0) {
        const stored = await engine.store(ctx.tenant, valid.map((v) => v.input));
        stored.forEach((r, i) => (results[valid[i]!.index] = { ...r }));
      }
      return { results };
    },
  };
}

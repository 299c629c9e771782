/**
 * `store_batch` (PROTOCOL.md §7.4): up to 1,000 store bodies; each item is
 * validated on its own and answered with its result or its error, in order.
 */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { Config } from '../../config/schema.ts';
import { CtxdProtocolError } from '../../protocol/errors.ts';
import { MAX_BATCH_ITEMS, storeRequest } from '../../protocol/ops/requests.ts';
import type { Encodable, OpAnswer, StoreRequest } from '../../protocol/ops/index.ts';
import { opHandler } from '../dispatcher.ts';
import { ajv, schemaError } from '../validation.ts';
import { checkStoreInput } from './byte-limits.ts';

/** Bound of one item's result: an id and counts, or an error with a short message and a field path. */
const BATCH_RESULT_BYTES = 1024;

const validateItem = ajv.compile<StoreRequest>(storeRequest);

type BatchResult = Encodable<OpAnswer<'store_batch'>>['results'][number];

export function storeBatchHandler(engine: ContextEngine, config: Config) {
  return opHandler('store_batch', {
    role: 'agent',
    mutating: true,
    answerBytes: MAX_BATCH_ITEMS * BATCH_RESULT_BYTES,
    async handle(body, ctx) {
      // Items arrive unchecked (the envelope schema leaves them open); their type is what they must prove.
      const items: unknown[] = body.items;
      const results = new Array<BatchResult>(items.length);
      const valid: Array<{ index: number; input: StoreRequest }> = [];
      items.forEach((item, index) => {
        const field = `body.items.${index}`;
        try {
          if (!validateItem(item)) throw schemaError(validateItem.errors![0]!, field);
          checkStoreInput(item, config, field);
          valid.push({ index, input: item });
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
  });
}

/**
 * `store_batch` (PROTOCOL.md §7.4): up to 1,000 store bodies; each item is
 * validated on its own and answered with its result or its error, in order.
 */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { Config } from '../../config/schema.ts';
import { MAX_BATCH_ITEMS, storeRequest } from '../../protocol/ops/requests.ts';
import type { Encodable, OpAnswer, StoreRequest } from '../../protocol/ops/index.ts';
import { opHandler } from '../dispatcher.ts';
import { lazyValidator } from '../validation.ts';
import { checkEach } from './per-item.ts';
import { checkStoreInput } from './byte-limits.ts';

/** Bound of one item's result: an id and counts, or an error with a short message and a field path. */
const BATCH_RESULT_BYTES = 1024;

const validateItem = lazyValidator<StoreRequest>(storeRequest);

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
      const { valid, refused } = checkEach(items, validateItem(), (item, field) => {
        checkStoreInput(item, config, field);
        return item;
      });
      for (const [index, error] of refused) results[index] = { error };
      if (valid.length > 0) {
        const stored = await engine.store(ctx.tenant, valid.map((v) => v.value));
        stored.forEach((r, i) => (results[valid[i]!.index] = { ...r }));
      }
      return { results };
    },
  });
}

/** `store` (PROTOCOL.md §7.4): one context at one level. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { StoreInput } from '../../engine/types.ts';
import type { Config } from '../../config/schema.ts';
import type { OpHandler } from '../dispatcher.ts';
import { checkStoreInput, storeItemSchema } from './schemas.ts';

export function storeHandler(engine: ContextEngine, config: Config): OpHandler<StoreInput> {
  return {
    op: 'store',
    role: 'agent',
    mutating: true,
    schema: storeItemSchema,
    async handle(body, ctx) {
      checkStoreInput(body, config, 'body');
      const [result] = await engine.store(ctx.tenant, [body]);
      return { ...result! };
    },
  };
}

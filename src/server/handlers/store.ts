/** `store` (PROTOCOL.md §7.4): one context at one level. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { Config } from '../../config/schema.ts';
import { opHandler } from '../dispatcher.ts';
import { checkStoreInput } from './byte-limits.ts';

export function storeHandler(engine: ContextEngine, config: Config) {
  return opHandler('store', {
    role: 'agent',
    mutating: true,
    async handle(body, ctx) {
      checkStoreInput(body, config, 'body');
      const [result] = await engine.store(ctx.tenant, [body]);
      return { ...result! };
    },
  });
}

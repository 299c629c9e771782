/** `list` (PROTOCOL.md §7.8): contexts in id order, paged by cursor. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { ListInput } from '../../engine/types.ts';
import type { OpHandler } from '../dispatcher.ts';
import { contextView } from './context-view.ts';
import { contextId, level, name } from './schemas.ts';

export function listHandler(engine: ContextEngine): OpHandler<ListInput> {
  return {
    op: 'list',
    role: 'agent',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { level, session: name, agent: name, cursor: contextId, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
    },
    async handle(body, ctx) {
      const page = await engine.list(ctx.tenant, body);
      return { items: page.items.map(contextView), next_cursor: page.nextCursor };
    },
  };
}

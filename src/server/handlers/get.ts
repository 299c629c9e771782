/** `get` (PROTOCOL.md §7.6): one context by id. */
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { OpHandler } from '../dispatcher.ts';
import { contextView } from './context-view.ts';
import { contextId } from './schemas.ts';

export function getHandler(engine: ContextEngine): OpHandler<{ id: string }> {
  return {
    op: 'get',
    role: 'agent',
    schema: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: contextId } },
    handle: async (body, ctx) => contextView(await engine.get(ctx.tenant, body.id)),
  };
}

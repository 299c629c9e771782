/** `get` (PROTOCOL.md §7.6): one context by id. */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { OpHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';
import { contextId } from './schemas.ts';

export function getHandler(engine: ContextEngine, config: Pick<Config, 'engine'>): OpHandler<{ id: string }> {
  return {
    op: 'get',
    role: 'agent',
    answerBytes: contextAnswerBytes(config),
    schema: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: contextId } },
    handle: async (body, ctx) => contextView(await engine.get(ctx.tenant, body.id)),
  };
}

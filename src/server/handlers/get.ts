/** `get` (PROTOCOL.md §7.6): one context by id. */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import { opHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';

export function getHandler(engine: ContextEngine, config: Pick<Config, 'engine'>) {
  return opHandler('get', {
    role: 'agent',
    answerBytes: contextAnswerBytes(config),
    handle: async (body, ctx) => contextView(await engine.get(ctx.tenant, body.id)),
  });
}

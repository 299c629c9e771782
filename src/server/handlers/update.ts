/** `update` (PROTOCOL.md §7.6): change a context's text, metadata (merged; null removes), tags, level or TTL. */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import { badRequest } from '../../protocol/errors.ts';
import { opHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';
import { checkMetadata, checkTextBytes } from './byte-limits.ts';

export function updateHandler(engine: ContextEngine, config: Config) {
  return opHandler('update', {
    role: 'agent',
    mutating: true,
    answerBytes: contextAnswerBytes(config),
    async handle(body, ctx) {
      const { id, ...changes } = body;
      // The schema's minProperties counts an admin's `tenant` (stripped before here): a change is still required.
      if (Object.keys(changes).length === 0) throw badRequest('body', 'update needs at least one change (text, metadata, tags, level or ttl_s)');
      checkTextBytes(changes.text, config, 'body.text');
      checkMetadata(changes.metadata, config, 'body.metadata');
      return contextView(await engine.update(ctx.tenant, id, changes));
    },
  });
}

/** `update` (PROTOCOL.md §7.6): change a context's text, metadata (merged; null removes), tags, level or TTL. */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { UpdateInput } from '../../engine/types.ts';
import { badRequest } from '../../protocol/errors.ts';
import type { OpHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';
import { checkMetadata, contextId, level, metadata, tags, ttl } from './schemas.ts';

export function updateHandler(engine: ContextEngine, config: Config): OpHandler<UpdateInput & { id: string }> {
  return {
    op: 'update',
    role: 'agent',
    mutating: true,
    answerBytes: contextAnswerBytes(config),
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      minProperties: 2,
      properties: { id: contextId, text: { type: 'string', minLength: 1 }, metadata, tags, level, ttl_s: { anyOf: [ttl, { type: 'null' }] } },
    },
    async handle(body, ctx) {
      const { id, ...changes } = body;
      // The schema's minProperties counts an admin's `tenant` (stripped before here): a change is still required.
      if (Object.keys(changes).length === 0) throw badRequest('body', 'update needs at least one change (text, metadata, tags, level or ttl_s)');
      if (changes.text !== undefined && Buffer.byteLength(changes.text) > config.engine.max_text_bytes) {
        throw badRequest('body.text', `body.text exceeds max_text_bytes (${config.engine.max_text_bytes})`);
      }
      checkMetadata(changes.metadata, config, 'body.metadata');
      return contextView(await engine.update(ctx.tenant, id, changes));
    },
  };
}

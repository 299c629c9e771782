/**
 * `list` (PROTOCOL.md §7.8): contexts in id order, paged by cursor. A page
 * ends early, with `truncated: true`, when the next item would take the
 * answer past the room it was given (at most max_frame_bytes).
 */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import { packedSize } from '../../protocol/codec.ts';
import type { ContextAnswer, Encodable } from '../../protocol/ops/index.ts';
import { opHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';

/** Bound of a list answer without its items: the map, next_cursor, truncated. */
const LIST_FIXED_BYTES = 256;

export function listHandler(engine: ContextEngine, config: Pick<Config, 'engine'>) {
  return opHandler('list', {
    role: 'agent',
    answerBytes: { elastic: true, min: contextAnswerBytes(config) },
    async handle(body, ctx) {
      const page = await engine.list(ctx.tenant, body);
      const room = ctx.maxAnswerBytes - LIST_FIXED_BYTES;
      const items: Array<Encodable<ContextAnswer>> = [];
      let bytes = 0;
      for (const doc of page.items) {
        const view = contextView(doc);
        const size = packedSize(view);
        // The first item always fits: the op starts only with room for one whole context.
        if (bytes + size > room && items.length > 0) return { items, next_cursor: items.at(-1)!.id, truncated: true };
        bytes += size;
        items.push(view);
      }
      return { items, next_cursor: page.nextCursor, truncated: false };
    },
  });
}

/** `retrieve` (PROTOCOL.md §7.5): the most relevant contexts that fit a token budget. */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import { badRequest } from '../../protocol/errors.ts';
import type { Encodable, OpAnswer } from '../../protocol/ops/index.ts';
import { ELASTIC_MIN_ANSWER_BYTES, opHandler } from '../dispatcher.ts';
import { retrievedView, retrievedViewBytesBound } from './context-view.ts';
import { packedSize } from '../../protocol/codec.ts';

/** Bound of a retrieve answer without its contexts: level receipts, set_id, degraded, took_ms. */
const RETRIEVE_FIXED_BYTES = 1024;

export function retrieveHandler(engine: ContextEngine, config: Config) {
  return opHandler('retrieve', {
    role: 'agent',
    // Starts with as little as the room every connection keeps outside the global bound (PROTOCOL.md §4.4): peers
    // that fill that bound by not reading must not hold another tenant's retrieve. Contexts that do not fit the
    // room given are left out and counted in their level's `omitted`, as for max_frame_bytes.
    answerBytes: { elastic: true, min: ELASTIC_MIN_ANSWER_BYTES },
    async handle(body, ctx) {
      if (body.max_tokens !== undefined && body.max_tokens > config.retrieval.max_tokens_limit) {
        throw badRequest('body.max_tokens', `body.max_tokens exceeds max_tokens_limit (${config.retrieval.max_tokens_limit})`);
      }
      if (body.since !== undefined && body.until !== undefined && body.since > body.until) {
        throw badRequest('body.since', 'body.since is after body.until');
      }
      // The receipts and fixed fields take little; contexts get the rest of the room.
      const r = await engine.retrieve(ctx.tenant, body, {
        maxBytes: ctx.maxAnswerBytes - RETRIEVE_FIXED_BYTES,
        sizeOf: (c) => packedSize(retrievedView(c)),
        sizeBound: retrievedViewBytesBound,
      });
      const levels: Encodable<OpAnswer<'retrieve'>['levels']> = {};
      for (const [l, receipt] of Object.entries(r.levels)) levels[l] = { ...receipt };
      return {
        contexts: r.contexts.map(retrievedView),
        total_tokens: r.totalTokens,
        levels,
        set_id: r.setId,
        degraded: r.degraded,
        took_ms: Math.round(r.tookMs * 1000) / 1000,
      };
    },
  });
}

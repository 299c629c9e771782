/**
 * `export` (PROTOCOL.md §7.11): a page of contexts as stored, with their
 * tenant, version, times and access counts, and optionally their vectors.
 * A page ends early when the next item would not fit the answer's room.
 */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { ExportedContext } from '../../engine/transfer.ts';
import { spaceLabel } from '../../domain/vector-space.ts';
import { packedSize } from '../../protocol/codec.ts';
import type { Encodable, ExportedAnswer } from '../../protocol/ops/index.ts';
import { MAX_VECTOR_BASE64 } from '../../protocol/ops/requests.ts';
import { opHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';
import { vectorToBase64 } from './vector-wire.ts';

/** Bound of an export answer without its items. */
const EXPORT_FIXED_BYTES = 1024;
/** A vector's base64 at the most dims any embedder may have. */
const VECTOR_BYTES = MAX_VECTOR_BASE64 + 16;

function exportedView({ doc, vector }: ExportedContext): Encodable<ExportedAnswer> {
  return { ...contextView(doc), tenant: doc.tenant, ...(vector && { vector: vectorToBase64(vector) }) };
}

export function exportHandler(engine: ContextEngine, config: Pick<Config, 'engine'>) {
  return opHandler('export', {
    audited: true,
    role: 'admin',
    answerBytes: { elastic: true, min: contextAnswerBytes(config) + VECTOR_BYTES },
    async handle(body, ctx) {
      // Each item's view is made once: measured for the room, then sent.
      const views = new WeakMap<ExportedContext, Encodable<ExportedAnswer>>();
      const viewOf = (item: ExportedContext) => {
        let view = views.get(item);
        if (!view) views.set(item, (view = exportedView(item)));
        return view;
      };
      const page = await engine.export(
        ctx.tenant,
        {
          ...(body.session !== undefined && { session: body.session }),
          ...(body.level !== undefined && { level: body.level }),
          ...(body.cursor !== undefined && { cursor: body.cursor }),
          ...(body.limit !== undefined && { limit: body.limit }),
          allTenants: body.all_tenants === true,
          vectors: body.vectors === true,
        },
        // The page stops reading once the answer's room is used, so a page of big texts reads only what it sends.
        { maxBytes: ctx.maxAnswerBytes - EXPORT_FIXED_BYTES, sizeOf: (item) => packedSize(viewOf(item)) },
      );
      return { items: page.items.map(viewOf), next_cursor: page.next, vector_space: spaceLabel(engine.deps.text.identity) };
    },
  });
}

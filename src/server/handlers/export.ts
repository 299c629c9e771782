/**
 * `export` (PROTOCOL.md §7.11): a page of contexts as stored, with their
 * tenant, version, times and access counts, and optionally their vectors.
 * A page ends early when the next item would not fit the answer's room.
 */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import { exportCursor } from '../../engine/transfer.ts';
import { spaceLabel } from '../../domain/vector-space.ts';
import { packedSize } from '../../protocol/codec.ts';
import type { Encodable, ExportedAnswer } from '../../protocol/ops/index.ts';
import { opHandler } from '../dispatcher.ts';
import { contextAnswerBytes, contextView } from './context-view.ts';
import { vectorToBase64 } from './vector-wire.ts';

/** Bound of an export answer without its items. */
const EXPORT_FIXED_BYTES = 1024;
/** A vector's base64 at the most dims any embedder has (4,096 floats). */
const VECTOR_BYTES = (4096 * 4 * 4) / 3 + 16;

export function exportHandler(engine: ContextEngine, config: Pick<Config, 'engine'>) {
  return opHandler('export', {
    role: 'admin',
    answerBytes: { elastic: true, min: contextAnswerBytes(config) + VECTOR_BYTES },
    async handle(body, ctx) {
      const page = await engine.export(ctx.tenant, {
        ...(body.session !== undefined && { session: body.session }),
        ...(body.level !== undefined && { level: body.level }),
        ...(body.cursor !== undefined && { cursor: body.cursor }),
        ...(body.limit !== undefined && { limit: body.limit }),
        allTenants: body.all_tenants === true,
        vectors: body.vectors === true,
      });
      const room = ctx.maxAnswerBytes - EXPORT_FIXED_BYTES;
      const items: Array<Encodable<ExportedAnswer>> = [];
      let bytes = 0;
      for (const { doc, vector } of page.items) {
        const item = { ...contextView(doc), tenant: doc.tenant, ...(vector && { vector: vectorToBase64(vector) }) };
        const size = packedSize(item);
        // The first item always fits: the op starts only with room for one whole context and its vector.
        if (bytes + size > room && items.length > 0) {
          const last = page.items[items.length - 1]!.doc;
          return { items, next_cursor: exportCursor(last), vector_space: spaceLabel(engine.deps.text.identity) };
        }
        bytes += size;
        items.push(item);
      }
      return { items, next_cursor: page.next, vector_space: spaceLabel(engine.deps.text.identity) };
    },
  });
}

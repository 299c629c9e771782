/**
 * `import` (PROTOCOL.md §7.11): up to 1,000 exported contexts written back
 * with their ids, versions and times. Each item is validated on its own and
 * answered with its outcome or its error, in order, as in store_batch.
 */
import type { Config } from '../../config/schema.ts';
import type { ContextEngine } from '../../engine/context-engine.ts';
import type { ImportRecord } from '../../engine/transfer.ts';
import { badRequest } from '../../protocol/errors.ts';
import { MAX_TRANSFER_ITEMS, importItem } from '../../protocol/ops/requests.ts';
import type { Encodable, ImportItem, OpAnswer } from '../../protocol/ops/index.ts';
import { opHandler } from '../dispatcher.ts';
import { lazyValidator } from '../validation.ts';
import { checkEach } from './per-item.ts';
import { checkStoreInput } from './byte-limits.ts';
import { vectorFromBase64 } from './vector-wire.ts';

/** Bound of one item's result: an id and a status, or an error with a short message and a field path. */
const IMPORT_RESULT_BYTES = 1024;

const validateItem = lazyValidator<ImportItem>(importItem);

type Result = Encodable<OpAnswer<'import'>>['results'][number];

function toRecord(item: ImportItem, field: string): ImportRecord {
  if (item.created_ts > item.ts) throw badRequest(`${field}.created_ts`, `${field}.created_ts is after ${field}.ts`);
  const vector = item.vector === undefined ? undefined : vectorFromBase64(item.vector);
  if (item.vector !== undefined && !vector) throw badRequest(`${field}.vector`, `${field}.vector is not base64 of float32s`);
  return {
    id: item.id,
    level: item.level,
    text: item.text,
    session: item.session,
    agent: item.agent ?? null,
    tags: item.tags ?? [],
    metadata: item.metadata ?? {},
    ts: item.ts,
    createdTs: item.created_ts,
    expiresAt: item.expires_at ?? null,
    accessCount: item.access_count ?? 0,
    version: item.version,
    ...(vector && { vector }),
  };
}

export function importHandler(engine: ContextEngine, config: Config) {
  return opHandler('import', {
    audited: true,
    role: 'admin',
    mutating: true,
    answerBytes: MAX_TRANSFER_ITEMS * IMPORT_RESULT_BYTES,
    async handle(body, ctx) {
      const items: unknown[] = body.items;
      const results = new Array<Result>(items.length);
      const { valid, refused } = checkEach(items, validateItem(), (item, field) => {
        checkStoreInput(item, config, field);
        return toRecord(item, field);
      });
      for (const [index, error] of refused) results[index] = { error };
      let reembedded = 0;
      if (valid.length > 0) {
        const r = await engine.import(ctx.tenant, valid.map((v) => v.value), body.vector_space);
        reembedded = r.reembedded;
        r.outcomes.forEach((o, i) => {
          const index = valid[i]!.index;
          if (!('refused' in o)) results[index] = o;
          else {
            const field = `body.items.${index}.id`;
            results[index] = { error: badRequest(field, o.refused === 'duplicate' ? `${field} appears twice in this request` : `${field} is held by another tenant`).toWire() };
          }
        });
      }
      return { results, reembedded };
    },
  });
}

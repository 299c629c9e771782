/**
 * Request bodies of every op (PROTOCOL.md §7), as JSON schemas. The server
 * validates each body against its op's schema before the handler runs; the
 * client's request types are derived from the same objects (ops/index.ts).
 * `tenant` is accepted on every op for admin keys and added by the dispatcher.
 */
import { contextId, empty, level, metadata, name, tags, timestamp, ttl, where } from './fields.ts';

/** Most items one store_batch may carry (§7.4). */
export const MAX_BATCH_ITEMS = 1000;
/** Most items one list page may carry (§7.8). */
export const MAX_LIST_LIMIT = 1000;
/** Longest retrieve query, in characters (§7.5). */
export const MAX_QUERY_CHARS = 32_768;

/** One context to store (§7.4); also each item of store_batch, validated one by one. */
export const storeRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['text', 'level'],
  properties: { text: { type: 'string', minLength: 1 }, level, session: name, agent: name, tags, metadata, ttl_s: ttl },
} as const;

/** Items are checked one by one against storeRequest so one bad item fails alone (§7.4). */
export const storeBatchRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', minItems: 1, maxItems: MAX_BATCH_ITEMS } },
} as const;

export const retrieveRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['query'],
  properties: {
    query: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS },
    max_tokens: { type: 'integer', minimum: 1 },
    levels: { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true, items: level },
    session: name,
    agent: name,
    tags_any: tags,
    tags_all: tags,
    where,
    since: timestamp,
    until: timestamp,
    min_score: { type: 'number', minimum: 0, maximum: 1 },
    min_similarity: { type: 'number', minimum: -1, maximum: 1 },
  },
} as const;

export const getRequest = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: contextId } } as const;

export const updateRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  minProperties: 2,
  properties: { id: contextId, text: { type: 'string', minLength: 1 }, metadata, tags, level, ttl_s: { anyOf: [ttl, { type: 'null' }] } },
} as const;

export const deleteRequest = getRequest;

/** At least one filter: deleting a whole tenant by accident must not be one empty map away (§7.7). */
export const deleteWhereRequest = {
  type: 'object',
  additionalProperties: false,
  anyOf: [{ required: ['session'] }, { required: ['agent'] }, { required: ['level'] }, { required: ['tags_any'] }, { required: ['where'] }],
  properties: { session: name, agent: name, level, tags_any: { ...tags, minItems: 1 }, where: { ...where, minProperties: 1 } },
} as const;

export const clearRequest = { type: 'object', additionalProperties: false, required: ['level'], properties: { level, session: name } } as const;

export const listRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { level, session: name, agent: name, cursor: contextId, limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT } },
} as const;

export const helloRequest = { type: 'object', additionalProperties: false, properties: { client: { type: 'string', maxLength: 256 } } } as const;
export const pingRequest = empty;
export const statsRequest = empty;

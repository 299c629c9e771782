/**
 * Request bodies of every op (PROTOCOL.md §7), as JSON schemas. The server
 * validates each body against its op's schema before the handler runs; the
 * client's request types are derived from the same objects (ops/index.ts).
 * `tenant` is accepted on every op for admin keys and added by the dispatcher.
 */
import { contextId, count, counter, empty, level, metadata, name, tags, timestamp, ttl, where } from './fields.ts';

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

/** The most dimensions any embedder may have (config embedder.openai.dims), and its vector as base64. */
export const MAX_VECTOR_DIMS = 65_536;
export const MAX_VECTOR_BASE64 = Math.ceil((MAX_VECTOR_DIMS * 4) / 3) + 4;
/** Most items one export page or import request carries (§7.11). */
export const MAX_TRANSFER_ITEMS = 1000;
/** A vector as base64 of little-endian float32s (§7.11): the wire has no bin type (§3.1). */
export const vectorBase64 = { type: 'string', maxLength: MAX_VECTOR_BASE64, pattern: '^[A-Za-z0-9+/]*={0,2}$' } as const;
/** `kind:model:dims`, the embedder a vector was made with (§5.1). */
export const vectorSpaceId = { type: 'string', minLength: 1, maxLength: 256 } as const;

/**
 * A page of one tenant's live contexts (or, with all_tenants, of every
 * tenant's) in (tenant, id) order, as they are stored (§7.11).
 */
export const exportRequest = {
  type: 'object',
  additionalProperties: false,
  properties: {
    session: name,
    level,
    all_tenants: { type: 'boolean' },
    cursor: { type: 'string', minLength: 1, maxLength: 256 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_TRANSFER_ITEMS },
    vectors: { type: 'boolean' },
  },
} as const;

/** One context as export wrote it; import keeps its id, version and times (§7.11). */
export const importItem = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'level', 'text', 'session', 'ts', 'created_ts', 'version'],
  properties: {
    id: contextId,
    level,
    text: { type: 'string', minLength: 1 },
    session: name,
    agent: { anyOf: [name, { type: 'null' }] },
    tags,
    metadata,
    ts: timestamp,
    created_ts: timestamp,
    expires_at: { anyOf: [timestamp, { type: 'null' }] },
    access_count: counter,
    version: { ...counter, minimum: 1 },
    vector: vectorBase64,
    // Read and ignored: an export of every tenant names each item's; the request's tenant is where it goes.
    tenant: name,
    tokens: count,
  },
} as const;

/** Items are checked one by one against importItem so one bad item fails alone, as in store_batch. */
export const importRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', minItems: 1, maxItems: MAX_TRANSFER_ITEMS }, vector_space: vectorSpaceId },
} as const;

/** Deletes everything of one tenant; the tenant must be named, even one's own (§7.12). */
export const purgeRequest = { type: 'object', additionalProperties: false, required: ['tenant'], properties: { tenant: name } } as const;

export const backupRequest = empty;

/** Most rows one `rekey` step re-seals (§7.15): each step is one commit. */
export const MAX_REKEY_ROWS = 10_000;

/** One step of re-sealing rows with the active data key, from `cursor` (§7.15). */
export const rekeyRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { cursor: contextId, limit: { type: 'integer', minimum: 1, maximum: MAX_REKEY_ROWS }, drop_unreadable: { type: 'boolean' } },
} as const;

/** Ends a session's working memory: its L1 moves to L2 (default) or is dropped (§7.14). */
export const endSessionRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['session'],
  properties: { session: name, action: { type: 'string', enum: ['move', 'drop'] } },
} as const;

/** Sessions holding L1 or L2 contexts, by name, paged (§7.14). */
export const listSessionsRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { cursor: name, limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT } },
} as const;

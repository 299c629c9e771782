/**
 * Answer bodies of every op (PROTOCOL.md §7), as JSON schemas. Handlers are
 * typed to return these shapes and the client's answer types are derived
 * from them (ops/index.ts); an integration test checks real answers against
 * them, so the schema, the handler and the client cannot drift apart.
 */
import { contextId, count, level, metadata, name } from './fields.ts';
import { ALL_ERROR_CODES } from '../errors.ts';

const integer = { type: 'integer' } as const;
const ms = { type: 'integer', minimum: 0 } as const;
const score = { type: 'number' } as const;

/** The `error` map of a failed answer or a failed store_batch item (§4.2, §6). */
export const wireErrorAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'message', 'retryable'],
  properties: {
    code: { type: 'string', enum: ALL_ERROR_CODES },
    message: { type: 'string' },
    retryable: { type: 'boolean' },
    retry_after_ms: count,
    details: {},
  },
} as const;

/** A context as the wire shows it (§7.3). */
export const contextAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'level', 'text', 'tokens', 'ts', 'created_ts', 'expires_at', 'session', 'agent', 'tags', 'metadata', 'access_count', 'version'],
  properties: {
    id: contextId,
    level,
    text: { type: 'string' },
    tokens: count,
    ts: ms,
    created_ts: ms,
    expires_at: { anyOf: [ms, { type: 'null' }] },
    session: name,
    agent: { anyOf: [name, { type: 'null' }] },
    tags: { type: 'array', items: name },
    metadata,
    access_count: count,
    version: integer,
  },
} as const;

/** A retrieved context: the context, its score and the parts that sum to it, and its relevance (§7.5). */
export const retrievedAnswer = {
  ...contextAnswer,
  required: [...contextAnswer.required, 'score', 'score_parts', 'similarity', 'relevance'],
  properties: {
    ...contextAnswer.properties,
    score,
    score_parts: {
      type: 'object',
      additionalProperties: false,
      required: ['similarity', 'recency', 'level', 'frequency'],
      properties: { similarity: score, recency: score, level: score, frequency: score },
    },
    similarity: score,
    relevance: { type: 'object', additionalProperties: false, required: ['dense', 'lexical'], properties: { dense: score, lexical: score } },
  },
} as const;

export const storeAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'level', 'tokens', 'deduplicated'],
  properties: { id: contextId, level, tokens: count, deduplicated: { type: 'boolean' } },
} as const;

/** One result per item, in order: what store answers, or the item's own error (§7.4). */
export const storeBatchAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        anyOf: [storeAnswer, { type: 'object', additionalProperties: false, required: ['error'], properties: { error: wireErrorAnswer } }],
      },
    },
  },
} as const;

const levelReceipt = {
  type: 'object',
  additionalProperties: false,
  required: ['allocated', 'used', 'candidates', 'omitted'],
  properties: { allocated: count, used: count, candidates: count, omitted: count },
} as const;

export const retrieveAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['contexts', 'total_tokens', 'levels', 'set_id', 'degraded', 'took_ms'],
  properties: {
    contexts: { type: 'array', items: retrievedAnswer },
    total_tokens: count,
    /** Keyed by level ("1", "2", "3"), only the levels searched. */
    levels: { type: 'object', propertyNames: { enum: ['1', '2', '3'] }, additionalProperties: levelReceipt },
    set_id: { type: 'string' },
    /** Dependencies the answer was given without, e.g. "embedder" (§7.5). */
    degraded: { type: 'array', items: { type: 'string' } },
    took_ms: { type: 'number', minimum: 0 },
  },
} as const;

export const getAnswer = contextAnswer;
export const updateAnswer = contextAnswer;

/** How many contexts a delete, delete_where or clear removed (§7.7). */
export const deletedAnswer = { type: 'object', additionalProperties: false, required: ['deleted'], properties: { deleted: count } } as const;

export const listAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['items', 'next_cursor', 'truncated'],
  properties: {
    items: { type: 'array', items: contextAnswer },
    next_cursor: { anyOf: [contextId, { type: 'null' }] },
    truncated: { type: 'boolean' },
  },
} as const;

export const statsAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant', 'levels', 'total', 'text_bytes', 'sessions'],
  properties: {
    tenant: { type: 'string' },
    levels: { type: 'object', additionalProperties: false, required: ['1', '2', '3'], properties: { '1': count, '2': count, '3': count } },
    total: count,
    text_bytes: count,
    sessions: count,
  },
} as const;

const limits = [
  'max_frame_bytes',
  'max_inflight_per_connection',
  'max_skew_ms',
  'max_id_bytes',
  'idle_timeout_ms',
  'frame_deadline_ms',
  'handshake_timeout_ms',
  'preauth_max_frame_bytes',
  'max_depth',
  'max_map_keys',
  'max_elements',
  'rate_limit_rps',
  'rate_limit_burst',
  'replay_max_ids_per_key',
  'answer_queue_bytes_per_connection',
] as const;

export const helloAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'version', 'protocol', 'max_frame_bytes', 'kid', 'tenant', 'role', 'limits', 'ops'],
  properties: {
    server: { const: 'ctxd' },
    version: { type: 'string' },
    protocol: integer,
    max_frame_bytes: count,
    kid: { type: 'string' },
    tenant: { type: 'string' },
    role: { type: 'string', enum: ['agent', 'admin'] },
    limits: {
      type: 'object',
      additionalProperties: false,
      required: limits,
      properties: Object.fromEntries(limits.map((k) => [k, { type: 'number', minimum: 0 }])) as { [K in (typeof limits)[number]]: { type: 'number'; minimum: 0 } },
    },
    ops: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const pingAnswer = { type: 'object', additionalProperties: false, properties: {} } as const;

/** An exported context: the context as stored, its tenant, and its vector when asked for (§7.11). */
export const exportedAnswer = {
  ...contextAnswer,
  required: [...contextAnswer.required, 'tenant'],
  properties: { ...contextAnswer.properties, tenant: name, vector: { type: 'string' } },
} as const;

export const exportAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['items', 'next_cursor', 'vector_space'],
  properties: {
    items: { type: 'array', items: exportedAnswer },
    next_cursor: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    /** The embedder identity of every vector in the page (§5.1). */
    vector_space: { type: 'string' },
  },
} as const;

/** Per item, in order: inserted, replaced (an older version), kept (the same or a newer version is stored), or its error. */
export const importAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['results', 'reembedded'],
  properties: {
    results: {
      type: 'array',
      items: {
        anyOf: [
          { type: 'object', additionalProperties: false, required: ['id', 'status'], properties: { id: contextId, status: { type: 'string', enum: ['inserted', 'replaced', 'kept'] } } },
          { type: 'object', additionalProperties: false, required: ['error'], properties: { error: wireErrorAnswer } },
        ],
      },
    },
    /** Items whose vector was made again because it was missing or of another embedder. */
    reembedded: count,
  },
} as const;

export const endSessionAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['session', 'moved', 'dropped'],
  properties: { session: name, moved: count, dropped: count },
} as const;

export const listSessionsAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['sessions', 'next_cursor'],
  properties: {
    sessions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['session', 'l1', 'l2', 'last_ts'],
        properties: { session: name, l1: count, l2: count, last_ts: ms },
      },
    },
    next_cursor: { anyOf: [name, { type: 'null' }] },
  },
} as const;

export const purgeAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant', 'contexts', 'replay_ids'],
  properties: { tenant: name, contexts: count, replay_ids: count },
} as const;

export const backupAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'bytes', 'sha256', 'took_ms'],
  properties: { path: { type: 'string' }, bytes: count, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, took_ms: { type: 'number', minimum: 0 } },
} as const;

export const rekeyAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['active_kid', 'resealed', 'unreadable', 'dropped', 'remaining', 'next_cursor', 'compact_pending', 'compact_error'],
  properties: {
    active_kid: name,
    resealed: count,
    unreadable: count,
    dropped: count,
    remaining: count,
    next_cursor: { anyOf: [contextId, { type: 'null' }] },
    compact_pending: { type: 'boolean' },
    compact_error: { anyOf: [{ type: 'string' }, { type: 'null' }] },
  },
} as const;

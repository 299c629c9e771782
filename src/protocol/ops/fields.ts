/**
 * JSON-schema fragments the op bodies share (PROTOCOL.md §7.3). They are
 * `as const` so the TypeScript types of requests and answers are derived from
 * the very objects the server validates with (ops/index.ts).
 */

export const name = { type: 'string', minLength: 1, maxLength: 128 } as const;
export const level = { type: 'integer', enum: [1, 2, 3] } as const;
export const tags = { type: 'array', maxItems: 64, items: name } as const;
export const metadata = { type: 'object' } as const;
/** Milliseconds since 1970, up to the end of year 9999: a time every reader can show and encode (§3.1). */
export const timestamp = { type: 'integer', minimum: 0, maximum: 253_402_300_799_999 } as const;
export const contextId = { type: 'string', minLength: 1, maxLength: 64 } as const;
/** Metadata equality filters compare scalars. */
export const where = {
  type: 'object',
  maxProperties: 32,
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
} as const;
/** Seconds; at most ten years. */
export const ttl = { type: 'integer', minimum: 1, maximum: 315_360_000 } as const;
export const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
/**
 * The most an imported counter the daemon goes on incrementing (a version, an access count) may be: 2^48, so that
 * 2^53 − 2^48 more changes still fit ±(2^53−1) (PROTOCOL.md §3.1). At 2^53 − 1 an update answered 2^53 (and again 2^53
 * at the next), and SQLite's next + 1 was a value the store could no longer load: the daemon did not start.
 */
export const COUNTER_MAX = 2 ** 48;
export const counter = { type: 'integer', minimum: 0, maximum: COUNTER_MAX } as const;
/** A map with no fields: ops that take no arguments. */
export const empty = { type: 'object', additionalProperties: false, properties: {} } as const;

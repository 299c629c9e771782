/** A context as the wire shows it (PROTOCOL.md §7.3): snake_case, integers as integers. */
import type { ContextDoc } from '../../domain/context.ts';
import type { RetrievedContext } from '../../engine/types.ts';
import type { Config } from '../../config/schema.ts';
import type { ContextAnswer, Encodable, RetrievedAnswer } from '../../protocol/ops/index.ts';
import { packedSize } from '../../protocol/codec.ts';

/**
 * Most bytes one context takes on the wire: its text, its metadata (MessagePack
 * can take up to 3× the JSON size a float like 0.5 needs), 64 tags of up to 128
 * four-byte characters, and the fixed fields.
 */
export function contextAnswerBytes(config: Pick<Config, 'engine'>): number {
  return config.engine.max_text_bytes + 3 * config.engine.max_metadata_bytes + 64 * (128 * 4 + 5) + 1024;
}

/** Millisecond times exceed 32 bits: BigInts here make them int64 on the wire without a copy later (PROTOCOL.md §3). */
const ms = (t: number): bigint => BigInt(t);

export function contextView(r: ContextDoc): Encodable<ContextAnswer> {
  return {
    id: r.id,
    level: r.level,
    text: r.text,
    tokens: r.tokens,
    ts: ms(r.ts),
    created_ts: ms(r.createdTs),
    expires_at: r.expiresAt === null ? null : ms(r.expiresAt),
    session: r.session,
    agent: r.agent,
    tags: r.tags,
    metadata: r.metadata,
    access_count: r.accessCount,
    version: r.version,
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export function retrievedView(c: RetrievedContext): Encodable<RetrievedAnswer> {
  const parts = { similarity: round(c.parts.similarity), recency: round(c.parts.recency), level: round(c.parts.level), frequency: round(c.parts.frequency) };
  return {
    ...contextView(c.record),
    // The score is the sum of the parts as shown (to 1e-6), so a reader can check it.
    score: round(parts.similarity + parts.recency + parts.level + parts.frequency),
    score_parts: parts,
    // The fused relevance the floor applies to, and its two channels (PROTOCOL.md §7.5).
    similarity: round(c.relevance.value),
    relevance: { dense: round(c.relevance.dense), lexical: round(c.relevance.lexical) },
  };
}

/**
 * Names of a retrieved view's fields and its numbers, at their widest (a float64 or int64 takes 9 bytes, a key's name
 * its length and one byte), with room to spare: what retrievedViewBytesBound adds to the strings it measures.
 */
const RETRIEVED_FIXED_BOUND = 512;

/** A string's packed size at most: its UTF-8 bytes and the widest header (str32). */
const strBound = (s: string) => Buffer.byteLength(s) + 5;

/**
 * At least the bytes retrievedView(c) packs to, without packing it: the strings measured, metadata packed only when
 * there is some. A unit test holds it above the exact size for every kind of context.
 */
export function retrievedViewBytesBound(c: RetrievedContext): number {
  const r = c.record;
  let n = RETRIEVED_FIXED_BOUND + strBound(r.id) + strBound(r.text) + strBound(r.session) + (r.agent === null ? 1 : strBound(r.agent)) + 5;
  for (const t of r.tags) n += strBound(t);
  return n + (hasKeys(r.metadata) ? packedSize(r.metadata) : 1);
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

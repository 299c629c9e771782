/**
 * A record ↔ its Qdrant payload. Rules:
 * - Everything a ContextDoc holds round-trips exactly: text as a string, tags
 *   as a keyword array (order kept), metadata as a JSON string (`metadata`,
 *   never indexed, so any key or nesting survives) and, for `where` equality
 *   on any top-level key (dots, NULs and all), as a keyword array `meta_kv` of
 *   `key + "\u0000" + canonicalJson(value)`: the value part is JSON, which
 *   never holds a raw NUL, so a string splits back one way only.
 * - `expires_at` is an integer for every record: the expiry, or NO_EXPIRY
 *   (2^53 - 1) for none, so alive/expired are single range conditions on an
 *   integer index. NO_EXPIRY decodes back to null.
 * - `text_bytes` (UTF-8 bytes of the text) is stored for the usage counters.
 * - `wtag` / `wtags`: the stamp of the last write and of the last few
 *   (newest first), for the optimistic rules in conditional.ts.
 */
import type { ContextDoc, ContextMeta, ContextRecord, Level, Metadata } from '../../domain/context.ts';

/** Payload field names; every filter, index and selector uses these. */
export const F = {
  tenant: 'tenant',
  cid: 'cid',
  level: 'level',
  session: 'session',
  agent: 'agent',
  text: 'text',
  tags: 'tags',
  metadata: 'metadata',
  metaKv: 'meta_kv',
  tokens: 'tokens',
  createdTs: 'created_ts',
  ts: 'ts',
  expiresAt: 'expires_at',
  accessCount: 'access_count',
  version: 'version',
  textBytes: 'text_bytes',
  wtag: 'wtag',
  wtags: 'wtags',
} as const;

/** `expires_at` of a record that never expires: above every real instant, inside an i64 and exact in a double. */
export const NO_EXPIRY = Number.MAX_SAFE_INTEGER;

/** How many past write stamps a point keeps (conditional.ts). */
export const WRITE_STAMPS_KEPT = 8;

/** Payload fields of a ContextMeta (what searches and scrolls ask for: never the text). */
export const META_FIELDS: string[] = [F.tenant, F.cid, F.level, F.session, F.agent, F.tags, F.metadata, F.tokens, F.createdTs, F.ts, F.expiresAt, F.accessCount, F.version];

/** JSON with object keys sorted at every depth: equal values (filter.ts sameValue) give equal strings. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function metaKvEntry(key: string, value: unknown): string {
  return `${key}\u0000${canonicalJson(value)}`;
}

export function metaKv(metadata: Metadata): string[] {
  return Object.keys(metadata).map((k) => metaKvEntry(k, metadata[k]));
}

export type Payload = Record<string, unknown>;

/** The payload fields a patch or a whole write sets from record metadata (text and stamps aside). */
export function metaPayload(m: ContextMeta): Payload {
  return {
    [F.tenant]: m.tenant,
    [F.cid]: m.id,
    [F.level]: m.level,
    [F.session]: m.session,
    [F.agent]: m.agent,
    [F.tags]: [...m.tags],
    [F.metadata]: JSON.stringify(m.metadata),
    [F.metaKv]: metaKv(m.metadata),
    [F.tokens]: m.tokens,
    [F.createdTs]: m.createdTs,
    [F.ts]: m.ts,
    [F.expiresAt]: m.expiresAt ?? NO_EXPIRY,
    [F.accessCount]: m.accessCount,
    [F.version]: m.version,
  };
}

/** The whole payload of a record written with stamp `wtag` (after `previous` stamps, newest first). */
export function recordPayload(r: Omit<ContextRecord, 'vector' | 'terms'>, wtag: string, previous: readonly string[] = []): Payload {
  return {
    ...metaPayload(r),
    [F.text]: r.text,
    [F.textBytes]: Buffer.byteLength(r.text),
    ...stampPayload(wtag, previous),
  };
}

export function stampPayload(wtag: string, previous: readonly string[]): Payload {
  return { [F.wtag]: wtag, [F.wtags]: [wtag, ...previous].slice(0, WRITE_STAMPS_KEPT) };
}

function str(p: Payload, k: string): string {
  const v = p[k];
  if (typeof v !== 'string') throw new Error(`qdrant payload field ${k} is not a string`);
  return v;
}

function num(p: Payload, k: string): number {
  const v = p[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`qdrant payload field ${k} is not a number`);
  return v;
}

export function metaFromPayload(p: Payload): ContextMeta {
  const expires = num(p, F.expiresAt);
  const tags = p[F.tags];
  const agent = p[F.agent];
  return {
    id: str(p, F.cid),
    tenant: str(p, F.tenant),
    level: num(p, F.level) as Level,
    session: str(p, F.session),
    agent: typeof agent === 'string' ? agent : null,
    tags: Array.isArray(tags) ? tags.map(String) : [],
    metadata: JSON.parse(str(p, F.metadata)) as Metadata,
    tokens: num(p, F.tokens),
    createdTs: num(p, F.createdTs),
    ts: num(p, F.ts),
    expiresAt: expires >= NO_EXPIRY ? null : expires,
    accessCount: num(p, F.accessCount),
    version: num(p, F.version),
  };
}

export function docFromPayload(p: Payload): ContextDoc {
  return { ...metaFromPayload(p), text: str(p, F.text) };
}

export function stampsOf(p: Payload): { wtag: string | null; wtags: string[] } {
  const wtag = p[F.wtag];
  const wtags = p[F.wtags];
  return { wtag: typeof wtag === 'string' ? wtag : null, wtags: Array.isArray(wtags) ? wtags.map(String) : [] };
}

export function textBytesOf(p: Payload): number {
  const v = p[F.textBytes];
  return typeof v === 'number' ? v : 0;
}

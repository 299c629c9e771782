/**
 * RecordFilter (+ tenant) → a Qdrant filter, evaluated inside every request
 * (search, scroll, count, delete, facet), never applied to results in JS.
 * Pure: no client, no I/O. Every filter starts with the tenant condition, so
 * no request built here can reach another tenant's points.
 *
 * Semantics mirror src/domain/filter.ts matchesFilter, field by field:
 * levels → `level` in any (an empty list matches nothing); session, agent →
 * keyword equality; tagsAny → `tags` match any (ignored when empty); tagsAll
 * → one `tags` equality per tag (a value matches an array field when any
 * element equals it); where → one `meta_kv` equality per key (payload.ts);
 * since/until → one range on `ts`; aliveAt (expires_at > t) and expiredBy
 * (expires_at ≤ t) → one range on `expires_at`, where "no expiry" is stored as
 * NO_EXPIRY, so it is alive forever and never expired; minAccessCount → range
 * on `access_count`.
 * Request shapes: https://qdrant.tech/documentation/concepts/filtering/
 */
import type { Schemas } from '@qdrant/js-client-rest';
import type { RecordFilter } from '../../domain/context.ts';
import { F, metaKvEntry } from './payload.ts';

export type QFilter = Schemas['Filter'];
export type QCondition = Schemas['Condition'];
type Range = Schemas['Range'];

export function tenantCondition(tenant: string): QCondition {
  return { key: F.tenant, match: { value: tenant } };
}

/** The tenant alone: the scope of deletes by id, lookups, IDF corpora and facets. */
export function tenantFilter(tenant: string): QFilter {
  return { must: [tenantCondition(tenant)] };
}

/** Conditions of `f`, without the tenant. */
export function recordConditions(f: RecordFilter): QCondition[] {
  const must: QCondition[] = [];
  if (f.levels) must.push({ key: F.level, match: { any: [...f.levels] } });
  if (f.session !== undefined) must.push({ key: F.session, match: { value: f.session } });
  if (f.agent !== undefined) must.push({ key: F.agent, match: { value: f.agent } });
  if (f.tagsAny && f.tagsAny.length > 0) must.push({ key: F.tags, match: { any: [...f.tagsAny] } });
  for (const t of f.tagsAll ?? []) must.push({ key: F.tags, match: { value: t } });
  if (f.where) for (const k of Object.keys(f.where)) must.push({ key: F.metaKv, match: { value: metaKvEntry(k, f.where[k]) } });
  const ts: Range = {};
  if (f.since !== undefined) ts.gte = f.since;
  if (f.until !== undefined) ts.lte = f.until;
  if (Object.keys(ts).length > 0) must.push({ key: F.ts, range: ts });
  const expiry: Range = {};
  if (f.aliveAt !== undefined) expiry.gt = f.aliveAt;
  if (f.expiredBy !== undefined) expiry.lte = f.expiredBy;
  if (Object.keys(expiry).length > 0) must.push({ key: F.expiresAt, range: expiry });
  if (f.minAccessCount !== undefined) must.push({ key: F.accessCount, range: { gte: f.minAccessCount } });
  return must;
}

/** The tenant's records matching `f`, and `extra` conditions (has_id, a version check). */
export function recordFilter(tenant: string, f: RecordFilter = {}, extra: readonly QCondition[] = []): QFilter {
  return { must: [tenantCondition(tenant), ...recordConditions(f), ...extra] };
}

/** The points of these point ids (ANDed with a tenant filter, never alone). */
export function hasIds(pointIds: readonly string[]): QCondition {
  return { has_id: [...pointIds] };
}

/** A write's condition: this record of this tenant, as it was when read (its version and its last write's stamp). */
export function unchangedSince(tenant: string, pointId: string, cid: string, version: number, wtag: string): QFilter {
  return {
    must: [
      tenantCondition(tenant),
      hasIds([pointId]),
      { key: F.cid, match: { value: cid } },
      { key: F.version, match: { value: version } },
      { key: F.wtag, match: { value: wtag } },
    ],
  };
}

/** An import's replacement condition: this record of this tenant, stored at an older version. */
export function olderVersion(tenant: string, pointId: string, cid: string, version: number): QFilter {
  return { must: [tenantCondition(tenant), hasIds([pointId]), { key: F.cid, match: { value: cid } }, { key: F.version, range: { lt: version } }] };
}

/** Facet paging: the same filter, without the values already seen. */
export function excluding(filter: QFilter, key: string, seen: readonly (string | number)[]): QFilter {
  if (seen.length === 0) return filter;
  const strings = seen.filter((v): v is string => typeof v === 'string');
  const numbers = seen.filter((v): v is number => typeof v === 'number');
  const mustNot: QCondition[] = [];
  if (strings.length > 0) mustNot.push({ key, match: { any: strings } });
  if (numbers.length > 0) mustNot.push({ key, match: { any: numbers } });
  return { ...filter, must_not: mustNot };
}

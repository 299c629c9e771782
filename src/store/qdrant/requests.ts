/**
 * The arguments of the store's point operations, built in one place so their
 * shapes are unit-tested against the client's types and Qdrant's documented
 * examples (https://qdrant.tech/documentation/concepts/points/,
 * …/concepts/payload/). Each builder returns exactly the argument type of the
 * client method it feeds (`Args<'upsert'>` = the second parameter of
 * QdrantClient.upsert), so `tsc` checks every field against what that method
 * accepts. The client sends `wait`, `ordering` and `consistency` as query
 * parameters and the rest as the JSON body (its generated_api_client.js lists
 * the query parameters of each path); test/unit/qdrant-wire.test.ts checks
 * the resulting URLs and bodies. Every write waits for the change to be
 * applied (`wait: true`: acknowledged = written) and goes through the shard's
 * permanent leader (`ordering: 'strong'`: one order of writes for the
 * read-modify-write rules). Every filter carries the tenant.
 */
import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import type { ContextMeta, RecordFilter } from '../../domain/context.ts';
import type { ScrollPage } from '../vector-store.ts';
import { hasIds, recordFilter, tenantFilter, type QFilter } from './filter.ts';
import { META_FIELDS, type Payload } from './payload.ts';
import { pointIdOf } from './point-ids.ts';

export const WRITE = { wait: true, ordering: 'strong' } as const satisfies { wait: boolean; ordering: Schemas['WriteOrdering'] };

/** The argument object of a client method (its second parameter, after the collection name). */
export type Args<M extends 'upsert' | 'setPayload' | 'delete' | 'retrieve' | 'count' | 'scroll' | 'facet' | 'queryBatch' | 'createPayloadIndex' | 'createCollection'> = NonNullable<Parameters<QdrantClient[M]>[1]>;

/** PUT /points?wait=true&ordering=strong: a whole-point write, optionally conditional (update_filter / update_mode). */
export function upsertRequest(points: Schemas['PointStruct'][], condition: { filter?: QFilter; mode?: Schemas['UpdateMode'] } = {}): Args<'upsert'> & Schemas['PointsList'] {
  return { ...WRITE, points, ...(condition.filter && { update_filter: condition.filter }), ...(condition.mode && { update_mode: condition.mode }) };
}

/** POST /points/payload?wait=true&ordering=strong selected by a filter alone (a `points` list would be used instead of the filter, not with it). */
export function setPayloadRequest(payload: Payload, filter: QFilter): Args<'setPayload'> {
  return { ...WRITE, payload, filter };
}

/** POST /points/delete?wait=true&ordering=strong of these points of the tenant that still match `filter`. */
export function deleteRequest(tenant: string, pointIds: readonly string[], filter: RecordFilter = {}): Args<'delete'> & Schemas['FilterSelector'] {
  return { ...WRITE, filter: recordFilter(tenant, filter, [hasIds(pointIds)]) };
}

/** POST /points[?consistency=…] (retrieve) of ctxd ids, with these payload fields. */
export function retrieveRequest(ids: readonly string[], fields: readonly string[], denseName: string | null, consistency?: Schemas['ReadConsistency']): Args<'retrieve'> {
  return { ids: ids.map(pointIdOf), with_payload: [...fields], with_vector: denseName ? [denseName] : false, ...(consistency !== undefined && { consistency }) };
}

/** POST /points/count, exact. */
export function countRequest(tenant: string, filter: RecordFilter): Args<'count'> {
  return { filter: recordFilter(tenant, filter), exact: true };
}

/** POST /points/scroll in point-id order from `offset` (inclusive), metadata only. */
export function scrollRequest(tenant: string, filter: RecordFilter, offset: Schemas['ExtendedPointId'] | null, limit: number, fields: readonly string[] = META_FIELDS): Args<'scroll'> {
  return { filter: recordFilter(tenant, filter), limit, with_payload: [...fields], with_vector: false, ...(offset !== null && { offset }) };
}

/**
 * A `list` page after the ctxd id `after`. Qdrant's scroll runs in point-id
 * order (ExtendedPointId's Ord: UUIDs as their 16 bytes, point-ids.ts) from
 * `offset` inclusive and answers the id after the page as next_page_offset
 * (lib/collection/src/collection/point_ops.rs scroll_by). So ask for one
 * more for `after` itself (absent when it was deleted or no longer matches)
 * and one more to know whether a page follows.
 */
export function cursorScrollRequest(tenant: string, filter: RecordFilter, after: string | null, limit: number): Args<'scroll'> {
  return scrollRequest(tenant, filter, after === null ? null : pointIdOf(after), limit + 1 + (after === null ? 0 : 1));
}

/** The page of a cursorScrollRequest's answer: `after` itself dropped, `next` set only when a full page has a successor. */
export function scrollPage(metas: ContextMeta[], nextOffset: unknown, after: string | null, limit: number): ScrollPage {
  const rest = after !== null && metas[0]?.id === after ? metas.slice(1) : metas;
  const items = rest.slice(0, limit);
  const more = rest.length > limit || nextOffset != null;
  return { items, next: more && items.length === limit ? items[limit - 1]!.id : null };
}

/** The exact count of a tenant (usage). */
export function tenantCountRequest(tenant: string): Args<'count'> {
  return { filter: tenantFilter(tenant), exact: true };
}

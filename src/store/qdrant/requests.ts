/**
 * The request bodies of the store's point operations, built in one place so
 * their shapes are unit-tested against the client's types and Qdrant's
 * documented examples (https://qdrant.tech/documentation/concepts/points/,
 * …/concepts/payload/). Every write waits for the change to be applied
 * (`wait: true`: acknowledged = written) and goes through the shard's
 * permanent leader (`ordering: 'strong'`: one order of writes for the
 * read-modify-write rules). Every filter carries the tenant.
 */
import type { Schemas } from '@qdrant/js-client-rest';
import type { RecordFilter } from '../../domain/context.ts';
import { hasIds, recordFilter, tenantFilter, type QFilter } from './filter.ts';
import { META_FIELDS, type Payload } from './payload.ts';
import { pointIdOf } from './point-ids.ts';

export const WRITE = { wait: true, ordering: 'strong' } as const satisfies { wait: boolean; ordering: Schemas['WriteOrdering'] };

type Write<T> = T & { wait: boolean; ordering: Schemas['WriteOrdering'] };

/** PUT /points: a whole-point write, optionally conditional (update_filter / update_mode). */
export function upsertRequest(points: Schemas['PointStruct'][], condition: { filter?: QFilter; mode?: Schemas['UpdateMode'] } = {}): Write<Schemas['PointsList']> {
  return { ...WRITE, points, ...(condition.filter && { update_filter: condition.filter }), ...(condition.mode && { update_mode: condition.mode }) };
}

/** POST /points/payload selected by a filter alone (with `points` too, Qdrant would ignore the filter). */
export function setPayloadRequest(payload: Payload, filter: QFilter): Write<Schemas['SetPayload']> {
  return { ...WRITE, payload, filter };
}

/** POST /points/delete of these points of the tenant that still match `filter`. */
export function deleteRequest(tenant: string, pointIds: readonly string[], filter: RecordFilter = {}): Write<Schemas['FilterSelector']> {
  return { ...WRITE, filter: recordFilter(tenant, filter, [hasIds(pointIds)]) };
}

/** POST /points (retrieve) of ctxd ids, with these payload fields. */
export function retrieveRequest(ids: readonly string[], fields: readonly string[], denseName: string | null, consistency?: Schemas['ReadConsistency']): Schemas['PointRequest'] & { consistency?: Schemas['ReadConsistency'] } {
  return { ids: ids.map(pointIdOf), with_payload: [...fields], with_vector: denseName ? [denseName] : false, ...(consistency !== undefined && { consistency }) };
}

/** POST /points/count, exact. */
export function countRequest(tenant: string, filter: RecordFilter): Schemas['CountRequest'] {
  return { filter: recordFilter(tenant, filter), exact: true };
}

/** POST /points/scroll in point-id order from `offset` (inclusive), metadata only. */
export function scrollRequest(tenant: string, filter: RecordFilter, offset: Schemas['ExtendedPointId'] | null, limit: number, fields: readonly string[] = META_FIELDS): Schemas['ScrollRequest'] {
  return { filter: recordFilter(tenant, filter), limit, with_payload: [...fields], with_vector: false, ...(offset !== null && { offset }) };
}

/** The exact count of a tenant (usage). */
export function tenantCountRequest(tenant: string): Schemas['CountRequest'] {
  return { filter: tenantFilter(tenant), exact: true };
}

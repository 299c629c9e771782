/**
 * Read-modify-write on Qdrant, which has no atomic increment nor
 * compare-and-set, from conditional writes: an upsert with `update_filter`
 * and `update_mode` (https://qdrant.tech/documentation/concepts/points/, the
 * PointsList schema), or a set_payload selected by a filter alone. Qdrant
 * resolves such a filter against the shard's state under its update fence
 * and applies the result in the same step (qdrant/qdrant 1.19
 * lib/collection/src/shards/local_shard/resolve_submit.rs), so a condition
 * cannot go stale between its check and the write. (A set_payload given both
 * `points` and `filter` ignores the filter: lib/shard/src/update/mod.rs — so
 * the point id goes inside the filter as has_id.)
 *
 * Every write stamps the point with a random tag (`wtag`) and keeps the last
 * WRITE_STAMPS_KEPT tags newest first (`wtags`); a plain upsert starts a fresh
 * list. A conditional write is conditioned on (tenant, cid, version, wtag) as
 * read; after it, the point is read back:
 * - our tag is in `wtags` → it was applied;
 * - the tag we read (h0) is still in `wtags` but ours is not → certainly not
 *   applied (ours could only have come right after h0);
 * - neither → unknown (many writes since, or a plain upsert replaced it).
 *
 * Rules:
 * - patch (version bump): retried from the fresh record while not applied
 *   (an unknown outcome is retried too: the patch's fields are the same, only
 *   the version may grow by one more), at most PATCH_ATTEMPTS, then
 *   DependencyUnavailableError. Concurrent patches from any replicas never
 *   lose each other's change, and versions only grow.
 * - incrementAccess: the same, at most ACCESS_ATTEMPTS, and an unknown outcome
 *   gives up: counts may undercount under contention, never overcount.
 * - import: a new id by `update_mode: insert_only`; a replacement by
 *   `update_only` with the condition (tenant, cid, version < the import's); the
 *   read-back decides inserted / replaced / kept / taken, so concurrent
 *   writers never overwrite a newer version or another tenant's id.
 * Reads here ask for `consistency: majority`.
 */
import type { Schemas } from '@qdrant/js-client-rest';
import { applyPatch, type ContextMeta, type ContextRecord, type RecordPatch } from '../../domain/context.ts';
import { DependencyUnavailableError } from '../../domain/errors.ts';
import { termHashes } from '../../domain/lexical.ts';
import type { ImportWrite } from '../vector-store.ts';
import { olderVersion, unchangedSince, type QFilter } from './filter.ts';
import { F, META_FIELDS, docFromPayload, metaFromPayload, metaPayload, stampPayload, stampsOf, textBytesOf, type Payload } from './payload.ts';
import { denseVectorOf, newStamp, pointOf } from './point.ts';
import { pointIdOf } from './point-ids.ts';

export const PATCH_ATTEMPTS = 8;
export const ACCESS_ATTEMPTS = 4;
export const IMPORT_ATTEMPTS = 8;

/** The few client calls the rules need (qdrant-store.ts runs each through the breaker). */
export interface PointIo {
  readonly denseName: string;
  retrieve(id: string, fields: readonly string[], withVector: boolean): Promise<Schemas['Record'] | null>;
  upsert(points: Schemas['PointStruct'][], condition: { filter?: QFilter; mode?: Schemas['UpdateMode'] }): Promise<void>;
  setPayload(payload: Payload, filter: QFilter): Promise<void>;
}

const STAMP_FIELDS = [F.tenant, F.cid, F.wtag, F.wtags];
const READ_FIELDS = [...META_FIELDS, F.textBytes, F.wtag, F.wtags];

type Outcome = 'applied' | 'not_applied' | 'unknown' | 'gone';

async function readBack(io: PointIo, tenant: string, id: string, h0: string, tag: string): Promise<Outcome> {
  const p = await io.retrieve(id, STAMP_FIELDS, false);
  const payload = p?.payload as Payload | undefined;
  if (!payload || payload[F.tenant] !== tenant || payload[F.cid] !== id) return 'gone';
  const { wtags } = stampsOf(payload);
  if (wtags.includes(tag)) return 'applied';
  return wtags.includes(h0) ? 'not_applied' : 'unknown';
}

function owned(p: Schemas['Record'] | null, tenant: string, id: string): Payload | null {
  const payload = p?.payload as Payload | undefined;
  return payload && payload[F.tenant] === tenant && payload[F.cid] === id ? payload : null;
}

function conflict(what: string, id: string, attempts: number): DependencyUnavailableError {
  return new DependencyUnavailableError('store', 100, `qdrant ${what} of ${id}: still conflicting with concurrent writes after ${attempts} attempts`);
}

/** A patch applied; null when the record does not exist in the tenant. `textBytes`: the change of its text's size. */
export async function patchRecord(io: PointIo, tenant: string, id: string, patch: RecordPatch): Promise<{ meta: ContextMeta; textBytes: number } | null> {
  const pointId = pointIdOf(id);
  const whole = patch.text !== undefined || patch.vector !== undefined;
  for (let attempt = 0; attempt < PATCH_ATTEMPTS; attempt++) {
    const p = await io.retrieve(id, whole ? [...READ_FIELDS, F.text] : READ_FIELDS, whole && patch.vector === undefined);
    const payload = owned(p, tenant, id);
    if (!payload) return null;
    const current = metaFromPayload(payload);
    const { wtag: h0, wtags } = stampsOf(payload);
    const next = applyPatch(current, patch);
    const tag = newStamp();
    const condition = unchangedSince(tenant, pointId, id, current.version, h0 ?? '');
    let textBytes = 0;
    if (whole) {
      const text = patch.text ?? docFromPayload(payload).text;
      const vector = patch.vector ?? denseVectorOf(p!, io.denseName);
      if (!vector) throw new Error(`qdrant patch of ${id}: the stored point has no ${io.denseName} vector`);
      const terms = patch.text !== undefined ? (patch.terms ?? termHashes(text)) : termHashes(text);
      const record: ContextRecord = { ...next, text, vector, terms };
      await io.upsert([pointOf(record, io.denseName, tag, wtags)], { filter: condition, mode: 'update_only' });
      textBytes = Buffer.byteLength(text) - textBytesOf(payload);
    } else {
      await io.setPayload({ ...metaPayload(next), ...stampPayload(tag, wtags) }, condition);
    }
    const outcome = await readBack(io, tenant, id, h0 ?? '', tag);
    if (outcome === 'applied') return { meta: next, textBytes };
    if (outcome === 'gone') return null;
  }
  throw conflict('patch', id, PATCH_ATTEMPTS);
}

/** Adds `n` to one record's access count (see the rules above: never more than once). */
export async function incrementAccess(io: PointIo, tenant: string, id: string, n: number): Promise<void> {
  const pointId = pointIdOf(id);
  for (let attempt = 0; attempt < ACCESS_ATTEMPTS; attempt++) {
    const payload = owned(await io.retrieve(id, READ_FIELDS, false), tenant, id);
    if (!payload) return;
    const current = metaFromPayload(payload);
    const { wtag: h0, wtags } = stampsOf(payload);
    const tag = newStamp();
    await io.setPayload({ [F.accessCount]: current.accessCount + n, ...stampPayload(tag, wtags) }, unchangedSince(tenant, pointId, id, current.version, h0 ?? ''));
    const outcome = await readBack(io, tenant, id, h0 ?? '', tag);
    if (outcome !== 'not_applied') return;
  }
}

export interface ImportResult {
  readonly outcome: ImportWrite;
  /** Usage change of the record's tenant. */
  readonly contexts: number;
  readonly textBytes: number;
}

/** Writes one imported record where its id is free or holds an older version of the same tenant. */
export async function importRecord(io: PointIo, record: ContextRecord): Promise<ImportResult> {
  const pointId = pointIdOf(record.id);
  const bytes = Buffer.byteLength(record.text);
  for (let attempt = 0; attempt < IMPORT_ATTEMPTS; attempt++) {
    const p = await io.retrieve(record.id, [F.tenant, F.cid, F.version, F.textBytes, F.wtag, F.wtags], false);
    const payload = p?.payload as Payload | undefined;
    const tag = newStamp();
    if (!payload) {
      await io.upsert([pointOf(record, io.denseName, tag)], { mode: 'insert_only' });
      const after = await readBack(io, record.tenant, record.id, '', tag);
      if (after === 'applied') return { outcome: 'inserted', contexts: 1, textBytes: bytes };
      continue; // someone else's write took the id first: decide again from it
    }
    // A different cid under the same point id is a hash collision: the id is taken as surely.
    if (payload[F.tenant] !== record.tenant || payload[F.cid] !== record.id) return { outcome: 'taken', contexts: 0, textBytes: 0 };
    if (Number(payload[F.version]) >= record.version) return { outcome: 'kept', contexts: 0, textBytes: 0 };
    await io.upsert([pointOf(record, io.denseName, tag)], { filter: olderVersion(record.tenant, pointId, record.id, record.version), mode: 'update_only' });
    const after = await readBack(io, record.tenant, record.id, '', tag);
    if (after === 'applied') return { outcome: 'replaced', contexts: 0, textBytes: bytes - textBytesOf(payload) };
  }
  throw conflict('import', record.id, IMPORT_ATTEMPTS);
}

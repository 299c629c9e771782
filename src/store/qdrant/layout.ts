/**
 * The collection's shape, following Qdrant's multitenancy guidance
 * (https://qdrant.tech/documentation/manage-data/multitenancy/): one
 * collection for every tenant, a `tenant` keyword index with
 * `is_tenant: true` (points of a tenant stored together, searches of one
 * tenant read sequentially), and payload indexes for every field a filter,
 * a conditional write or a facet uses.
 *
 * Vectors: one NAMED dense vector whose name carries the embedder's identity
 * (kind, model, dims; sanitised to what Qdrant allows in a vector name), cosine
 * (https://qdrant.tech/documentation/concepts/collections/), and the sparse
 * vector "bm25" with `modifier: "idf"`
 * (https://qdrant.tech/documentation/concepts/vectors/#sparse-vectors).
 * A collection holding another embedder's dense vector is refused
 * (QdrantSpaceMismatchError) rather than searched with incomparable vectors.
 * Pure: request objects and checks only.
 */
import { createHash } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import { spaceLabel, VectorSpaceMismatchError, type VectorSpace } from '../../domain/vector-space.ts';
import { SPARSE_NAME } from './bm25.ts';
import { F } from './payload.ts';

export interface LayoutOptions {
  readonly space: VectorSpace;
  readonly shardNumber: number;
  readonly replicationFactor: number;
  readonly writeConsistencyFactor: number;
  readonly onDiskVectors: boolean;
  readonly onDiskPayload: boolean;
}

const DENSE_PREFIX = 'dense__';
/** Qdrant refuses < > : " / \ | ? * NUL and U+001F in vector names (lib/common/common/src/validation.rs) and longer than 200 bytes. */
const SAFE = /[^A-Za-z0-9._-]/g;
const MAX_NAME = 200;

/** The dense vector's name for a space: `dense__<kind>__<model>__<dims>`, with a hash suffix when sanitising lost anything. */
export function denseVectorName(space: VectorSpace): string {
  const raw = `${space.kind}__${space.model}__${space.dims}`;
  const safe = raw.replace(SAFE, '_');
  if (safe === raw && DENSE_PREFIX.length + safe.length <= MAX_NAME) return DENSE_PREFIX + safe;
  const hash = createHash('sha256').update(spaceLabel(space)).digest('hex').slice(0, 12);
  return `${DENSE_PREFIX}${safe.slice(0, MAX_NAME - DENSE_PREFIX.length - 14)}__${hash}`;
}

/** PUT /collections/{name} body. */
export function createCollectionParams(o: LayoutOptions): Schemas['CreateCollection'] {
  return {
    vectors: { [denseVectorName(o.space)]: { size: o.space.dims, distance: 'Cosine', on_disk: o.onDiskVectors } },
    sparse_vectors: { [SPARSE_NAME]: { modifier: 'idf' } },
    shard_number: o.shardNumber,
    replication_factor: o.replicationFactor,
    write_consistency_factor: o.writeConsistencyFactor,
    on_disk_payload: o.onDiskPayload,
  };
}

export interface PayloadIndex {
  readonly field_name: string;
  readonly field_schema: Schemas['PayloadFieldSchema'];
}

const keyword = (field: string): PayloadIndex => ({ field_name: field, field_schema: 'keyword' });
const integer = (field: string): PayloadIndex => ({ field_name: field, field_schema: 'integer' });

/** PUT /collections/{name}/index bodies, tenant first. */
export const PAYLOAD_INDEXES: readonly PayloadIndex[] = [
  { field_name: F.tenant, field_schema: { type: 'keyword', is_tenant: true } },
  keyword(F.cid),
  integer(F.level),
  keyword(F.session),
  keyword(F.agent),
  keyword(F.tags),
  keyword(F.metaKv),
  integer(F.expiresAt),
  integer(F.ts),
  integer(F.createdTs),
  integer(F.accessCount),
  integer(F.version),
  // Facets sum it for the usage counters; wtag is a conditional write's condition.
  integer(F.textBytes),
  keyword(F.wtag),
];

/** The indexes `info` lacks (created on open; an index of the wrong type is a configuration problem). */
export function missingIndexes(info: Schemas['CollectionInfo']): PayloadIndex[] {
  const out: PayloadIndex[] = [];
  for (const idx of PAYLOAD_INDEXES) {
    const have = info.payload_schema[idx.field_name];
    const want = typeof idx.field_schema === 'string' ? idx.field_schema : idx.field_schema.type;
    if (!have) out.push(idx);
    else if (have.data_type !== want) throw new Error(`qdrant collection: payload index ${idx.field_name} is ${have.data_type}, ctxd needs ${want}; drop that index or use another collection`);
  }
  return out;
}

/** The configured space's vectors are not the ones the collection was made for. */
export class QdrantSpaceMismatchError extends VectorSpaceMismatchError {
  constructor(configured: VectorSpace, collection: string, found: string) {
    super(configured, []);
    this.message = `the Qdrant collection ${collection} holds ${found}, but the configured embedder is ${spaceLabel(configured)} (dense vector ${denseVectorName(configured)}): configure the embedder it was made with, or point store.qdrant.collection at another collection`;
  }
}

/** Checks an existing collection's vectors against the layout; throws when they differ. */
export function checkCollection(info: Schemas['CollectionInfo'], o: LayoutOptions, collection: string): void {
  const vectors = info.config.params.vectors as Record<string, unknown> | undefined;
  const name = denseVectorName(o.space);
  const named = vectors && typeof vectors === 'object' && !('size' in vectors) ? (vectors as Record<string, Schemas['VectorParams'] | undefined>) : null;
  if (!named) throw new QdrantSpaceMismatchError(o.space, collection, 'an unnamed dense vector (not made by ctxd)');
  const dense = named[name];
  if (!dense) {
    const others = Object.keys(named).filter((n) => n.startsWith(DENSE_PREFIX));
    throw new QdrantSpaceMismatchError(o.space, collection, others.length > 0 ? `dense vectors ${others.join(', ')}` : 'no ctxd dense vector');
  }
  if (dense.size !== o.space.dims || dense.distance !== 'Cosine') {
    throw new QdrantSpaceMismatchError(o.space, collection, `dense vector ${name} of ${dense.size} dims, ${dense.distance}`);
  }
  const sparse = info.config.params.sparse_vectors?.[SPARSE_NAME];
  if (!sparse || sparse.modifier !== 'idf') {
    throw new Error(`qdrant collection ${collection}: sparse vector ${SPARSE_NAME} with modifier idf is missing; it was not made by this version of ctxd`);
  }
}

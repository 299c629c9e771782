/**
 * A whole Qdrant point of a record: its UUID (point-ids.ts), its named dense
 * vector, its "bm25" sparse vector (absent for a text without terms) and its
 * payload (payload.ts) stamped with this write's random tag. An upsert of a
 * point replaces everything the point held (vectors and payload), so this is
 * always built from a complete record.
 */
import { randomBytes } from 'node:crypto';
import type { Schemas } from '@qdrant/js-client-rest';
import type { ContextRecord } from '../../domain/context.ts';
import { termHashes } from '../../domain/lexical.ts';
import { documentSparse, SPARSE_NAME } from './bm25.ts';
import { recordPayload } from './payload.ts';
import { pointIdOf } from './point-ids.ts';

/** A fresh write stamp: 16 random bytes, hex. */
export function newStamp(): string {
  return randomBytes(16).toString('hex');
}

export function pointOf(record: ContextRecord, denseName: string, wtag: string, previous: readonly string[] = []): Schemas['PointStruct'] {
  const { vector, terms, ...doc } = record;
  const sparse = documentSparse(terms ?? termHashes(doc.text));
  const vectors: Record<string, Schemas['Vector']> = { [denseName]: Array.from(vector) };
  if (sparse) vectors[SPARSE_NAME] = sparse;
  return { id: pointIdOf(record.id), vector: vectors, payload: recordPayload(doc, wtag, previous) };
}

/** The dense vector of a retrieved point, or null. */
export function denseVectorOf(p: Schemas['Record'], denseName: string): Float32Array | null {
  const v = p.vector as Record<string, unknown> | null | undefined;
  const dense = v && typeof v === 'object' && !Array.isArray(v) ? v[denseName] : null;
  return Array.isArray(dense) ? Float32Array.from(dense as number[]) : null;
}
